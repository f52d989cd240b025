"""Inverted dropout whose keep mask costs 16 random bits per element instead of a float32 uniform."""

import keras
import tensorflow as tf

#: Random bits per element: the keep probability is exact to 2^-17 (< 1e-5) for every rate.
MASK_BITS = 16
_GOLDEN_GAMMA = 0x9E3779B97F4A7C15  # SplitMix64's increment, ⌊2^64 / φ⌋ made odd


def _mix64(z):
    """SplitMix64's output function (Steele, Lea and Flood, 2014; Java's `SplittableRandom`): a bijection of uint64
    whose outputs, over an arithmetic sequence of inputs, pass BigCrush."""
    z = tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, tf.constant(30, tf.uint64)))
    z *= tf.constant(0xBF58476D1CE4E5B9, tf.uint64)
    z = tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, tf.constant(27, tf.uint64)))
    z *= tf.constant(0x94D049BB133111EB, tf.uint64)
    return tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, tf.constant(31, tf.uint64)))


def keep_mask(shape, rate, seed):
    """bool tensor of `shape`, each element `True` with probability 1 − `rate` (to 2^-17), independently.

    `tf.nn.experimental.stateless_dropout` draws a float32 uniform per element from Philox, whose CPU kernel takes
    about 5 ns per 32 random bits here. This draws 16 bits per element, compared with `round(rate · 2^16)`, from
    SplitMix64: word i is `_mix64(offset + i·γ)` with an offset mixed from the seed, a few vectorized integer ops
    per 64 bits, i.e. per four elements; about four times cheaper than Philox's uniforms (benchmarks/README.md,
    "Dropout masks"). Stateless: the same seed gives the same mask, on every device (integer ops are exact).

    Args:
        shape: 1-D int tensor or list, the mask's shape.
        rate: Python float in [0, 1), the probability of `False`.
        seed: int32/int64 tensor `[2]` (a Keras `SeedGenerator` draw).

    Returns:
        bool tensor of `shape`.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must be in [0, 1), got {rate}.")
    size = tf.reduce_prod(shape)
    seed = tf.bitcast(tf.cast(seed, tf.int64), tf.uint64)
    gamma = tf.constant(_GOLDEN_GAMMA, tf.uint64)
    offset = _mix64(seed[0] * gamma + seed[1])
    counters = tf.bitcast(tf.range((tf.cast(size, tf.int64) + 3) // 4), tf.uint64)
    words = _mix64(counters * gamma + offset)
    halves = tf.reshape(tf.bitcast(words, tf.uint16), [-1])[:size]
    threshold = tf.constant(round(rate * 2**MASK_BITS), tf.uint16)
    return tf.reshape(halves >= threshold, shape)


def dropout(inputs, rate, seed, noise_shape=None):
    """Inverted dropout of `inputs` with a `keep_mask`: kept elements are scaled by 1 / (1 − rate), as Keras does.

    Args:
        inputs: float tensor.
        rate: Python float in [0, 1].
        seed: int tensor `[2]`.
        noise_shape: optional shape broadcastable to `inputs`' (a mask shared along the axes of size 1); `None`
            entries take `inputs`' size.

    Returns:
        tensor like `inputs`.
    """
    if rate == 0.0:
        return inputs
    if rate == 1.0:
        return tf.zeros_like(inputs)
    shape = tf.shape(inputs)
    if noise_shape is not None:
        shape = tf.stack([shape[i] if size is None else size for i, size in enumerate(noise_shape)])
    scale = tf.cast(1.0 / (1.0 - rate), inputs.dtype)
    return tf.where(keep_mask(shape, rate, seed), inputs * scale, tf.zeros((), inputs.dtype))


@keras.saving.register_keras_serializable(package="nlvl")
class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout` with the cheaper `keep_mask`: same arguments, seed generator and RNG state.

    The seed of every call comes from the layer's `SeedGenerator`, exactly as in Keras, so a run that saves and
    restores those states (the trainer does) draws the same masks after a resume. Only the generator of the mask
    differs: 16 random bits per element (`keep_mask`) instead of a float32 uniform, from a cheaper generator
    (`benchmarks/README.md`, section "Dropout masks").

    Args:
        rate: float in [0, 1], the fraction of the inputs to drop.
        noise_shape: optional 1-D shape of the mask, broadcast over `inputs`.
        seed: optional int, the seed of the layer's `SeedGenerator`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor of any shape.
        training: bool, dropout is active only when `True`.

    Returns:
        tensor like `inputs`.

    Example:
    >>> layer = Dropout(0.5, seed=1)
    >>> tuple(layer(np.ones((2, 3)), training=True).shape)
    (2, 3)
    """

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        return dropout(inputs, self.rate, self.seed_generator.next(), noise_shape=self.noise_shape)
