"""Layer normalization over the last axis as the original TF1 code computes it, with a hand-written gradient."""

import keras
import tensorflow as tf


def layer_norm(inputs, gamma, beta, epsilon):
    """(x − mean) · rsqrt(var + ε) · γ + β over the last axis, var = mean((x − mean)²) (the originals' `layer_norm`).

    The gradient is written out: with x̂ the normalized input and g = dy · γ,
    dx = rsqrt(var + ε) · (g − mean(g) − x̂ · mean(g · x̂)), dγ = Σ dy · x̂, dβ = Σ dy (sums over every other axis).
    TensorFlow's automatic gradient of the same ops makes about twice as many passes over the activations, which
    dominate LPNet's dynamic head (`[B, K, l, d]`, 13 M values at the Charades shape). bfloat16 inputs are
    normalized in float32, as Keras does.

    Args:
        inputs: float tensor `[..., d]`.
        gamma, beta: `[d]`.
        epsilon: float.

    Returns:
        tensor like `inputs`.
    """
    dtype = inputs.dtype
    compute_dtype = tf.float32 if dtype in (tf.float16, tf.bfloat16) else dtype
    outputs = _layer_norm(
        tf.cast(inputs, compute_dtype), tf.cast(gamma, compute_dtype), tf.cast(beta, compute_dtype), epsilon
    )
    return tf.cast(outputs, dtype)


def _layer_norm(inputs, gamma, beta, epsilon):
    @tf.custom_gradient
    def normalize(x, gamma, beta):
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        centered = x - mean
        inv = tf.math.rsqrt(tf.reduce_mean(tf.square(centered), axis=-1, keepdims=True) + epsilon)
        normalized = centered * inv

        def grad(dy):
            depth = tf.shape(x)[-1]
            dy_rows, normalized_rows = tf.reshape(dy, [-1, depth]), tf.reshape(normalized, [-1, depth])
            # Column sums as a row of ones times the rows: several times faster than `reduce_sum(axis=0)` on CPU.
            ones = tf.ones([1, tf.shape(dy_rows)[0]], dy.dtype)
            d_gamma = tf.matmul(ones, dy_rows * normalized_rows)[0]
            d_beta = tf.matmul(ones, dy_rows)[0]
            g = dy * gamma
            mean_g = tf.reduce_mean(g, axis=-1, keepdims=True)
            mean_g_normalized = tf.reduce_mean(g * normalized, axis=-1, keepdims=True)
            return inv * (g - mean_g - normalized * mean_g_normalized), d_gamma, d_beta

        return normalized * gamma + beta, grad

    return normalize(inputs, gamma, beta)


@keras.saving.register_keras_serializable(package="nlvl")
class LayerNormalization(keras.layers.LayerNormalization):
    """`keras.layers.LayerNormalization` (same weights, arguments and checkpoints) computed by `layer_norm`.

    The original VSLNet and LPNet normalize over the last axis with a centre and a scale (TF1 `layer_norm`:
    `layer_norm_scale`, `layer_norm_bias` ↔ `gamma`, `beta`); that case runs `layer_norm` (the original's formula,
    with the cheaper hand-written gradient). Any other configuration (other axes, no centre or scale, RMS
    scaling) runs Keras' own computation.

    Args:
        **kwargs: `keras.layers.LayerNormalization` arguments (`epsilon`, `axis`, `center`, `scale`, ...).

    Call arguments:
        inputs: float tensor `[..., d]`.

    Returns:
        tensor like `inputs`, in the layer's compute dtype.

    Example:
    >>> norm = LayerNormalization(epsilon=1e-6)
    >>> tuple(norm(np.ones((2, 3, 4))).shape)
    (2, 3, 4)
    """

    def call(self, inputs):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        last_axis_only = axes in ([-1], [len(inputs.shape) - 1])
        if not (last_axis_only and self.center and self.scale and not self.rms_scaling):
            return super().call(inputs)
        outputs = layer_norm(tf.convert_to_tensor(inputs), self.gamma, self.beta, self.epsilon)
        return tf.cast(outputs, self.compute_dtype)
