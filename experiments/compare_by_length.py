"""Side-by-side per-video-length metrics of several runs (VSLNet Tables 6–7: VSLNet vs VSLNet-L).

    python -m experiments.compare_by_length --run_dirs=runs/vslnet,runs/vslnet_l --buckets=table6 [--out=FILE]

Reads each run's test predictions (`test_predictions.jsonl`, and for VSLNet-L also `test_predictions_u.jsonl`)
and the ground truth of its processed test split, so no model is rebuilt. Every run must have scored the same
queries. Prints one table per metric (rows: length buckets; columns: run / strategy) and, with `--out`, writes the
numbers as JSON.
"""

import json
import os
import sys

from absl import app, flags

from common.data import dataset as dataset_lib
from common.evaluation import metrics as metrics_lib
from common.training import run_loader
from experiments import flag_help

METRICS = ("miou", "r1_iou03", "r1_iou05", "r1_iou07")


def define_flags(flag_values=flags.FLAGS):
    flags.DEFINE_list(
        "run_dirs",
        None,
        "Run directories to compare (test_predictions*.jsonl from experiments.train).",
        flag_values=flag_values,
    )
    flags.DEFINE_enum(
        "buckets",
        "table6",
        sorted(metrics_lib.LENGTH_BUCKETS),
        "Length buckets (VSLNet Table 6: TACoS, 2-minute steps; Table 7: ActivityNet, 0–2 / 2–4 / 4+ minutes).",
        flag_values=flag_values,
    )
    flags.DEFINE_string("out", None, "Optional JSON output.", flag_values=flag_values)


def run_columns(run_dir):
    """`[(column label, prediction file)]` of a run: its main predictions and every alternative strategy."""
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    name = config["model"].get("model", config.get("model_family", "run"))
    columns = []
    main = os.path.join(run_dir, "test_predictions.jsonl")
    if not os.path.exists(main):
        raise FileNotFoundError(f"{main} does not exist: train the run to the end first")
    alternatives = sorted(f for f in os.listdir(run_dir) if f.startswith("test_predictions_") and f.endswith(".jsonl"))
    main_label = f"{name}-pm" if alternatives and name == "vslnet_l" else name
    columns.append((f"{main_label} ({os.path.basename(os.path.normpath(run_dir))})", main))
    for file in alternatives:
        strategy = file[len("test_predictions_") : -len(".jsonl")]
        columns.append(
            (f"{name}-{strategy} ({os.path.basename(os.path.normpath(run_dir))})", os.path.join(run_dir, file))
        )
    return config, columns


def ground_truth_of(run_dir, config):
    processed = dataset_lib.load_processed(run_loader.resolve_run_path(config["data"]["processed_dir"], run_dir))
    return {ex["qid"]: (ex["start_time"], ex["end_time"], ex["duration"]) for ex in processed.splits["test"]}


def compare(run_dirs, buckets):
    """`{column: {bucket label: metric dict}}` plus an `"all"` bucket, for every run and strategy."""
    results = {}
    reference = None
    for run_dir in run_dirs:
        config, columns = run_columns(run_dir)
        ground_truth = ground_truth_of(run_dir, config)
        if reference is None:
            reference = set(ground_truth)
        elif set(ground_truth) != reference:
            raise ValueError(f"{run_dir} was evaluated on other test queries than {run_dirs[0]}")
        for label, path in columns:
            if label in results:
                raise ValueError(f"two columns are named {label!r}: give each run its own directory name")
            predictions = {qid: windows[0][:2] for qid, windows in metrics_lib.read_predictions_jsonl(path).items()}
            table = metrics_lib.evaluate_by_length(predictions, ground_truth, buckets)
            table["all"] = metrics_lib.evaluate_predictions(predictions, ground_truth)
            results[label] = table
    return results


def format_comparison(results, metric):
    labels = list(results)
    buckets = list(next(iter(results.values())))
    width = max(len(label) for label in labels) + 2
    lines = [f"{metric} by video length", f"{'bucket':>10} {'count':>6}" + "".join(f"{l:>{width}}" for l in labels)]
    for bucket in buckets:
        count = results[labels[0]][bucket]["count"]
        values = "".join(
            f"{'-':>{width}}" if results[l][bucket][metric] is None else f"{results[l][bucket][metric]:>{width}.2f}"
            for l in labels
        )
        lines.append(f"{bucket:>10} {count:>6}{values}")
    return "\n".join(lines)


def main(argv):
    del argv
    fv = flags.FLAGS
    if not fv.run_dirs:
        raise app.UsageError("--run_dirs is required")
    try:
        results = compare(fv.run_dirs, metrics_lib.LENGTH_BUCKETS[fv.buckets])
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    for metric in METRICS:
        print(format_comparison(results, metric) + "\n")
    if fv.out:
        with open(fv.out, "w") as f:
            json.dump({"buckets": fv.buckets, "results": results}, f, indent=2)


if __name__ == "__main__":
    define_flags()
    flag_help.run(main)
