import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from common.layers.lstm_sequence import (
    keras_lstm_sequence,
    keras_stacked_lstm_sequences,
    lstm_sequence,
    resolve_lstm_implementation,
    run_lstm,
)
from tests.test_case import TestCase


def keras_lstm(input_dim, units, seed=0, go_backwards=False):
    """A built `keras.layers.LSTM(return_sequences=True)` with random weights (all of similar scale, bias too)."""
    layer = keras.layers.LSTM(units, return_sequences=True, go_backwards=go_backwards)
    layer.build((None, None, input_dim))
    rng = np.random.RandomState(seed)
    for weight in layer.weights:
        weight.assign(rng.uniform(-0.6, 0.6, size=weight.shape).astype("float32"))
    return layer


def weights(layer):
    return [layer.cell.kernel, layer.cell.recurrent_kernel, layer.cell.bias]


def with_weights_of(layer):
    """`lstm_sequence` with `layer`'s weights: the function under test."""
    return lambda inputs: lstm_sequence(inputs, *weights(layer))


def outputs_and_gradients(fn, layer, inputs, upstream):
    """`fn(inputs)` and the gradients of `sum(fn(inputs) * upstream)` w.r.t. inputs, kernel, recurrent kernel, bias."""
    inputs = tf.convert_to_tensor(inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = fn(inputs)
        loss = tf.reduce_sum(tf.cast(outputs, tf.float32) * upstream)
    return outputs, tape.gradient(loss, [inputs] + weights(layer))


class LSTMSequenceTest(TestCase):
    def assert_relative_close(self, actual, expected, tolerance=1e-5):
        expected = np.asarray(expected)
        scale = max(np.abs(expected).max(), 1e-6)
        np.testing.assert_allclose(np.asarray(actual) / scale, expected / scale, atol=tolerance)

    def assert_matches_keras(self, ours, layer, inputs, upstream):
        """`ours` = `(outputs, gradients)` as `outputs_and_gradients` gives them; compared with the Keras layer's."""
        outputs, grads = ours
        expected, expected_grads = outputs_and_gradients(layer, layer, inputs, upstream)
        np.testing.assert_allclose(outputs, expected, atol=1e-5)
        for name, grad, expected_grad in zip(("inputs", "kernel", "recurrent", "bias"), grads, expected_grads):
            with self.subTest(gradient=name):
                self.assert_relative_close(grad, expected_grad)

    @parameterized.named_parameters(
        ("one_step", 3, 1, 5, 4),
        ("short", 2, 7, 5, 4),
        ("batch_of_one", 1, 9, 3, 6),
        ("longer", 4, 23, 6, 8),
    )
    def test_outputs_and_gradients_match_keras_lstm(self, batch, steps, input_dim, units):
        rng = np.random.RandomState(batch * steps)
        layer = keras_lstm(input_dim, units, seed=steps)
        inputs = rng.normal(size=(batch, steps, input_dim)).astype("float32")
        upstream = rng.normal(size=(batch, steps, units)).astype("float32")
        ours = outputs_and_gradients(with_weights_of(layer), layer, inputs, upstream)
        self.assert_matches_keras(ours, layer, inputs, upstream)

    def test_tf_function_with_unknown_batch_and_time(self):
        layer = keras_lstm(5, 4)

        @tf.function(input_signature=[tf.TensorSpec([None, None, 5]), tf.TensorSpec([None, None, 4])])
        def step(inputs, upstream):
            outputs, grads = outputs_and_gradients(with_weights_of(layer), layer, inputs, upstream)
            self.assertEqual(outputs.shape.as_list(), [None, None, 4])
            self.assertEqual(grads[0].shape.as_list(), [None, None, 5])
            return outputs, grads

        rng = np.random.RandomState(0)
        for batch, steps in ((2, 6), (3, 1), (1, 11)):  # one trace serves every shape
            inputs = rng.normal(size=(batch, steps, 5)).astype("float32")
            upstream = rng.normal(size=(batch, steps, 4)).astype("float32")
            self.assert_matches_keras(step(inputs, upstream), layer, inputs, upstream)
        self.assertEqual(len(step._list_all_concrete_functions()), 1)

    def test_xla(self):
        layer = keras_lstm(5, 4)
        rng = np.random.RandomState(1)
        inputs = rng.normal(size=(2, 6, 5)).astype("float32")
        upstream = rng.normal(size=(2, 6, 4)).astype("float32")
        # The gradient is taken inside the compiled function, as in a train step with `jit_compile=True`.
        step = tf.function(
            lambda x: outputs_and_gradients(with_weights_of(layer), layer, x, upstream), jit_compile=True
        )
        self.assert_matches_keras(step(inputs), layer, inputs, upstream)

    def test_mirrored_strategy(self):
        strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
        with strategy.scope():
            layer = keras_lstm(5, 4)
        rng = np.random.RandomState(2)
        inputs = rng.normal(size=(2, 6, 5)).astype("float32")
        upstream = rng.normal(size=(2, 6, 4)).astype("float32")

        @tf.function
        def step():
            return strategy.run(lambda: outputs_and_gradients(with_weights_of(layer), layer, inputs, upstream))

        self.assert_matches_keras(step(), layer, inputs, upstream)

    @parameterized.parameters("bfloat16", "float16")
    def test_half_precision_inputs(self, dtype):
        layer = keras_lstm(5, 4)
        rng = np.random.RandomState(3)
        inputs = rng.normal(size=(2, 6, 5)).astype("float32")
        upstream = rng.normal(size=(2, 6, 4)).astype("float32")
        outputs, grads = outputs_and_gradients(
            lambda x: lstm_sequence(tf.cast(x, dtype), *weights(layer)), layer, inputs, upstream
        )
        expected, expected_grads = outputs_and_gradients(layer, layer, inputs, upstream)
        self.assertEqual(outputs.dtype, dtype)
        self.assertEqual([grad.dtype for grad in grads], [tf.float32] * 4)
        tolerance = 0.05 if dtype == "bfloat16" else 0.01
        np.testing.assert_allclose(tf.cast(outputs, tf.float32), expected, atol=tolerance)
        for grad, expected_grad in zip(grads, expected_grads):
            self.assert_relative_close(grad, expected_grad, tolerance=tolerance)


class StackedLSTMSequencesTest(TestCase):
    """The wavefront loop of two stacked LSTMs against the two Keras layers run one after the other."""

    def outputs_and_gradients(self, fn, layers, inputs, upstream):
        inputs = tf.convert_to_tensor(inputs)
        variables = [w for layer in layers for w in weights(layer)]
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = fn(inputs)
            loss = sum(tf.reduce_sum(o * u) for o, u in zip(outputs, upstream))
        return [o.numpy() for o in outputs] + [g.numpy() for g in tape.gradient(loss, [inputs] + variables)]

    @parameterized.named_parameters(
        ("one_step", 3, 1, 5, 4),
        ("two_steps", 2, 2, 5, 4),
        ("short", 2, 7, 6, 3),
        ("longer", 4, 23, 8, 8),
    )
    def test_outputs_and_gradients_equal_two_keras_layers(self, batch, steps, input_dim, units):
        rng = np.random.RandomState(steps)
        first, second = keras_lstm(input_dim, units, seed=steps), keras_lstm(units, units, seed=steps + 1)
        inputs = rng.normal(size=(batch, steps, input_dim)).astype("float32")
        upstream = [rng.normal(size=(batch, steps, units)).astype("float32") for _ in range(2)]

        def sequential(x):
            h1 = first(x)
            return h1, second(h1)

        stacked = lambda x: keras_stacked_lstm_sequences(first, second, x)
        graph = tf.function(stacked, input_signature=[tf.TensorSpec([None, None, input_dim])])
        expected = self.outputs_and_gradients(sequential, (first, second), inputs, upstream)
        names = ("h1", "h2", "inputs", "kernel_1", "recurrent_1", "bias_1", "kernel_2", "recurrent_2", "bias_2")
        for mode, fn in (("eager", stacked), ("tf.function", graph)):
            actual = self.outputs_and_gradients(fn, (first, second), inputs, upstream)
            for name, a, b in zip(names, actual, expected):
                with self.subTest(mode=mode, value=name):
                    self.assert_relative_close(a, b)

    assert_relative_close = LSTMSequenceTest.assert_relative_close


class LSTMImplementationTest(TestCase):
    def test_resolve(self):
        for dtype in ("float32", "float16", "bfloat16", tf.float32):
            with self.subTest(dtype=dtype):
                self.assertEqual(resolve_lstm_implementation("keras", dtype), "keras")
                self.assertEqual(resolve_lstm_implementation("sequence", dtype), "sequence")
        # `auto` keeps bfloat16 on `sequence`, with or without a GPU.
        self.assertEqual(resolve_lstm_implementation("auto", "bfloat16"), "sequence")
        with self.assertRaisesRegex(ValueError, "lstm_implementation"):
            resolve_lstm_implementation("cudnn", "float32")

    def test_auto_is_sequence_on_cpu(self):
        if tf.config.list_logical_devices("GPU"):
            self.skipTest("auto is keras where a GPU is visible")
        for dtype in ("float32", "float16", tf.float32):
            with self.subTest(dtype=dtype):
                self.assertEqual(resolve_lstm_implementation("auto", dtype), "sequence")

    @parameterized.parameters(False, True)
    def test_run_lstm_implementations_agree(self, go_backwards):
        layer = keras_lstm(5, 4, seed=4, go_backwards=go_backwards)
        rng = np.random.RandomState(4)
        inputs = rng.normal(size=(3, 7, 5)).astype("float32")
        upstream = rng.normal(size=(3, 7, 4)).astype("float32")
        sequence_outputs, sequence_grads = outputs_and_gradients(
            lambda x: run_lstm(layer, x, "sequence"), layer, inputs, upstream
        )
        keras_outputs, keras_grads = outputs_and_gradients(
            lambda x: run_lstm(layer, x, "keras"), layer, inputs, upstream
        )
        # Each implementation is what it names: the layer call (which applies `go_backwards` to its input), or
        # `keras_lstm_sequence` (which does not).
        layer_inputs = inputs[:, ::-1] if go_backwards else inputs
        self.assertAllEqual(keras_outputs, layer(layer_inputs))
        self.assertAllEqual(sequence_outputs, keras_lstm_sequence(layer, inputs))
        np.testing.assert_allclose(keras_outputs, sequence_outputs, atol=1e-5)
        for name, grad, expected_grad in zip(("inputs", "kernel", "recurrent", "bias"), keras_grads, sequence_grads):
            with self.subTest(gradient=name):
                np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-5)

    def test_run_lstm_rejects_unknown_implementations(self):
        with self.assertRaisesRegex(ValueError, "lstm_implementation"):
            run_lstm(keras_lstm(5, 4), np.zeros((1, 2, 5), "float32"), "cudnn")
