import numpy as np
import tensorflow as tf
from keras import ops

from common.layers.span_predictor import ConditionedSpanPredictor, build_tf1_lstm
from tests.test_case import TestCase, num_params


def numpy_tf1_lstm(inputs, kernel, bias, lengths, forget_bias=1.0):
    """TF1 `LSTMCell` + `dynamic_rnn(sequence_length=...)`: joint kernel [in + u, 4u], gates i, j, f, o."""
    sigmoid = lambda x: 1.0 / (1.0 + np.exp(-x))
    batch, steps, _ = inputs.shape
    units = kernel.shape[1] // 4
    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    outputs = np.zeros((batch, steps, units))
    for t in range(steps):
        gates = np.concatenate([inputs[:, t], h], -1) @ kernel + bias
        i, j, f, o = np.split(gates, 4, axis=-1)
        new_c = sigmoid(f + forget_bias) * c + sigmoid(i) * np.tanh(j)
        new_h = sigmoid(o) * np.tanh(new_c)
        valid = (t < lengths)[:, None]
        c, h = np.where(valid, new_c, c), np.where(valid, new_h, h)
        outputs[:, t] = np.where(valid, new_h, 0.0)
    return outputs


def tf1_to_keras_lstm(kernel, bias, input_dim):
    """The documented mapping (`build_tf1_lstm` docstring)."""
    reorder = lambda x: np.concatenate([np.split(x, 4, -1)[k] for k in (0, 2, 1, 3)], -1)
    keras_bias = reorder(bias).copy()
    units = bias.shape[0] // 4
    keras_bias[units : 2 * units] += 1.0
    return reorder(kernel[:input_dim]), reorder(kernel[input_dim:]), keras_bias


class ConditionedSpanPredictorTest(TestCase):
    def setUp(self):
        super().setUp()
        self.features = np.random.RandomState(0).normal(size=(2, 6, 4)).astype("float32")
        self.video_mask = np.array([[True] * 6, [True] * 4 + [False] * 2])

    def inputs(self):
        return {"features": self.features, "video_mask": self.video_mask}

    def test_rnn_basics(self):
        # 2 LSTMs 2·(4 + 4 + 1)·16 = 288; heads 2·(8·4 + 4) + 2·(4 + 1) = 82.
        self.run_layer_test(
            ConditionedSpanPredictor,
            {"hidden_dim": 4},
            self.inputs(),
            expected_output_shape=((2, 6), (2, 6)),
            expected_num_trainable_weights=14,
            expected_num_trainable_params=288 + 82,
        )

    def test_transformer_basics(self):
        self.run_layer_test(
            ConditionedSpanPredictor,
            {"hidden_dim": 4, "predictor": "transformer", "num_heads": 2, "max_pos_len": 8, "dropout": 0.1},
            self.inputs(),
            expected_output_shape=((2, 6), (2, 6)),
            expected_num_trainable_weights=33 + 4 + 8,
        )

    def test_rnn_outputs_zero_past_length_and_padding_invariant(self):
        layer = ConditionedSpanPredictor(4)
        start, end, h_s, h_e = layer(**self.inputs(), return_features=True)
        h_s, h_e = ops.convert_to_numpy(h_s), ops.convert_to_numpy(h_e)
        np.testing.assert_array_equal(h_s[1, 4:], 0.0)
        np.testing.assert_array_equal(h_e[1, 4:], 0.0)
        self.assertGreater(np.abs(h_s[1, :4]).min(), 0.0)
        np.testing.assert_array_equal(ops.convert_to_numpy(start)[1, 4:], np.float32(-1e30))
        np.testing.assert_array_equal(ops.convert_to_numpy(end)[1, 4:], np.float32(-1e30))
        # Valid outputs do not depend on the padding (causal LSTMs, right padding).
        alone = layer(self.features[1:, :4], self.video_mask[1:, :4])
        np.testing.assert_allclose(ops.convert_to_numpy(alone[0]), ops.convert_to_numpy(start)[1:, :4], atol=1e-5)
        np.testing.assert_allclose(ops.convert_to_numpy(alone[1]), ops.convert_to_numpy(end)[1:, :4], atol=1e-5)

    def test_rnn_padding_invariant(self):
        layer = ConditionedSpanPredictor(4)
        noise = np.random.RandomState(4).normal(size=(1, 5, 4)).astype("float32")

        def call(pad):
            x = np.concatenate([self.features[:1, :4], noise[:, :pad]], 1)
            start, end = layer(x, np.arange(4 + pad)[None, :] < 4)
            return start[:, :4], end[:, :4]

        self.assert_padding_invariant(call, pads=(1, 5))

    def test_lstm_matches_tf1_cell_with_documented_mapping(self):
        rng = np.random.RandomState(3)
        input_dim, units = 4, 3
        kernel = rng.normal(scale=0.5, size=(input_dim + units, 4 * units))
        bias = rng.normal(scale=0.5, size=(4 * units,))
        lstm = build_tf1_lstm(units, input_dim)
        lstm.build((None, None, input_dim))
        k, r, b = tf1_to_keras_lstm(kernel, bias, input_dim)
        lstm.cell.kernel.assign(k.astype("float32"))
        lstm.cell.recurrent_kernel.assign(r.astype("float32"))
        lstm.cell.bias.assign(b.astype("float32"))
        inputs = rng.normal(size=(2, 5, input_dim)).astype("float32")
        lengths = np.array([5, 3])
        out = ops.convert_to_numpy(lstm(inputs)) * (np.arange(5)[None, :] < lengths[:, None])[..., None]
        np.testing.assert_allclose(out, numpy_tf1_lstm(inputs, kernel, bias, lengths), atol=1e-5)

    def test_lstm_initialization_is_tf1(self):
        layer = ConditionedSpanPredictor(128)
        layer.build((None, None, 128))
        limit = np.sqrt(6.0 / (128 + 128 + 512))
        for rnn in (layer.start_rnn, layer.end_rnn):
            for kernel in (rnn.cell.kernel, rnn.cell.recurrent_kernel):
                values = np.abs(kernel.numpy())
                self.assertLessEqual(values.max(), limit)
                self.assertGreater(values.max(), 0.95 * limit)
            bias = rnn.cell.bias.numpy()
            np.testing.assert_array_equal(bias[128:256], 1.0)  # forget block (Keras order i, f, c, o)
            np.testing.assert_array_equal(np.delete(bias, np.s_[128:256]), 0.0)

    def test_parameter_counts_vslnet(self):
        rnn = ConditionedSpanPredictor(128)
        rnn.build((None, None, 128))
        self.assertEqual(num_params(rnn.start_rnn.trainable_weights + rnn.end_rnn.trainable_weights), 263_168)
        heads = [rnn.start_hidden, rnn.end_hidden]
        self.assertEqual(num_params([w for h in heads for w in h.trainable_weights]), 65_792)
        outs = [rnn.start_dense, rnn.end_dense]
        self.assertEqual(num_params([w for h in outs for w in h.trainable_weights]), 258)
        transformer = ConditionedSpanPredictor(128, predictor="transformer", max_pos_len=128)
        transformer.build((None, None, 128))
        self.assertEqual(num_params(transformer.trainable_weights), 153_600 + 512 + 65_792 + 258)

    def test_transformer_shares_one_encoder(self):
        layer = ConditionedSpanPredictor(4, predictor="transformer", num_heads=2, max_pos_len=8)
        layer(**self.inputs())
        encoder_paths = {w.path.split("/")[1] for w in layer.weights}
        self.assertEqual(
            encoder_paths,
            {
                "feature_encoder",
                "start_layer_norm",
                "end_layer_norm",
                "start_hidden",
                "end_hidden",
                "start_dense",
                "end_dense",
            },
        )
        start, end, h_s, h_e = layer(**self.inputs(), return_features=True)
        raw_start = layer.encoder(self.features, padding_mask=self.video_mask)
        raw_end = layer.encoder(raw_start, padding_mask=self.video_mask)  # end reads the un-normalized start
        np.testing.assert_allclose(
            ops.convert_to_numpy(h_e), ops.convert_to_numpy(layer.end_layer_norm(raw_end)), atol=1e-5
        )

    def test_invalid_predictor(self):
        with self.assertRaisesRegex(ValueError, "predictor"):
            ConditionedSpanPredictor(4, predictor="bilstm")

    def test_transformer_dropout_only_in_training(self):
        layer = ConditionedSpanPredictor(4, predictor="transformer", num_heads=2, max_pos_len=8, dropout=0.5)
        self.assert_dropout_only_in_training(layer, lambda l, training: l(**self.inputs(), training=training))


class ConditionedSpanPredictorPaperVariantsTest(TestCase):
    """The paper's single linear head (fidelity VSLNet §6 #7) and inputs wider than d (§6 #5)."""

    def setUp(self):
        super().setUp()
        self.features = np.random.RandomState(1).normal(size=(2, 6, 8)).astype("float32")
        self.video_mask = np.array([[True] * 6, [True] * 4 + [False] * 2])

    def test_default_head_is_the_code_mlp(self):
        layer = ConditionedSpanPredictor(4)
        self.assertEqual(layer.get_config()["head"], "mlp")
        self.assertTrue(hasattr(layer, "start_hidden") and hasattr(layer, "end_hidden"))

    def test_linear_head_basics(self):
        # Input 2d = 8 wide: LSTM_s (8 + 4 + 1)·16 = 208, LSTM_e (4 + 4 + 1)·16 = 144; heads 2·((4 + 8) + 1) = 26.
        layer = self.run_layer_test(
            ConditionedSpanPredictor,
            {"hidden_dim": 4, "head": "linear"},
            {"features": self.features, "video_mask": self.video_mask},
            expected_output_shape=((2, 6), (2, 6)),
            expected_num_trainable_weights=10,
            expected_num_trainable_params=208 + 144 + 26,
        )
        self.assertFalse(hasattr(layer, "start_hidden"))

    def test_linear_head_is_one_dense_on_the_concat(self):
        layer = ConditionedSpanPredictor(4, head="linear")
        start, end, h_s, h_e = layer(self.features, self.video_mask, return_features=True)
        for logits, h, dense in ((start, h_s, layer.start_dense), (end, h_e, layer.end_dense)):
            kernel, bias = (w.numpy() for w in (dense.kernel, dense.bias))
            self.assertEqual(kernel.shape, (12, 1))
            expected = (np.concatenate([ops.convert_to_numpy(h), self.features], -1) @ kernel)[..., 0] + bias[0]
            expected = np.where(self.video_mask, expected, np.float32(-1e30))
            np.testing.assert_allclose(ops.convert_to_numpy(logits), expected, rtol=1e-5, atol=1e-5)

    def test_mlp_head_on_wider_inputs(self):
        # Heads 2·(12·4 + 4) + 2·(4 + 1) = 114 on top of the same LSTMs.
        layer = ConditionedSpanPredictor(4)
        layer(self.features, self.video_mask)
        self.assertEqual(num_params(layer.trainable_weights), 208 + 144 + 114)
        self.assertEqual(tuple(layer.start_rnn.cell.kernel.shape), (8, 16))

    def test_linear_head_parameter_count_vslnet(self):
        layer = ConditionedSpanPredictor(128, head="linear")
        layer.build((None, None, 128))
        self.assertEqual(num_params(layer.trainable_weights), 263_168 + 2 * 257)

    def test_invalid_head(self):
        with self.assertRaisesRegex(ValueError, "head"):
            ConditionedSpanPredictor(4, head="conv")


class ConditionedSpanPredictorLSTMImplementationTest(TestCase):
    """`lstm_implementation`: the Keras LSTM layers themselves and `lstm_sequence` compute the same predictor."""

    def setUp(self):
        super().setUp()
        rng = np.random.RandomState(5)
        # Inputs wider than d (the LSTM_s kernel is then not square); rows of length 7, 5 and 2, right-padded.
        self.inputs = {
            "features": rng.normal(size=(3, 7, 6)).astype("float32"),
            "video_mask": np.arange(7)[None] < np.array([[7], [5], [2]]),
        }

    def computation(self, implementation):
        """`(call, trainable weights)` of a predictor with fixed random weights, computed by `implementation`."""
        layer = ConditionedSpanPredictor(4, lstm_implementation=implementation)
        layer(**self.inputs)
        # One scale for every weight, so that the bias gradients are not those of a near-zero bias.
        rng = np.random.RandomState(6)
        layer.set_weights([rng.uniform(-0.6, 0.6, size=w.shape).astype("float32") for w in layer.weights])
        return (lambda inputs: layer(**inputs, return_features=True)), layer.trainable_weights

    def test_keras_and_sequence_give_the_same_outputs_and_gradients(self):
        self.assert_same_outputs_and_gradients(self.computation("sequence"), self.computation("keras"), self.inputs)

    def test_auto_is_sequence_on_cpu(self):
        if tf.config.list_logical_devices("GPU"):
            self.skipTest("auto is keras where a GPU is visible")
        self.assert_same_outputs_and_gradients(
            self.computation("sequence"), self.computation("auto"), self.inputs, atol=0, rtol=0
        )

    def test_keras_basics(self):
        layer = self.run_layer_test(
            ConditionedSpanPredictor,
            {"hidden_dim": 4, "lstm_implementation": "keras"},
            self.inputs,
            expected_output_shape=((3, 7), (3, 7)),
        )
        self.assertEqual(layer.get_config()["lstm_implementation"], "keras")
        self.assertEqual(ConditionedSpanPredictor(4).get_config()["lstm_implementation"], "auto")

    def test_invalid_lstm_implementation(self):
        with self.assertRaisesRegex(ValueError, "lstm_implementation"):
            ConditionedSpanPredictor(4, lstm_implementation="cudnn")
