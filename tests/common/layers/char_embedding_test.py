import numpy as np
from keras import ops

from common.layers.char_embedding import CharEmbedding
from tests.test_case import TestCase


def numpy_char_cnn(layer, char_ids):
    """Reference: lookup (PAD row 0 = zeros), per kernel VALID conv over chars + bias, ReLU, max over chars."""
    table = np.concatenate([np.zeros((1, layer.char_dim)), layer.char_table.numpy()], 0)
    emb = table[char_ids]  # (B, m, W, c)
    outputs = []
    for conv, k in zip(layer.convs, layer.kernel_sizes):
        kernel = conv.kernel.numpy()[0]  # (k, c, f)
        bias = conv.bias.numpy()
        width = emb.shape[2]
        windows = np.stack([np.einsum("bmkc,kcf->bmf", emb[:, :, t : t + k], kernel) for t in range(width - k + 1)], 2)
        outputs.append(np.maximum(windows + bias, 0).max(axis=2))
    return np.concatenate(outputs, -1)


class CharEmbeddingTest(TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.RandomState(0)
        self.ids = rng.randint(0, 9, size=(2, 3, 6)).astype("int32")

    def test_layer_basics(self):
        # c = 5: conv params 300·c + 100 = 1,600; char table (9 - 1)·5 = 40.
        self.run_layer_test(
            CharEmbedding,
            {"num_chars": 9, "char_dim": 5, "dropout": 0.1},
            self.ids,
            expected_output_shape=(2, 3, 100),
            expected_num_trainable_weights=9,
            expected_num_trainable_params=300 * 5 + 100 + 8 * 5,
        )

    def test_matches_numpy_reference(self):
        layer = CharEmbedding(9, char_dim=5)
        layer(self.ids)  # build
        # Give the biases non-zero values so that their placement is checked too.
        for conv in layer.convs:
            conv.bias.assign(np.random.RandomState(1).normal(size=conv.bias.shape).astype("float32"))
        out = ops.convert_to_numpy(layer(self.ids))
        np.testing.assert_allclose(out, numpy_char_cnn(layer, self.ids), atol=1e-5)
        self.assertEqual(tuple(layer.convs[3].kernel.shape), (1, 4, 5, 40))  # TF1 filter_3 layout [1, k, c, f]

    def test_short_words_are_padded_not_nan(self):
        layer = CharEmbedding(9, char_dim=5)
        short = self.ids[:, :, :2]
        out = ops.convert_to_numpy(layer(short))
        self.assertTrue(np.isfinite(out).all())
        padded = np.pad(short, [(0, 0), (0, 0), (0, 2)])
        np.testing.assert_allclose(out, ops.convert_to_numpy(layer(padded)), atol=1e-6)

    def test_glorot_fans_match_tf1(self):
        layer = CharEmbedding(9, char_dim=50)
        layer(self.ids)
        kernel = layer.convs[3].kernel.numpy()  # [1, 4, 50, 40]: fan_in 200, fan_out 160
        self.assertLessEqual(np.abs(kernel).max(), np.sqrt(6.0 / (4 * 50 + 4 * 40)))
        self.assertGreater(np.abs(kernel).max(), 0.9 * np.sqrt(6.0 / (4 * 50 + 4 * 40)))

    def test_parameter_count_char_dim_100(self):
        layer = CharEmbedding(9, char_dim=100)
        layer.build((None, None, None))
        conv_params = sum(int(np.prod(w.shape)) for c in layer.convs for w in c.trainable_weights)
        self.assertEqual(conv_params, 30_100)

    def test_dropout_only_in_training(self):
        layer = CharEmbedding(9, char_dim=5, dropout=0.5)
        self.assert_dropout_only_in_training(layer, lambda l, training: l(self.ids, training=training))
