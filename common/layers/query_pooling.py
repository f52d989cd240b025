"""Weighted (attentive) query pooling, tiled over the clips and concatenated with them, then projected to d."""

import keras
from keras import ops

from common.layers.initializers import clone_initializer
from common.layers.masking import mask_logits


@keras.saving.register_keras_serializable(package="nlvl")
class QueryPooling(keras.layers.Layer):
    """The paper's self-attentive query vector h_Q, concatenated to every clip (VSLNet spec §3.7, LPNet spec §7).

    TF1: `context_query_concat` (scope `context_query_concat/`).

    - α = softmax over words of mask_logits(Q·w_p, query_mask) (float32), w_p `[d, 1]`, no bias.
    - h_Q = Σ_j α_j·Q_j `(B, d)`.
    - X = Dense(2d → d, bias)([features; tile(h_Q)]) `(B, n, d)`: the projection back to d happens **before** QGH.

    Weights (TF1 name → ours): `weight [d, 1]` → `pooling_kernel [d, 1]` (Glorot-uniform, limit √(6/(d+1)));
    `dense/kernel [1, 2d, d]` → `projection/kernel [2d, d]`; `dense/bias [1, 1, d]` → `projection/bias [d]`.
    Parameters at d = 128: 128 + 256·128 + 128 = 33,024.

    Args:
        hidden_dim: int, width `d`.
        kernel_initializer: initializer of the pooling vector and projection. Defaults to `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        features: float tensor `(B, n, d)`, the CQA output V^q.
        query: float tensor `(B, m, d)`, the encoded query Q̃.
        query_mask: bool tensor `(B, m)`.
        return_pooled: bool; also return h_Q `(B, d)`.

    Returns:
        float tensor `(B, n, d)` (and h_Q when `return_pooled=True`).

    Masking: padded words get weight 0 in the pooling.

    Example:
    >>> layer = QueryPooling(8)
    >>> tuple(layer(np.zeros((2, 5, 8)), np.zeros((2, 3, 8)), np.ones((2, 3), bool)).shape)
    (2, 5, 8)
    """

    def __init__(self, hidden_dim, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.projection = keras.layers.Dense(
            self.hidden_dim,
            use_bias=True,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer="zeros",
            dtype=self.dtype_policy,
            name="projection",
        )

    def build(self, features_shape=None, query_shape=None, query_mask_shape=None):
        self.pooling_kernel = self.add_weight(
            name="pooling_kernel", shape=(self.hidden_dim, 1), initializer=clone_initializer(self.kernel_initializer)
        )
        self.projection.build((None, None, 2 * self.hidden_dim))

    def pool(self, query, query_mask):
        """h_Q `(B, d)`: the attention-weighted sum of the valid query words."""
        logits = ops.squeeze(ops.matmul(query, ops.cast(self.pooling_kernel, query.dtype)), -1)  # (B, m)
        alphas = ops.softmax(mask_logits(logits, query_mask), axis=1)
        return ops.squeeze(ops.matmul(ops.expand_dims(ops.cast(alphas, query.dtype), 1), query), 1)

    def call(self, features, query, query_mask, return_pooled=False):
        pooled = self.pool(query, query_mask)
        tiled = ops.repeat(ops.expand_dims(pooled, 1), ops.shape(features)[1], axis=1)  # (B, n, d)
        outputs = self.projection(ops.concatenate([features, ops.cast(tiled, features.dtype)], axis=-1))
        if return_pooled:
            return outputs, pooled
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
