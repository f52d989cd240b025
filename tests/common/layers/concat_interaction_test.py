import numpy as np
from keras import ops

from common.layers.concat_interaction import ConcatInteraction
from tests.test_case import TestCase, num_params


class ConcatInteractionTest(TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.RandomState(0)
        self.video = rng.normal(size=(2, 5, 4)).astype("float32")
        self.query = rng.normal(size=(2, 3, 4)).astype("float32")
        self.query_mask = np.array([[1, 1, 1], [1, 0, 0]], bool)

    def inputs(self):
        return {"video": self.video, "query": self.query, "query_mask": self.query_mask}

    def test_layer_basics(self):
        self.run_layer_test(
            ConcatInteraction,
            {"hidden_dim": 4},
            self.inputs(),
            expected_output_shape=(2, 5, 4),
            expected_num_trainable_weights=2,
            expected_num_trainable_params=8 * 4 + 4,
        )

    def test_matches_numpy(self):
        layer = ConcatInteraction(4)
        layer(**self.inputs())
        layer.projection.bias.assign(np.ones(4, "float32"))
        out = ops.convert_to_numpy(layer(**self.inputs()))
        pooled = np.stack([self.query[0].max(0), self.query[1, 0]])  # padded words excluded from the max
        concat = np.concatenate([self.video, np.repeat(pooled[:, None], 5, 1)], -1)
        expected = concat @ layer.projection.kernel.numpy() + 1.0
        np.testing.assert_allclose(out, expected, atol=1e-5)

    def test_parameter_count(self):
        layer = ConcatInteraction(128)
        layer.build((None, None, 128))
        self.assertEqual(num_params(layer.trainable_weights), 32_896)
