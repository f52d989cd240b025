import numpy as np
import tensorflow as tf
from keras import ops

from common.layers.bilstm_encoder import BiLSTMEncoder
from tests.test_case import TestCase, num_params


class BiLSTMEncoderTest(TestCase):
    def setUp(self):
        super().setUp()
        self.x = np.random.RandomState(0).normal(size=(2, 6, 4)).astype("float32")
        self.mask = np.array([[True] * 6, [True] * 3 + [False] * 3])

    def test_layer_basics(self):
        # Two directions of 2 units: 2·(4 + 2 + 1)·8 = 112.
        self.run_layer_test(
            BiLSTMEncoder,
            {"hidden_dim": 4, "dropout": 0.1},
            {"inputs": self.x, "padding_mask": self.mask},
            expected_output_shape=(2, 6, 4),
            expected_num_trainable_weights=6,
            expected_num_trainable_params=112,
        )

    def test_zero_past_length_and_padding_invariant(self):
        layer = BiLSTMEncoder(4)
        out = ops.convert_to_numpy(layer(self.x, padding_mask=self.mask))
        np.testing.assert_array_equal(out[1, 3:], 0.0)
        # The backward direction starts at the last valid step: padding values never reach valid outputs.
        changed = self.x.copy()
        changed[1, 3:] = 50.0
        out_changed = ops.convert_to_numpy(layer(changed, padding_mask=self.mask))
        np.testing.assert_allclose(out_changed[1, :3], out[1, :3], atol=1e-6)
        alone = ops.convert_to_numpy(layer(self.x[1:, :3], padding_mask=self.mask[1:, :3]))
        np.testing.assert_allclose(alone[0], out[1, :3], atol=1e-5)

    def test_matches_the_masked_keras_lstms(self):
        layer = BiLSTMEncoder(4)
        layer.build(self.x.shape)
        rng = np.random.RandomState(1)
        for weight in layer.weights:
            weight.assign(rng.uniform(-0.6, 0.6, size=weight.shape).astype("float32"))
        keep = tf.cast(self.mask[..., None], tf.float32)

        def keras_reference(x):
            forward = layer.forward_rnn(x, mask=self.mask)
            backward = tf.reverse(layer.backward_rnn(x, mask=self.mask), axis=[1])
            return tf.concat([forward, backward], axis=-1) * keep

        upstream = rng.normal(size=(2, 6, 4)).astype("float32")
        results = []
        for fn in (lambda x: layer(x, padding_mask=self.mask), keras_reference):
            x = tf.constant(self.x)
            with tf.GradientTape() as tape:
                tape.watch(x)
                outputs = fn(x)
                loss = tf.reduce_sum(outputs * upstream)
            results.append([outputs] + tape.gradient(loss, [x] + layer.trainable_weights))
        for ours, expected in zip(*results):
            np.testing.assert_allclose(ours, expected, atol=1e-5)

    def test_backward_direction_reads_the_future(self):
        layer = BiLSTMEncoder(4)
        out = ops.convert_to_numpy(layer(self.x))
        changed = self.x.copy()
        changed[0, 5] += 1.0
        delta = np.abs(ops.convert_to_numpy(layer(changed)) - out)[0, 0]
        self.assertEqual(delta[:2].max(), 0.0)  # forward half at t = 0 ignores t = 5
        self.assertGreater(delta[2:].max(), 0.0)  # backward half sees it

    def test_parameter_count(self):
        layer = BiLSTMEncoder(128)
        layer.build((None, None, 128))
        self.assertEqual(num_params(layer.trainable_weights), 98_816)

    def test_odd_hidden_dim_rejected(self):
        with self.assertRaisesRegex(ValueError, "even"):
            BiLSTMEncoder(5)

    def test_dropout_only_in_training(self):
        layer = BiLSTMEncoder(4, dropout=0.5)
        self.assert_dropout_only_in_training(
            layer, lambda l, training: l(self.x, padding_mask=self.mask, training=training)
        )


class BiLSTMEncoderLSTMImplementationTest(TestCase):
    """`lstm_implementation`: the Keras LSTM layers themselves and `lstm_sequence` compute the same encoder."""

    def setUp(self):
        super().setUp()
        rng = np.random.RandomState(5)
        # Rows of length 7, 4 and 1, right-padded: the backward direction starts at a different step in each.
        self.inputs = {
            "inputs": rng.normal(size=(3, 7, 5)).astype("float32"),
            "padding_mask": np.arange(7)[None] < np.array([[7], [4], [1]]),
        }

    def computation(self, implementation):
        """`(call, trainable weights)` of an encoder with fixed random weights, computed by `implementation`."""
        layer = BiLSTMEncoder(6, lstm_implementation=implementation)
        layer(**self.inputs)
        rng = np.random.RandomState(6)
        layer.set_weights([rng.uniform(-0.6, 0.6, size=w.shape).astype("float32") for w in layer.weights])
        return (lambda inputs: layer(**inputs)), layer.trainable_weights

    def test_keras_and_sequence_give_the_same_outputs_and_gradients(self):
        self.assert_same_outputs_and_gradients(self.computation("sequence"), self.computation("keras"), self.inputs)

    def test_keras_basics(self):
        layer = self.run_layer_test(
            BiLSTMEncoder,
            {"hidden_dim": 6, "lstm_implementation": "keras"},
            self.inputs,
            expected_output_shape=(3, 7, 6),
        )
        self.assertEqual(layer.get_config()["lstm_implementation"], "keras")
        self.assertEqual(BiLSTMEncoder(6).get_config()["lstm_implementation"], "auto")

    def test_invalid_lstm_implementation(self):
        with self.assertRaisesRegex(ValueError, "lstm_implementation"):
            BiLSTMEncoder(6, lstm_implementation="cudnn")
