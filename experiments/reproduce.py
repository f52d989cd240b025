"""Reproduce a table or figure of the LPNet and VSLNet papers, with the published numbers beside ours.

    python -m experiments.reproduce --list
    python -m experiments.reproduce --table=vslnet_table2 --data_root=DATA [--seeds=3] [--rows=vslnet_i3d,...]
        [--out_dir=results] [--dry_run]
    python -m experiments.reproduce --table=all --smoke

`--table` takes one id, a comma-separated list or `all` (ids and row counts: `--list`; configs in
`experiments/configs/`). Before anything trains, the data under `--data_root` is checked against what every row
needs (annotation files and their per-split query counts, GloVe, the feature set and its dimension, feature
coverage); what is missing is listed with where the original authors got it, and nothing trains. `--dry_run`
stops after the check and prints the plan.

Each distinct run (a run may feed several rows, e.g. VSLNet-L's -Pm and -U rows, or Tables 3, 6 and 10) is trained
once per seed by `experiments.train`, in this process, into `<out_dir>/runs/<run>/seed_<seed>/`. A finished run is
not trained again and an interrupted one resumes from its checkpoints, so the command can be repeated. Then
`<out_dir>/<table>.json` and `<table>.md` are written: per row the paper's R@1 IoU=0.3/0.5/0.7 and mIoU, ours as
mean ± std over the seeds, and the difference; sweeps and per-length tables also get `<table>.png`, LPNet rows
their learned-proposal plot.

`--smoke` runs every selected row end to end on a small synthetic dataset (Charades-STA format) with a tiny model
for two steps (its `tf.function`s run eagerly: tracing would cost more than the steps), in `results/smoke/` by
default; its outputs say `SMOKE (synthetic data, tiny model, not a result)` and a folder holds either smoke or real
results, never both. Smoke rows whose settings coincide once shrunk (e.g. the same model on two feature sets) share
one smoke run. `--jobs=N` trains runs in N worker processes.
"""

import dataclasses
import gc
import hashlib
import json
import os
import subprocess
import sys
import time

from absl import app, flags

from common import registry
from common.data import synthetic
from common.evaluation import metrics as metrics_lib
from experiments import configs, flag_help, reproduce_report, train
from experiments.configs import base
from experiments.configs import data as data_lib

FLAGS = flags.FLAGS
DEFAULT_SEEDS = {"real": 3, "smoke": 1}
DEFAULT_OUT_DIRS = {"real": "results", "smoke": os.path.join("results", "smoke")}
KIND_FILE = "reproduce_kind.json"
PAPER_NAMES = {"lpnet": "LPNet", "vslnet": "VSLNet"}
RUN_FILE = "reproduce_run.json"

# Smoke runs keep every row's structure (model, n, proposals, scales, α, modules) and shrink widths and steps.
# n and the VSLNet-L clip lengths are divided by SMOKE_SHRINK, which divides every value the papers use, so
# the clip lengths still divide n.
SMOKE_SHRINK = 5
SMOKE_STEPS = 2
SMOKE_HPARAMS = {"hidden_dim": 8, "num_heads": 2, "char_dim": 4, "batch_size": 8, "epochs": 1}
SMOKE_OVERRIDES = {
    "vslnet": {"num_conv_layers": 1},
    "lpnet": {"num_conv_layers": 1, "dynamic_dim": 4, "scoring_hidden_dim": 8, "roi_length": 4, "proposal_heads": 2},
}
SMOKE_SETTINGS = (
    ", ".join(f"{k}={v}" for k, v in SMOKE_HPARAMS.items()) + f", n and VSLNet-L clip lengths ÷ "
    f"{SMOKE_SHRINK}, one encoder conv layer (LPNet: small dynamic and scoring heads), {SMOKE_STEPS} "
    "steps, tf.functions run eagerly"
)
# 8 train / 4 test videos of 12-32 clips of 12 s (2.4-6.4 min), so the per-length tables have several buckets.
SMOKE_PRESET = dataclasses.replace(
    synthetic.PRESETS["tiny"],
    name="smoke",
    num_train_videos=8,
    num_test_videos=4,
    min_clips=12,
    max_clips=32,
    clip_seconds=12.0,
)


class DataProblemError(RuntimeError):
    """The data under `--data_root` does not fit the selected rows; the message lists what is missing."""


class RunFolderError(RuntimeError):
    """A run folder holds something else than the run it is reserved for."""


@dataclasses.dataclass
class Options:
    """What to reproduce (the flags of this entry point).

    Attributes:
        tables: table ids.
        data_root: the data folder (README, "Reproducing the papers"); unused with `smoke`.
        seeds: how many of each run's seeds to run (`None`: 3, or 1 with `smoke`).
        rows: only these rows (of a single table); empty: all.
        out_dir: output folder (`None`: `results`, or `results/smoke` with `smoke`).
        smoke: synthetic data, tiny model, two steps.
        dry_run: check the data and print the plan; train nothing.
        jobs: train in this many worker processes (each run still trains in one process).
    """

    tables: tuple
    data_root: str = None
    seeds: int = None
    rows: tuple = ()
    out_dir: str = None
    smoke: bool = False
    dry_run: bool = False
    jobs: int = 1

    @property
    def kind(self):
        return "smoke" if self.smoke else "real"

    @property
    def resolved_out_dir(self):
        return os.path.abspath(self.out_dir or DEFAULT_OUT_DIRS[self.kind])

    @property
    def num_seeds(self):
        return self.seeds or DEFAULT_SEEDS[self.kind]


def list_tables():
    lines = [f"{'table':16} {'rows':>5} {'runs':>5}  source"]
    for table in configs.TABLES.values():
        lines.append(
            f"{table.id:16} {len(table.rows):5d} {len(table.runs()):5d}  "
            f"{PAPER_NAMES[table.paper]} {table.source}: {table.title}"
        )
    return "\n".join(lines)


def selected_rows(options):
    """`[(table, rows to run)]` of `options`."""
    ids = list(configs.TABLES) if list(options.tables) == ["all"] else list(options.tables)
    if not ids:
        raise app.UsageError("--table is required (see --list)")
    tables = [configs.get_table(table_id) for table_id in ids]
    if not options.rows:
        return [(table, list(table.rows)) for table in tables]
    if len(tables) != 1:
        raise app.UsageError("--rows needs a single --table")
    by_name = {row.name: row for row in tables[0].rows}
    unknown = [name for name in options.rows if name not in by_name]
    if unknown:
        raise app.UsageError(
            f"unknown rows of {tables[0].id}: {', '.join(unknown)}; its rows are " + ", ".join(by_name)
        )
    return [(tables[0], [by_name[name] for name in options.rows])]


def run_seeds(run, options):
    if options.num_seeds > len(run.seeds):
        raise app.UsageError(f"--seeds={options.num_seeds} but run {run.name} lists {len(run.seeds)} seeds")
    return run.seeds[: options.num_seeds]


def _flag(name, value):
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no{name}"
    return f"--{name}={value}"


def _smoke_hparams(run):
    hparams = dict(run.hparam_dict, **SMOKE_HPARAMS)
    hparams["max_pos_len"] = run.max_pos_len // SMOKE_SHRINK
    if "scales" in hparams:
        hparams["scales"] = ",".join(str(int(length) // SMOKE_SHRINK) for length in hparams["scales"].split(","))
    return hparams


def _processed_key(run):
    key = f"{run.dataset}-{run.features}-n{run.max_pos_len}"
    return key + (f"-{run.test_split}" if run.test_split != "test" else "")


def plan_run(run, seed, options):
    """`(run_dir, train flags, identity)` of one seed of `run`; `identity` is what a finished folder must match."""
    out_dir = options.resolved_out_dir
    family = registry.for_model(run.model).name
    if options.smoke:
        hparams = _smoke_hparams(run)
        override = dict(run.override_dict, **SMOKE_OVERRIDES[family])
        smoke_data = os.path.join(out_dir, "smoke_data")
        processed = os.path.join(out_dir, "processed", f"smoke-n{hparams['max_pos_len']}")
        data = [
            "--dataset=charades",
            f"--data_dir={smoke_data}",
            f"--feature_dir={os.path.join(smoke_data, 'features')}",
            f"--glove={os.path.join(smoke_data, 'glove.txt')}",
            f"--processed_dir={processed}",
        ]
        extra = [f"--max_steps={SMOKE_STEPS}", "--noverbose"]
    else:
        hparams, override = run.hparam_dict, run.override_dict
        data = data_lib.data_flags(run, options.data_root, out_dir)
        data.append(f"--processed_dir={os.path.join(out_dir, 'processed', _processed_key(run))}")
        extra = ["--verbose"]
    args = [f"--model={run.model}", *data, *(_flag(k, v) for k, v in hparams.items())]
    if override:
        args.append(f"--params_override={json.dumps(override, sort_keys=True)}")
    args += [f"--quirks={run.quirks}", f"--protocol={run.protocol}", f"--seed={seed}", "--noexport", *extra]
    if options.smoke:
        # Rows whose shrunk settings coincide give the same computation: one folder, named by its flags.
        digest = hashlib.sha1(json.dumps(args).encode()).hexdigest()[:10]
        run_dir = os.path.join(out_dir, "runs", f"smoke_{run.model}_{digest}")
        identity = {"smoke": True, "args": args}
    else:
        run_dir = os.path.join(out_dir, "runs", run.name, f"seed_{seed}")
        identity = {"smoke": False, "run": run.describe(), "seed": seed}
    return run_dir, args, identity


def _read_json(path):
    with open(path) as f:
        return json.load(f)


def run_state(run_dir, identity):
    """`done`, `partial` (resumable) or `new`; raises if the folder holds another configuration."""
    record_path = os.path.join(run_dir, RUN_FILE)
    if not os.path.exists(record_path):
        if os.path.isdir(run_dir) and os.listdir(run_dir):
            raise RunFolderError(
                f"{run_dir} is not empty but has no {RUN_FILE}: it was not made by "
                "experiments.reproduce; move it away or choose another --out_dir"
            )
        return "new"
    if _read_json(record_path)["identity"] != identity:
        raise RunFolderError(
            f"{run_dir} was trained with other settings than the current config (see its {RUN_FILE}); "
            "delete the folder to retrain it, or choose another --out_dir"
        )
    return "done" if os.path.exists(os.path.join(run_dir, "metrics.json")) else "partial"


def _parse_train_flags(args):
    if "run_dir" not in FLAGS:
        train.define_flags()
    FLAGS.unparse_flags()
    FLAGS(["experiments.train", *args])
    return FLAGS


def _train_in_process(args, eager=False):
    """`experiments.train.run` on `args`; Keras state is cleared afterwards so that runs do not share it.

    `eager` runs the `tf.function`s eagerly (same operations, no graph tracing): smoke runs take two steps, and
    tracing their graphs would cost several times more than running them.
    """
    import keras
    import tensorflow as tf

    was_eager = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(eager)
    try:
        return train.run(_parse_train_flags(args))
    finally:
        tf.config.run_functions_eagerly(was_eager)
        keras.backend.clear_session()
        gc.collect()


@dataclasses.dataclass
class WorkItem:
    """One seed of one run to train: `label` for progress lines, the folder, the train flags, the identity its
    folder records, and a relative `cost` for balancing workers (VSLNet-L runs one pass per scale)."""

    label: str
    run_dir: str
    args: list
    identity: dict
    cost: float


def _cost(run):
    if run.model == "vslnet_l":
        return 2.0 + run.hparam_dict["scales"].count(",")
    return 2.0 if run.model == "lpnet" else 1.0


def train_item(item, position):
    """Train `item` (resuming its checkpoints if it was interrupted); prints progress."""
    state = run_state(item.run_dir, item.identity)
    print(
        f"[{position}] {item.label}: {'resuming' if state == 'partial' else 'training'} in {item.run_dir}", flush=True
    )
    os.makedirs(item.run_dir, exist_ok=True)
    with open(os.path.join(item.run_dir, RUN_FILE), "w") as f:
        json.dump({"identity": item.identity, "train_flags": item.args}, f, indent=2)
    started = time.time()
    result = _train_in_process([f"--run_dir={item.run_dir}", *item.args], eager=item.identity["smoke"])
    print(
        f"[{position}] {item.label}: finished in {time.time() - started:.0f} s, R@1 IoU=0.7 "
        f"{result['r1_iou07']:.2f}, mIoU {result['miou']:.2f} ({result['protocol']} protocol)",
        flush=True,
    )


def _prepare_processed(items):
    """Build every processed-data folder the items use once, here, so that no two worker processes write one."""
    from common.data import dataset as dataset_lib
    from common.training import flags as flags_lib

    built = set()
    for item in items:
        flag_values = _parse_train_flags([f"--run_dir={item.run_dir}", *item.args])
        _, data_config, _ = flags_lib.build_configs(flag_values, train.initial_model_config(flag_values))
        if data_config.processed_dir not in built:
            built.add(data_config.processed_dir)
            dataset_lib.prepare_dataset(data_config)


def _train_in_workers(items, jobs, out_dir):
    """Train `items` in `jobs` worker processes (`--worker`), balanced by cost; raises if a worker fails."""
    _prepare_processed(items)
    shares = [[] for _ in range(jobs)]
    for item in sorted(items, key=lambda item: -item.cost):
        min(shares, key=lambda share: sum(i.cost for i in share)).append(item)
    folder = os.path.join(out_dir, "workers")
    os.makedirs(folder, exist_ok=True)
    processes = []
    for number, share in enumerate(shares):
        path = os.path.join(folder, f"worker_{number}.json")
        with open(path, "w") as f:
            json.dump([dataclasses.asdict(item) for item in share], f, indent=1)
        print(f"worker {number}: {len(share)} run(s): {', '.join(item.label for item in share)}", flush=True)
        processes.append(
            (number, share, subprocess.Popen([sys.executable, "-m", "experiments.reproduce", f"--worker={path}"]))
        )
    failed = [(number, share, process.wait()) for number, share, process in processes]
    failed = [(number, share, code) for number, share, code in failed if code]
    if failed:
        raise RuntimeError(
            "; ".join(
                f"worker {number} exited with {code} (runs {', '.join(i.label for i in share)})"
                for number, share, code in failed
            )
        )


def work(path):
    """The `--worker` mode: train the items listed in `path`, one after the other."""
    items = [WorkItem(**record) for record in _read_json(path)]
    name = os.path.splitext(os.path.basename(path))[0]
    for index, item in enumerate(items, start=1):
        train_item(item, f"{name} {index}/{len(items)}")


def _predictions_path(run_dir, strategy, metrics):
    strategies = list(metrics.get("strategies", {}))
    if strategy is None or strategy == strategies[0]:
        return os.path.join(run_dir, "test_predictions.jsonl")
    return os.path.join(run_dir, f"test_predictions_{strategy}.jsonl")


def _by_length(run_dir, strategy, metrics, buckets):
    config = _read_json(os.path.join(run_dir, "config.json"))
    processed = config["data"]["processed_dir"]
    processed = processed if os.path.isabs(processed) else os.path.join(run_dir, processed)
    ground_truth = {}
    with open(os.path.join(processed, "test.jsonl")) as f:
        for line in f:
            example = json.loads(line)
            ground_truth[example["qid"]] = (example["start_time"], example["end_time"], example["duration"])
    predictions = metrics_lib.read_predictions_jsonl(_predictions_path(run_dir, strategy, metrics))
    return metrics_lib.evaluate_by_length(predictions, ground_truth, metrics_lib.LENGTH_BUCKETS[buckets])


def seed_metrics(table, row, run_dir, cache):
    """The row's metrics (percent, `count`, `protocol`) in one finished run folder."""
    metrics = _read_json(os.path.join(run_dir, "metrics.json"))
    if row.strategy and row.strategy not in metrics.get("strategies", {}):
        raise RuntimeError(
            f"{run_dir}/metrics.json has no '{row.strategy}' strategy; row {row.name} of {table.id} "
            "needs a multi-scale VSLNet-L run"
        )
    if table.kind == "by_length":
        key = (run_dir, row.strategy, table.buckets)
        if key not in cache:
            cache[key] = _by_length(run_dir, row.strategy, metrics, table.buckets)
        source = cache[key][row.bucket]
    else:
        source = metrics["strategies"][row.strategy] if row.strategy else metrics
    return {**{key: source[key] for key in base.METRICS}, "count": source["count"], "protocol": metrics["protocol"]}


def report(table, options):
    """Write the table's files from every finished seed of its rows; returns the JSON document."""
    cache = {}
    records, proposal_plots = [], []
    for row in table.rows:
        results = {}
        for seed in run_seeds(row.run, options):
            run_dir, _, identity = plan_run(row.run, seed, options)
            if os.path.isdir(run_dir) and run_state(run_dir, identity) == "done":
                results[seed] = seed_metrics(table, row, run_dir, cache)
                plot = os.path.join(run_dir, "proposals.png")
                if row.run.model == "lpnet" and os.path.exists(plot) and len(results) == 1:
                    proposal_plots.append((row.name, plot))
        records.append(reproduce_report.row_result(table, row, results))
    derived = table.derive({record["name"]: record for record in records}) if table.derive else None
    return reproduce_report.write_table(
        table,
        records,
        options.resolved_out_dir,
        smoke_settings=SMOKE_SETTINGS if options.smoke else None,
        proposal_plots=proposal_plots,
        derived=derived,
    )


def _check_out_dir(options):
    """Refuse an output folder that holds results of the other kind (smoke or real)."""
    marker = os.path.join(options.resolved_out_dir, KIND_FILE)
    if os.path.exists(marker) and _read_json(marker)["kind"] != options.kind:
        raise app.UsageError(
            f"{options.resolved_out_dir} holds {_read_json(marker)['kind']} results; smoke and real "
            "results never share a folder (choose another --out_dir)"
        )


def _claim_out_dir(options):
    os.makedirs(options.resolved_out_dir, exist_ok=True)
    with open(os.path.join(options.resolved_out_dir, KIND_FILE), "w") as f:
        json.dump({"kind": options.kind}, f)


def check_data(runs, options):
    """The data check's report (`""` when every run's data is in place)."""
    problems = data_lib.check_runs(runs, options.data_root, options.resolved_out_dir)
    if not problems:
        return ""
    lines = [
        (
            f"The data under {os.path.abspath(options.data_root)} is not what these runs need "
            f"({len(problems)} problem{'s' if len(problems) > 1 else ''}); expected layout: README, "
            "'Reproducing the papers'."
        )
    ]
    return "\n".join(lines + [problem.format(len(runs)) for problem in problems])


def reproduce(options):
    """Check, train what is missing and write the tables of `options`; returns `{table id: JSON document}`."""
    selection = selected_rows(options)
    runs = list({row.run.name: row.run for _, rows in selection for row in rows}.values())
    work = [(run, seed) for run in runs for seed in run_seeds(run, options)]
    print(
        f"{len(selection)} table(s), {sum(len(rows) for _, rows in selection)} row(s), {len(runs)} run(s) × "
        f"{options.num_seeds} seed(s){' [SMOKE]' if options.smoke else ''} → {options.resolved_out_dir}",
        flush=True,
    )
    _check_out_dir(options)
    if not options.smoke:
        if not options.data_root:
            raise app.UsageError("--data_root is required (or --smoke)")
        problems = check_data(runs, options)
        if problems:
            raise DataProblemError(problems)
        print(f"data check passed: {options.data_root}", flush=True)
    if options.dry_run:
        for run, seed in work:
            run_dir, _, identity = plan_run(run, seed, options)
            print(f"  {run.name} seed {seed}: {run_state(run_dir, identity)} ({run_dir})")
        return {}
    _claim_out_dir(options)
    if options.smoke:
        smoke_data = os.path.join(options.resolved_out_dir, "smoke_data")
        if not os.path.exists(os.path.join(smoke_data, "dataset.json")):
            synthetic.make_synthetic(smoke_data, SMOKE_PRESET, seed=0, overwrite=True)
    pending = {}
    for run, seed in work:
        run_dir, args, identity = plan_run(run, seed, options)
        label = f"{run.name} seed {seed}"
        if run_dir in pending or run_state(run_dir, identity) == "done":
            print(f"{label}: done already or shared ({run_dir})", flush=True)
        else:
            pending[run_dir] = WorkItem(label, run_dir, args, identity, _cost(run))
    items = list(pending.values())
    if options.jobs > 1 and len(items) > 1:
        _train_in_workers(items, min(options.jobs, len(items)), options.resolved_out_dir)
    else:
        for index, item in enumerate(items, start=1):
            train_item(item, f"{index}/{len(items)}")
    documents = {}
    for table, _ in selection:
        documents[table.id] = report(table, options)
        print(
            f"wrote {os.path.join(options.resolved_out_dir, table.id)}.md and .json"
            + "".join(f", {os.path.basename(f)}" for f in documents[table.id]["figures"]),
            flush=True,
        )
    return documents


def define_flags():
    flags.DEFINE_list("table", [], "Table id(s), comma-separated, or 'all' (see --list).")
    flags.DEFINE_bool("list", False, "Print the table ids with their row and run counts, and exit.")
    flags.DEFINE_string("data_root", None, "Data folder (README, 'Reproducing the papers').")
    flags.DEFINE_integer("seeds", None, "Seeds per run: the first N of the config's list (default 3; 1 with --smoke).")
    flags.DEFINE_list("rows", [], "Only these rows of the (single) table.")
    flags.DEFINE_string("out_dir", None, "Output folder (default results/, or results/smoke/ with --smoke).")
    flags.DEFINE_bool("smoke", False, "Every row on synthetic data with a tiny model for 2 steps (labelled SMOKE).")
    flags.DEFINE_bool("dry_run", False, "Check the data and print the plan; train nothing.")
    flags.DEFINE_integer(
        "jobs",
        1,
        "Worker processes training runs side by side (CPU runs, or one accelerator per process).",
        lower_bound=1,
    )
    flags.DEFINE_string("worker", None, "Internal (--jobs): train the work items listed in this JSON file.")


#: The headings of `--help` (`experiments.flag_help`).
HELP_GROUPS = (
    ("what", ("table", "rows", "seeds", "list")),
    ("data and results", ("data_root", "out_dir")),
    ("how", ("smoke", "dry_run", "jobs", "worker")),
)


def options_from_flags(flag_values):
    return Options(
        tables=tuple(flag_values.table),
        data_root=flag_values.data_root,
        seeds=flag_values.seeds,
        rows=tuple(flag_values.rows),
        out_dir=flag_values.out_dir,
        smoke=flag_values.smoke,
        dry_run=flag_values.dry_run,
        jobs=flag_values.jobs,
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.list:
        print(list_tables())
        return
    if FLAGS.worker:
        work(FLAGS.worker)
        return
    options = options_from_flags(FLAGS)
    try:
        reproduce(options)
    except (DataProblemError, RunFolderError, KeyError) as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    flag_help.run(main, HELP_GROUPS)
