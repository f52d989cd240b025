"""The shared feature encoder, QANet's encoder block: position embedding + conv block + multi-head attention block."""

import keras

from common.layers.conv_block import ConvBlock
from common.layers.multi_head_attention import MultiHeadAttentionBlock
from common.layers.position_embedding import PositionEmbedding


@keras.saving.register_keras_serializable(package="nlvl")
class FeatureEncoder(keras.layers.Layer):
    """QANet's encoder block: position embedding → `ConvBlock` → `MultiHeadAttentionBlock` (fidelity VSLNet §3.5,
    LPNet §5). Both papers take it from QANet (Yu et al., 2018): one block, whose feed-forward sub-layer is the
    attention block's single Dense.

    TF1: `feature_encoder` (scope `feature_encoder/`). The **same instance** is called for the video (with
    `v_mask`) and for the query (with `q_mask`): the original shares every variable between the two, including the
    position table and the attention block (fidelity VSLNet §7.13). The transformer span predictor owns a separate
    instance (with its own position table) that it calls twice.

    Sublayers (TF1 scope → ours): `positional_embedding` → `positional_embedding`; `conv_block` → `conv_block`;
    `multihead_attention_block` → `multihead_attention_block`. See those layers for the weight mapping.
    Trainable parameters at d = 128, 128 positions, k = 7, 4 conv layers: 16,384 + 70,656 + 66,560 = 153,600.

    Args:
        hidden_dim: int, width `d` (128 VSLNet, 256 LPNet).
        num_heads: int, attention heads (8 in both models). Defaults to 8.
        max_pos_len: int, rows of the position table (`max_pos_len` / `max_position_length`). Defaults to 128.
        kernel_size: int, depthwise conv width. Defaults to 7.
        num_conv_layers: int. Defaults to 4.
        dropout: float, the encoder's dropout rate (`drop_rate`: 0.2 VSLNet, 0.1 LPNet). Defaults to 0.
        masked_conv: bool, use the masked conv variant (`ConvBlock(masked=True)`). Defaults to `False` (original).
        layer_norm_epsilon: float. Defaults to 1e-6.
        kernel_initializer: initializer of all kernels. Defaults to `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `(B, L, d)` with `L <= max_pos_len`.
        padding_mask: bool tensor `(B, L)`, `True` on valid positions (attention keys; the conv too when
            `masked_conv=True`). `None` means all positions are valid.
        training: bool, dropout is active only when `True`.
        position_offsets: optional int tensor `(B,)`, first position-table row of each sequence
            (`PositionEmbedding`'s `offsets`). `None`: every sequence starts at row 0.

    Returns:
        float tensor `(B, L, d)`.

    Example:
    >>> encoder = FeatureEncoder(8, num_heads=2, max_pos_len=16)
    >>> tuple(encoder(np.zeros((2, 5, 8)), np.ones((2, 5), bool)).shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        hidden_dim,
        num_heads=8,
        max_pos_len=128,
        kernel_size=7,
        num_conv_layers=4,
        dropout=0.0,
        masked_conv=False,
        layer_norm_epsilon=1e-6,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.max_pos_len = int(max_pos_len)
        self.kernel_size = int(kernel_size)
        self.num_conv_layers = int(num_conv_layers)
        self.dropout = float(dropout)
        self.masked_conv = bool(masked_conv)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True
        initializer = keras.initializers.serialize(self.kernel_initializer)
        self.position_embedding = PositionEmbedding(
            self.max_pos_len,
            initializer=keras.initializers.get(initializer),
            dtype=self.dtype_policy,
            name="positional_embedding",
        )
        self.conv_block = ConvBlock(
            self.hidden_dim,
            kernel_size=self.kernel_size,
            num_layers=self.num_conv_layers,
            dropout=self.dropout,
            masked=self.masked_conv,
            layer_norm_epsilon=self.layer_norm_epsilon,
            kernel_initializer=initializer,
            dtype=self.dtype_policy,
            name="conv_block",
        )
        self.attention_block = MultiHeadAttentionBlock(
            self.hidden_dim,
            num_heads=self.num_heads,
            dropout=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            kernel_initializer=initializer,
            dtype=self.dtype_policy,
            name="multihead_attention_block",
        )

    def build(self, inputs_shape, padding_mask_shape=None):
        shape = tuple(inputs_shape[:-1]) + (self.hidden_dim,)
        self.position_embedding.build(shape)
        self.conv_block.build(shape)
        self.attention_block.build(shape)

    def call(self, inputs, padding_mask=None, training=None, position_offsets=None):
        x = self.position_embedding(inputs, offsets=position_offsets)
        x = self.conv_block(x, padding_mask=padding_mask, training=training)
        return self.attention_block(x, padding_mask=padding_mask, training=training)

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "max_pos_len": self.max_pos_len,
                "kernel_size": self.kernel_size,
                "num_conv_layers": self.num_conv_layers,
                "dropout": self.dropout,
                "masked_conv": self.masked_conv,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
