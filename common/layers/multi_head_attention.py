"""The original pre-LN multi-head self-attention block (no output projection) with its single-Dense FFN."""

import math

import keras
from keras import ops

from common.layers.dot_product_attention import dot_product_attention
from common.layers.dropout import Dropout
from common.layers.initializers import clone_initializer
from common.layers.layer_normalization import LayerNormalization
from common.layers.masking import NEG_INF


@keras.saving.register_keras_serializable(package="nlvl")
class MultiHeadAttentionBlock(keras.layers.Layer):
    """Pre-LN self-attention + linear FFN, both residual (fidelity VSLNet §3.5.3, fidelity LPNet §5.3).

    TF1: `multihead_attention_block` + `multihead_attention`. With x the input:

    - y = dropout(LN1(x)); Q, K, V = Dense(y) (d → d, bias each); split into `num_heads` heads of `d / num_heads`;
      Q ← Q / √(d / num_heads); scores = Q Kᵀ + (1 − key_mask)·(−1e30) (only **keys** are masked, additively,
      in float32); probs = dropout(softmax(scores)); merged = heads of probs·V concatenated
      (`dot_product_attention`; Q, K and V come from one matmul with the three kernels side by side).
    - **No output projection.** r = dropout(merged) + x.
    - z = dropout(LN2(r)); z = Dense(z) (d → d, bias, **no activation**); out = dropout(z) + r.

    Weights (TF1 name under `multihead_attention_block/` → ours): `layer_norm_1/*` → `layer_norm_1/gamma, beta`;
    `multihead_attention/{query,key,value}/kernel [1, d, d]` → `{query,key,value}/kernel [d, d]` (drop the leading
    1); `.../bias [1, 1, d]` → `.../bias [d]`; `layer_norm_2/*` → `layer_norm_2/*`; `dense/kernel, bias` →
    `ffn/kernel, bias`. All kernels Glorot-uniform, biases 0.

    Args:
        hidden_dim: int, model width `d` (inputs must have `d` channels).
        num_heads: int, number of heads; must divide `hidden_dim`. Defaults to 8.
        dropout: float, rate of every dropout above. Defaults to 0.
        layer_norm_epsilon: float. Defaults to 1e-6.
        kernel_initializer: initializer of the Q/K/V/FFN kernels. Defaults to `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `(B, L, d)`.
        padding_mask: optional bool tensor `(B, L)`, `True` on valid positions (used on the key axis only).
        training: bool, dropout is active only when `True`.
        return_attention_scores: bool; also return the attention probabilities `(B, num_heads, L, L)`.

    Returns:
        float tensor `(B, L, d)` (and float32 probabilities when `return_attention_scores=True`).

    Example:
    >>> tuple(MultiHeadAttentionBlock(8, num_heads=2)(np.zeros((2, 5, 8))).shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        hidden_dim,
        num_heads=8,
        dropout=0.0,
        layer_norm_epsilon=1e-6,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_dim % num_heads != 0:
            raise ValueError(f"hidden_dim ({hidden_dim}) is not a multiple of num_heads ({num_heads}).")
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.dropout = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.head_dim = self.hidden_dim // self.num_heads
        self.supports_masking = True

        def dense(name):
            return keras.layers.Dense(
                self.hidden_dim,
                use_bias=True,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                bias_initializer="zeros",
                dtype=self.dtype_policy,
                name=name,
            )

        self.layer_norm_1 = LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="layer_norm_1"
        )
        self.query_dense = dense("query")
        self.key_dense = dense("key")
        self.value_dense = dense("value")
        self.layer_norm_2 = LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="layer_norm_2"
        )
        self.ffn = dense("ffn")
        self.dropout_layer = Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")

    def build(self, inputs_shape, padding_mask_shape=None):
        if inputs_shape[-1] is not None and inputs_shape[-1] != self.hidden_dim:
            raise ValueError(f"MultiHeadAttentionBlock expects {self.hidden_dim} channels, got {inputs_shape[-1]}.")
        shape = tuple(inputs_shape[:-1]) + (self.hidden_dim,)
        for layer in (
            self.layer_norm_1,
            self.query_dense,
            self.key_dense,
            self.value_dense,
            self.layer_norm_2,
            self.ffn,
        ):
            layer.build(shape)

    def _project_heads(self, inputs, batch, length):
        """Q (scaled by 1/√dh), K, V, each `(B, H, L, dh)`: one matmul with the three kernels side by side."""
        scale = 1.0 / math.sqrt(float(self.head_dim))
        # Scaling W_q and b_q instead of Q: the same product (up to float rounding), without a pass over Q.
        kernel = ops.concatenate([self.query_dense.kernel * scale, self.key_dense.kernel, self.value_dense.kernel], 1)
        bias = ops.concatenate([self.query_dense.bias * scale, self.key_dense.bias, self.value_dense.bias], 0)
        kernel, bias = ops.cast(kernel, self.compute_dtype), ops.cast(bias, self.compute_dtype)
        projected = ops.matmul(ops.reshape(inputs, (-1, self.hidden_dim)), kernel) + bias  # (B·L, 3d)
        projected = ops.reshape(projected, (batch, length, 3, self.num_heads, self.head_dim))
        query, key, value = ops.unstack(ops.transpose(projected, (2, 0, 3, 1, 4)), axis=0)
        return query, key, value

    def call(self, inputs, padding_mask=None, training=None, return_attention_scores=False):
        batch, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
        y = self.dropout_layer(self.layer_norm_1(inputs), training=training)
        query, key, value = self._project_heads(y, batch, length)
        key_bias = None
        if padding_mask is not None:
            key_mask = ops.cast(ops.reshape(padding_mask, (batch, 1, 1, length)), "float32")
            key_bias = (1.0 - key_mask) * NEG_INF
        dropout = self.dropout if training else 0.0
        attended = dot_product_attention(
            query,
            key,
            value,
            key_bias,
            dropout_rate=dropout,
            seed=self.dropout_layer.seed_generator.next() if dropout > 0.0 else None,
            return_probabilities=return_attention_scores,
        )
        merged, probs = attended if return_attention_scores else (attended, None)
        merged = ops.reshape(ops.transpose(merged, (0, 2, 1, 3)), (batch, length, self.hidden_dim))
        residual = self.dropout_layer(merged, training=training) + inputs
        z = self.dropout_layer(self.layer_norm_2(residual), training=training)
        z = self.ffn(z)
        outputs = self.dropout_layer(z, training=training) + residual
        if return_attention_scores:
            return outputs, probs
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
