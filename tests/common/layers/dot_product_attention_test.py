import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from common.layers.dot_product_attention import dot_product_attention
from common.layers.dropout import keep_mask
from tests.test_case import TestCase

SEED = tf.constant([7, 9], tf.int64)


def reference(query, key, value, key_bias, rate):
    """The original's ops, differentiated by TensorFlow: softmax, dropout of the probabilities (same mask), ·V."""
    probs = tf.nn.softmax(tf.matmul(query, key, transpose_b=True) + key_bias)
    kept = probs
    if rate:
        kept = tf.where(keep_mask(tf.shape(probs), rate, SEED), probs / (1.0 - rate), 0.0)
    return tf.matmul(kept, value), probs


class DotProductAttentionTest(TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.RandomState(0)
        self.qkv = [tf.constant(rng.normal(size=(2, 3, 5, 4)).astype("float32")) for _ in range(3)]
        valid = np.arange(5)[None, :] < np.array([[5], [3]])
        self.key_bias = tf.constant(np.where(valid, 0.0, -1e30).astype("float32").reshape(2, 1, 1, 5))

    @parameterized.product(rate=(0.0, 0.3), with_probabilities=(False, True))
    def test_outputs_and_gradients_equal_the_differentiated_reference(self, rate, with_probabilities):
        def loss(outputs, probs):
            # The probabilities enter the loss too when they are returned: their gradient must flow.
            extra = tf.reduce_sum(probs * tf.cos(probs)) if with_probabilities else 0.0
            return tf.reduce_sum(tf.sin(outputs)) + extra

        results = []
        for fn in ("ours", "reference"):
            with tf.GradientTape() as tape:
                tape.watch(self.qkv)
                if fn == "ours":
                    out = dot_product_attention(
                        *self.qkv, self.key_bias, rate, SEED, return_probabilities=with_probabilities
                    )
                    outputs, probs = out if with_probabilities else (out, None)
                else:
                    outputs, probs = reference(*self.qkv, self.key_bias, rate)
                value = loss(outputs, probs)
            results.append([outputs] + tape.gradient(value, self.qkv))
        for name, a, b in zip(("outputs", "dq", "dk", "dv"), *results):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-6, err_msg=name)

    def test_probabilities_sum_to_one_and_ignore_masked_keys(self):
        _, probs = dot_product_attention(*self.qkv, self.key_bias, return_probabilities=True)
        np.testing.assert_allclose(probs.numpy().sum(-1), 1.0, atol=1e-6)
        np.testing.assert_array_equal(probs.numpy()[1, :, :, 3:], 0.0)

    def test_bfloat16_inputs(self):
        query, key, value = (tf.cast(t, tf.bfloat16) for t in self.qkv)
        with tf.GradientTape() as tape:
            tape.watch([query, key, value])
            outputs = dot_product_attention(query, key, value, self.key_bias, 0.2, SEED)
            loss = tf.reduce_sum(tf.cast(outputs, tf.float32))
        self.assertEqual(outputs.dtype, tf.bfloat16)
        self.assertTrue(all(g.dtype == tf.bfloat16 for g in tape.gradient(loss, [query, key, value])))
