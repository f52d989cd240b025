"""Temporal RoIAlign: `tf.image.crop_and_resize` of clip features seen as a height-1 image (fidelity LPNet §8.2)."""

import keras
import tensorflow as tf
from keras import ops

ROI_FRAMES = ("padded", "per_sample")
IMPLEMENTATIONS = ("crop_and_resize", "gather")
#: Clips of float slack when comparing a sample position with L_b − 1 (float32 rounding of u at T = 512 is ~6e-5).
_POSITION_TOLERANCE = 1e-3


@keras.saving.register_keras_serializable(package="nlvl")
class TemporalRoIAlign(keras.layers.Layer):
    """`roi_length` bilinear samples of each proposal's span of every sample (fidelity LPNet §8.2; TF1: `dynamic_head`).

    The features X `(B, T, d)` are viewed as an image `(B, 1, T, d)` (height 1, width W = T) and cropped with
    `tf.image.crop_and_resize(crop_size=(1, l), method="bilinear", extrapolation_value=0)`; box k of sample b
    reads sample b (boxes tiled B times, proposal-major, so that the crops come out as `(K, B, l, d)`: the dynamic
    head's per-proposal products are then plain batched matmuls, without transposing 13 M values at the Charades
    shape). For crop box (y1, x1, y2, x2), j = 0..l−1:

        u_j = x1·(W−1) + j·(x2 − x1)·(W−1)/(l−1)    (both endpoints included; descending if x1 > x2)
        value_j = 0 (every channel) if u_j < 0 or u_j > W−1, else X[lo] + (X[hi] − X[lo])·(u_j − lo),
                  lo = floor(u_j), hi = ceil(u_j)

    The height is 1, so the single row is read exactly (no vertical mixing). With W = 1 every sample is X[0].

    `roi_frame` (fidelity LPNet D4):
    - `"padded"` (original): x is scaled by the padded batch width T−1, so for samples shorter than T the crop
      does not match the proposal's clip span (s, e) = (x1·L_b, x2·L_b) and may read padded clips.
    - `"per_sample"`: x is scaled by the sample's own L_b−1 instead (fidelity LPNet D4), padded clips read as 0 and
      samples with u_j > L_b−1 are 0: each sample's crop equals that of the sample alone in a batch of one, whatever the
      padding. Implementation: padded clips are zeroed, one zero clip is appended (W = T + 1) and the boxes are
      multiplied by (L_b−1)/T; a sample within 1e-3 clips past L_b−1 (float rounding of a box ending at 1.0)
      keeps the interpolation X[L_b−1]·(1 − a), a ≤ 1e-3, instead of 0.

    Gradients flow into X. Gradients with respect to the boxes exist (TF's box gradient); LPNet stops them
    (fidelity LPNet D18), so that the boxes are trained by the IoU loss only.

    `implementation`: `"crop_and_resize"` (the original's op; it has no XLA kernel) or `"gather"` (the same
    arithmetic, u_j then X[lo] + (X[hi] − X[lo])·(u_j − lo), written with gathers, so that a `jit_compile`d step
    works; equal to the kernel up to float rounding, and its image gradient is a plain scatter-add).

    Args:
        roi_length: int, l, samples per proposal (>= 2). Defaults to 16.
        roi_frame: `"padded"` or `"per_sample"`. Defaults to `"padded"`.
        implementation: `"crop_and_resize"` or `"gather"`. Defaults to `"crop_and_resize"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        features: float tensor `(B, T, d)`.
        boxes: float tensor `(K, 4)`, normalized (y1, x1, y2, x2) crop boxes, the same for every sample
            (`LearnableProposals.crop_boxes`); only x1, x2 matter.
        lengths: int tensor `(B,)`, valid clips per sample; required for `"per_sample"`, unused otherwise.

    Returns:
        float tensor `(K, B, l, d)` (proposal-major): `[k, b]` is the crop of box k on sample b.

    Example:
    >>> roi = TemporalRoIAlign(roi_length=4)
    >>> tuple(roi(np.zeros((2, 5, 8)), np.array([[0, 0.1, 1, 0.6]] * 3, "float32")).shape)
    (3, 2, 4, 8)
    """

    def __init__(self, roi_length=16, roi_frame="padded", implementation="crop_and_resize", **kwargs):
        super().__init__(**kwargs)
        if roi_frame not in ROI_FRAMES:
            raise ValueError(f"roi_frame must be one of {ROI_FRAMES}, got {roi_frame!r}")
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
        if roi_length < 2:
            raise ValueError(f"roi_length must be >= 2, got {roi_length}")
        self.roi_length = int(roi_length)
        self.roi_frame = roi_frame
        self.implementation = implementation

    def _positions(self, x1, x2, span):
        """u `(K, B, l)`, in the float form of the kernel: x1·(W−1) + j·((x2 − x1)·(W−1)/(l−1))."""
        steps = ops.arange(self.roi_length, dtype="float32")[None, None, :]
        return x1[..., None] * span + steps * ((x2 - x1)[..., None] * span / (self.roi_length - 1.0))

    def _crop_and_resize(self, features, boxes):
        num_boxes, batch = ops.shape(boxes)[0], ops.shape(boxes)[1]
        # CropAndResize has float32 kernels only (no bfloat16): mixed precision samples in float32.
        crops = tf.image.crop_and_resize(
            ops.expand_dims(ops.cast(features, "float32"), 1),  # (B, 1, W, d)
            ops.reshape(ops.cast(boxes, "float32"), (-1, 4)),
            ops.tile(ops.arange(batch, dtype="int32"), [num_boxes]),
            crop_size=(1, self.roi_length),
            method="bilinear",
            extrapolation_value=0.0,
        )  # (K·B, 1, l, d) float32
        return ops.cast(ops.reshape(crops, (num_boxes, batch, self.roi_length, features.shape[-1])), features.dtype)

    def _gather(self, features, boxes):
        # The kernel's arithmetic with gathers (XLA-compilable): X[lo] + (X[hi] − X[lo])·(u − lo), 0 outside.
        num_boxes, batch = ops.shape(boxes)[0], ops.shape(boxes)[1]
        span = ops.cast(ops.shape(features)[1] - 1, "float32")
        positions = self._positions(boxes[..., 1], boxes[..., 3], span)  # (K, B, l)
        inside = ops.logical_and(positions >= 0.0, positions <= span)
        low = ops.floor(positions)
        fraction = ops.cast(positions - low, features.dtype)[..., None]
        sample = ops.broadcast_to(ops.arange(batch, dtype="int32")[None, :, None], ops.shape(positions))

        def read(index):
            index = ops.cast(ops.clip(index, 0.0, span), "int32")
            return tf.gather_nd(features, ops.stack([sample, index], axis=-1))  # (K, B, l, d)

        left, right = read(low), read(ops.ceil(positions))
        crops = left + (right - left) * fraction
        return crops * ops.cast(inside[..., None], crops.dtype)

    def call(self, features, boxes, lengths=None):
        features = ops.convert_to_tensor(features)
        batch, width = ops.shape(features)[0], ops.shape(features)[1]
        boxes = ops.repeat(ops.expand_dims(ops.cast(boxes, "float32"), 1), batch, axis=1)  # (K, B, 4)
        if self.roi_frame == "per_sample":
            if lengths is None:
                raise ValueError('roi_frame="per_sample" needs `lengths`.')
            # Zero the padded clips and append one zero clip, so that the image width is W = T + 1 > L_b for
            # every sample: samples just past L_b − 1 (by rounding) interpolate towards 0 instead of hitting the
            # kernel's own extrapolation, whatever the padding.
            lengths = ops.cast(lengths, "float32")
            valid = ops.arange(width, dtype="float32")[None, :] < lengths[:, None]  # (B, T)
            features = features * ops.cast(valid[..., None], features.dtype)
            features = ops.pad(features, [[0, 0], [0, 1], [0, 0]])
            span = ops.cast(width, "float32")  # W − 1 of the extended image
            scale = (lengths - 1.0) / span  # (B,)
            x1 = boxes[..., 1] * scale[None, :]
            x2 = boxes[..., 3] * scale[None, :]
            boxes = ops.stack([boxes[..., 0], x1, boxes[..., 2], x2], axis=-1)
        if self.implementation == "crop_and_resize":
            crops = self._crop_and_resize(features, boxes)
        else:
            crops = self._gather(features, boxes)
        if self.roi_frame == "per_sample":
            # Samples past L_b − 1 (beyond a rounding tolerance) are 0, as the sample's own crop extrapolates them.
            last = (lengths - 1.0)[None, :, None]
            positions = self._positions(x1, x2, span)
            inside = ops.logical_and(positions >= 0.0, positions <= last + _POSITION_TOLERANCE)
            crops = crops * ops.cast(inside[..., None], crops.dtype)
        return ops.cast(crops, self.compute_dtype)

    def compute_output_spec(self, features, boxes, lengths=None):
        shape = (boxes.shape[0], features.shape[0], self.roi_length, features.shape[-1])
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"roi_length": self.roi_length, "roi_frame": self.roi_frame, "implementation": self.implementation}
        )
        return config
