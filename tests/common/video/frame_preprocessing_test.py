"""The originals' frame preprocessing, bit for bit: `OpenCVResize` against `cv2.resize` (directly where OpenCV is
installed, else against digests of its outputs recorded with opencv-python-headless 4.14 on x86), the crop offsets,
the scaling to [−1, 1], and each preset's rule."""

import dataclasses
import hashlib

import numpy as np
import pytest
import tensorflow as tf

from common.video.frame_preprocessing import (
    UNIT_RANGE,
    FramePreprocessor,
    OpenCVResize,
    center_crop_offsets,
    opencv_output_size,
    to_unit_range,
)
from common.video.presets import PRESETS

# (height, width, scale) → (out height, out width, first 32 hex digits of sha256(cv2.resize(pattern(h, w, h + w),
# dsize=(0, 0), fx=scale, fy=scale).tobytes())), recorded with opencv-python-headless 4.14.0.94 (x86-64).
# The scales are the presets' rules for those sizes, and the edge cases 1.0 (a copy), 0.5, 2.0, a size rounded half
# to even (3 × 1.5 = 4.5 → 4) and a scale that keeps the size (another copy).
OPENCV_DIGESTS = {
    (240, 320, 0.9333333333333333): (224, 299, "c36f8284757a8e99bfc52c88e206e8d4"),
    (360, 480, 0.6222222222222222): (224, 299, "bb3823370295b7e9fdb122b110c7bbd5"),
    (360, 480, 0.6277777777777778): (226, 301, "9fc4f8779e7465acecc18e7bfc6bffed"),
    (150, 200, 1.4933333333333334): (224, 299, "6227149d88a096009c76cb04b18a8c10"),
    (150, 200, 1.5066666666666668): (226, 301, "d460156892585628654bf7c43cf27d6b"),
    (100, 133, 2.24): (224, 298, "5b0fa8332422f0c655b66b37b7fe1e90"),
    (100, 133, 2.26): (226, 301, "3719044a0026fbc4467add793d1320e7"),
    (270, 480, 1.0): (270, 480, "f6167f932cb868eeffd7ccbaf453e524"),
    (448, 600, 0.5): (224, 300, "39df857d61fd9319540fd772ce9ab2da"),
    (112, 150, 2.0): (224, 300, "379175d76cdf483088aae58f604c4d72"),
    (225, 300, 0.9955555555555555): (224, 299, "868e5320ddc617273092b41a98a7441c"),
    (225, 300, 1.0044444444444445): (226, 301, "f36ba12d4761c1b5e55a11e5810a4b5e"),
    (3, 3, 1.5): (4, 4, "39df3b2e2b4bbea17ad2e8455e5d7749"),
    (224, 224, 1.001): (224, 224, "8bf0eeac4f4999ad6fda7611f9044a2d"),
    (10, 12, 1.02): (10, 12, "79f54fbd78444fa457aaa784ef34cd81"),
}


def pattern(height, width, seed):
    """A deterministic uint8 image of pseudo-random values (a multiplicative hash, the same on every platform)."""
    i = np.arange(height * width * 3, dtype=np.uint64)
    mixed = (i * np.uint64(2654435761) + np.uint64(seed * 40503)) >> np.uint64(9)
    return (mixed % np.uint64(256)).astype(np.uint8).reshape(height, width, 3)


@pytest.mark.parametrize("case", sorted(OPENCV_DIGESTS))
def test_resize_equals_recorded_opencv_outputs(case):
    height, width, scale = case
    out_height, out_width, digest = OPENCV_DIGESTS[case]
    resized = OpenCVResize(height, width, scale)(tf.constant(pattern(height, width, height + width))).numpy()
    assert resized.shape == (out_height, out_width, 3)
    assert hashlib.sha256(resized.tobytes()).hexdigest()[:32] == digest


def test_resize_equals_opencv_on_random_frames():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    for _ in range(30):
        height, width = int(rng.integers(20, 400)), int(rng.integers(20, 600))
        frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        for short_side in (224.0, 226.0):
            scale = 1 + (short_side - min(height, width)) / min(height, width)
            expected = cv2.resize(frame, dsize=(0, 0), fx=scale, fy=scale)
            resized = OpenCVResize(height, width, scale)(tf.constant(frame)).numpy()
            np.testing.assert_array_equal(resized, expected, err_msg=f"{height}x{width} scale {scale}")


def test_resize_of_a_batch_equals_each_frame():
    frames = np.stack([pattern(30, 41, seed) for seed in range(3)])
    resize = OpenCVResize(30, 41, 1.7)
    batch = resize(tf.constant(frames)).numpy()
    for frame, resized in zip(frames, batch):
        np.testing.assert_array_equal(resize(tf.constant(frame)).numpy(), resized)


def test_output_size_rounds_half_to_even():
    assert opencv_output_size(3, 5, 1.5) == (4, 8)  # 4.5 → 4, 7.5 → 8
    assert opencv_output_size(240, 320, 224 / 240) == (224, 299)  # 298.67 → 299


@pytest.mark.parametrize("height, width, offsets", [(224, 224, (0, 0)), (225, 227, (0, 2)), (226, 301, (1, 38))])
def test_center_crop_offsets_round_half_to_even(height, width, offsets):
    # videotransforms.CenterCrop: int(np.round((h − 224) / 2.)); 0.5 → 0, 1.5 → 2.
    assert center_crop_offsets(height, width) == offsets


def test_unit_range_is_the_originals_float64_arithmetic():
    for value in range(256):
        assert UNIT_RANGE[value] == np.float32((np.float64(value) / 255.0) * 2 - 1)
    frames = np.array([[0, 1, 127, 128, 255]], np.uint8)
    np.testing.assert_array_equal(to_unit_range(frames).numpy(), UNIT_RANGE[frames])


def test_presets_resize_rules():
    charades, activitynet = PRESETS["charades"], PRESETS["activitynet"]
    # Charades: only frames whose shorter side is below 226, to 226; ActivityNet/TACoS: always, to 224.
    assert charades.resize_scale(270, 480) is None
    assert charades.resize_scale(225, 400) == 1 + 1 / 225
    assert activitynet.resize_scale(270, 480) == 1 + (224.0 - 270) / 270
    assert activitynet.resize_scale(224, 300) == 1.0
    frame = pattern(270, 480, 1)
    cropped = FramePreprocessor(charades, 270, 480)(tf.constant(frame)).numpy()
    np.testing.assert_array_equal(cropped, frame[23:247, 128:352])  # no resize, offsets round(23), round(128)
    small = FramePreprocessor(activitynet, 240, 320)
    assert (small.resized_size, small.top, small.left) == ((224, 299), 0, 38)  # round(37.5) = 38
    assert FramePreprocessor(activitynet, 240, 320)(tf.constant(pattern(240, 320, 2))).shape == (224, 224, 3)
    with pytest.raises(ValueError, match="become 267 x 200 by the activitynet resize, smaller than the 224 x 224"):
        FramePreprocessor(dataclasses.replace(activitynet, short_side=200), 240, 320)
