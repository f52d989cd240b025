import json
import os
import re

import numpy as np
import pytest

from common.data import dataset, pipeline, synthetic
from common.training.trainer import Trainer, TrainerConfig
from vslnet_tf.config import VSLNetConfig
from vslnet_tf.task import VSLNetTask

TINY_MODEL = dict(hidden_dim=16, num_heads=2, max_pos_len=64, char_dim=8)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    synthetic.make_synthetic(str(root), preset="tiny", seed=0)
    config = dataset.DataConfig(
        dataset="charades",
        annotation_dir=str(root),
        feature_path=str(root / "features"),
        glove_path=str(root / "glove.txt"),
        processed_dir=str(root / "processed"),
        max_pos_len=64,
    )
    return root, dataset.prepare_dataset(config, progress=False)


def _trainer(processed, run_dir, model=None, **trainer_kwargs):
    args = dict(epochs=2, batch_size=16, seed=7, protocol="clean", verbose=False)
    args.update(trainer_kwargs)
    return Trainer(VSLNetTask(VSLNetConfig(**(model or TINY_MODEL))), processed, TrainerConfig(**args), str(run_dir))


def _weights(trainer):
    return [v.numpy() for v in trainer.model.weights]


# Slow (33 s): the two-worker test (distributed_training_test.py) resumes bitwise through the same restore path.
@pytest.mark.slow
def test_resume_continues_identically(tiny, tmp_path):
    _, processed = tiny
    straight = _trainer(processed, tmp_path / "a", max_steps=25)
    straight.train()
    interrupted = _trainer(processed, tmp_path / "b", max_steps=12)  # stops inside epoch 1 (18 batches/epoch)
    interrupted.train()
    resumed = _trainer(processed, tmp_path / "b", max_steps=25)
    assert int(resumed.step.numpy()) == 0
    resumed.train()
    assert int(resumed.step.numpy()) == 25
    for a, b in zip(_weights(straight), _weights(resumed)):
        np.testing.assert_array_equal(a, b)
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert (
        metrics["protocol"] == "clean" and metrics["steps"] == 25 and metrics["count"] == len(processed.splits["test"])
    )


def test_original_protocol_evaluates_twice_per_epoch_and_keeps_best(tiny, tmp_path, capsys):
    _, processed = tiny
    trainer = _trainer(processed, tmp_path, epochs=1, protocol="original", verbose=True, log_every=5)
    trainer.train()
    history = [json.loads(line) for line in (tmp_path / "eval_history.jsonl").read_text().splitlines()]
    nb = trainer.batches_per_epoch
    assert [h["step"] for h in history] == [nb // 2, nb]
    # Captured stderr is not a terminal: a plain line every `log_every` steps and one per evaluation.
    log = capsys.readouterr().err
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", log)
    steps = [*range(5, nb + 1, 5), nb]
    lines = [f"epoch 1/1: {step}/{nb} batches" for step in steps]
    lines.insert(steps.index(10), f"step {nb // 2} (epoch 1): test r1_iou03=")
    lines.append(f"step {nb} (epoch 1): test r1_iou03=")
    assert [line[: len(start)] for line, start in zip(log.splitlines(), lines)] == lines
    assert all(" - span: " in line and " - total: " in line for line in log.splitlines() if "batches" in line)
    best = max(h["test"]["r1_iou07"] for h in history)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["r1_iou07"] == best and "test-set selection" in metrics["selection"]
    assert os.path.isdir(tmp_path / "tensorboard") and os.listdir(tmp_path / "tensorboard")


def test_tiny_vslnet_beats_query_blind_baselines(tiny, tmp_path):
    root, processed = tiny
    baselines = json.loads((root / "baselines.json").read_text())
    model = dict(hidden_dim=32, num_heads=4, max_pos_len=64, init_lr=2e-3)
    result = _trainer(processed, tmp_path, model=model, epochs=30, seed=1).train()
    best_r05 = max(b["r1_iou05"] for b in baselines.values())
    best_miou = max(b["miou"] for b in baselines.values())
    assert result["r1_iou05"] > 2 * best_r05, (result, baselines)
    assert result["miou"] > best_miou + 15, (result, baselines)


@pytest.mark.slow  # ≈ 12 s
def test_mixed_bfloat16_computes_in_bfloat16_and_keeps_float32_variables_and_losses(tiny, tmp_path):
    import keras

    _, processed = tiny
    trainer = _trainer(processed, tmp_path, max_steps=3, epochs=1, dtype_policy="mixed_bfloat16")
    assert keras.mixed_precision.dtype_policy().name == "float32"  # the global policy is restored
    assert trainer.model.backbone.video_projection.compute_dtype == "bfloat16"
    assert {v.dtype for v in trainer.model.trainable_variables} == {"float32"}
    before = [v.numpy().copy() for v in trainer.model.trainable_variables]
    result = trainer.train()
    assert result["steps"] == 3 and np.isfinite(result["miou"])
    changed = [not np.array_equal(b, v.numpy()) for b, v in zip(before, trainer.model.trainable_variables)]
    assert all(changed[:3]) and np.mean(changed) > 0.9
    batch = next(
        iter(
            pipeline.make_dataset(
                processed.splits["train"],
                trainer.store,
                batch_size=4,
                max_pos_len=64,
                feature_dim=processed.feature_dim,
                training=True,
                seed=0,
            )
        )
    )
    losses = trainer.task.compute_losses(trainer.model, batch, training=True)
    assert all(v.dtype == "float32" and np.isfinite(v.numpy()) for v in losses.values())
    with pytest.raises(ValueError, match="dtype_policy"):
        TrainerConfig(dtype_policy="mixed_float16").validate()
