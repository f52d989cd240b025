import numpy as np
import tensorflow as tf
from keras import ops

from common.layers.position_embedding import PositionEmbedding
from tests.test_case import TestCase


class PositionEmbeddingTest(TestCase):
    def test_layer_basics(self):
        self.run_layer_test(
            PositionEmbedding,
            {"max_pos_len": 10},
            np.random.rand(2, 7, 4).astype("float32"),
            expected_output_shape=(2, 7, 4),
            expected_num_trainable_weights=1,
            expected_num_trainable_params=40,
        )

    def test_adds_first_rows(self):
        layer = PositionEmbedding(10)
        x = np.random.rand(2, 3, 4).astype("float32")
        out = ops.convert_to_numpy(layer(x))
        table = layer.position_embeddings.numpy()
        np.testing.assert_allclose(out, x + table[None, :3], atol=1e-7)
        self.assertEqual(layer.position_embeddings.path.split("/")[-1], "position_embeddings")

    def test_too_long_raises(self):
        layer = PositionEmbedding(4)
        with self.assertRaises(ValueError):
            layer(np.zeros((1, 5, 2), "float32"))
        function = tf.function(layer, input_signature=[tf.TensorSpec([None, None, 2])])
        with self.assertRaises((tf.errors.InvalidArgumentError, ValueError)):
            function(np.zeros((1, 5, 2), "float32"))

    def test_offsets_select_rows_per_sequence(self):
        layer = PositionEmbedding(10)
        x = np.zeros((2, 3, 4), "float32")
        out = ops.convert_to_numpy(layer(x, offsets=np.array([0, 5])))
        table = layer.position_embeddings.numpy()
        np.testing.assert_allclose(out[0], table[0:3], atol=1e-7)
        np.testing.assert_allclose(out[1], table[5:8], atol=1e-7)
