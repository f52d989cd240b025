"""Query-guided highlighting (QGH): per-clip foreground logits and the features scaled by their sigmoid."""

import keras
from keras import ops

from common.layers.initializers import clone_initializer
from common.layers.masking import mask_logits


@keras.saving.register_keras_serializable(package="nlvl")
class QueryGuidedHighlighting(keras.layers.Layer):
    """QGH of VSLNet (fidelity VSLNet §3.8; also fidelity LPNet §7). TF1: `model/layers.py::highlight_layer`.

    z = mask_logits(Dense(D → 1, bias)(X), video_mask) (float32), S_h = sigmoid(z) (exactly 0 on padding),
    X̃ = X ⊙ S_h (one scalar per clip broadcast over D). The loss lives in `common/losses.py::highlight_loss`.
    The width D is the input's: the code scores the projected X (D = d); the paper's Eq. scores the concat
    [V^q; h_Q] (D = 2d, fidelity VSLNet §6 #5, `VSLNetConfig.qgh_on_concat`).

    Weights (TF1 name → ours): `highlighting_layer/dense/kernel [1, d, 1]` → `score/kernel [d, 1]`;
    `dense/bias [1, 1, 1]` → `score/bias [1]`. Parameters: D + 1 (129 at D = d = 128).

    Args:
        kernel_initializer: initializer of the scoring projection. Defaults to `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        features: float tensor `(B, n, D)`, query-aware clip features X.
        video_mask: bool tensor `(B, n)`, `True` on real clips.

    Returns:
        A tuple `(logits, highlighted)`: float32 logits `(B, n)` with padded clips at `float32(-1e30)`, and the
        highlighted features `(B, n, D)`.

    Masking: uses `video_mask` explicitly; propagates no Keras mask.

    Example:
    >>> logits, features = QueryGuidedHighlighting()(np.zeros((2, 5, 8)), np.ones((2, 5), bool))
    >>> tuple(logits.shape), tuple(features.shape)
    ((2, 5), (2, 5, 8))
    """

    def __init__(self, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.score = keras.layers.Dense(
            1,
            use_bias=True,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer="zeros",
            dtype=self.dtype_policy,
            name="score",
        )

    def build(self, features_shape, video_mask_shape=None):
        self.score.build(features_shape)

    def call(self, features, video_mask):
        logits = mask_logits(ops.squeeze(self.score(features), -1), video_mask)  # (B, n) float32
        scores = ops.sigmoid(logits)
        highlighted = features * ops.cast(ops.expand_dims(scores, -1), features.dtype)
        return logits, highlighted

    def compute_output_shape(self, features_shape, video_mask_shape=None):
        return tuple(features_shape[:-1]), tuple(features_shape)

    def compute_output_spec(self, features, video_mask):
        shape = tuple(features.shape)
        return (
            keras.KerasTensor(shape[:-1], dtype="float32"),
            keras.KerasTensor(shape, dtype=self.compute_dtype),
        )

    def get_config(self):
        config = super().get_config()
        config.update({"kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config
