"""`FFmpegFrames`: the frames of the originals' ffmpeg command, streamed, on videos made by ffmpeg in the test."""

import numpy as np
import pytest

from common.video.decoding import FFmpegFrames, VideoDecodeError, decode_frame
from tests.common.video.videos import (
    fps_filter_source_frames,
    frame_index,
    original_jpeg_frames,
    run_ffmpeg,
    write_counting_video,
    write_test_pattern_video,
)


def test_native_rate_gives_every_frame_in_order(tmp_path):
    video = write_counting_video(tmp_path / "count.mkv", 30, rate=25, width=33, height=17)
    decoder = FFmpegFrames(video, frame_format="rgb")
    frames = list(decoder)
    assert [frame_index(f) for f in frames] == list(range(30))
    assert all(f.shape == (17, 33, 3) and f.dtype == np.uint8 for f in frames)
    assert (decoder.num_frames, decoder.frame_rate) == (30, 25.0)


@pytest.mark.parametrize("num_frames, rate", [(50, 25), (61, 30), (45, 15)])
def test_fps_filter_keeps_the_frames_ffmpeg_keeps(tmp_path, num_frames, rate):
    # Charades-STA: 24 fps by ffmpeg's fps filter (frames dropped or repeated by its rounding rule).
    video = write_counting_video(tmp_path / "count.mkv", num_frames, rate=rate)
    decoder = FFmpegFrames(video, fps=24, frame_format="rgb")
    assert [frame_index(f) for f in decoder] == fps_filter_source_frames(num_frames, rate, 24)
    assert decoder.frame_rate == 24.0


@pytest.mark.parametrize("fps", [None, 24])
def test_jpeg_frames_are_the_originals_image_files(tmp_path, fps):
    video = write_test_pattern_video(tmp_path / "pattern.mp4", 30, rate=30)
    files = original_jpeg_frames(video, tmp_path / "images", fps=fps)
    streamed = list(FFmpegFrames(video, fps=fps, frame_format="jpeg"))
    assert len(streamed) == len(files) == (30 if fps is None else 24)
    assert all(frame == path.read_bytes() for frame, path in zip(streamed, files))
    cv2 = pytest.importorskip("cv2")
    for frame, path in zip(streamed[:5], files):
        np.testing.assert_array_equal(decode_frame(frame, "jpeg").numpy(), cv2.imread(str(path))[:, :, [2, 1, 0]])


def test_variable_frame_rate_gives_the_originals_frame_count(tmp_path):
    # 60 frames with a 0.5 s gap after frame 20: ffmpeg's constant-rate output repeats frames to fill it.
    video = tmp_path / "vfr.mp4"
    run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30:duration=2", "-vf",
        "setpts='(N+if(gt(N,20),15,0))/30/TB'", "-fps_mode", "vfr", "-c:v", "libx264", video,
    )  # fmt: skip
    files = original_jpeg_frames(video, tmp_path / "images")
    assert len(files) > 70  # the gap is filled, not skipped
    assert len(list(FFmpegFrames(video, frame_format="rgb"))) == len(list(FFmpegFrames(video))) == len(files)


def test_unreadable_videos_are_named(tmp_path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(VideoDecodeError, match=f"cannot decode {missing}: .*No such file"):
        list(FFmpegFrames(missing))
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(VideoDecodeError, match=f"cannot decode {garbage}: ffmpeg failed"):
        list(FFmpegFrames(garbage, frame_format="rgb"))
    with pytest.raises(ValueError, match="frame_format must be one of"):
        FFmpegFrames(garbage, frame_format="png")


def test_stopping_early_ends_ffmpeg(tmp_path):
    video = write_counting_video(tmp_path / "count.mkv", 40)
    frames = iter(FFmpegFrames(video, frame_format="rgb"))
    assert frame_index(next(frames)) == 0
    frames.close()  # the generator's cleanup kills and reaps ffmpeg instead of waiting for it
