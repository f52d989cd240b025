"""Reruns the README's main command and prints the rows of the README's table, so that a change can refresh it.

    python benchmarks/readme_numbers.py [--lpnet] [--keep_dir=DIR] [-- EXTRA TRAIN FLAGS]

Runs `python -m experiments.train --model=vslnet --run_dir=RUN` (the README's main command) in a new process from
the repository root, as on a clean clone: the run directory and the synthetic benchmark (`--synthetic_dir`) are in a
temporary folder (removed afterwards unless `--keep_dir`), so nothing cached from an earlier commit is reused. It
prints a line describing the machine (CPU model, the cores the run may use, TensorFlow and Keras versions), then
the table rows in the README's format: the run's test metrics (`RUN/metrics.json`) labelled with the machine, the
date and the wall time of the command (peak memory beside it), and the query-blind baselines of the data.

`--lpnet` also trains LPNet twice, `--model=lpnet --quirks=fixed` (the README's second row) and `--model=lpnet`
(the original code's quirks), for the README's paragraph on what each preset is for. Flags after `--` are passed to
every training (e.g. `-- --synthetic_preset=tiny --max_steps=2` for a quick try; the rows then say so).

The numbers are those of one machine kind: a seed gives the same numbers on the same CPU with the same number of
cores, but TensorFlow sums in another order on another CPU or with another number of threads (a 1-core run of the
README command gave other metrics than the 2-core run), so the README names the machine.
"""

import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app, flags

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRICS = ("r1_iou03", "r1_iou05", "r1_iou07", "miou")
BASELINE_NAMES = {"mean_moment": "mean training moment", "random_span": "random span"}
# (label, train flags) of each row; the first is the README's main command.
RUNS = (("VSLNet (README command", ["--model=vslnet"]),)
LPNET_RUNS = (
    ("LPNet (`--model=lpnet --quirks=fixed`", ["--model=lpnet", "--quirks=fixed"]),
    ("LPNet (`--model=lpnet`, original quirks", ["--model=lpnet"]),
)

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_bool("lpnet", False, "Also train LPNet with --quirks=fixed and with the original quirks.")
    flags.DEFINE_string("keep_dir", None, "Keep the run directories and the synthetic data here (default: removed).")


def cpu_model():
    """The CPU's model name (`/proc/cpuinfo`; elsewhere `platform.processor()`)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_description():
    """`AMD EPYC, 2 of 2 cores, TensorFlow 2.21.0, Keras 3.15.1, Python 3.11.7`."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = ", ".join(f"{name} {importlib.metadata.version(name.lower())}" for name in ("TensorFlow", "Keras"))
    return f"{cpu_model()}, {usable} of {os.cpu_count()} cores, {versions}, Python {platform.python_version()}"


def format_duration(seconds):
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def table_row(label, scores):
    return f"| {label} | " + " | ".join(f"{scores[key]:.2f}" for key in METRICS) + " |"


def train(args, run_dir, synthetic_dir):
    """Run `experiments.train` with `args` into `run_dir`; returns (metrics, config, wall seconds, peak MiB)."""
    command = [sys.executable, "-m", "experiments.train", f"--run_dir={run_dir}", f"--synthetic_dir={synthetic_dir}"]
    print("$ python " + " ".join(command[1:] + args), file=sys.stderr, flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(command + args, cwd=REPO_ROOT, stdout=sys.stderr)  # stdout: the table alone
    _, status, usage = os.wait4(process.pid, 0)  # this child's resource usage
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command + args)
    peak_mib = usage.ru_maxrss / 1024  # KiB on Linux
    with open(os.path.join(run_dir, "metrics.json")) as f:
        metrics = json.load(f)
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    return metrics, config, seconds, peak_mib


def rows(runs, root, extra_args, today):
    """The README's rows of `runs` (and the baselines of the first run's data), trained under `root`."""
    lines = []
    baselines = None
    for index, (label, args) in enumerate(runs):
        metrics, config, seconds, peak_mib = train(
            args + extra_args, os.path.join(root, f"run_{index}"), os.path.join(root, "synthetic")
        )
        details = f"{metrics['protocol']} protocol; {today}, {format_duration(seconds)}, peak {peak_mib:.0f} MiB"
        if extra_args:
            details += f"; with {' '.join(extra_args)}"
        lines.append(table_row(f"{label}, {details})", metrics))
        baselines = baselines or os.path.join(config["data_dir"], "baselines.json")
    with open(baselines) as f:
        lines += [table_row(f"baseline: {BASELINE_NAMES.get(n, n)}", s) for n, s in json.load(f).items()]
    return lines


def main(argv):
    extra_args = argv[1:]
    root = FLAGS.keep_dir or tempfile.mkdtemp(prefix="readme-numbers-")
    try:
        lines = rows(RUNS + (LPNET_RUNS if FLAGS.lpnet else ()), root, extra_args, datetime.date.today().isoformat())
    finally:
        if not FLAGS.keep_dir:
            shutil.rmtree(root, ignore_errors=True)
    print(f"machine: {machine_description()}")
    print("| test split (synthetic `default`) | R@1 IoU 0.3 | R@1 IoU 0.5 | R@1 IoU 0.7 | mIoU |")
    print("|---|---|---|---|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    define_flags()
    app.run(main)
