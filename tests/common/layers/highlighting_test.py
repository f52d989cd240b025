import numpy as np
from keras import ops

from common.layers.highlighting import QueryGuidedHighlighting
from tests.test_case import TestCase, num_params


class QueryGuidedHighlightingTest(TestCase):
    def setUp(self):
        super().setUp()
        self.features = np.random.RandomState(0).normal(size=(2, 5, 4)).astype("float32")
        self.video_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)

    def test_layer_basics(self):
        self.run_layer_test(
            QueryGuidedHighlighting,
            {},
            {"features": self.features, "video_mask": self.video_mask},
            expected_output_shape=((2, 5), (2, 5, 4)),
            expected_num_trainable_weights=2,
            expected_num_trainable_params=5,
        )

    def test_matches_numpy(self):
        layer = QueryGuidedHighlighting()
        layer(self.features, self.video_mask)
        layer.score.bias.assign([0.3])
        logits, highlighted = layer(self.features, self.video_mask)
        logits, highlighted = ops.convert_to_numpy(logits), ops.convert_to_numpy(highlighted)
        self.assertEqual(logits.dtype, np.float32)
        raw = self.features @ layer.score.kernel.numpy()[:, 0] + 0.3
        np.testing.assert_allclose(logits[self.video_mask], raw[self.video_mask], atol=1e-6)
        np.testing.assert_array_equal(logits[~self.video_mask], np.float32(-1e30))
        scores = 1.0 / (1.0 + np.exp(-raw)) * self.video_mask
        np.testing.assert_allclose(highlighted, self.features * scores[..., None], atol=1e-6)
        np.testing.assert_array_equal(highlighted[1, 3:], 0.0)  # sigmoid(-1e30) = 0 on padding

    def test_parameter_count(self):
        layer = QueryGuidedHighlighting()
        layer.build((None, None, 128))
        self.assertEqual(num_params(layer.trainable_weights), 129)

    def test_symbolic_call(self):
        import keras

        features = keras.Input((None, 4))
        mask = keras.Input((None,), dtype="bool")
        logits, highlighted = QueryGuidedHighlighting()(features, mask)
        self.assertEqual(logits.dtype, "float32")
        self.assertEqual(tuple(highlighted.shape), (None, None, 4))
