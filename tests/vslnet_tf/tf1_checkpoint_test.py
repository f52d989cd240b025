"""Tests of `vslnet_tf/tf1_checkpoint.py`: the table covers every weight of every TF1-importable VSLNet, the
inferred config, the refusals, and (with `../shared`) the table against the original's variable list."""

import dataclasses
import tempfile

import keras
import numpy as np

from common.checkpoint_conversion import tf1_reader
from common.checkpoint_conversion.tf1_reader import TF1ImportError
from common.data.pipeline import dummy_inputs
from tests.test_case import TestCase
from vslnet_tf import tf1_checkpoint
from vslnet_tf.config import VSLNetConfig

SMALL = dict(hidden_dim=16, num_heads=2, char_dim=8, max_pos_len=16)
SMALL_DATA = {"num_words": 9, "num_chars": 10, "feature_dim": 12, "word_dim": 300, "max_pos_len": 16}


def temp_dir(test):
    folder = tempfile.TemporaryDirectory()
    test.addCleanup(folder.cleanup)
    return folder.name


def write_vslnet_checkpoint(folder, seed=0, drop=(), extra=None, **config_fields):
    """A TF1-layout checkpoint of a small random `VSLNet` (with Adam slots and `global_step`, as the original's).

    Returns:
        `(prefix, model, config)`: the checkpoint and the model its values come from.
    """
    keras.utils.set_random_seed(seed)
    config = VSLNetConfig(**{**SMALL, **config_fields})
    word_vectors = np.random.default_rng(seed).normal(size=(SMALL_DATA["num_words"] - 2, 300)).astype("float32")
    model = tf1_checkpoint.build_model(config, SMALL_DATA, word_vectors)
    np.testing.assert_array_equal(model.backbone.word_embedding.word_table.numpy(), word_vectors)
    arrays = tf1_reader.export_tf1_arrays(tf1_checkpoint.weight_table(config), tf1_reader.keras_weights(model))
    for name in list(arrays):
        if name != "word_embeddings/word_table":
            arrays[f"{name}/adam_m"] = np.zeros_like(arrays[name])
            arrays[f"{name}/adam_v"] = np.zeros_like(arrays[name])
    arrays["global_step"] = np.array(7, dtype="int64")
    for name in drop:
        del arrays[name]
    arrays.update(extra or {})
    return tf1_reader.write_tf1_checkpoint(f"{folder}/model.ckpt", arrays), model, config


def small_inputs(seed=0):
    rng = np.random.default_rng(seed)
    inputs = dummy_inputs(SMALL_DATA["feature_dim"], batch=2, clips=9, words=5, chars=6)
    inputs["video_features"] = rng.normal(size=(2, 9, SMALL_DATA["feature_dim"])).astype("float32")
    inputs["video_mask"] = np.arange(9)[None, :] < np.array([[9], [6]])
    inputs["word_ids"] = np.array([[2, 1, 8, 3, 0], [4, 5, 6, 7, 2]], "int32")
    inputs["char_ids"] = rng.integers(0, SMALL_DATA["num_chars"], size=(2, 5, 6)).astype("int32")
    return inputs


class VSLNetTableTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._folder = tempfile.TemporaryDirectory()
        cls.default_prefix = write_vslnet_checkpoint(cls._folder.name)[0]

    @classmethod
    def tearDownClass(cls):
        cls._folder.cleanup()
        super().tearDownClass()

    def test_round_trip_of_every_importable_variant(self):
        for fields in ({}, {"predictor": "transformer"}, {"model": "vslbase"}):
            with self.subTest(**fields):
                prefix, original, config = write_vslnet_checkpoint(temp_dir(self), seed=1, **fields)
                imported = tf1_checkpoint.import_checkpoint(prefix, overrides={"num_heads": 2})
                self.assertEqual(imported.config, config)
                self.assertEqual(imported.data, SMALL_DATA)
                self.assertEqual(imported.global_step, 7)
                ours = tf1_reader.keras_weights(imported.model)
                for path, weight in tf1_reader.keras_weights(original).items():
                    self.assertAllEqual(ours[path], weight, msg=path)
                inputs = small_inputs()
                expected = original(inputs, training=False)
                for key, value in imported.model(inputs, training=False).items():
                    self.assertAllEqual(value, expected[key])
                # Every variable is either assigned or an optimizer slot / the step.
                self.assertEqual(2 * (len(imported.report.assigned) - 1) + 1, len(imported.report.ignored))

    def test_infers_shapes_and_keeps_other_defaults(self):
        prefix, _, _ = write_vslnet_checkpoint(
            temp_dir(self), hidden_dim=8, num_heads=2, char_dim=4, max_pos_len=12, num_conv_layers=2, kernel_size=3
        )
        config, data = tf1_checkpoint.infer_config(tf1_reader.TF1Checkpoint(prefix), {"num_heads": 2})
        self.assertEqual(
            (
                config.hidden_dim,
                config.char_dim,
                config.max_pos_len,
                config.num_conv_layers,
                config.kernel_size,
                config.predictor,
                config.model,
            ),
            (8, 4, 12, 2, 3, "rnn", "vslnet"),
        )
        defaults = VSLNetConfig()
        for field in ("drop_rate", "highlight_lambda", "extend", "init_lr", "l2_mode", "masked_conv"):
            self.assertEqual(getattr(config, field), getattr(defaults, field))
        self.assertEqual(data["feature_dim"], 12)

    def test_overrides(self):
        checkpoint = tf1_reader.TF1Checkpoint(self.default_prefix)
        config, _ = tf1_checkpoint.infer_config(checkpoint, {"num_heads": 4, "drop_rate": 0.0, "hidden_dim": 16})
        self.assertEqual((config.num_heads, config.drop_rate), (4, 0.0))
        with self.assertRaisesRegex(TF1ImportError, r"hidden_dim=32 \(the checkpoint has 16\).*predictor="):
            tf1_checkpoint.infer_config(checkpoint, {"hidden_dim": 32, "predictor": "transformer"})
        with self.assertRaisesRegex(TF1ImportError, "encoder='bilstm'"):
            tf1_checkpoint.infer_config(checkpoint, {"encoder": "bilstm"})
        with self.assertRaisesRegex(ValueError, "unknown VSLNetConfig fields"):
            tf1_checkpoint.infer_config(checkpoint, {"hidden": 16})

    def test_refusals(self):
        lstm_bias = "conditioned_predictor/end_rnn/rnn/lstm_cell/bias"
        prefix, _, _ = write_vslnet_checkpoint(
            temp_dir(self), drop=(lstm_bias,), extra={"some_scope/kernel": np.zeros((3, 3), "float32")}
        )
        with self.assertRaises(TF1ImportError) as raised:
            tf1_checkpoint.import_checkpoint(prefix)
        message = str(raised.exception)
        self.assertIn(f"missing from the checkpoint (1):\n    {lstm_bias} [64]", message)
        self.assertIn("unexpected in the checkpoint", message)
        self.assertIn("some_scope/kernel [3, 3]", message)
        self.assertNotIn("adam_m", message)  # the slots of the dropped bias are still slots of a table variable

        prefix = self.default_prefix
        with self.assertRaisesRegex(TF1ImportError, "differ from the checkpoint's word_embeddings/word_table in 7"):
            tf1_checkpoint.import_checkpoint(prefix, word_vectors=np.zeros((7, 300), "float32"))
        with self.assertRaisesRegex(TF1ImportError, "shape"):
            tf1_checkpoint.import_checkpoint(prefix, word_vectors=np.zeros((8, 300), "float32"))
        with self.assertRaisesRegex(TF1ImportError, "is it a checkpoint of the original VSLNet"):
            tf1_checkpoint.import_checkpoint(
                tf1_reader.write_tf1_checkpoint(temp_dir(self) + "/x.ckpt", {"a": np.zeros(1, "float32")})
            )


def test_table_equals_the_original_variable_list(shared_dir):
    """The table's TF1 names and shapes at the fixture's config are exactly the original's model variables."""
    fixture = shared_dir / "fixtures" / "vslnet_tf1"
    original = {}
    for line in (fixture / "variables.txt").read_text().splitlines():
        name, shape, _ = line.split("\t")
        if not name.endswith(("/adam_m", "/adam_v")) and name != "global_step":
            original[name] = tuple(int(d) for d in shape.strip("[]").split(",") if d.strip())
    checkpoint = tf1_reader.TF1Checkpoint(fixture / "model.ckpt")
    config, data = tf1_checkpoint.infer_config(checkpoint)
    model = tf1_checkpoint.build_model(config, data, checkpoint.get("word_embeddings/word_table"))
    weights = tf1_reader.keras_weights(model)
    table = {
        entry.tf1_name: entry.kind.tf1_shape([tuple(weights[p].shape) for p in entry.keras_paths])
        for entry in tf1_checkpoint.weight_table(config)
    }
    assert table == original
    assert len(original) == 69
    # The README's L2 term: 61 regularized variables.
    assert len(model.l2_variables()) == 61
    assert dataclasses.asdict(config)["predictor"] == "rnn"
