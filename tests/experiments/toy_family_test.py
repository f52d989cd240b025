"""A family registered from outside the package trains, exports and evaluates through the same entry points."""

import json

import pytest
from absl import flags
from absl.testing import flagsaver

from common import registry
from experiments import evaluate, train
from tests import toy_family

FLAGS = flags.FLAGS


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry.families()))
    registry.register(toy_family.FAMILY)
    if "run_dir" not in FLAGS:
        train.define_flags()
    FLAGS(["train"])


def test_a_toy_family_trains_exports_and_evaluates_through_the_entry_points(toy_registered, tmp_path):
    run_dir = tmp_path / "toy"
    with flagsaver.flagsaver(
        model="toy",
        run_dir=str(run_dir),
        synthetic_dir=str(tmp_path / "synthetic"),
        synthetic_preset="tiny",
        max_steps=3,
        verbose=False,
    ):
        result = train.run(FLAGS)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model_family"] == "toy" and config["model"] == {
        "model": "toy",
        "max_pos_len": 64,
        "hidden_dim": 8,
        "init_lr": 0.01,
        "extend": 0.1,
    }
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["steps"] == 3 and metrics["count"] == result["count"] == 104
    assert json.loads((run_dir / "saved_model" / "nlvl_export.json").read_text())["model"] == "toy"
    eval_flags = flags.FlagValues()
    evaluate.define_flags(eval_flags)
    eval_flags(["evaluate", f"--run_dir={run_dir}"])
    assert evaluate.run(eval_flags)["metrics"]["miou"] == pytest.approx(metrics["miou"])


def test_an_unregistered_model_is_a_flag_error(toy_registered):
    with pytest.raises(flags.IllegalFlagValueError, match=r"flag --model=nosuch: must be one of \[.*'toy'"):
        with flagsaver.flagsaver(model="nosuch"):
            pass
