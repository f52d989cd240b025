import numpy as np
import tensorflow as tf
from keras import ops

from common.layers.word_embedding import WordEmbedding
from tests.test_case import TestCase


class WordEmbeddingTest(TestCase):
    def setUp(self):
        super().setUp()
        self.vectors = np.random.RandomState(0).uniform(-1, 1, (5, 6)).astype("float32")
        self.ids = np.array([[2, 1, 6, 0], [3, 4, 0, 0]], "int32")

    def test_layer_basics(self):
        self.run_layer_test(
            WordEmbedding,
            {"vocabulary_size": 7, "word_dim": 6, "dropout": 0.1},
            self.ids,
            expected_output_shape=(2, 4, 6),
            expected_num_trainable_weights=1,
            expected_num_non_trainable_weights=1,
            expected_num_trainable_params=6,
        )

    def test_lookup_table_layout(self):
        layer = WordEmbedding(7, word_dim=6, word_vectors=self.vectors)
        out = ops.convert_to_numpy(layer(self.ids))
        unk = layer.unk.numpy()[0]
        np.testing.assert_array_equal(out[0, 0], self.vectors[0])  # id 2 -> word_vectors[0]
        np.testing.assert_array_equal(out[0, 1], unk)  # id 1 -> trainable UNK row
        np.testing.assert_array_equal(out[0, 2], self.vectors[4])
        np.testing.assert_array_equal(out[0, 3], np.zeros(6))  # PAD -> constant zero row
        np.testing.assert_array_equal(out[1, 2:], np.zeros((2, 6)))
        self.assertEqual([w.path.split("/")[-1] for w in layer.trainable_weights], ["unk"])
        self.assertEqual([w.path.split("/")[-1] for w in layer.non_trainable_weights], ["word_table"])
        # UNK is Glorot-uniform over [1, 6]: limit sqrt(6 / 7).
        self.assertLessEqual(np.abs(unk).max(), np.sqrt(6.0 / 7.0))

    def test_gradient_reaches_only_unk(self):
        layer = WordEmbedding(7, word_dim=6, word_vectors=self.vectors)
        layer.build(None)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(self.ids))
        grads = tape.gradient(loss, layer.trainable_weights)
        self.assertLen(grads, 1)
        np.testing.assert_allclose(tf.convert_to_tensor(grads[0]).numpy(), np.ones((1, 6)))  # one UNK occurrence

    def test_config_excludes_vectors(self):
        layer = WordEmbedding(7, word_dim=6, word_vectors=self.vectors)
        self.assertNotIn("word_vectors", layer.get_config())

    def test_rejects_bad_vectors(self):
        with self.assertRaisesRegex(ValueError, "shape"):
            WordEmbedding(7, word_dim=6, word_vectors=np.zeros((4, 6)))

    def test_dropout_only_in_training(self):
        layer = WordEmbedding(7, word_dim=6, dropout=0.5, word_vectors=self.vectors)
        self.assert_dropout_only_in_training(layer, lambda l, training: l(self.ids, training=training))
