"""The proposal features, their self-attention and the Sparse R-CNN dynamic interaction with the RoI features."""

import keras
from keras import ops

from common.layers.dropout import Dropout
from common.layers.initializers import clone_initializer
from common.layers.layer_normalization import LayerNormalization
from common.layers.multi_head_attention import MultiHeadAttentionBlock


@keras.saving.register_keras_serializable(package="nlvl")
class DynamicHead(keras.layers.Layer):
    """Proposal features P, their MHSA, and the dynamic instance interaction (fidelity LPNet §8.3–8.4; TF1:
    `dynamic_head`).

    - P `(K, d)`, weight `pro_features`, N(0, 1) init, the same for every sample.
    - With `use_mhsa` (paper Table 4 "MHSA"): P2 = `MultiHeadAttentionBlock`(P) (pre-LN, `num_heads` heads, no
      mask, own weights), P̃ = LN3(P + dropout(P2)) (a double residual: P2 already contains P). Without it,
      P̃ = P (paper-derived ablation; the code always has it).
    - Θ = Dense(d → 2·d·e, bias)(P̃), e = `dynamic_dim`; W1_k = Θ_k[:d·e] reshaped row-major to `(d, e)`,
      W2_k = Θ_k[d·e:] reshaped to `(e, d)`. Θ is computed **once per step on the K proposals** and applied to
      every sample with one batched matmul per product over the proposal-major RoI features (the original tiles it
      B times; same math).
    - For each sample b and proposal k, with R_bk the `(l, d)` RoI features:
      Z = ReLU(LN5(ReLU(LN4(R_bk·W1_k))·W2_k)), flattened row-major to l·d, then ReLU(LN6(Dense(l·d → d)(Z))).
    - G_bk = LN7(P̃_k + dropout(Z_bk)).
    LayerNorms: last axis, ε = `layer_norm_epsilon`. Kernels Glorot-uniform, biases zero.

    Weights (TF1 name under `dynamic_head/` → ours): `pro_features` → `pro_features`;
    `multihead_attention_pro/*` → `multihead_attention_pro/*` (see `MultiHeadAttentionBlock`);
    `layer_norm3..7/layer_norm_{scale,bias}` → `layer_norm3..7/{gamma,beta}`;
    `dynamic_layer/{kernel,bias}` → `dynamic_layer/{kernel,bias}`; `out_layer/*` → `out_layer/*`.
    The dead position embedding (`dynamic_head/dense`, fidelity LPNet §8.5) is not built.

    Args:
        num_proposals: K. Defaults to 100.
        hidden_dim: d. Defaults to 256.
        roi_length: l. Defaults to 16.
        num_heads: heads of the proposal self-attention. Defaults to 4.
        dynamic_dim: e, the bottleneck. Defaults to 64.
        use_mhsa: bool. Defaults to `True`.
        dropout: float. Defaults to 0.
        layer_norm_epsilon: float. Defaults to 1e-6.
        kernel_initializer: Dense kernels. Defaults to `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        roi_features: float tensor `(K, B, l, d)`, proposal-major (`TemporalRoIAlign`).
        training: bool, dropout is active only when `True`.
        return_intermediates: also return the stages (for parity checks against the original).

    Returns:
        float tensor `(B, K, d)`, G; with `return_intermediates`, `(G, dict)` with `proposal_features` P̃ `(K, d)`,
        `dynamic_conv_features` (the ReLU(LN6(...)) output, before the residual) `(B, K, d)` and `head_features`
        G `(B, K, d)`.

    Example:
    >>> head = DynamicHead(num_proposals=3, hidden_dim=8, roi_length=4, num_heads=2, dynamic_dim=4)
    >>> tuple(head(np.zeros((3, 2, 4, 8))).shape)
    (2, 3, 8)
    """

    def __init__(
        self,
        num_proposals=100,
        hidden_dim=256,
        roi_length=16,
        num_heads=4,
        dynamic_dim=64,
        use_mhsa=True,
        dropout=0.0,
        layer_norm_epsilon=1e-6,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_proposals = int(num_proposals)
        self.hidden_dim = int(hidden_dim)
        self.roi_length = int(roi_length)
        self.num_heads = int(num_heads)
        self.dynamic_dim = int(dynamic_dim)
        self.use_mhsa = bool(use_mhsa)
        self.dropout = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

        def layer_norm(name):
            return LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name)

        def dense(units, name):
            return keras.layers.Dense(
                units,
                use_bias=True,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                bias_initializer="zeros",
                dtype=self.dtype_policy,
                name=name,
            )

        if self.use_mhsa:
            self.attention_block = MultiHeadAttentionBlock(
                self.hidden_dim,
                num_heads=self.num_heads,
                dropout=self.dropout,
                layer_norm_epsilon=self.layer_norm_epsilon,
                kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
                dtype=self.dtype_policy,
                name="multihead_attention_pro",
            )
            self.layer_norm3 = layer_norm("layer_norm3")
        self.dynamic_layer = dense(2 * self.hidden_dim * self.dynamic_dim, "dynamic_layer")
        self.layer_norm4 = layer_norm("layer_norm4")
        self.layer_norm5 = layer_norm("layer_norm5")
        self.out_layer = dense(self.hidden_dim, "out_layer")
        self.layer_norm6 = layer_norm("layer_norm6")
        self.layer_norm7 = layer_norm("layer_norm7")
        self.dropout_layer = Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")

    def build(self, roi_features_shape=None):
        d, e = self.hidden_dim, self.dynamic_dim
        self.pro_features = self.add_weight(
            name="pro_features",
            shape=(self.num_proposals, d),
            initializer=keras.initializers.RandomNormal(mean=0.0, stddev=1.0),
        )
        if self.use_mhsa:
            self.attention_block.build((1, self.num_proposals, d))
            self.layer_norm3.build((1, self.num_proposals, d))
        self.dynamic_layer.build((self.num_proposals, d))
        self.layer_norm4.build((None, None, None, e))
        self.layer_norm5.build((None, None, None, d))
        self.out_layer.build((None, None, self.roi_length * d))
        self.layer_norm6.build((None, None, d))
        self.layer_norm7.build((None, None, d))

    def proposal_features(self, training=None):
        """P̃ `(K, d)`: the proposal features after the optional self-attention block."""
        features = ops.cast(self.pro_features, self.compute_dtype)
        if not self.use_mhsa:
            return features
        attended = self.attention_block(features[None], training=training)  # (1, K, d)
        return self.layer_norm3(features[None] + self.dropout_layer(attended, training=training))[0]

    def call(self, roi_features, training=None, return_intermediates=False):
        d, e, length = self.hidden_dim, self.dynamic_dim, self.roi_length
        num_proposals, batch = self.num_proposals, ops.shape(roi_features)[1]
        proposals = self.proposal_features(training=training)  # (K, d)
        params = self.dynamic_layer(proposals)  # (K, 2·d·e), once per step
        first = ops.reshape(params[:, : d * e], (num_proposals, d, e))
        second = ops.reshape(params[:, d * e :], (num_proposals, e, d))
        x = ops.matmul(ops.reshape(roi_features, (num_proposals, -1, d)), first)  # (K, B·l, e)
        x = ops.relu(self.layer_norm4(x))
        x = ops.matmul(x, second)  # (K, B·l, d)
        x = ops.relu(self.layer_norm5(x))
        x = ops.reshape(x, (num_proposals, batch, length * d))
        x = ops.relu(self.layer_norm6(self.out_layer(x)))  # (K, B, d)
        x = ops.transpose(x, (1, 0, 2))  # (B, K, d)
        head = self.layer_norm7(proposals[None] + self.dropout_layer(x, training=training))
        if return_intermediates:
            return head, {"proposal_features": proposals, "dynamic_conv_features": x, "head_features": head}
        return head

    def compute_output_shape(self, roi_features_shape):
        return (roi_features_shape[1], self.num_proposals, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_proposals": self.num_proposals,
                "hidden_dim": self.hidden_dim,
                "roi_length": self.roi_length,
                "num_heads": self.num_heads,
                "dynamic_dim": self.dynamic_dim,
                "use_mhsa": self.use_mhsa,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
