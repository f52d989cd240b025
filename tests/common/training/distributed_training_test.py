"""Training under `tf.distribute`: 2 replicas of one process (`mirrored` on 2 logical CPUs) and 2 worker processes
(`multi_worker` on 127.0.0.1) against one device, for every model, over several steps of differently padded batches.

With dropout off, the losses of every step equal the single-device ones to float32 rounding, and so do the weights,
except the biases that a softmax cannot see (a constant added to every key or every position): their gradient is
zero in exact arithmetic, so Adam turns the float rounding of their sums into updates of either sign. LPNet's boundary
hidden layers belong there too: only sample 0's KL trains them (the original's loss), and a ReLU unit active at every
clip of that sample adds its bias to every start (end) logit alike, so its bias gradient Σ_t v·(p_t − q_t) is zero.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from common.data import dataset, synthetic
from common.training import run_loader

REPO_ROOT = str(pathlib.Path(__file__).resolve().parents[3])
SOFTMAX_SHIFT_BIASES = (
    "/key/bias",
    "start_dense/bias",
    "end_dense/bias",
    "lpnet/conditioned_predictor/start_hidden/bias",
    "lpnet/conditioned_predictor/end_hidden/bias",
)
SMALL = dict(hidden_dim=16, num_heads=2, max_pos_len=64, char_dim=8, drop_rate=0.0)


@pytest.fixture(scope="module")
def small_processed(tmp_path_factory):
    """The tiny preset cut to 33 train and 17 test queries: with batches of 16, every epoch ends with a batch of
    one query, which leaves the second replica without rows (its stand-in row must count for nothing)."""
    root = tmp_path_factory.mktemp("synthetic") / "tiny"  # where `--synthetic_dir=<parent>` finds it
    synthetic.make_synthetic(str(root), preset="tiny", seed=0)
    config = dataset.DataConfig(
        dataset="charades",
        annotation_dir=str(root),
        feature_path=str(root / "features"),
        glove_path=str(root / "glove.txt"),
        processed_dir=str(root / "processed"),
        max_pos_len=64,
    )
    folder = pathlib.Path(dataset.prepare_dataset(config, progress=False).folder)
    for split, keep in (("train", 33), ("test", 17)):
        lines = (folder / f"{split}.jsonl").read_text().splitlines()[:keep]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return str(folder)


MIRRORED_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from common.training import distribute
    distribute.split_cpu(2)
    import tensorflow as tf
    from common.data import dataset
    from common.training.trainer import Trainer, TrainerConfig
    from lpnet_tf.config import LPNetConfig, apply_quirks
    from lpnet_tf.task import LPNetTask
    from vslnet_tf.config import VSLNetConfig
    from vslnet_tf.task import VSLNetTask

    processed_dir, out_dir, small, models = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4:]
    processed = dataset.load_processed(processed_dir)

    def task(model):
        if model == "lpnet":
            # The original quirks: the KL of sample 0 on replica 0 only, Adam's doubled β-power counter.
            return LPNetTask(apply_quirks(LPNetConfig(num_proposals=10, roi_length=4, dynamic_dim=8,
                                                      scoring_hidden_dim=16, **small), "original"))
        return VSLNetTask(VSLNetConfig(model=model, **small, **({"scales": [16, 32]} if model == "vslnet_l" else {})))

    def logged_losses(run_dir):
        folder = os.path.join(run_dir, "tensorboard")
        steps = {}
        for name in os.listdir(folder):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(folder, name)):
                for value in event.summary.value:
                    if value.tag.startswith("loss/"):
                        steps.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
        return {tag: [values[s] for s in sorted(values)] for tag, values in steps.items()}

    result = {}
    for model in models:  # one MirroredStrategy for all (`distribute.get_strategy`)
        for strategy in ("default", "mirrored"):
            run_dir = os.path.join(out_dir, model, strategy)
            trainer = Trainer(task(model), processed, TrainerConfig(
                epochs=2, batch_size=16, seed=3, strategy=strategy, max_steps=5, protocol="clean", verbose=False,
                log_every=1), run_dir)
            metrics = trainer.train()
            predictions = [json.loads(line) for line in open(os.path.join(run_dir, "test_predictions.jsonl"))]
            result.setdefault(model, {})[strategy] = {
                "replicas": trainer.strategy.num_replicas_in_sync,
                "losses": logged_losses(run_dir),
                "metrics": {k: metrics[k] for k in ("r1_iou03", "r1_iou05", "r1_iou07", "miou", "count")},
                "predictions": predictions,
                "weights": {v.path: v.numpy().tolist() for v in trainer.model.trainable_variables},
            }
    json.dump(result, open(os.path.join(out_dir, "result.json"), "w"))
""")


def _env():
    return dict(
        os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")
    )


def assert_same_training(single, distributed):
    """Per-step losses, test metrics, predictions and weights of two runs on the same global batches."""
    assert set(single["losses"]) == set(distributed["losses"])
    for tag, values in single["losses"].items():
        assert len(values) == 5
        np.testing.assert_allclose(distributed["losses"][tag], values, rtol=2e-5, atol=1e-7, err_msg=tag)
    assert distributed["metrics"] == single["metrics"]
    assert [p["qid"] for p in distributed["predictions"]] == [p["qid"] for p in single["predictions"]]
    for mine, theirs in zip(distributed["predictions"], single["predictions"]):
        np.testing.assert_allclose(mine["pred_windows"], theirs["pred_windows"], rtol=1e-4, atol=1e-6)
    assert_same_weights(single["weights"], distributed["weights"])


def assert_same_weights(single, distributed):
    """Every weight but the softmax-shift biases (module docstring) equal to float32 rounding."""
    assert single.keys() == distributed.keys()
    compared = [name for name in single if not name.endswith(SOFTMAX_SHIFT_BIASES)]
    assert len(compared) > 0.9 * len(single)
    for name in compared:
        value, other = np.asarray(single[name]), np.asarray(distributed[name])
        assert np.linalg.norm(other - value) <= 1e-4 * np.linalg.norm(value) + 1e-7, name


# LPNet (its routed gradients) in the default suite (VSLNet trains on two workers below); VSLNet, VSLBase and
# VSLNet-L (≈ 130 s) with --run_slow.
@pytest.mark.parametrize(
    "models",
    [
        ("lpnet",),
        pytest.param(("vslnet", "vslbase", "vslnet_l"), marks=pytest.mark.slow),
    ],
)
def test_mirrored_on_two_devices_trains_as_one_device(small_processed, tmp_path, models):
    script = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, small_processed, str(tmp_path), json.dumps(SMALL), *models],
        env=_env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert script.returncode == 0, script.stderr[-4000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert sorted(result) == sorted(models)
    for runs in result.values():
        assert runs["default"]["replicas"] == 1 and runs["mirrored"]["replicas"] == 2
        assert runs["default"]["metrics"]["count"] == 17  # the stand-in row of the last test batch is not scored
        assert_same_training(runs["default"], runs["mirrored"])


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_on_workers(run_dir, flags, scratch, num_workers=2, timeout=300):
    """`experiments.train --strategy=multi_worker` in `num_workers` processes on 127.0.0.1, each with the
    `TF_CONFIG` the README shows and its own TMPDIR under `scratch`; returns their (returncode, stdout, stderr)."""
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(num_workers)]}
    processes = []
    for index in range(num_workers):
        tmp = scratch / f"worker{index}_tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        env = dict(
            _env(),
            TMPDIR=str(tmp),
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        )
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "experiments.train", "--strategy=multi_worker", f"--run_dir={run_dir}", *flags],
                env=env,
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=timeout)
            results.append((process.returncode, stdout, stderr))
    finally:
        for process in processes:  # only the processes started here, by their handles
            if process.poll() is None:
                process.kill()
                process.wait()
    return results


def _run_files(run_dir):
    return sorted(
        str(p.relative_to(run_dir)).split(".tfevents")[0] for p in pathlib.Path(run_dir).rglob("*") if p.is_file()
    )


def _checkpoint(run_dir, step):
    import tensorflow as tf

    reader = tf.train.load_checkpoint(os.path.join(run_dir, "checkpoints", f"ckpt-{step}"))
    return {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map() if key.endswith("VARIABLE_VALUE")}


def test_two_workers_train_as_one_process_write_only_the_chiefs_files_and_resume(small_processed, tmp_path):
    # The small processed folder (two epochs of 3 steps; the last batch of each leaves worker 1 a stand-in row),
    # shared by every run; `--quirks=fixed` for the clean protocol (evaluation at epoch ends only).
    synthetic_dir = pathlib.Path(small_processed).parents[1]
    flags = [
        "--model=vslnet",
        "--quirks=fixed",
        "--synthetic_preset=tiny",
        f"--synthetic_dir={synthetic_dir}",
        f"--processed_dir={small_processed}",
        "--hidden_dim=16",
        "--num_heads=2",
        "--char_dim=8",
        "--drop_rate=0",
        "--verbose=false",
        "--export=false",
    ]
    workers = train_on_workers(tmp_path / "workers", flags + ["--max_steps=6"], tmp_path / "a")
    assert [rc for rc, _, _ in workers] == [0, 0], workers[0][2][-3000:] + workers[1][2][-3000:]
    assert "test split" in workers[0][1] and not workers[1][1].strip()  # only the chief reports
    single = subprocess.run(
        [sys.executable, "-m", "experiments.train", f"--run_dir={tmp_path / 'single'}", "--max_steps=6", *flags],
        env=_env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr[-3000:]

    # Only the chief's files: the same files as one process writes, no history line twice, no worker leftovers.
    assert _run_files(tmp_path / "workers") == _run_files(tmp_path / "single")
    history = (tmp_path / "workers" / "eval_history.jsonl").read_text().splitlines()
    assert len(history) == len((tmp_path / "single" / "eval_history.jsonl").read_text().splitlines()) == 2
    assert not any((tmp_path / "a").rglob("*.index"))  # the other worker removed its checkpoints

    metrics = {name: json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("workers", "single")}
    for key in ("r1_iou03", "r1_iou05", "r1_iou07", "miou", "count", "steps"):
        assert metrics["workers"][key] == metrics["single"][key], key
    weights = {
        name: {
            v.path: v.numpy()
            for v in run_loader.load_run(
                str(tmp_path / name), checkpoint=str(tmp_path / name / "checkpoints" / "ckpt-6")
            ).model.trainable_variables
        }
        for name in ("workers", "single")
    }
    assert_same_weights(weights["single"], weights["workers"])

    # Interrupted after 3 steps and resumed on both workers: the same floats as the uninterrupted run.
    for steps in (3, 6):
        resumed = train_on_workers(tmp_path / "resumed", flags + [f"--max_steps={steps}"], tmp_path / f"r{steps}")
        assert [rc for rc, _, _ in resumed] == [0, 0], resumed[0][2][-3000:] + resumed[1][2][-3000:]
    assert "resumed from" not in resumed[1][2]  # the verbose-off workers say nothing; the files tell
    straight, interrupted = _checkpoint(tmp_path / "workers", 6), _checkpoint(tmp_path / "resumed", 6)
    assert straight.keys() == interrupted.keys()
    for key, value in straight.items():
        if not key.startswith(("best_score/", "save_counter/")):  # the interrupted run also evaluated at step 3
            np.testing.assert_array_equal(interrupted[key], value, err_msg=key)
