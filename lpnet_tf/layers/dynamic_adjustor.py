"""The dynamic adjustor: pick one proposal per sample, its IoU loss, the boundary regular term and decoding."""

import keras
from keras import ops

from lpnet_tf.losses import temporal_iou


@keras.saving.register_keras_serializable(package="nlvl")
class DynamicAdjustor(keras.layers.Layer):
    """Selection, IoU loss and decoding of LPNet's learnable proposals (fidelity LPNet §8.8, §10; TF1:
    `models/LPNet.py`).

    No weights. With boxes (c_k, h_k) and valid lengths L_b:

    - **Selection** (`call`): k*_b = argmax_k IoU_bk (the IoU labels) when training, argmax_k ŝ_bk (the scores)
      otherwise; ties go to the lowest index. Then p_x = (c* − h*)·L_b, p_y = (c* + h*)·L_b (floats).
    - **IoU** (`clamped_iou`): iou* = max(IoU([p_x, p_y], [x, y]), `iou_floor`), and 1 where iou* >
      `iou_clamp` (zero loss and zero gradient there). The loss is L_IoU = mean_b(1 − iou*); its gradient
      reaches c*, h* only (argmax has none; none either when the box misses the GT, because of the floor).
      Which variables that gradient may update is declared by `LPNetTask.gradient_groups` (the box variable only,
      routed apart from the scoring loss; fidelity LPNet §8.8 "Gradient routing of the dynamic adjustor").
    - **Regular term** (`regular_term`): mean_k [ReLU(h_k − c_k) + ReLU(h_k + c_k − 1)] (start < 0 or end > 1;
      negative half-lengths are not penalized).
    - **Decoding** (`decode`): start = round_half_even(p_x), end = round_half_even(p_y) (minus 1 with
      `end_exclusive`, fidelity LPNet D11), each clamped to [0, L_b − 1]. The original does not check start ≤ end; with
      `end_exclusive` the end is raised to the start when rounding makes it smaller (a sub-clip proposal).

    Args:
        iou_clamp: Defaults to 0.95.
        iou_floor: Defaults to 1e-10.
        end_exclusive: the GT end and p_y are exclusive clip positions (`gt_end_exclusive`). Defaults to `False`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        boxes: float `(K, 2)`, (c, h).
        lengths: int `(B,)`, L_b.
        scores: float `(B, K)`.
        iou_labels: float `(B, K)`; required when `training`.
        training: bool, selection by IoU labels when `True`, by scores otherwise.

    Returns:
        `(index, p_x, p_y)`: int32 `(B,)`, float32 `(B,)`, float32 `(B,)`.

    Example:
    >>> adjustor = DynamicAdjustor()
    >>> index, p_x, p_y = adjustor(np.array([[0.5, 0.25]], "float32"), np.array([8]), np.ones((1, 1)))
    >>> float(p_x[0]), float(p_y[0])
    (2.0, 6.0)
    """

    def __init__(self, iou_clamp=0.95, iou_floor=1e-10, end_exclusive=False, **kwargs):
        super().__init__(**kwargs)
        self.iou_clamp = float(iou_clamp)
        self.iou_floor = float(iou_floor)
        self.end_exclusive = bool(end_exclusive)
        self.built = True

    def call(self, boxes, lengths, scores, iou_labels=None, training=None):
        if training:
            if iou_labels is None:
                raise ValueError("training selection needs `iou_labels`")
            index = ops.argmax(ops.cast(iou_labels, "float32"), axis=-1)
        else:
            index = ops.argmax(ops.cast(scores, "float32"), axis=-1)
        index = ops.cast(index, "int32")
        p_x, p_y = self.bounds(boxes, index, lengths)
        return index, p_x, p_y

    @staticmethod
    def bounds(boxes, index, lengths):
        """(c − h)·L_b and (c + h)·L_b of the boxes `index` (int, any shape `(B, ...)`), float32."""
        boxes = ops.cast(boxes, "float32")
        center = ops.take(boxes[:, 0], index, axis=0)
        half = ops.take(boxes[:, 1], index, axis=0)
        lengths = ops.cast(lengths, "float32")
        lengths = ops.reshape(lengths, ops.shape(lengths) + (1,) * (len(index.shape) - 1))
        return (center - half) * lengths, (center + half) * lengths

    def clamped_iou(self, p_x, p_y, gt_start, gt_end):
        """iou* `(B,)` float32: floored at `iou_floor`, set to 1 above `iou_clamp`."""
        iou = ops.maximum(temporal_iou(p_x, p_y, gt_start, gt_end), self.iou_floor)
        return ops.where(iou > self.iou_clamp, ops.ones_like(iou), iou)

    @staticmethod
    def regular_term(boxes):
        """mean_k [ReLU(h − c) + ReLU(h + c − 1)], float32 scalar."""
        boxes = ops.cast(boxes, "float32")
        center, half = boxes[:, 0], boxes[:, 1]
        return ops.mean(ops.relu(half - center) + ops.relu(half + center - 1.0))

    def decode(self, p_x, p_y, lengths):
        """Inclusive clip indices `(start, end)`, int32, clamped to [0, L_b − 1]; shapes of `p_x`."""
        last = ops.cast(lengths, "float32") - 1.0
        last = ops.reshape(last, ops.shape(last) + (1,) * (len(p_x.shape) - 1))
        start = ops.round(ops.cast(p_x, "float32"))
        end = ops.round(ops.cast(p_y, "float32"))
        if self.end_exclusive:
            end = end - 1.0
        start = ops.clip(start, 0.0, last)
        end = ops.clip(end, 0.0, last)
        if self.end_exclusive:
            end = ops.maximum(end, start)
        return ops.cast(start, "int32"), ops.cast(end, "int32")

    def get_config(self):
        config = super().get_config()
        config.update({"iou_clamp": self.iou_clamp, "iou_floor": self.iou_floor, "end_exclusive": self.end_exclusive})
        return config
