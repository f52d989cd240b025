"""Our training and inference speed against the original TF1 code and the Ego4D PyTorch port, side by side.

    python benchmarks/compare.py --peers_dir=~/.cache/nlvl-peers [--rounds=3] [--configs=vslnet:charades,...]

The peers are timed by the harness of `../shared/peer_harness` (set up once per machine as its README says: it builds
the original VSLNet and LPNet TF1 code and the PyTorch port of VSLNet from their public repositories into
`--peers_dir`); nothing of theirs is imported here, each runs in its own process. Per round and configuration, our
`benchmarks/speed.py`, the TF1 harness and (VSLNet only) the PyTorch harness run one after the other, each alone, with
the same shapes, warm-up and timed steps; the rounds interleave the three, so that a slower or faster minute of the
machine affects all of them. The ratios are taken per round and their median is reported: this machine kind varies
by 2× between sessions, so only ratios measured in one run mean something. The machine's float32 matmul peak
(`tf.function` of a 2048³ product) is measured before and after and printed beside them. `--json_out` writes every
measurement.
"""

import json
import os
import statistics
import subprocess
import sys
import time

from absl import app, flags

SPEED_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "speed.py")
#: The peers' trainable parameters per configuration (`../shared/peer_harness/README.md`): a harness that builds
#: something else is refused.
PEER_PARAMETERS = {
    ("tf1", "vslnet", "charades"): 781_569,
    ("tf1", "vslnet", "anet"): 803_585,
    ("tf1", "lpnet", "charades"): 12_587_946,
    ("torch", "vslnet", "charades"): 782_771,
    ("torch", "vslnet", "anet"): 804_787,
}
KINDS = ("train", "infer")

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("peers_dir", "~/.cache/nlvl-peers", "The peer harness folder (`$PEERS_DIR` of its setup).")
    flags.DEFINE_list(
        "configs", ["vslnet:charades", "vslnet:anet", "lpnet:charades"], "MODEL:SHAPE pairs of benchmarks/speed.py."
    )
    flags.DEFINE_integer("rounds", 3, "Interleaved rounds; the report gives the median of the per-round ratios.")
    flags.DEFINE_integer("steps", 30, "Timed steps per measurement (the harness's default).")
    flags.DEFINE_integer("warmup", 5, "Untimed steps first (the harness's default).")
    flags.DEFINE_string("json_out", None, "Also write every measurement here.")


def _last_json(stdout, command):
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON line from {' '.join(command)}:\n{stdout[-2000:]}")


def run(command, env=None):
    """The last JSON line that `command` prints, with its wall time."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    measured = _last_json(result.stdout, command)
    measured["wall_s"] = round(time.perf_counter() - started, 1)
    return measured


def commands(model, shape, peers_dir):
    """`{runner: argv}` for one configuration: ours, the TF1 original and (VSLNet) the PyTorch port."""
    timing = [f"--steps={FLAGS.steps}", f"--warmup={FLAGS.warmup}"]
    out = {"ours": [sys.executable, SPEED_PY, f"--model={model}", f"--shape={shape}", "--json", *timing]}

    def python_of(venv):
        return os.path.join(peers_dir, venv, "bin", "python")

    harness = ["--shape", shape, "--json", "--steps", str(FLAGS.steps), "--warmup", str(FLAGS.warmup)]
    out["tf1"] = [python_of("venv"), os.path.join(peers_dir, "bench_tf1.py"), "--model", model, *harness]
    if model == "vslnet":
        out["torch"] = [python_of("torchvenv"), os.path.join(peers_dir, "bench_torch.py"), *harness]
    return out


def matmul_peak():
    """GFLOP/s of a float32 2048³ matmul in a `tf.function` (median of 10), measured in a fresh process."""
    code = (
        "import time, statistics, tensorflow as tf\n"
        "a = tf.random.normal([2048, 2048]); b = tf.random.normal([2048, 2048])\n"
        "f = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))\n"
        "[f().numpy() for _ in range(3)]\n"
        "ts = []\n"
        "for _ in range(10):\n"
        "    s = time.perf_counter(); f().numpy(); ts.append(time.perf_counter() - s)\n"
        "print(2 * 2048**3 / statistics.median(ts) / 1e9)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def machine():
    """The CPU model and the cores this process may use."""
    name = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name}, {len(os.sched_getaffinity(0))} cores"


def check_parameters(runner, model, shape, measured):
    expected = PEER_PARAMETERS.get((runner, model, shape))
    if expected is not None and measured.get("trainable_params") != expected:
        raise RuntimeError(
            f"the {runner} harness built {measured.get('trainable_params')} trainable parameters for {model} {shape}; "
            f"expected {expected}: it is not the harness of ../shared/peer_harness"
        )


def report(results, peaks):
    """The table of median per-round ratios (ours ÷ peer), with the peers' and our medians beside."""
    lines = [f"machine: {machine()}; float32 matmul peak {peaks[0]:.0f} GFLOP/s before, {peaks[1]:.0f} after"]
    lines.append(f"{'configuration':18} {'kind':6} {'ours ÷ TF1':>12} {'ours ÷ PyTorch':>15}   per-round ratios")
    for config, rounds in results.items():
        for kind in KINDS:
            key = f"{kind}_samples_per_s"
            cells, detail = [], []
            for peer in ("tf1", "torch"):
                ratios = [r["ours"][key] / r[peer][key] for r in rounds if peer in r]
                cells.append(f"{statistics.median(ratios):.2f}x" if ratios else "-")
                if ratios:
                    detail.append(f"{peer} " + " ".join(f"{x:.2f}" for x in ratios))
            lines.append(f"{config:18} {kind:6} {cells[0]:>12} {cells[1]:>15}   {'; '.join(detail)}")
    return "\n".join(lines)


def main(argv):
    del argv
    peers_dir = os.path.expanduser(FLAGS.peers_dir)
    if not os.path.exists(os.path.join(peers_dir, "bench_tf1.py")):
        raise app.UsageError(f"{peers_dir} holds no peer harness: set it up as ../shared/peer_harness/README.md says")
    peaks = [matmul_peak()]
    results = {config: [] for config in FLAGS.configs}
    for round_index in range(FLAGS.rounds):
        for config in FLAGS.configs:
            model, shape = config.split(":")
            measured = {}
            for runner, command in commands(model, shape, peers_dir).items():
                measured[runner] = run(command)
                check_parameters(runner, model, shape, measured[runner])
                rates = " / ".join(f"{measured[runner][f'{kind}_samples_per_s']:.1f}" for kind in KINDS)
                print(f"round {round_index + 1} {config} {runner}: {rates} samples/s (train / infer)", flush=True)
            results[config].append(measured)
    peaks.append(matmul_peak())
    print(report(results, peaks))
    if FLAGS.json_out:
        with open(FLAGS.json_out, "w") as f:
            json.dump({"machine": machine(), "matmul_gflops": peaks, "results": results}, f, indent=1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
