"""Concatenation interaction: the "CAT" alternative to CQA in VSLNet's Table 8 ablation (paper-derived, no code)."""

import keras
from keras import ops

from common.layers.initializers import clone_initializer
from common.layers.masking import masked_fill


@keras.saving.register_keras_serializable(package="nlvl")
class ConcatInteraction(keras.layers.Layer):
    """Each visual feature concatenated with the max-pooled query feature, then Dense(2d → d, bias).

    **Paper-derived design** (VSLNet paper, Table 8 "CAT": "concat each visual feature with the max-pooled query
    feature"; the released code has no such module). To be a drop-in replacement of `ContextQueryAttention`
    (whose output is `(B, n, d)`), the concatenation `[v_i; q_max]` is projected back to `d` with one Dense layer
    with bias and no activation, like the code's other fusion projections (`context_query_concat/dense`).
    The max over words ignores padded words (they are filled with a large negative number before the max).

    Parameters at d = 128: 256·128 + 128 = 32,896.

    Args:
        hidden_dim: int, width `d`.
        kernel_initializer: initializer of the projection. Defaults to `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        video: float tensor `(B, n, d)`.
        query: float tensor `(B, m, d)`.
        query_mask: bool tensor `(B, m)`.

    Returns:
        float tensor `(B, n, d)`.

    Example:
    >>> layer = ConcatInteraction(8)
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

    def build(self, video_shape, query_shape=None, query_mask_shape=None):
        query_dim = video_shape[-1] if query_shape is None else query_shape[-1]
        self.projection.build((None, None, video_shape[-1] + query_dim))

    def call(self, video, query, query_mask):
        pooled = ops.max(masked_fill(query, ops.expand_dims(query_mask, -1)), axis=1)  # (B, d)
        tiled = ops.repeat(ops.expand_dims(pooled, 1), ops.shape(video)[1], axis=1)
        return self.projection(ops.concatenate([video, tiled], axis=-1))

    def compute_output_shape(self, video_shape, query_shape=None, query_mask_shape=None):
        return tuple(video_shape[:-1]) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
