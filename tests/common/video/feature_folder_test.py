"""Folder extraction: the readers' layout, resuming (existing features skipped, nothing half-written left after an
interruption), bad videos named while the others carry on, and one extraction's settings per folder."""

import json
import os

import numpy as np
import pytest

from common.data.features import NpyFeatureStore, validate_videos
from common.video import feature_folder
from common.video.extraction import FeatureExtractor
from common.video.feature_folder import ExtractionFolderError
from common.video.presets import PRESETS
from common.video.progress import ExtractionProgress
from tests.common.video.extraction_test import stand_in_i3d
from tests.common.video.videos import write_counting_video

RECORD = {"preset": "activitynet", "frame_format": "rgb", "i3d_checkpoint_sha256": "abc"}


@pytest.fixture(scope="module")
def extractor():
    return FeatureExtractor(stand_in_i3d(), PRESETS["activitynet"], batch_size=2, frame_format="rgb")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    for name, frames in (("a", 20), ("b", 34), ("c", 18)):
        write_counting_video(folder / f"{name}.mkv", frames, rate=25)
    (folder / "notes.txt").write_text("not a video")
    return folder


@pytest.fixture(scope="module")
def extracted(extractor, videos, tmp_path_factory):
    """`(out, extracted, failed)` of one extraction of `videos`."""
    out = tmp_path_factory.mktemp("features")
    return (out, *extract(extractor, videos, out))


def extract(extractor, videos, out, record=RECORD):
    return feature_folder.extract_folder(
        lambda: extractor,
        feature_folder.list_videos(videos),
        str(out),
        record,
        lambda todo, skipped: ExtractionProgress(todo, skipped, verbose=0),
    )


def test_writes_the_layout_the_readers_take(extracted):
    out, done, failed = extracted
    assert (done, failed) == (["a", "b", "c"], {})
    # 20 frames: windows [0, 16), [3, 19); 34: [0, 16), [16, 32), [17, 33); 18: [0, 16), [1, 17): one row each.
    assert json.loads((out / "feature_shapes.json").read_text()) == {"a": 2, "b": 3, "c": 2}
    store = NpyFeatureStore(str(out))
    assert validate_videos(store, ["a", "b", "c"]) is not None
    assert store.get("b").shape == (3, 6) and store.num_clips("b") == 3
    assert json.loads((out / "extraction.json").read_text()) == RECORD


def test_resumes_skipping_finished_videos(extractor, videos, tmp_path, monkeypatch):
    out = tmp_path / "features"
    out.mkdir()
    calls = []
    real_save = np.save

    def interrupted_save(file, array):  # the run is killed while writing b's features
        calls.append(file.name)
        if os.path.basename(file.name).startswith("b."):
            file.write(b"\x93NUMPY half")
            raise KeyboardInterrupt
        real_save(file, array)

    monkeypatch.setattr(np, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        extract(extractor, videos, out)
    monkeypatch.setattr(np, "save", real_save)
    assert sorted(os.listdir(out)) == ["a.npy", "extraction.json", "feature_shapes.json"]  # no half-written b
    assert json.loads((out / "feature_shapes.json").read_text()) == {"a": 2}
    a_written = (out / "a.npy").stat().st_mtime_ns
    (out / "c.npy.partial").write_bytes(b"left by a run killed with SIGKILL")

    extracted, failed = extract(extractor, videos, out)
    assert (extracted, failed) == (["b", "c"], {})
    assert (out / "a.npy").stat().st_mtime_ns == a_written
    assert sorted(os.listdir(out)) == ["a.npy", "b.npy", "c.npy", "extraction.json", "feature_shapes.json"]
    assert json.loads((out / "feature_shapes.json").read_text()) == {"a": 2, "b": 3, "c": 2}


def test_a_bad_video_is_named_and_the_others_carry_on(extractor, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_counting_video(videos / "a.mkv", 20, rate=25)
    (videos / "broken.mp4").write_bytes(b"\x00" * 1000)
    write_counting_video(videos / "tiny.mkv", 5, rate=25)
    write_counting_video(videos / "x.y.mkv", 20, rate=25)
    out = tmp_path / "features"
    extracted, failed = feature_folder.extract_folder(
        lambda: extractor,
        feature_folder.list_videos(videos),
        str(out),
        RECORD,
        lambda todo, skipped: ExtractionProgress(todo, skipped, verbose=1),
    )
    assert extracted == ["a"]
    assert sorted(failed) == ["broken", "tiny", "x.y"]
    assert f"cannot decode {videos / 'broken.mp4'}: ffmpeg failed" in failed["broken"]
    assert str(videos / "tiny.mkv") in failed["tiny"] and "too few frames" in failed["tiny"]
    assert "holds a '.'" in failed["x.y"]
    err = capsys.readouterr().err
    assert "error: video broken:" in err and "3 video(s) failed:" in err
    # Not a terminal: plain progress lines, no bar redrawn in place.
    assert "extracting I3D features: 4/4 videos" in err and "\r" not in err and "\x1b" not in err
    assert sorted(p for p in os.listdir(out) if p.endswith(".npy")) == ["a.npy"]


def test_one_extraction_per_folder(extractor, videos, extracted, tmp_path):
    out = extracted[0]
    other = {**RECORD, "preset": "charades"}
    with pytest.raises(ExtractionFolderError, match="preset: 'activitynet' there, 'charades' now"):
        extract(extractor, videos, out, record=other)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    np.save(foreign / "a.npy", np.zeros((2, 6), np.float32))
    with pytest.raises(ExtractionFolderError, match="no extraction.json"):
        extract(extractor, videos, foreign)


def test_list_videos(tmp_path):
    for name in ("b.mp4", "a.AVI", "c.txt", "d.gif"):
        (tmp_path / name).write_bytes(b"")
    assert [vid for vid, _ in feature_folder.list_videos(tmp_path)] == ["a", "b", "d"]
    (tmp_path / "b.mkv").write_bytes(b"")
    with pytest.raises(ExtractionFolderError, match="two videos of .* have the id 'b'"):
        feature_folder.list_videos(tmp_path)
    with pytest.raises(FileNotFoundError):
        feature_folder.list_videos(tmp_path / "missing")


def test_nothing_left_to_extract_loads_no_network(extracted, videos):
    out = extracted[0]
    result = feature_folder.extract_folder(
        lambda: pytest.fail("the network was loaded with nothing to extract"),
        feature_folder.list_videos(videos),
        str(out),
        RECORD,
        lambda todo, skipped: ExtractionProgress(todo, skipped, verbose=0),
    )
    assert result == ([], {})
