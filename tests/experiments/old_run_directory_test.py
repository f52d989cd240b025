"""A run directory written before the backbone refactor (commit 297eda3) still loads and scores what it recorded."""

import json
import os
import shutil

import pytest
from absl import flags

from experiments import evaluate

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "old_run_directories")
METRICS = ("r1_iou03", "r1_iou05", "r1_iou07", "miou", "count")


@pytest.mark.parametrize("model", ["vslnet", "vslnet_l", "lpnet"])
def test_an_old_run_directory_evaluates_to_its_recorded_metrics(model, tmp_path):
    run_dir = tmp_path / model
    shutil.copytree(os.path.join(FIXTURE, model), run_dir)
    meta_path = run_dir / "data" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["feature_path"] = os.path.join(FIXTURE, "features")
    meta_path.write_text(json.dumps(meta))
    recorded = json.loads((run_dir / "metrics.json").read_text())
    # Padding is per batch and the original convolutions are unmasked: score with the training run's batches.
    batch_size = json.loads((run_dir / "config.json").read_text())["trainer"]["batch_size"]
    eval_flags = flags.FlagValues()
    evaluate.define_flags(eval_flags)
    eval_flags(["evaluate", f"--run_dir={run_dir}", f"--batch_size={batch_size}"])
    measured = evaluate.run(eval_flags)["metrics"]
    assert {k: measured[k] for k in METRICS} == {k: recorded[k] for k in METRICS}
    for name, strategy in recorded.get("strategies", {}).items():
        assert {k: measured["strategies"][name][k] for k in METRICS} == {k: strategy[k] for k in METRICS}, name
