"""Tests of `common/checkpoint_conversion/tf1_reader.py`: each layer kind's TF1 → Keras conversion computes what the
TF1 layer computed (small hand-made weights), and the import refuses every mismatch, listing the names."""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from common.checkpoint_conversion import tf1_reader
from common.checkpoint_conversion.tf1_reader import Entry, TF1ImportError
from common.layers.char_embedding import CharEmbedding
from common.layers.conv_block import ConvBlock
from common.layers.span_predictor import build_tf1_lstm
from common.layers.word_embedding import WordEmbedding
from tests.test_case import TestCase


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_tf1_lstm(inputs, kernel, bias, forget_bias=1.0):
    """`tf.nn.rnn_cell.LSTMCell` (no peepholes, no projection) over time, in float64.

    gates = [x; h]·W + b split into i, j, f, o; c = σ(f + forget_bias)·c + σ(i)·tanh(j); h = σ(o)·tanh(c).
    """
    batch, steps, _ = inputs.shape
    units = bias.shape[0] // 4
    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    outputs = []
    for t in range(steps):
        gates = np.concatenate([inputs[:, t], h], axis=-1) @ kernel + bias
        i, j, f, o = np.split(gates, 4, axis=-1)
        c = _sigmoid(f + forget_bias) * c + _sigmoid(i) * np.tanh(j)
        h = _sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def numpy_layer_norm(x, scale, bias, epsilon=1e-6):
    """The original `layer_norm`: biased variance over the last axis."""
    mean = x.mean(-1, keepdims=True)
    variance = np.square(x - mean).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * scale + bias


def small_model():
    """A functional model with a Dense `proj` (3 → 4) and a LayerNormalization `norm`."""
    inputs = keras.Input((None, 3))
    x = keras.layers.Dense(4, name="proj")(inputs)
    outputs = keras.layers.LayerNormalization(name="norm")(x)
    return keras.Model(inputs, outputs, name="small")


SMALL_TABLE = [*tf1_reader.conv1d_entries("tf1/proj", "proj"), *tf1_reader.layer_norm_entries("tf1/norm", "norm")]


def small_arrays(rng):
    return {
        "tf1/proj/kernel": rng.normal(size=(1, 3, 4)).astype("float32"),
        "tf1/proj/bias": rng.normal(size=(1, 1, 4)).astype("float32"),
        "tf1/norm/layer_norm_scale": rng.normal(size=(4,)).astype("float32"),
        "tf1/norm/layer_norm_bias": rng.normal(size=(4,)).astype("float32"),
    }


def temp_dir(test):
    """A fresh folder removed after `test` (absl's `create_tempdir` needs parsed flags, which pytest lacks)."""
    folder = tempfile.TemporaryDirectory()
    test.addCleanup(folder.cleanup)
    return folder.name


class ConversionTest(TestCase):
    def test_lstm_cell_matches_numpy_tf1_lstm_cell(self):
        rng = np.random.default_rng(0)
        input_dim, units = 5, 3
        kernel = rng.normal(scale=0.5, size=(input_dim + units, 4 * units)).astype("float32")
        bias = rng.normal(scale=0.5, size=(4 * units,)).astype("float32")
        inputs = rng.normal(size=(2, 6, input_dim)).astype("float32")
        lstm = build_tf1_lstm(units, input_dim, name="lstm")
        lstm.build((None, None, input_dim))
        cell = lstm.cell
        keras_kernel, keras_recurrent = tf1_reader.LSTM_KERNEL.to_keras(
            kernel, [cell.kernel.shape, cell.recurrent_kernel.shape]
        )
        (keras_bias,) = tf1_reader.LSTM_BIAS.to_keras(bias, [cell.bias.shape])
        cell.kernel.assign(keras_kernel)
        cell.recurrent_kernel.assign(keras_recurrent)
        cell.bias.assign(keras_bias)
        expected = numpy_tf1_lstm(inputs.astype("float64"), kernel.astype("float64"), bias.astype("float64"))
        self.assertAllClose(lstm(inputs), expected, atol=1e-5, rtol=1e-5)
        # The forget bias of 1.0 is what makes them agree: without it they differ.
        self.assertGreater(np.abs(numpy_tf1_lstm(inputs, kernel, bias, forget_bias=0.0) - expected).max(), 1e-2)
        # Inverses.
        self.assertAllEqual(tf1_reader.LSTM_KERNEL.to_tf1([keras_kernel, keras_recurrent]), kernel)
        self.assertAllClose(tf1_reader.LSTM_BIAS.to_tf1([keras_bias]), bias, atol=1e-7)
        self.assertEqual(tf1_reader.LSTM_KERNEL.tf1_shape([(5, 12), (3, 12)]), (8, 12))

    def test_gate_order(self):
        units = 2
        tf1_bias = np.repeat(np.arange(4, dtype="float32"), units)  # blocks i=0, j=1, f=2, o=3
        (keras_bias,) = tf1_reader.LSTM_BIAS.to_keras(tf1_bias, [(4 * units,)])
        # Keras order i, f, c(=j), o; the forget block gains 1.0.
        self.assertAllEqual(keras_bias, [0, 0, 3, 3, 1, 1, 3, 3])

    def test_conv_block_layer_matches_tf_separable_conv(self):
        rng = np.random.default_rng(1)
        d, k = 6, 7
        arrays = {
            "conv_block/layer_norm_0/layer_norm_scale": rng.normal(size=(d,)).astype("float32"),
            "conv_block/layer_norm_0/layer_norm_bias": rng.normal(size=(d,)).astype("float32"),
            "conv_block/depthwise_conv_layers_0/depthwise_filter": rng.normal(size=(k, 1, d, 1)).astype("float32"),
            "conv_block/depthwise_conv_layers_0/pointwise_filter": rng.normal(size=(1, 1, d, d)).astype("float32"),
            "conv_block/depthwise_conv_layers_0/bias": rng.normal(size=(d,)).astype("float32"),
        }
        prefix = temp_dir(self) + "/model.ckpt"
        tf1_reader.write_tf1_checkpoint(prefix, arrays)
        block = ConvBlock(d, kernel_size=k, num_layers=1, name="conv_block")
        block.build((None, None, d))
        table = tf1_reader.conv_block_entries("conv_block", "", num_layers=1)
        report = tf1_reader.load_tf1_weights(prefix, table, tf1_reader.keras_weights(block))
        self.assertLen(report.assigned, 5)

        x = rng.normal(size=(2, 9, d)).astype("float32")
        normed = numpy_layer_norm(
            x, arrays["conv_block/layer_norm_0/layer_norm_scale"], arrays["conv_block/layer_norm_0/layer_norm_bias"]
        ).astype("float32")
        conv = tf.nn.separable_conv2d(
            normed[:, :, None, :],
            arrays["conv_block/depthwise_conv_layers_0/depthwise_filter"],
            arrays["conv_block/depthwise_conv_layers_0/pointwise_filter"],
            strides=[1, 1, 1, 1],
            padding="SAME",
        )[:, :, 0, :]
        expected = tf.nn.relu(conv + arrays["conv_block/depthwise_conv_layers_0/bias"]) + x
        self.assertAllClose(block(x), expected, atol=1e-5, rtol=1e-5)

    def test_conv1d_kernel_and_bias_to_dense(self):
        rng = np.random.default_rng(2)
        kernel = rng.normal(size=(1, 5, 3)).astype("float32")
        bias = rng.normal(size=(1, 1, 3)).astype("float32")
        dense = keras.layers.Dense(3)
        dense.build((None, None, 5))
        dense.kernel.assign(tf1_reader.CONV1D_KERNEL.to_keras(kernel, [dense.kernel.shape])[0])
        dense.bias.assign(tf1_reader.CONV1D_BIAS.to_keras(bias, [dense.bias.shape])[0])
        x = rng.normal(size=(2, 4, 5)).astype("float32")
        expected = tf.nn.conv1d(x, kernel, stride=1, padding="VALID") + bias
        self.assertAllClose(dense(x), expected, atol=1e-5)
        self.assertEqual(tf1_reader.CONV1D_KERNEL.tf1_shape([(5, 3)]), (1, 5, 3))
        self.assertEqual(tf1_reader.CONV1D_BIAS.tf1_shape([(3,)]), (1, 1, 3))
        self.assertEqual(tf1_reader.DEPTHWISE_FILTER.tf1_shape([(7, 4, 1)]), (7, 1, 4, 1))
        self.assertEqual(tf1_reader.POINTWISE_FILTER.tf1_shape([(4, 4)]), (1, 1, 4, 4))

    def test_word_table_with_pad_and_unk_rows(self):
        rng = np.random.default_rng(3)
        arrays = {
            "word_embeddings/unk": rng.normal(size=(1, 4)).astype("float32"),
            "word_embeddings/word_table": rng.normal(size=(3, 4)).astype("float32"),
        }
        prefix = tf1_reader.write_tf1_checkpoint(temp_dir(self) + "/model.ckpt", arrays)
        layer = WordEmbedding(5, word_dim=4, name="word_embeddings")
        layer.build()
        tf1_reader.load_tf1_weights(
            prefix, tf1_reader.word_embedding_entries("word_embeddings", ""), tf1_reader.keras_weights(layer)
        )
        out = layer(np.array([[0, 1, 2, 4]]))[0]
        self.assertAllEqual(out[0], np.zeros(4))  # PAD
        self.assertAllEqual(out[1], arrays["word_embeddings/unk"][0])  # UNK
        self.assertAllEqual(out[2], arrays["word_embeddings/word_table"][0])  # id k ≥ 2 → row k − 2
        self.assertAllEqual(out[3], arrays["word_embeddings/word_table"][2])

    def test_char_cnn_matches_tf_conv2d(self):
        rng = np.random.default_rng(4)
        c, num_chars = 3, 6
        arrays = {"char_embeddings/char_table": rng.normal(size=(num_chars - 1, c)).astype("float32")}
        for i, (k, f) in enumerate(zip((1, 2), (2, 3))):
            arrays[f"char_embeddings/filter_{i}"] = rng.normal(size=(1, k, c, f)).astype("float32")
            arrays[f"char_embeddings/bias_{i}"] = rng.normal(size=(f,)).astype("float32")
        prefix = tf1_reader.write_tf1_checkpoint(temp_dir(self) + "/model.ckpt", arrays)
        layer = CharEmbedding(num_chars, char_dim=c, kernel_sizes=(1, 2), filters=(2, 3), name="char_embeddings")
        layer.build((None, None, 4))
        tf1_reader.load_tf1_weights(
            prefix,
            tf1_reader.char_embedding_entries("char_embeddings", "", num_convs=2),
            tf1_reader.keras_weights(layer),
        )
        ids = np.array([[[2, 1, 5, 0], [3, 0, 0, 0]]])
        table = np.concatenate([np.zeros((1, c), "float32"), arrays["char_embeddings/char_table"]])
        embedded = table[ids]
        expected = []
        for i in range(2):
            out = tf.nn.conv2d(embedded, arrays[f"char_embeddings/filter_{i}"], strides=1, padding="VALID")
            expected.append(tf.reduce_max(tf.nn.relu(out + arrays[f"char_embeddings/bias_{i}"]), axis=2))
        self.assertAllClose(layer(ids), tf.concat(expected, -1), atol=1e-5)


class ImportTest(TestCase):
    def _write(self, arrays):
        return tf1_reader.write_tf1_checkpoint(temp_dir(self) + "/model.ckpt", arrays)

    def test_loads_and_ignores_optimizer_state(self):
        rng = np.random.default_rng(5)
        arrays = small_arrays(rng)
        arrays.update({f"{name}/adam_m": np.zeros_like(v) for name, v in arrays.items()})
        arrays["global_step"] = np.array(3, dtype="int64")
        model = small_model()
        report = tf1_reader.load_tf1_weights(
            self._write(arrays), SMALL_TABLE, tf1_reader.keras_weights(model), ignore=tf1_reader.optimizer_state()
        )
        self.assertEqual(set(report.assigned), {e.tf1_name for e in SMALL_TABLE})
        self.assertLen(report.ignored, 5)
        self.assertAllEqual(model.get_layer("proj").kernel, arrays["tf1/proj/kernel"][0])
        self.assertAllEqual(model.get_layer("norm").gamma, arrays["tf1/norm/layer_norm_scale"])
        exported = tf1_reader.export_tf1_arrays(SMALL_TABLE, tf1_reader.keras_weights(model))
        for name in exported:
            self.assertAllEqual(exported[name], arrays[name])

    def test_refuses_missing_unexpected_and_wrong_shape_listing_every_name(self):
        rng = np.random.default_rng(6)
        arrays = small_arrays(rng)
        del arrays["tf1/norm/layer_norm_bias"]
        arrays["tf1/proj/kernel"] = rng.normal(size=(1, 3, 5)).astype("float32")
        arrays["tf1/stray/kernel"] = np.zeros((2, 2), "float32")
        arrays["tf1/stray/kernel/adam_m"] = np.zeros((2, 2), "float32")  # a slot of an unknown variable
        arrays["tf1/proj/bias/adam_v"] = np.zeros((1, 1, 4), "float32")  # a slot of a table variable: fine
        model = small_model()
        before = [w.numpy().copy() for w in model.weights]
        with self.assertRaises(TF1ImportError) as raised:
            tf1_reader.load_tf1_weights(
                self._write(arrays),
                SMALL_TABLE,
                tf1_reader.keras_weights(model),
                ignore=tf1_reader.optimizer_state(),
                what="small model",
            )
        message = str(raised.exception)
        self.assertIn("missing from the checkpoint (1):\n    tf1/norm/layer_norm_bias [4]", message)
        self.assertIn("unexpected in the checkpoint", message)
        self.assertIn("tf1/stray/kernel [2, 2]", message)
        self.assertIn("tf1/stray/kernel/adam_m [2, 2]", message)
        self.assertNotIn("tf1/proj/bias/adam_v", message)
        self.assertIn(
            "wrong shape (1):\n    tf1/proj/kernel: checkpoint [1, 3, 5], expected [1, 3, 4] (for our proj/kernel)",
            message,
        )
        # Nothing was assigned.
        for weight, value in zip(model.weights, before):
            self.assertAllEqual(weight, value)

    def test_refuses_weights_the_table_does_not_fill(self):
        arrays = small_arrays(np.random.default_rng(7))
        table = [e for e in SMALL_TABLE if e.tf1_name != "tf1/norm/layer_norm_bias"]
        del arrays["tf1/norm/layer_norm_bias"]
        with self.assertRaisesRegex(
            TF1ImportError,
            r"weights of our model that no table row fills \(1\):\n"
            r"    norm/beta \[4\]",
        ):
            tf1_reader.load_tf1_weights(self._write(arrays), table, tf1_reader.keras_weights(small_model()))

    def test_refuses_rows_naming_absent_weights_and_wrong_dtype(self):
        arrays = small_arrays(np.random.default_rng(8))
        arrays["tf1/proj/bias"] = arrays["tf1/proj/bias"].astype("float64")
        arrays["tf1/extra/gamma"] = np.ones(4, "float32")
        table = SMALL_TABLE + [Entry("tf1/extra/gamma", "extra/gamma")]
        with self.assertRaises(TF1ImportError) as raised:
            tf1_reader.load_tf1_weights(self._write(arrays), table, tf1_reader.keras_weights(small_model()))
        self.assertIn("wrong dtype (1):\n    tf1/proj/bias: checkpoint float64, ours float32", str(raised.exception))
        self.assertIn("tf1/extra/gamma → extra/gamma", str(raised.exception))

    def test_table_errors(self):
        with self.assertRaisesRegex(ValueError, "twice"):
            tf1_reader.check_table(SMALL_TABLE + SMALL_TABLE[:1])
        with self.assertRaisesRegex(ValueError, "from both"):
            tf1_reader.check_table(SMALL_TABLE + [Entry("other", "proj/kernel")])
        with self.assertRaisesRegex(ValueError, "fills 2 weight"):
            Entry("a/kernel", "a/kernel", tf1_reader.LSTM_KERNEL)

    def test_checkpoint_paths(self):
        folder = temp_dir(self)
        prefix = tf1_reader.write_tf1_checkpoint(os.path.join(folder, "model.ckpt"), {"a": np.zeros(2, "float32")})
        self.assertEqual(tf1_reader.TF1Checkpoint(folder).path, prefix)  # a folder with one index file
        self.assertEqual(tf1_reader.TF1Checkpoint(prefix + ".index").path, prefix)
        with self.assertRaises(FileNotFoundError):
            tf1_reader.TF1Checkpoint(os.path.join(folder, "absent.ckpt"))
        object_based = tf.train.Checkpoint(v=tf.Variable(1.0)).save(os.path.join(folder, "tf2", "ckpt"))
        with self.assertRaisesRegex(TF1ImportError, "object-based"):
            tf1_reader.TF1Checkpoint(object_based)
