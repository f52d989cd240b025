"""The originals' frame preprocessing, to the bit: OpenCV's bilinear `cv2.resize(fx=s, fy=s)` on uint8 frames, the
centre crop, and the scaling to [−1, 1].

The original reads each frame as a uint8 JPEG (`cv2.imread`), resizes it in uint8 with `cv2.resize(img, dsize=(0,
0), fx=scale, fy=scale)` (default `INTER_LINEAR`), computes `(img / 255.) * 2 − 1` in float64, stores float32, and
centre-crops 224 × 224 (`videotransforms.CenterCrop`). Here the same values come out of TensorFlow ops:

- **Output size**: OpenCV rounds `width · scale` and `height · scale` to the nearest integer, ties to even
  (`saturate_cast<int>`); the same size gives an unchanged copy (OpenCV's shortcut).
- **Sampling**: OpenCV maps output pixel `d` to source `(d + 0.5) / scale − 0.5` with the given `scale` (not the
  size ratio), in float32; columns outside the image are clamped (weight 0 on the missing neighbour), rows are
  clamped by index with the weights kept.
- **Arithmetic**: 11-bit fixed-point weights (`round(w · 2048)`); a horizontal pass in integers, then the vertical
  pass as OpenCV's SSE/AVX code computes it on x86: `((b0 · (h0 >> 4)) >> 16) + ((b1 · (h1 >> 4)) >> 16)`, rounded
  by `(v + 2) >> 2` and saturated to uint8.

`tests/common/video/frame_preprocessing_test.py` checks equality with `cv2.resize` (opencv-python-headless 4.14,
x86), bit for bit, over hundreds of random sizes and both presets' scales.
"""

import numpy as np
import tensorflow as tf

_COEFFICIENT_BITS = 11
_COEFFICIENT_SCALE = 1 << _COEFFICIENT_BITS


def opencv_output_size(height, width, scale):
    """`(height, width)` of `cv2.resize(frame, dsize=(0, 0), fx=scale, fy=scale)`: each side × scale, rounded half
    to even."""
    return round(height * scale), round(width * scale)


def _axis_coefficients(size, scale, clamp_weights):
    """Source indices `(first, second)` and fixed-point weights `(w_first, w_second)` of each output position."""
    out_size = round(size * scale)
    position = ((np.arange(out_size) + 0.5) * (1.0 / scale) - 0.5).astype(np.float32)
    first = np.floor(position).astype(np.int64)
    fraction = position - first.astype(np.float32)
    if clamp_weights:  # OpenCV's columns: outside the image, the edge pixel with full weight
        outside = (first < 0) | (first >= size - 1)
        fraction[outside] = 0
        first = np.clip(first, 0, size - 1)
    second = np.clip(first + 1, 0, size - 1)
    first = np.clip(first, 0, size - 1)
    w_second = np.rint(fraction * np.float32(_COEFFICIENT_SCALE)).astype(np.int32)
    w_first = np.rint((np.float32(1) - fraction) * np.float32(_COEFFICIENT_SCALE)).astype(np.int32)
    return first, second, w_first, w_second


class OpenCVResize:
    """`cv2.resize(frame, dsize=(0, 0), fx=scale, fy=scale)` (bilinear, uint8) for frames of one size, in TF ops.

    Args:
        height, width: the input frames' size.
        scale: the resize factor.

    Call arguments:
        frames: uint8 tensor `[..., height, width, channels]`.

    Returns:
        uint8 tensor `[..., out_height, out_width, channels]` (`opencv_output_size`).
    """

    def __init__(self, height, width, scale):
        self.height, self.width, self.scale = int(height), int(width), float(scale)
        self.output_size = opencv_output_size(self.height, self.width, self.scale)
        self.identity = self.output_size == (self.height, self.width)
        columns = _axis_coefficients(self.width, self.scale, clamp_weights=True)
        rows = _axis_coefficients(self.height, self.scale, clamp_weights=False)
        self._columns = [tf.constant(c) for c in columns]
        self._rows = [tf.constant(c) for c in rows]

    def __call__(self, frames):
        if self.identity:
            return frames
        x0, x1, a0, a1 = self._columns
        y0, y1, b0, b1 = self._rows
        shift = tf.bitwise.right_shift
        source = tf.cast(frames, tf.int32)
        # Horizontal pass: [..., height, out_width, channels] in 11-bit fixed point.
        horizontal = tf.gather(source, x0, axis=-2) * a0[:, None] + tf.gather(source, x1, axis=-2) * a1[:, None]
        top = shift(tf.gather(horizontal, y0, axis=-3), 4)
        bottom = shift(tf.gather(horizontal, y1, axis=-3), 4)
        value = shift(b0[:, None, None] * top, 16) + shift(b1[:, None, None] * bottom, 16)
        return tf.cast(tf.clip_by_value(shift(value + 2, 2), 0, 255), tf.uint8)


def center_crop_offsets(height, width, size=224):
    """`(top, left)` of `videotransforms.CenterCrop(size)`: `int(np.round((h − size) / 2))`, ties to even."""
    return int(np.round((height - size) / 2.0)), int(np.round((width - size) / 2.0))


#: `(v / 255.) * 2 − 1` for every uint8 value, computed in float64 and stored float32, as the original does.
UNIT_RANGE = ((np.arange(256) / 255.0) * 2 - 1).astype(np.float32)


def to_unit_range(frames):
    """uint8 frames → float32 in [−1, 1], exactly the original's values (a lookup of `UNIT_RANGE`)."""
    return tf.gather(tf.constant(UNIT_RANGE), tf.cast(frames, tf.int32))


class FramePreprocessor:
    """A preset's resize and centre crop for frames of one size (see the module docstring).

    Args:
        preset: a `common.video.presets.ExtractionPreset`.
        height, width: the decoded frames' size.

    Call arguments:
        frame: uint8 tensor `[height, width, 3]` (RGB).

    Returns:
        uint8 tensor `[crop_size, crop_size, 3]`.

    Raises:
        ValueError: (at construction) the resized frame would be smaller than the crop.
    """

    def __init__(self, preset, height, width):
        scale = preset.resize_scale(height, width)
        self.resize = None if scale is None else OpenCVResize(height, width, scale)
        self.resized_size = (height, width) if scale is None else self.resize.output_size
        size = preset.crop_size
        if min(self.resized_size) < size:
            raise ValueError(
                f"frames of {width} x {height} become {self.resized_size[1]} x {self.resized_size[0]} by the "
                f"{preset.name} resize, smaller than the {size} x {size} crop"
            )
        self.top, self.left = center_crop_offsets(*self.resized_size, size=size)
        self.size = size

    def __call__(self, frame):
        if self.resize is not None:
            frame = self.resize(frame)
        return frame[self.top : self.top + self.size, self.left : self.left + self.size, :]
