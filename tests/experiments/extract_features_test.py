"""`experiments.extract_features` with the real I3D (a random-valued checkpoint in DeepMind's layout) on a video made
by ffmpeg (and, with `--run_slow`, on the sample clip with each preset): row counts computed from the original's
window rule, the readers' layout, a bad video named, and a second run that skips what the first wrote. (The row
counts of every preset on the sample clip run by default in `tests/common/video/extraction_test.py`, with a
stand-in network.)"""

import json
import math
import shutil

import numpy as np
import pytest
from absl import app

from common.data.features import NpyFeatureStore, validate_videos
from experiments import extract_features
from tests.common.video.i3d_reference import write_model_checkpoint
from tests.common.video.videos import fps_filter_source_frames, sample_clip, write_test_pattern_video
from tests.experiments.predict_test import parse


def original_rows(num_frames, window):
    """Feature rows of the original scripts: their window loop, and `ceil(length / 8) − 1` rows per window."""
    rows = 0
    for start in range(0, num_frames, window):
        end = min(num_frames - 1, start + window)
        if end - start < window:
            start = max(0, end - window)
        rows += math.ceil(math.ceil(math.ceil((end - start) / 2) / 2) / 2) - 1
    return rows


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_model_checkpoint(tmp_path_factory.mktemp("i3d") / "model.ckpt", seed=0)


def extract(videos, out, checkpoint, preset, **flags):
    return extract_features.run(
        parse(extract_features, preset=preset, videos=videos, out=out, i3d_checkpoint=checkpoint, **flags)
    )


def test_extracts_a_generated_video(tmp_path, checkpoint, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_test_pattern_video(videos / "pattern.mp4", 12, rate=25)  # one short window of 11 frames
    (videos / "broken.avi").write_bytes(b"RIFF" + b"\x00" * 100)
    out = tmp_path / "features"
    extracted, failed = extract(videos, out, checkpoint, "activitynet", verbose=False)
    assert extracted == ["pattern"] and list(failed) == ["broken"]
    assert f"cannot decode {videos / 'broken.avi'}" in failed["broken"]
    assert json.loads((out / "feature_shapes.json").read_text()) == {"pattern": original_rows(12, 16)} == {"pattern": 1}
    store = NpyFeatureStore(str(out))
    validate_videos(store, ["pattern"], feature_dim=1024)
    assert np.std(store.get("pattern")) > 0
    record = json.loads((out / "extraction.json").read_text())
    assert (record["preset"], record["frame_format"], record["window"]) == ("activitynet", "jpeg", 16)

    (videos / "broken.avi").unlink()
    assert extract(videos, out, checkpoint, "activitynet") == ([], {})  # resumed: nothing left to do
    assert "1 video(s) already have features: skipped" in capsys.readouterr().err  # a message: stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "preset, num_frames, window", [("charades", None, 24), ("activitynet", 79, 16), ("tacos", 79, 16)]
)
def test_each_preset_on_the_sample_clip(tmp_path, checkpoint, preset, num_frames, window):
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(sample_clip(), videos / "cricket.gif")  # 79 frames at 25 fps
    num_frames = num_frames or len(fps_filter_source_frames(79, 25, 24))  # Charades: resampled to 24 fps: 76
    extract(videos, tmp_path / "features", checkpoint, preset, batch_size=3, verbose=False)
    rows = json.loads((tmp_path / "features" / "feature_shapes.json").read_text())["cricket"]
    assert rows == original_rows(num_frames, window) == {"charades": 8, "activitynet": 5, "tacos": 5}[preset]


def test_usage_errors(tmp_path, checkpoint):
    with pytest.raises(app.UsageError, match="--preset is required"):
        extract_features.run(parse(extract_features, videos=tmp_path, out=tmp_path / "o", i3d_checkpoint=checkpoint))
    with pytest.raises(FileNotFoundError, match="holds no video file"):
        extract(tmp_path, tmp_path / "o", checkpoint, "charades")
