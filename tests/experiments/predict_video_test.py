"""`experiments.predict --video`: the sample clip → I3D features (the run's preset) → a moment within the clip."""

import json

import pytest
from absl import app

from experiments import predict
from tests.common.export.saved_model_test import make_run_dir
from tests.common.video.i3d_reference import write_model_checkpoint
from tests.common.video.videos import sample_clip
from tests.experiments.predict_test import QUERY, parse


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A run on 1024-wide features recorded as trained on ActivityNet, and a random-valued I3D checkpoint."""
    root = tmp_path_factory.mktemp("predict_video")
    run_dir, _, _ = make_run_dir(root / "run", feature_dim=1024)
    config = json.loads((run_dir / "config.json").read_text())
    config["flags"] = {"data_dir": "anet", "feature_dir": "anet_i3d", "glove": "glove.txt"}
    config["data"]["dataset"] = "activitynet"
    (run_dir / "config.json").write_text(json.dumps(config))
    return {"root": root, "run_dir": run_dir, "checkpoint": write_model_checkpoint(root / "i3d" / "model.ckpt")}


def test_predicts_a_moment_within_the_clip(setup, capsys):
    pytest.importorskip("matplotlib")
    plot = setup["root"] / "moment.png"
    clip = sample_clip()  # 79 frames at 25 fps: 3.16 s
    result = predict.run(
        parse(
            predict,
            run_dir=setup["run_dir"],
            video=clip,
            query=QUERY,
            i3d_checkpoint=setup["checkpoint"],
            plot=plot,
            json=True,
        )
    )
    assert result["duration"] == pytest.approx(3.16)
    assert result["num_clips"] == 5  # activitynet's preset (the run's dataset): 5 windows of 16 frames
    assert 0 <= result["start_time"] <= result["end_time"] <= 3.16
    captured = capsys.readouterr()
    assert f"video: {clip}: 79 frames at 25 fps → 5 I3D feature rows (preset activitynet" in captured.err
    printed = json.loads(captured.out)
    assert printed["start_time"] == pytest.approx(float(result["start_time"]))
    assert plot.stat().st_size > 0


def test_the_preset_comes_from_the_run_or_the_flag(setup, tmp_path):
    assert predict.video_preset(None, setup["run_dir"]) == "activitynet"
    assert predict.video_preset("charades", setup["run_dir"]) == "charades"
    synthetic = tmp_path / "synthetic"
    synthetic.mkdir()
    (synthetic / "config.json").write_text(json.dumps({"flags": {"data_dir": None}, "data": {"dataset": "charades"}}))
    with pytest.raises(app.UsageError, match="--video needs --preset=.*synthetic benchmark"):
        predict.video_preset(None, synthetic)
    with pytest.raises(app.UsageError, match="--saved_model needs --preset"):
        predict.video_preset(None, None)


def test_video_errors(setup, tmp_path):
    with pytest.raises(app.UsageError, match="exactly one of --features and --video"):
        predict.run(parse(predict, run_dir=setup["run_dir"], query=QUERY))
    with pytest.raises(app.UsageError, match="--i3d_checkpoint is required"):
        predict.run(parse(predict, run_dir=setup["run_dir"], video=tmp_path / "v.mp4", query=QUERY))
    narrow, _, _ = make_run_dir(tmp_path / "narrow")  # a run on features of width 10
    with pytest.raises(ValueError, match="features of width 10, but I3D's are 1024 wide"):
        predict.run(
            parse(
                predict,
                run_dir=narrow,
                video=tmp_path / "v.mp4",
                query=QUERY,
                i3d_checkpoint=setup["checkpoint"],
                preset="charades",
            )
        )
