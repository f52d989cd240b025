import json

import pytest
from absl import flags
from absl.testing import flagsaver

from common import registry
from experiments import evaluate, train

FLAGS = flags.FLAGS


@pytest.fixture(scope="module", autouse=True)
def defined_flags():
    if "run_dir" not in FLAGS:
        train.define_flags()
    FLAGS(["train"])


def test_train_on_synthetic_writes_a_complete_run_dir(tmp_path, capsys):
    run_dir = tmp_path / "run"
    with flagsaver.flagsaver(
        run_dir=str(run_dir),
        synthetic_dir=str(tmp_path / "synthetic"),
        synthetic_preset="tiny",
        hidden_dim=16,
        num_heads=2,
        char_dim=8,
        max_steps=3,
        epochs=1,
        verbose=False,
    ):
        result = train.run(FLAGS)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["flags"]["max_steps"] == 3 and config["model"]["hidden_dim"] == 16
    assert config["data_dir"] == str((tmp_path / "synthetic" / "tiny").resolve())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"r1_iou03", "r1_iou05", "r1_iou07", "miou", "protocol"} <= set(metrics)
    assert metrics["protocol"] == "original" and metrics["steps"] == 3 and result["count"] == metrics["count"]
    assert (run_dir / "data" / "vocab.json").exists() and list((run_dir / "checkpoints").glob("ckpt-*.index"))
    out = capsys.readouterr().out
    assert "baseline: mean_moment" in out and "ours (original protocol)" in out
    assert (run_dir / "saved_model" / "saved_model.pb").exists()
    eval_flags = flags.FlagValues()
    evaluate.define_flags(eval_flags)
    eval_flags(["evaluate", f"--run_dir={run_dir}", "--by_length=table7"])
    evaluated = evaluate.run(eval_flags)
    for key in ("r1_iou03", "r1_iou05", "r1_iou07", "miou", "count"):
        assert evaluated["metrics"][key] == pytest.approx(metrics[key]), key
    assert sum(b["count"] for b in evaluated["by_length"].values()) == metrics["count"]
    assert json.loads((run_dir / "eval_test.json").read_text())["split"] == "test"
    other = flags.FlagValues()
    evaluate.define_flags(other)
    other(["evaluate", f"--run_dir={run_dir}", f"--processed_dir={run_dir / 'data'}", "--split=train"])
    assert evaluate.run(other)["metrics"]["count"] == len(
        (tmp_path / "synthetic" / "tiny" / "charades_sta_train.txt").read_text().splitlines()
    )


def test_real_data_needs_all_paths(tmp_path):
    with flagsaver.flagsaver(run_dir=str(tmp_path), data_dir=str(tmp_path)):
        with pytest.raises(ValueError, match="--feature_dir"):
            train.run(FLAGS)


def test_params_override_is_strict(tmp_path):
    with flagsaver.flagsaver(
        run_dir=str(tmp_path),
        synthetic_dir=str(tmp_path / "s"),
        synthetic_preset="tiny",
        params_override='{"no_such_field": 1}',
    ):
        with pytest.raises(ValueError, match="no_such_field"):
            train.run(FLAGS)


def test_train_lpnet_exports_and_evaluates(tmp_path):
    run_dir = tmp_path / "lpnet"
    with flagsaver.flagsaver(
        model="lpnet",
        quirks="fixed",
        run_dir=str(run_dir),
        synthetic_dir=str(tmp_path / "synthetic"),
        synthetic_preset="tiny",
        hidden_dim=16,
        num_heads=2,
        num_proposals=5,
        max_steps=2,
        epochs=1,
        verbose=False,
    ):
        train.run(FLAGS)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model_family"] == "lpnet" and config["model"]["num_proposals"] == 5
    assert config["trainer"]["protocol"] == "clean" and not config["trainer"]["drop_last_train"]
    assert (run_dir / "saved_model" / "saved_model.pb").exists()
    eval_flags = flags.FlagValues()
    evaluate.define_flags(eval_flags)
    # The char CNN reads the batch's padded word width (as the original's), so score with the run's batches.
    eval_flags(["evaluate", f"--run_dir={run_dir}", f"--batch_size={config['trainer']['batch_size']}"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert evaluate.run(eval_flags)["metrics"]["miou"] == pytest.approx(metrics["miou"])


@pytest.mark.parametrize(
    "model, quirks, hinted", [("lpnet", "original", True), ("lpnet", "fixed", False), ("vslnet", "original", False)]
)
def test_lpnet_with_the_original_quirks_prints_a_hint(tmp_path, capsys, monkeypatch, model, quirks, hinted):
    class Stop(Exception):
        pass

    def stop(*args):
        raise Stop

    monkeypatch.setattr(train, "prepare_data_on_chief", stop)  # the hint comes before the data is processed
    with flagsaver.flagsaver(
        model=model,
        quirks=quirks,
        run_dir=str(tmp_path / "run"),
        synthetic_dir=str(tmp_path / "s"),
        synthetic_preset="tiny",
    ):
        with pytest.raises(Stop):
            train.run(FLAGS)
    hints = [line for line in capsys.readouterr().err.splitlines() if line.startswith("hint: ")]
    assert hints == ([registry.get("lpnet").original_quirks_hint] if hinted else [])
    if hinted:
        assert "--quirks=fixed" in hints[0] and "paper" in hints[0]
