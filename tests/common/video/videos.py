"""Videos made by ffmpeg for the tests (the binary of imageio-ffmpeg; tests skip without it)."""

import subprocess

import pytest

from tests.conftest import SHARED_DIR

SAMPLE_CLIP = SHARED_DIR / "specs" / "i3d_checkpoint_layout" / "v_CricketShot_g04_c01_rgb.gif"


def ffmpeg():
    return pytest.importorskip("imageio_ffmpeg").get_ffmpeg_exe()


def sample_clip():
    """DeepMind's sample clip (79 frames of 224 × 224 at 25 fps); the calling test skips without the shared folder."""
    if not SAMPLE_CLIP.is_file():
        pytest.skip(f"{SAMPLE_CLIP} is absent (it exists only in the development workplace)")
    return SAMPLE_CLIP


def run_ffmpeg(*arguments):
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", *map(str, arguments)], check=True)


def write_counting_video(path, num_frames, rate=25, width=40, height=30):
    """A lossless video (FFV1, planar RGB) whose frame `i` is uniformly `(i mod 256, i // 256, 255 − i mod 256)`."""
    colour = "r='mod(N,256)':g='floor(N/256)':b='255-mod(N,256)'"
    source = f"color=c=black:s={width}x{height}:r={rate},format=rgb24,geq={colour}"
    run_ffmpeg("-f", "lavfi", "-i", source, "-frames:v", num_frames, "-c:v", "ffv1", "-pix_fmt", "gbrp", path)
    return path


def frame_index(frame):
    """The index a frame of `write_counting_video` shows."""
    return int(frame[0, 0, 0]) + 256 * int(frame[0, 0, 1])


def write_test_pattern_video(path, num_frames, rate=25, width=64, height=48):
    """An H.264 video of ffmpeg's moving test pattern (`testsrc2`), as a camera file would be."""
    source = f"testsrc2=size={width}x{height}:rate={rate}"
    run_ffmpeg("-f", "lavfi", "-i", source, "-frames:v", num_frames, "-pix_fmt", "yuv420p", "-c:v", "libx264", path)
    return path


def original_jpeg_frames(video, out_dir, fps=None):
    """The image files the original scripts' ffmpeg command writes: `ffmpeg -hide_banner -loglevel panic -i VIDEO
    [-filter:v fps=fps=FPS] DIR/VID-%6d.jpg`, in order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [ffmpeg(), "-hide_banner", "-loglevel", "panic", "-i", str(video)]
    if fps is not None:
        command += ["-filter:v", f"fps=fps={fps}"]
    subprocess.run([*command, str(out_dir / "vid-%6d.jpg")], check=True)
    return sorted(out_dir.glob("vid-*.jpg"))


def fps_filter_source_frames(num_frames, in_rate, out_rate):
    """Which input frame each output frame of ffmpeg's `fps` filter shows, for a constant-rate input: output `k`
    is the last input frame `i` whose time, rounded to the output's time base half away from zero, is at most `k`
    (`libavfilter/vf_fps.c`, `round=near`); there are `round(num_frames · out_rate / in_rate)` outputs."""

    def slot(i):
        value = i * out_rate / in_rate
        return int(value + 0.5)  # half away from zero, for value ≥ 0

    count = slot(num_frames)
    return [max(i for i in range(num_frames) if slot(i) <= k) for k in range(count)]
