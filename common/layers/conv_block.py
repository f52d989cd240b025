"""The encoder's stack of pre-LayerNorm depthwise-separable convolution layers (residual, ReLU)."""

import keras
from keras import ops

from common.layers.dropout import Dropout
from common.layers.initializers import clone_initializer
from common.layers.layer_normalization import LayerNormalization


@keras.saving.register_keras_serializable(package="nlvl")
class ConvBlock(keras.layers.Layer):
    """`num_layers` × [r = x; x = LN(x); x = ReLU(SepConv_k(x) + b); x = dropout(x) + r] (fidelity VSLNet §3.5.2).

    TF1: `conv_block` + `depthwise_separable_conv` (VSLNet `model/layers.py`, LPNet `models/layers.py`).
    SepConv is a depthwise conv (kernel `kernel_size`, SAME zero padding, channel multiplier 1, no bias) followed by
    a pointwise `d → d` projection; the bias is added after the pointwise projection, then ReLU.

    **Unmasked by default, as the original** (fidelity VSLNet §7.6): padded positions carry values (bias, positional
    rows) that each k=7 layer leaks 3 positions further into the valid region, so valid outputs depend on the
    batch's padding. `masked=True` is the "masked variant": padded positions are set to zero right before every
    depthwise conv, so valid outputs no longer depend on how much padding follows (the SAME padding of the batch
    end is zeros too).

    Weights per layer `i` (TF1 name under `conv_block/` → ours):
    `layer_norm_i/layer_norm_scale, layer_norm_bias` → `layer_norm_i/gamma, beta`;
    `depthwise_conv_layers_i/depthwise_filter [k, 1, d, 1]` → `depthwise_conv_i/kernel [k, d, 1]` (reshape);
    `depthwise_conv_layers_i/pointwise_filter [1, 1, d, d]` → `pointwise_conv_i/kernel [d, d]` (reshape);
    `depthwise_conv_layers_i/bias [d]` → `pointwise_conv_i/bias [d]`.
    Initializers match TF1: depthwise Glorot with fan_in = k·d, fan_out = k; pointwise Glorot `d × d`; bias 0;
    LayerNorm γ = 1, β = 0, ε = 1e-6, biased variance.

    Args:
        hidden_dim: int, channels `d` (inputs must have `d` channels because of the residual).
        kernel_size: int, depthwise kernel width. Defaults to 7.
        num_layers: int, number of conv layers. Defaults to 4.
        dropout: float, dropout rate after each conv. Defaults to 0.
        masked: bool, zero padded positions before each conv (needs `padding_mask`). Defaults to `False`
            (the original behaviour).
        layer_norm_epsilon: float. Defaults to 1e-6.
        kernel_initializer: initializer of the depthwise and pointwise kernels. Defaults to `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `(B, L, d)`.
        padding_mask: optional bool tensor `(B, L)`, `True` on valid positions; required when `masked=True`,
            ignored otherwise.
        training: bool, dropout is active only when `True`.

    Returns:
        float tensor `(B, L, d)`.

    Example:
    >>> tuple(ConvBlock(8)(np.zeros((2, 5, 8))).shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        hidden_dim,
        kernel_size=7,
        num_layers=4,
        dropout=0.0,
        masked=False,
        layer_norm_epsilon=1e-6,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.kernel_size = int(kernel_size)
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.masked = bool(masked)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True
        self.layer_norms, self.depthwise_convs, self.pointwise_convs = [], [], []
        for i in range(self.num_layers):
            self.layer_norms.append(
                LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=f"layer_norm_{i}")
            )
            self.depthwise_convs.append(
                keras.layers.DepthwiseConv1D(
                    kernel_size=self.kernel_size,
                    strides=1,
                    padding="same",
                    depth_multiplier=1,
                    data_format="channels_last",
                    use_bias=False,
                    depthwise_initializer=clone_initializer(self.kernel_initializer),
                    dtype=self.dtype_policy,
                    name=f"depthwise_conv_{i}",
                )
            )
            self.pointwise_convs.append(
                keras.layers.Dense(
                    self.hidden_dim,
                    activation="relu",
                    use_bias=True,
                    kernel_initializer=clone_initializer(self.kernel_initializer),
                    bias_initializer="zeros",
                    dtype=self.dtype_policy,
                    name=f"pointwise_conv_{i}",
                )
            )
        # Layers held only in lists are skipped by `tf.train.Checkpoint` (keras-team/keras#19425): name each one.
        for i in range(self.num_layers):
            setattr(self, f"layer_norm_{i}", self.layer_norms[i])
            setattr(self, f"depthwise_conv_{i}", self.depthwise_convs[i])
            setattr(self, f"pointwise_conv_{i}", self.pointwise_convs[i])
        self.dropout_layer = Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")

    def build(self, inputs_shape, padding_mask_shape=None):
        if inputs_shape[-1] is not None and inputs_shape[-1] != self.hidden_dim:
            raise ValueError(f"ConvBlock expects {self.hidden_dim} input channels, got {inputs_shape[-1]}.")
        shape = tuple(inputs_shape[:-1]) + (self.hidden_dim,)
        for norm, depthwise, pointwise in zip(self.layer_norms, self.depthwise_convs, self.pointwise_convs):
            norm.build(shape)
            depthwise.build(shape)
            pointwise.build(shape)

    def call(self, inputs, padding_mask=None, training=None):
        if self.masked:
            if padding_mask is None:
                raise ValueError("ConvBlock(masked=True) needs `padding_mask`.")
            keep = ops.expand_dims(ops.cast(padding_mask, self.compute_dtype), -1)
        x = inputs
        for norm, depthwise, pointwise in zip(self.layer_norms, self.depthwise_convs, self.pointwise_convs):
            residual = x
            x = norm(x)
            if self.masked:
                x = x * keep
            x = pointwise(depthwise(x))
            x = self.dropout_layer(x, training=training) + residual
        return x

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "kernel_size": self.kernel_size,
                "num_layers": self.num_layers,
                "dropout": self.dropout,
                "masked": self.masked,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
