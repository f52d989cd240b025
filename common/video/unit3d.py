"""I3D's convolution unit: a 3-D convolution with TensorFlow "SAME" padding, batch norm without scale, ReLU."""

import keras

from common.layers.initializers import clone_initializer


@keras.saving.register_keras_serializable(package="nlvl")
class Unit3D(keras.layers.Layer):
    """Conv3D → batch norm → ReLU, DeepMind `kinetics-i3d/i3d.py::Unit3D` (the PyTorch port's `Unit3D`).

    The convolution has no bias and pads as TensorFlow's "SAME" does (the total padding `max((ceil(n / s) − 1)·s + k
    − n, 0)`, the smaller half in front); the PyTorch port pads explicitly to the same amounts. The batch norm has an
    offset `beta` and no scale (Sonnet `BatchNorm(create_scale=False)`), ε = 0.001, and at inference normalizes with
    the moving statistics: `(x − moving_mean) / sqrt(moving_variance + ε) + beta`.

    Weights (DeepMind's checkpoint names under the unit's scope → ours): `conv_3d/w [kt, kh, kw, in, out]` →
    `conv_3d/kernel` (same layout); `batch_norm/{beta, moving_mean, moving_variance} [out]` → `batch_norm/{beta,
    moving_mean, moving_variance}`.

    Args:
        filters: int, output channels.
        kernel_size: 3 ints `(kt, kh, kw)`.
        strides: 3 ints. Defaults to `(1, 1, 1)`.
        batch_norm_epsilon: float. Defaults to 0.001.
        kernel_initializer: initializer of the convolution kernel. Defaults to `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `[batch, time, height, width, channels]`.
        training: bool; batch statistics are used (and the moving ones updated) only when `True`.

    Returns:
        float tensor `[batch, ceil(time / st), ceil(height / sh), ceil(width / sw), filters]`, non-negative.

    Example:
    >>> tuple(Unit3D(8, (3, 3, 3), strides=(2, 2, 2))(np.zeros((1, 5, 7, 7, 3))).shape)
    (1, 3, 4, 4, 8)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1, 1),
        batch_norm_epsilon=0.001,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.strides = tuple(int(s) for s in strides)
        self.batch_norm_epsilon = float(batch_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.conv_3d = keras.layers.Conv3D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding="same",
            use_bias=False,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="conv_3d",
        )
        self.batch_norm = keras.layers.BatchNormalization(
            epsilon=self.batch_norm_epsilon,
            momentum=0.999,  # Sonnet's default decay; it only matters when fine-tuning
            center=True,
            scale=False,
            dtype=self.dtype_policy,
            name="batch_norm",
        )

    def build(self, inputs_shape):
        self.conv_3d.build(inputs_shape)
        self.batch_norm.build(self.conv_3d.compute_output_shape(inputs_shape))

    def call(self, inputs, training=False):
        return keras.ops.relu(self.batch_norm(self.conv_3d(inputs), training=training))

    def compute_output_shape(self, inputs_shape):
        return self.conv_3d.compute_output_shape(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "batch_norm_epsilon": self.batch_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
