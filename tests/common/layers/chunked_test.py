import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from common.layers import chunked
from common.layers.chunked import map_slices, rows_per_slice
from tests.test_case import TestCase


def chain(x, positions, weight, bias, first_row):
    """A row-wise chain with shared weights and a dependence on the row's position."""
    rows = tf.cast(first_row + tf.range(tf.shape(x)[0]), x.dtype)[:, None, None]
    return tf.nn.softmax(tf.tanh(tf.matmul(x, weight) + bias) * positions + rows)


class MapSlicesTest(TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.RandomState(0)
        self.x = tf.constant(rng.normal(size=(7, 3, 4)).astype("float32"))
        self.positions = tf.constant(rng.normal(size=(7, 3, 5)).astype("float32"))
        self.weight = tf.constant(rng.normal(size=(4, 5)).astype("float32"))
        self.bias = tf.constant(rng.normal(size=(5,)).astype("float32"))
        self.upstream = tf.constant(rng.normal(size=(7, 3, 5)).astype("float32"))

    def values_and_gradients(self, fn):
        tensors = [self.x, self.positions, self.weight, self.bias]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            out = fn(*tensors)
            loss = tf.reduce_sum(out * self.upstream)
        return [out] + tape.gradient(loss, tensors)

    @parameterized.parameters(1, 2, 3, 7, 10)  # one row per slice, uneven last slice, one slice, more than the rows
    def test_equals_the_whole_computation_and_its_gradient(self, slice_rows):
        expected = self.values_and_gradients(lambda x, p, w, b: chain(x, p, w, b, 0))

        def sliced(x, positions, weight, bias):
            return map_slices(chain, [x, positions], [weight, bias], slice_rows)

        for mode, fn in (("eager", sliced), ("tf.function", tf.function(sliced))):
            actual = self.values_and_gradients(fn)
            for name, a, b in zip(("outputs", "d_x", "d_positions", "d_weight", "d_bias"), actual, expected):
                np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, err_msg=f"{mode}: {name}")

    def test_rows_per_slice_follows_the_cache_budget(self):
        if tf.config.list_logical_devices("GPU"):
            self.skipTest("a GPU takes every row in one slice")
        self.assertEqual(int(rows_per_slice(128, chunked.CPU_SLICE_VALUES // 4)), 4)
        self.assertEqual(int(rows_per_slice(128, 10 * chunked.CPU_SLICE_VALUES)), 1)
