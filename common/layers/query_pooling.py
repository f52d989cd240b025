"""The self-attentive query vector h_Q, tiled over the clips and concatenated with them (then projected to d)."""

import keras
from keras import ops

from common.layers.attentive_pooling import AttentivePooling
from common.layers.initializers import clone_initializer


@keras.saving.register_keras_serializable(package="nlvl")
class QueryPooling(keras.layers.Layer):
    """[V^q; tile(h_Q)], projected back to d by default (`docs/fidelity.md`, VSLNet §3.7, LPNet §7).

    TF1: `context_query_concat` (scope `context_query_concat/`).

    - h_Q = `AttentivePooling`(Q̃, query_mask) `(B, d)`.
    - With `projection` (the code): X = Dense(2d → d, bias)([features; tile(h_Q)]) `(B, n, d)`; the projection
      back to d happens **before** QGH. Without (the paper's QGH on the concat, VSLNet §6 #5): `(B, n, 2d)`.

    Weights (TF1 name → ours): `weight [d, 1]` → `pooling/pooling_kernel [d, 1]`;
    `dense/kernel [1, 2d, d]` → `projection/kernel [2d, d]`; `dense/bias [1, 1, d]` → `projection/bias [d]`.
    Parameters at d = 128: 128 + 256·128 + 128 = 33,024.

    Args:
        hidden_dim: int, width `d`.
        projection: bool, project the concat back to d. Defaults to `True`.
        kernel_initializer: initializer of the pooling vector and projection. Defaults to `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        features: float tensor `(B, n, d)`, the CQA output V^q.
        query: float tensor `(B, m, d)`, the encoded query Q̃.
        query_mask: bool tensor `(B, m)`.
        return_pooled: bool; also return h_Q `(B, d)`.

    Returns:
        float tensor `(B, n, d)` (`(B, n, 2d)` without `projection`), and h_Q when `return_pooled=True`.

    Example:
    >>> layer = QueryPooling(8)
    >>> tuple(layer(np.zeros((2, 5, 8)), np.zeros((2, 3, 8)), np.ones((2, 3), bool)).shape)
    (2, 5, 8)
    """

    def __init__(self, hidden_dim, projection=True, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.use_projection = bool(projection)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.pooling = AttentivePooling(
            self.hidden_dim,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="pooling",
        )
        if self.use_projection:
            self.projection = keras.layers.Dense(
                self.hidden_dim,
                use_bias=True,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                bias_initializer="zeros",
                dtype=self.dtype_policy,
                name="projection",
            )

    def build(self, features_shape=None, query_shape=None, query_mask_shape=None):
        self.pooling.build((None, None, self.hidden_dim))
        if self.use_projection:
            self.projection.build((None, None, 2 * self.hidden_dim))

    def call(self, features, query, query_mask, return_pooled=False):
        pooled = self.pooling(query, query_mask)
        tiled = ops.repeat(ops.expand_dims(pooled, 1), ops.shape(features)[1], axis=1)  # (B, n, d)
        outputs = ops.concatenate([features, ops.cast(tiled, features.dtype)], axis=-1)
        if self.use_projection:
            outputs = self.projection(outputs)
        if return_pooled:
            return outputs, pooled
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "projection": self.use_projection,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
