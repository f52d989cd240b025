"""Context-query attention (CQA) with the original's trilinear similarity and bias-free output projection."""

import keras
from keras import ops

from common.layers.dropout import Dropout
from common.layers.initializers import clone_initializer
from common.layers.masking import mask_logits


@keras.saving.register_keras_serializable(package="nlvl")
class ContextQueryAttention(keras.layers.Layer):
    """Video-to-query and query-to-video attention fused into `V^q` (fidelity VSLNet §3.6, fidelity LPNet §6).

    TF1: `video_query_attention` + `trilinear_attention` (scope `video_query_attention/`).

    - v̂ = dropout(V), q̂ = dropout(Q), each dropped once and used in all three terms.
      S_ij = v̂_i·w_v + q̂_j·w_q + Σ_k v̂_ik·w_m,k·q̂_jk (no bias) → `(B, n, m)`.
    - S_r = softmax over the **query** axis of mask_logits(S, query_mask[:, None, :]);
      S_c = softmax over the **video** axis of mask_logits(S, video_mask[:, :, None]) (float32).
    - A = S_r·Q, Bm = (S_r·S_cᵀ)·V, using the non-dropped V and Q.
    - V^q = Dense(4d → d, **no bias**)([V; A; V⊙A; V⊙Bm]).

    Weights (TF1 name → ours): `efficient_trilinear/linear_kernel4arg0 [d, 1]` → `video_kernel [d, 1]`;
    `linear_kernel4arg1 [d, 1]` → `query_kernel [d, 1]`; `linear_kernel4mul [1, 1, d]` → `mul_kernel [1, 1, d]`
    (all Glorot-uniform over these shapes, i.e. limit √(6/(d+1))); `dense/kernel [1, 4d, d]` →
    `projection/kernel [4d, d]`. Parameters at d = 128: 3·128 + 512·128 = 65,920.

    Args:
        hidden_dim: int, width `d` of both inputs and of the output.
        dropout: float, dropout rate on the similarity inputs. Defaults to 0.
        use_bias: bool, give the output projection a bias, as the paper's FFN and the PyTorch ports do (fidelity
            VSLNet §6 #15). Defaults to `False` (the TF1 code).
        kernel_initializer: initializer of all weights. Defaults to `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        video: float tensor `(B, n, d)`, encoded video Ṽ.
        query: float tensor `(B, m, d)`, encoded query Q̃.
        video_mask: bool tensor `(B, n)`.
        query_mask: bool tensor `(B, m)`.
        training: bool, dropout is active only when `True`.
        return_similarity: bool; also return the unmasked float32 similarity S `(B, n, m)`.

    Returns:
        float tensor `(B, n, d)` (and S when `return_similarity=True`).

    Example:
    >>> cqa = ContextQueryAttention(8)
    >>> tuple(cqa(np.zeros((2, 5, 8)), np.zeros((2, 3, 8)), np.ones((2, 5), bool), np.ones((2, 3), bool)).shape)
    (2, 5, 8)
    """

    def __init__(self, hidden_dim, dropout=0.0, use_bias=False, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.dropout_layer = Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")
        self.projection = keras.layers.Dense(
            self.hidden_dim,
            use_bias=self.use_bias,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="projection",
        )

    def build(self, video_shape=None, query_shape=None, video_mask_shape=None, query_mask_shape=None):
        d = self.hidden_dim
        self.video_kernel = self.add_weight(
            name="video_kernel", shape=(d, 1), initializer=clone_initializer(self.kernel_initializer)
        )
        self.query_kernel = self.add_weight(
            name="query_kernel", shape=(d, 1), initializer=clone_initializer(self.kernel_initializer)
        )
        self.mul_kernel = self.add_weight(
            name="mul_kernel", shape=(1, 1, d), initializer=clone_initializer(self.kernel_initializer)
        )
        self.projection.build((None, None, 4 * d))

    def similarity(self, video, query, training=None):
        """Trilinear similarity S `(B, n, m)` (float32) on dropped copies of `video` and `query`."""
        video_dropped = self.dropout_layer(video, training=training)
        query_dropped = self.dropout_layer(query, training=training)
        video_term = ops.matmul(video_dropped, ops.cast(self.video_kernel, video.dtype))  # (B, n, 1)
        query_term = ops.matmul(query_dropped, ops.cast(self.query_kernel, query.dtype))  # (B, m, 1)
        query_term = ops.transpose(query_term, (0, 2, 1))  # (B, 1, m)
        mul_term = ops.matmul(
            video_dropped * ops.cast(self.mul_kernel, video.dtype), ops.transpose(query_dropped, (0, 2, 1))
        )  # (B, n, m)
        return ops.cast(video_term + query_term + mul_term, "float32")

    def call(self, video, query, video_mask, query_mask, training=None, return_similarity=False):
        scores = self.similarity(video, query, training=training)
        query_mask = ops.expand_dims(query_mask, 1)  # (B, 1, m)
        video_mask = ops.expand_dims(video_mask, 2)  # (B, n, 1)
        row_probs = ops.softmax(mask_logits(scores, query_mask), axis=2)  # S_r, over the query axis
        col_probs = ops.softmax(mask_logits(scores, video_mask), axis=1)  # S_c, over the video axis
        row_probs = ops.cast(row_probs, self.compute_dtype)
        col_probs = ops.cast(col_probs, self.compute_dtype)
        video_to_query = ops.matmul(row_probs, query)  # A (B, n, d)
        query_to_video = ops.matmul(ops.matmul(row_probs, ops.transpose(col_probs, (0, 2, 1))), video)  # Bm
        fused = ops.concatenate([video, video_to_query, video * video_to_query, video * query_to_video], axis=-1)
        outputs = self.projection(fused)
        if return_similarity:
            return outputs, scores
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
