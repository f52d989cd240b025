"""Training under `tf.distribute`: 2 replicas of one process (`mirrored` on 2 logical CPUs) and 2 worker processes
(`multi_worker` on 127.0.0.1) against one device, for every model, over several steps of differently padded batches.

With dropout off, the losses of every step equal the single-device ones to float32 rounding, and so do the weights,
except the biases that a softmax cannot see (a constant added to every key or every position): their gradient is
zero in exact arithmetic, so Adam turns the float rounding of their sums into updates of either sign.
"""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from common.data import dataset, synthetic

REPO_ROOT = str(pathlib.Path(__file__).resolve().parents[3])
SOFTMAX_SHIFT_BIASES = ("/key/bias", "start_dense/bias", "end_dense/bias")
SMALL = dict(hidden_dim=16, num_heads=2, max_pos_len=64, char_dim=8, drop_rate=0.0)


@pytest.fixture(scope="module")
def small_processed(tmp_path_factory):
    """The tiny preset cut to 33 train and 17 test queries: with batches of 16, every epoch ends with a batch of
    one query, which leaves the second replica without rows (its stand-in row must count for nothing)."""
    root = tmp_path_factory.mktemp("tiny")
    synthetic.make_synthetic(str(root), preset="tiny", seed=0)
    config = dataset.DataConfig(dataset="charades", annotation_dir=str(root), feature_path=str(root / "features"),
                                glove_path=str(root / "glove.txt"), processed_dir=str(root / "processed"),
                                max_pos_len=64)
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
            return LPNetTask(apply_quirks(LPNetConfig(num_proposals=10, roi_length=4, dynamic_dim=8,
                                                      scoring_hidden_dim=16, **small), "fixed"))
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
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


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
    compared = 0
    for name, value in single["weights"].items():
        if name.endswith(SOFTMAX_SHIFT_BIASES):
            continue
        value, other = np.asarray(value), np.asarray(distributed["weights"][name])
        assert np.linalg.norm(other - value) <= 1e-4 * np.linalg.norm(value) + 1e-7, name
        compared += 1
    assert compared > 0.9 * len(single["weights"])


# One model of each family in the default suite (≈ 70 s); VSLBase and VSLNet-L (≈ 100 s) with --run_slow.
@pytest.mark.parametrize("models", [
    ("vslnet", "lpnet"),
    pytest.param(("vslbase", "vslnet_l"), marks=pytest.mark.slow),
])
def test_mirrored_on_two_devices_trains_as_one_device(small_processed, tmp_path, models):
    script = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, small_processed, str(tmp_path), json.dumps(SMALL),
                             *models], env=_env(), cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert script.returncode == 0, script.stderr[-4000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert sorted(result) == sorted(models)
    for model, runs in result.items():
        assert runs["default"]["replicas"] == 1 and runs["mirrored"]["replicas"] == 2
        assert runs["default"]["metrics"]["count"] == 17  # the stand-in row of the last test batch is not scored
        assert_same_training(runs["default"], runs["mirrored"])
