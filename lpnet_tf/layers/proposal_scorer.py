"""Query fusion of the proposal features (multiply + L2-normalize + Dense) and the IoU scoring head."""

import keras
from keras import ops

from common.layers.attentive_pooling import AttentivePooling
from common.layers.dropout import Dropout
from common.layers.initializers import clone_initializer
from common.layers.layer_normalization import LayerNormalization


def l2_normalize(x, axis=-1, epsilon=1e-12):
    """`tf.math.l2_normalize`: x·rsqrt(max(Σx², ε)) in float32 (ε = 1e-12 as TF's default)."""
    x = ops.cast(x, "float32")
    return x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), epsilon))


@keras.saving.register_keras_serializable(package="nlvl")
class ProposalScorer(keras.layers.Layer):
    """Predicted IoU ŝ of every proposal with the query (fidelity LPNet §8.5–8.6; TF1: `context_query_position_concat`
    and the scoring layers of `dynamic_head`).

    - Own attentive pooling of the query (`AttentivePooling`, own weights): q̄′ = Σ_j α′_j Q′_j.
    - Fusion: F_bk = Dense(d → d, bias)(l2normalize(G_bk ⊙ q̄′_b)) (multiplication and L2 normalization, not the
      paper's concatenation, Eq. 5).
    - Scoring: ŝ_bk = sigmoid(Dense(h → 1, bias)(dropout(ReLU(LN8(Dense(d → h, bias)(F_bk)))))), h =
      `scoring_hidden_dim`. The original's L2 regularizer on the first Dense is never added to a loss (fidelity LPNet
      D6).

    Weights (TF1 name → ours): `dynamic_head/context_query_position_concat/weight [d, 1]` →
    `pooling/pooling_kernel`;
    `.../dense/kernel [1, d, d]`, `bias [1, 1, d]` → `projection/kernel [d, d]`, `bias [d]`;
    `dynamic_head/dense_1/*` → `score_hidden/*`; `dynamic_head/layer_norm8/*` → `layer_norm8/*`;
    `dynamic_head/dense_2/*` → `score_output/*`.

    Args:
        hidden_dim: int, d.
        scoring_hidden_dim: int, h. Defaults to 256.
        dropout: float. Defaults to 0.
        layer_norm_epsilon: float. Defaults to 1e-6.
        kernel_initializer: Defaults to `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        features: float tensor `(B, K, d)`, the proposal features G.
        query: float tensor `(B, m, d)`, the encoded query Q′.
        query_mask: bool tensor `(B, m)`.
        training: bool, dropout is active only when `True`.
        return_intermediates: also return the stages (for parity checks).

    Returns:
        float32 `(B, K)` in (0, 1); with `return_intermediates`, `(scores, dict)` with `pooled_query` `(B, d)`,
        `fused` `(B, K, d)` (after the projection) and `score_logits` `(B, K)`.

    Example:
    >>> scorer = ProposalScorer(8, scoring_hidden_dim=4)
    >>> tuple(scorer(np.ones((2, 3, 8)), np.ones((2, 5, 8)), np.ones((2, 5), bool)).shape)
    (2, 3)
    """

    def __init__(
        self,
        hidden_dim,
        scoring_hidden_dim=256,
        dropout=0.0,
        layer_norm_epsilon=1e-6,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.pooling = AttentivePooling(
            self.hidden_dim,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="pooling",
        )
        self.projection = keras.layers.Dense(
            self.hidden_dim,
            use_bias=True,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="projection",
        )
        self.scoring_hidden_dim = int(scoring_hidden_dim)
        self.dropout = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.score_hidden = keras.layers.Dense(
            self.scoring_hidden_dim,
            use_bias=True,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="score_hidden",
        )
        self.layer_norm8 = LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="layer_norm8"
        )
        self.score_output = keras.layers.Dense(
            1,
            use_bias=True,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="score_output",
        )
        self.dropout_layer = Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")

    def build(self, features_shape=None, query_shape=None, query_mask_shape=None):
        d = self.hidden_dim
        self.pooling.build((None, None, d))
        self.projection.build((None, None, d))
        self.score_hidden.build((None, None, d))
        self.layer_norm8.build((None, None, self.scoring_hidden_dim))
        self.score_output.build((None, None, self.scoring_hidden_dim))

    def call(self, features, query, query_mask, training=None, return_intermediates=False):
        pooled = self.pooling(query, query_mask)  # (B, d)
        fused = l2_normalize(features * ops.cast(pooled[:, None, :], features.dtype))
        fused = self.projection(ops.cast(fused, self.compute_dtype))
        hidden = ops.relu(self.layer_norm8(self.score_hidden(fused)))
        logits = ops.cast(ops.squeeze(self.score_output(self.dropout_layer(hidden, training=training)), -1), "float32")
        scores = ops.sigmoid(logits)
        if return_intermediates:
            return scores, {"pooled_query": pooled, "fused": fused, "score_logits": logits}
        return scores

    def compute_output_shape(self, features_shape, query_shape=None, query_mask_shape=None):
        return tuple(features_shape[:-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "scoring_hidden_dim": self.scoring_hidden_dim,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
