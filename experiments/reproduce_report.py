"""The outputs of `experiments.reproduce`: per table `<table>.json`, `<table>.md` and PNG figures.

Each row holds the published numbers (`paper`), ours as mean ± sample std over the seeds that finished (`ours`),
and `diff` = ours' mean − paper, in percent. Smoke results carry `SMOKE_LABEL` in both files.
"""

import json
import math
import os
import shutil
import statistics

from experiments.configs import base
from experiments.configs import paper as paper_lib

SMOKE_LABEL = "SMOKE (synthetic data, tiny model, not a result)"
_NOTE_NO_MATPLOTLIB = "no figures: matplotlib is missing (pip install 'nlvl-tf[plot]')"


def aggregate(values):
    """`{"mean", "std", "values"}` of per-seed values; std is the sample std (`None` for one seed)."""
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else None,
        "values": list(values),
    }


def row_result(table, row, seed_results):
    """The JSON record of one row from `{seed: metrics dict}` of its finished seeds (possibly empty)."""
    published = paper_lib.find_row(row.paper) if row.paper else {}
    paper_values = {key: published.get(key) for key in base.METRICS}
    seeds = sorted(seed_results, key=list(row.run.seeds).index)
    # An empty video-length bucket has no metrics (`None`) in any seed.
    scored = [s for s in seeds if seed_results[s]["count"]]
    ours = {key: aggregate([seed_results[s][key] for s in scored]) if scored else None for key in base.METRICS}
    diff = {
        key: None if paper_values[key] is None or ours[key] is None else ours[key]["mean"] - paper_values[key]
        for key in base.METRICS
    }
    record = {
        "name": row.name,
        "label": row.label,
        "run": row.run.name,
        "strategy": row.strategy,
        "bucket": row.bucket,
        "x": row.x,
        "group": row.group,
        "paper_ref": row.paper.describe() if row.paper else None,
        "paper": paper_values,
        "ours": ours,
        "diff": diff,
        "seeds": seeds,
        "count": seed_results[seeds[0]]["count"] if seeds else None,
        "protocol": seed_results[seeds[0]]["protocol"] if seeds else None,
        "notes": "; ".join(note for note in (row.notes, row.run.notes) if note),
    }
    if table.kind == "by_length":
        record["paper_count"] = published.get("num_test_annotations")
    return record


def _shown_metrics(table, rows):
    """The metric columns: those the paper prints for some row (all four for tables without printed numbers)."""
    shown = [key for key in base.METRICS if any(r["paper"][key] is not None for r in rows)]
    return shown if shown and table.kind != "sweep" else list(base.METRICS)


def _number(value, signed=False):
    if value is None:
        return "—"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _ours(cell, seeds):
    if cell is None:
        return "—" if seeds else "not run"
    return _number(cell["mean"]) + ("" if cell["std"] is None else f" ± {cell['std']:.2f}")


def _markdown_table(header, lines):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(cell) for cell in line) + " |" for line in lines]
    return out


def write_markdown(path, document):
    table_rows = document["rows"]
    shown = document["metrics_shown"]
    lines = [f"# {document['paper_title']}, {document['source']}: {document['title']}", ""]
    if document["smoke"]:
        lines += [
            (
                f"**{SMOKE_LABEL}.** Every row ran end to end on a small synthetic dataset with "
                f"{document['smoke_settings']}; the numbers test the harness, not the models. The Runs section "
                "lists the real settings."
            ),
            "",
        ]
    seeds = sorted({s for r in table_rows for s in r["seeds"]})
    lines += [
        f"Paper: the published numbers. Ours: mean ± std over seeds (std only with several seeds) of the "
        f"selected checkpoint (protocol `{document['protocol']}`: "
        + ("best test R@1 IoU=0.7, as the papers" if document["protocol"] == "original" else "clean")
        + f"); seeds run: {seeds or 'none'}. Δ = ours − paper. Percent; R@1 counts IoU ≥ θ.",
        "",
    ]
    header = ["row"] + (["bucket"] if document["kind"] == "by_length" else [])
    header += [document["x_label"]] if document["kind"] == "sweep" else []
    for key in shown:
        header += [f"{base.METRIC_LABELS[key]} paper", "ours", "Δ"]
    header += ["seeds", "test queries" + (" (paper / ours)" if document["kind"] == "by_length" else "")]
    body = []
    for r in table_rows:
        line = [r["label"]] + ([r["bucket"]] if document["kind"] == "by_length" else [])
        line += [f"{r['x']:g}"] if document["kind"] == "sweep" else []
        for key in shown:
            line += [_number(r["paper"][key]), _ours(r["ours"][key], r["seeds"]), _number(r["diff"][key], signed=True)]
        count = "—" if r["count"] is None else str(r["count"])
        if document["kind"] == "by_length":
            count = f"{r['paper_count'] if r['paper_count'] is not None else '—'} / {count}"
        line += [len(r["seeds"]), count]
        body.append(line)
    lines += _markdown_table(header, body)
    if document.get("derived"):
        derived = document["derived"]
        lines += ["", f"## {derived['title']}", ""] + _markdown_table(derived["header"], derived["lines"])
    notes = [f"- {document['notes']}"] if document["notes"] else []
    notes += [f"- `{r['name']}`: {r['notes']}" for r in table_rows if r["notes"]]
    if notes:
        lines += ["", "## Notes", ""] + list(dict.fromkeys(notes))
    lines += ["", "## Runs", ""]
    for run in document["runs"]:
        settings = ", ".join(f"{k}={v}" for k, v in run["hparams"].items())
        override = f", params_override={run['params_override']}" if run["params_override"] else ""
        lines.append(
            f"- `{run['name']}`: {run['model']} on {run['dataset']} (test split `{run['test_split']}`, "
            f"features `{run['features']}`), {settings}{override}, quirks={run['quirks']}, "
            f"protocol={run['protocol']}"
        )
    if document["figures"]:
        lines += ["", "## Figures", ""] + [
            f"![{os.path.basename(f)}]({os.path.basename(f)})" for f in document["figures"]
        ]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure, FigureCanvasAgg


def _save(figure, canvas_class, path):
    canvas_class(figure)
    figure.savefig(path, dpi=110, bbox_inches="tight")


def plot_sweep(document, path, mpl):
    """One panel per metric: ours (mean ± std) along the swept setting per group, the paper's points as rings."""
    figure_class, canvas_class = mpl
    rows = [r for r in document["rows"] if r["ours"]["miou"] is not None or r["paper"]["miou"] is not None]
    figure = figure_class(figsize=(4.2 * len(base.METRICS), 3.6))
    groups = list(dict.fromkeys(r["group"] for r in rows))
    xs = [r["x"] for r in rows]
    logarithmic = min(xs) > 0 and max(xs) / min(xs) >= 10
    for index, key in enumerate(base.METRICS):
        axis = figure.add_subplot(1, len(base.METRICS), index + 1)
        for number, group in enumerate(groups):
            members = sorted((r for r in rows if r["group"] == group), key=lambda r: r["x"])
            color = f"C{number}"
            done = [r for r in members if r["ours"][key] is not None]
            if done:
                axis.errorbar(
                    [r["x"] for r in done],
                    [r["ours"][key]["mean"] for r in done],
                    yerr=[r["ours"][key]["std"] or 0.0 for r in done],
                    marker="o",
                    color=color,
                    capsize=3,
                    label=f"{group} (ours)",
                )
            published = [r for r in members if r["paper"][key] is not None]
            if published:
                axis.scatter(
                    [r["x"] for r in published],
                    [r["paper"][key] for r in published],
                    s=80,
                    facecolors="none",
                    edgecolors=color,
                    linewidths=1.5,
                    label=f"{group} (paper)",
                )
        if logarithmic:
            axis.set_xscale("log")
        axis.set_xticks(sorted(set(xs)))
        axis.set_xticklabels([f"{x:g}" for x in sorted(set(xs))])
        axis.set_xlabel(document["x_label"])
        axis.set_ylabel(f"{base.METRIC_LABELS[key]} (%)")
        axis.grid(alpha=0.3)
    figure.axes[0].legend(fontsize=7)
    figure.suptitle(_figure_title(document))
    _save(figure, canvas_class, path)


def plot_by_length(document, path, mpl):
    """One panel per group: ours' mIoU per video-length bucket as bars per model, the paper's as black ticks."""
    figure_class, canvas_class = mpl
    rows = document["rows"]
    groups = list(dict.fromkeys(r["group"] for r in rows))
    columns = min(2, len(groups))
    panel_rows = math.ceil(len(groups) / columns)
    figure = figure_class(figsize=(6.5 * columns, 3.6 * panel_rows))
    for index, group in enumerate(groups):
        axis = figure.add_subplot(panel_rows, columns, index + 1)
        members = [r for r in rows if r["group"] == group]
        buckets = list(dict.fromkeys(r["bucket"] for r in members))
        labels = list(dict.fromkeys(r["label"].split(": ")[-1] for r in members))
        width = 0.8 / len(labels)
        for number, label in enumerate(labels):
            by_bucket = {r["bucket"]: r for r in members if r["label"].split(": ")[-1] == label}
            positions = [b + (number - (len(labels) - 1) / 2) * width for b in range(len(buckets))]
            ours = [by_bucket[b]["ours"]["miou"]["mean"] if by_bucket[b]["ours"]["miou"] else 0.0 for b in buckets]
            axis.bar(positions, ours, width=width * 0.95, color=f"C{number}", label=f"{label} (ours)")
            published = [
                (p, by_bucket[b]["paper"]["miou"])
                for p, b in zip(positions, buckets)
                if by_bucket[b]["paper"]["miou"] is not None
            ]
            if published:
                axis.scatter(
                    [p for p, _ in published],
                    [v for _, v in published],
                    marker="_",
                    s=140,
                    color="black",
                    linewidths=2,
                    label="paper" if number == 0 else None,
                )
        axis.set_xticks(range(len(buckets)))
        axis.set_xticklabels(buckets, fontsize=8)
        axis.set_ylabel("mIoU (%)")
        axis.set_title(group, fontsize=10)
        axis.grid(axis="y", alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(_figure_title(document))
    _save(figure, canvas_class, path)


def _figure_title(document):
    prefix = "SMOKE — " if document["smoke"] else ""
    return f"{prefix}{document['paper_title'].split(' (')[0]} {document['source']}: {document['title']}"


def write_table(table, row_results, out_dir, *, smoke_settings=None, proposal_plots=(), derived=None):
    """Write `<out_dir>/<table.id>.json`, `.md` and the figures; returns the JSON document.

    Args:
        table: the `Table`.
        row_results: `row_result` records in table order.
        smoke_settings: for a smoke run, how its settings were shrunk (the outputs are labelled SMOKE).
        proposal_plots: `(row name, png path)` of LPNet runs' proposal plots, copied next to the table.
        derived: optional `{"title", "header", "lines"}` of a table derived from this one's rows.
    """
    protocols = {r["protocol"] for r in row_results if r["protocol"]} or {table.rows[0].run.protocol}
    document = {
        "table": table.id,
        "title": table.title,
        "paper": table.paper,
        "paper_title": paper_lib.PAPER_TITLES[table.paper],
        "source": table.source,
        "kind": table.kind,
        "x_label": table.x_label,
        "buckets": table.buckets,
        "smoke": bool(smoke_settings),
        "label": SMOKE_LABEL if smoke_settings else "",
        "smoke_settings": smoke_settings,
        "protocol": "/".join(sorted(protocols)),
        "notes": table.notes,
        "metrics_shown": _shown_metrics(table, row_results),
        "rows": row_results,
        "runs": [run.describe() for run in table.runs()],
        "derived": derived,
        "figures": [],
    }
    os.makedirs(out_dir, exist_ok=True)
    mpl = _matplotlib()
    if table.kind in ("sweep", "by_length") or proposal_plots:
        if mpl is None:
            print(_NOTE_NO_MATPLOTLIB)
        else:
            if table.kind in ("sweep", "by_length"):
                path = os.path.join(out_dir, f"{table.id}.png")
                (plot_sweep if table.kind == "sweep" else plot_by_length)(document, path, mpl)
                document["figures"].append(path)
            for row_name, source in proposal_plots:
                path = os.path.join(out_dir, f"{table.id}_{row_name}_proposals.png")
                shutil.copyfile(source, path)
                document["figures"].append(path)
    with open(os.path.join(out_dir, f"{table.id}.json"), "w") as f:
        json.dump(document, f, indent=2)
    write_markdown(os.path.join(out_dir, f"{table.id}.md"), document)
    return document
