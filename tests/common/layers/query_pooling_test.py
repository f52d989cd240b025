import numpy as np
from keras import ops

from common.layers.query_pooling import QueryPooling
from tests.test_case import TestCase, num_params


class QueryPoolingTest(TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.RandomState(0)
        self.features = rng.normal(size=(2, 5, 4)).astype("float32")
        self.query = rng.normal(size=(2, 3, 4)).astype("float32")
        self.query_mask = np.array([[1, 1, 1], [1, 1, 0]], bool)

    def inputs(self):
        return {"features": self.features, "query": self.query, "query_mask": self.query_mask}

    def test_layer_basics(self):
        self.run_layer_test(
            QueryPooling,
            {"hidden_dim": 4},
            self.inputs(),
            expected_output_shape=(2, 5, 4),
            expected_num_trainable_weights=3,
            expected_num_trainable_params=4 + 8 * 4 + 4,
        )

    def test_matches_numpy(self):
        layer = QueryPooling(4)
        out, pooled = layer(**self.inputs(), return_pooled=True)
        layer.projection.bias.assign(np.arange(4, dtype="float32"))
        out = layer(**self.inputs())
        w = layer.pooling.pooling_kernel.numpy()[:, 0]
        logits = self.query @ w
        logits = np.where(self.query_mask, logits, -1e30)
        alphas = np.exp(logits - logits.max(1, keepdims=True))
        alphas /= alphas.sum(1, keepdims=True)
        self.assertEqual(alphas[1, 2], 0.0)  # padded word has no weight
        h = (alphas[:, :, None] * self.query).sum(1)
        np.testing.assert_allclose(ops.convert_to_numpy(pooled), h, atol=1e-6)
        concat = np.concatenate([self.features, np.repeat(h[:, None], 5, 1)], -1)  # [V^q; h_Q], V^q first
        expected = concat @ layer.projection.kernel.numpy() + np.arange(4)
        np.testing.assert_allclose(ops.convert_to_numpy(out), expected, atol=1e-5)

    def test_padded_words_are_ignored(self):
        layer = QueryPooling(4)
        out = ops.convert_to_numpy(layer(**self.inputs()))
        changed = self.query.copy()
        changed[1, 2] = 100.0
        out_changed = ops.convert_to_numpy(layer(self.features, changed, self.query_mask))
        np.testing.assert_allclose(out_changed, out, atol=1e-6)

    def test_parameter_count_vslnet(self):
        layer = QueryPooling(128)
        layer.build()
        self.assertEqual(num_params(layer.trainable_weights), 33_024)
