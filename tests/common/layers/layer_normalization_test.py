import keras
import numpy as np
import tensorflow as tf

from common.layers.layer_normalization import LayerNormalization, layer_norm
from tests.test_case import TestCase


def tf1_layer_norm(x, gamma, beta, epsilon):
    """The originals' `layer_norm`, differentiated by TensorFlow."""
    mean = tf.reduce_mean(x, axis=-1, keepdims=True)
    variance = tf.reduce_mean(tf.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * tf.math.rsqrt(variance + epsilon) * gamma + beta


def values_and_gradients(fn, x, gamma, beta, upstream):
    with tf.GradientTape() as tape:
        tape.watch([x, gamma, beta])
        y = fn(x, gamma, beta, 1e-6)
        loss = tf.reduce_sum(y * upstream)
    return [y] + tape.gradient(loss, [x, gamma, beta])


class LayerNormTest(TestCase):
    def test_values_and_gradients_equal_the_tf1_formula(self):
        rng = np.random.RandomState(0)
        # float64, so that the comparison sees the algebra and not float32 rounding; rows of different scales.
        x = tf.constant(rng.normal(size=(3, 4, 7)) * rng.uniform(0.01, 10, size=(3, 4, 1)) + 2.0)
        gamma, beta = tf.constant(rng.normal(size=7)), tf.constant(rng.normal(size=7))
        upstream = tf.constant(rng.normal(size=(3, 4, 7)))
        ours = values_and_gradients(layer_norm, x, gamma, beta, upstream)
        reference = values_and_gradients(tf1_layer_norm, x, gamma, beta, upstream)
        for name, a, b in zip(("y", "dx", "dgamma", "dbeta"), ours, reference):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-9, err_msg=name)

    def test_bfloat16_is_normalized_in_float32(self):
        x = tf.constant(np.random.RandomState(1).normal(size=(5, 8)).astype("float32"))
        gamma, beta = tf.ones([8]), tf.zeros([8])
        y = layer_norm(tf.cast(x, tf.bfloat16), gamma, beta, 1e-6)
        self.assertEqual(y.dtype, tf.bfloat16)
        expected = tf1_layer_norm(tf.cast(tf.cast(x, tf.bfloat16), tf.float32), gamma, beta, 1e-6)
        np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), expected.numpy(), atol=0.02)


class LayerNormalizationLayerTest(TestCase):
    def test_same_weights_and_outputs_as_keras(self):
        x = np.random.RandomState(2).normal(size=(2, 5, 6)).astype("float32")
        ours, theirs = LayerNormalization(epsilon=1e-6), keras.layers.LayerNormalization(epsilon=1e-6)
        ours.build(x.shape)
        theirs.build(x.shape)
        self.assertEqual(
            [w.path for w in ours.weights], [w.path.replace(theirs.name, ours.name) for w in theirs.weights]
        )
        for a, b in zip(ours.weights, theirs.weights):
            value = np.random.RandomState(3).normal(size=a.shape).astype("float32")
            a.assign(value)
            b.assign(value)
        np.testing.assert_allclose(ours(x).numpy(), theirs(x).numpy(), atol=2e-6)

    def test_other_configurations_run_keras_own_computation(self):
        x = np.random.RandomState(4).normal(size=(2, 5, 6)).astype("float32")
        for kwargs in ({"axis": 1}, {"center": False}, {"scale": False}, {"axis": [1, 2]}):
            ours, theirs = LayerNormalization(**kwargs), keras.layers.LayerNormalization(**kwargs)
            np.testing.assert_allclose(ours(x).numpy(), theirs(x).numpy(), atol=1e-6, err_msg=str(kwargs))
