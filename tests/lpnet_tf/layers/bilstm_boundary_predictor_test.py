import numpy as np
from keras import ops

from lpnet_tf.layers.bilstm_boundary_predictor import BiLSTMBoundaryPredictor
from tests.test_case import TestCase


class BiLSTMBoundaryPredictorTest(TestCase):
    def setUp(self):
        super().setUp()
        self.inputs = {
            "features": np.random.RandomState(0).normal(size=(2, 5, 6)).astype("float32"),
            "video_mask": np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool),
        }

    def test_layer_basics(self):
        # BiLSTM 2·4·(6 + 3 + 1)·3 = 240, two hidden Dense 2·42, two output Dense 2·7.
        self.run_layer_test(
            BiLSTMBoundaryPredictor,
            {"hidden_dim": 6},
            self.inputs,
            expected_output_shape=((2, 5), (2, 5)),
            expected_num_trainable_params=240 + 84 + 14,
        )

    def test_lstm_implementation_reaches_the_encoder(self):
        layer = self.run_layer_test(
            BiLSTMBoundaryPredictor,
            {"hidden_dim": 6, "lstm_implementation": "keras"},
            self.inputs,
            expected_output_shape=((2, 5), (2, 5)),
        )
        self.assertEqual(layer.get_config()["lstm_implementation"], "keras")
        self.assertEqual(layer.encoder.lstm_implementation, "keras")

    def test_masked_and_padding_invariant(self):
        layer = BiLSTMBoundaryPredictor(6)
        start, _end = layer(**self.inputs)
        self.assertAllClose(ops.convert_to_numpy(start)[1, 3:], [-1e30, -1e30])

        def call(pad):
            features = np.pad(self.inputs["features"], [[0, 0], [0, pad], [0, 0]], constant_values=3.0)
            mask = np.pad(self.inputs["video_mask"], [[0, 0], [0, pad]])
            start, end = layer(features, mask)
            return [ops.convert_to_numpy(start)[1, :3], ops.convert_to_numpy(end)[1, :3]]

        self.assert_padding_invariant(call)
