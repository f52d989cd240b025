"""`FeatureExtractor`, streamed, against the original scripts' whole-video procedure written out in the test (their
ffmpeg image files, OpenCV or our resize, float64 scaling, centre crop, the literal window loop), with a small
stand-in for I3D that has I3D's time arithmetic; and the row counts of each preset."""

import dataclasses
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.video.extraction import FeatureExtractor, VideoTooShortError
from common.video.frame_preprocessing import OpenCVResize
from common.video.presets import PRESETS
from tests.common.video.videos import (
    fps_filter_source_frames,
    original_jpeg_frames,
    sample_clip,
    write_counting_video,
    write_test_pattern_video,
)
from tests.common.video.windows_test import original_chunked_windows, original_windows


def stand_in_i3d(dim=6):
    """`[B, T, 224, 224, 3]` → `[B, ceil(T / 8) − 1, dim]`, like I3D in time (three stride-2 SAME steps, then a VALID
    pool of 2), from each frame's mean colour and its top-left pixel."""
    frames = keras.Input((None, 224, 224, 3))
    means = keras.layers.Reshape((-1, 3))(keras.layers.AveragePooling3D((1, 224, 224))(frames))
    corners = keras.layers.Reshape((-1, 3))(keras.layers.Cropping3D(((0, 0), (0, 223), (0, 223)))(frames))
    x = keras.layers.Concatenate()([means, corners])
    for _ in range(3):
        x = keras.layers.MaxPooling1D(pool_size=1, strides=2, padding="same")(x)
    x = keras.layers.AveragePooling1D(pool_size=2, strides=1, padding="valid")(x)
    dense = keras.layers.Dense(dim, kernel_initializer=keras.initializers.RandomNormal(seed=0))
    return keras.Model(frames, dense(x))


def rows_of_window(length):
    return max(math.ceil(length / 8) - 1, 0)


def original_features(model, image_files, preset, chunk_frames=None):
    """The original scripts' procedure on their image files: read (cv2.imread, BGR → RGB), resize by the preset's
    rule in uint8, `(img / 255.) * 2 − 1` in float64 → float32, centre crop, windows of the whole video (or of each
    chunk), the model per window, rows concatenated."""
    try:
        import cv2
    except ImportError:
        cv2 = None
    frames = []
    for path in image_files:
        if cv2 is not None:
            image = cv2.imread(str(path))[:, :, [2, 1, 0]]
        else:  # libjpeg's accurate integer DCT, what cv2.imread uses
            image = tf.io.decode_jpeg(path.read_bytes(), channels=3, dct_method="INTEGER_ACCURATE").numpy()
        h, w = image.shape[:2]
        short = min(h, w)
        if not (preset.resize_only_smaller and short >= preset.short_side):
            scale = 1 + (float(preset.short_side) - short) / short
            if cv2 is not None:
                image = cv2.resize(image, dsize=(0, 0), fx=scale, fy=scale)
            else:
                image = OpenCVResize(h, w, scale)(tf.constant(image)).numpy()
        frames.append((image / 255.0) * 2 - 1)
    frames = np.asarray(frames, dtype=np.float32)
    t, h, w, _ = frames.shape
    i, j = int(np.round((h - 224) / 2.0)), int(np.round((w - 224) / 2.0))
    frames = frames[:, i : i + 224, j : j + 224, :]
    if chunk_frames is None:
        windows = original_windows(t, preset.window)
    else:
        windows = original_chunked_windows(t, preset.window, chunk_frames)
    return np.concatenate([model(frames[None, s:e], training=False).numpy()[0] for s, e in windows])


@pytest.fixture(scope="module")
def model():
    return stand_in_i3d()


@pytest.mark.parametrize("preset_name", ["charades", "activitynet"])
def test_equals_the_originals_procedure(tmp_path, model, preset_name):
    preset = PRESETS[preset_name]
    video = write_test_pattern_video(tmp_path / "v.mp4", 41, rate=30, width=80, height=60)
    files = original_jpeg_frames(video, tmp_path / "images", fps=preset.fps)
    result = FeatureExtractor(model, preset, batch_size=2).extract(video)
    expected = original_features(model, files, preset)
    assert result.num_frames == len(files)
    np.testing.assert_allclose(result.features, expected, rtol=1e-5, atol=1e-5)
    assert result.features.shape[0] == sum(
        rows_of_window(e - s) for s, e in original_windows(len(files), preset.window)
    )


def test_equals_the_originals_chunks(tmp_path, model):
    # ActivityNet's chunks of 10,000 frames, scaled down to 20 so that the test video has several (and a short last
    # one, shifted back): 45 frames → chunks [0, 20), [20, 40), [29, 45).
    preset = dataclasses.replace(PRESETS["activitynet"], chunk_frames=20)
    video = write_test_pattern_video(tmp_path / "v.mp4", 45, rate=25)
    files = original_jpeg_frames(video, tmp_path / "images")
    result = FeatureExtractor(model, preset, batch_size=3).extract(video)
    np.testing.assert_allclose(
        result.features, original_features(model, files, preset, chunk_frames=20), rtol=1e-5, atol=1e-5
    )


def expected_rows(num_frames, window):
    return sum(rows_of_window(e - s) for s, e in original_windows(num_frames, window))


def test_rows_of_each_preset_on_the_sample_clip(model):
    clip = sample_clip()  # 79 frames at 25 fps
    for name, preset in PRESETS.items():
        num_frames = len(fps_filter_source_frames(79, 25, 24)) if preset.fps == 24 else 79
        result = FeatureExtractor(model, preset, batch_size=4).extract(clip)
        assert result.num_frames == num_frames, name
        assert result.features.shape == (expected_rows(num_frames, preset.window), 6), name
    # Charades: 76 frames, windows [0, 24), [24, 48), [48, 72), [51, 75) of 2 rows; the others 5 windows of 1.
    assert (expected_rows(76, 24), expected_rows(79, 16)) == (8, 5)


@pytest.mark.parametrize("num_frames, rows", [(10, 1), (25, 4), (26, 4)])
def test_short_videos(tmp_path, model, num_frames, rows):
    # Charades (no chunks): 10 frames are one window of 9 (1 row); 25 frames repeat the window [0, 24).
    video = write_counting_video(tmp_path / "v.mkv", num_frames, rate=24)
    result = FeatureExtractor(model, PRESETS["charades"], frame_format="rgb").extract(video)
    assert result.features.shape[0] == rows == expected_rows(num_frames, 24)


def test_too_short_a_video_is_an_error(tmp_path, model):
    video = write_counting_video(tmp_path / "v.mkv", 9, rate=24)
    with pytest.raises(VideoTooShortError, match="a window of 8 frames gives no I3D features"):
        FeatureExtractor(model, PRESETS["charades"]).extract(video)
