"""The importer of DeepMind's I3D checkpoints, on checkpoints of random values written under exactly the names and
shapes of `shared/specs/i3d_checkpoint_layout` (what `tf.train.list_variables` shows on the real `.index`)."""

import numpy as np
import pytest
import tensorflow as tf

from common.checkpoint_conversion import tf1_reader
from common.checkpoint_conversion.tf1_reader import TF1ImportError
from common.video import i3d_checkpoint
from common.video.i3d import I3D
from tests.common.video.i3d_reference import LAYOUT_DIR, layout_or_ours, random_arrays, shared_layout


@pytest.fixture(scope="module")
def layout():
    """DeepMind's layout (our table's where the shared folder is absent: the first two tests check they agree)."""
    return layout_or_ours()


@pytest.fixture(scope="module")
def model():
    return I3D()


def test_the_layout_files_are_the_real_index():
    layout = shared_layout()
    real = dict(tf.train.list_variables(str(LAYOUT_DIR / "rgb_imagenet" / "model.ckpt")))
    assert {name: tuple(shape) for name, shape in real.items()} == layout
    assert len(layout) == 230


def test_the_table_covers_the_layout_exactly(model):
    layout = shared_layout()
    table = i3d_checkpoint.weight_table()
    logits = {f"{i3d_checkpoint.SCOPE}/{name}" for name in i3d_checkpoint.LOGITS}
    assert {entry.tf1_name for entry in table} | logits == set(layout)
    weights = tf1_reader.keras_weights(model)
    assert {path for entry in table for path in entry.keras_paths} == set(weights)
    for entry in table:
        assert tuple(weights[entry.keras_paths[0]].shape) == layout[entry.tf1_name], entry.tf1_name
    # DeepMind's one irregular name is mapped, not guessed.
    assert "RGB/inception_i3d/Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w" in {entry.tf1_name for entry in table}


def test_import_assigns_every_value(layout, tmp_path):
    arrays = random_arrays(layout, seed=3)
    tf1_reader.write_tf1_checkpoint(str(tmp_path / "model.ckpt"), arrays)
    fresh = I3D()
    report = i3d_checkpoint.load_i3d_weights(fresh, tmp_path)  # the folder holding one checkpoint
    assert len(report.assigned) == 228 and sorted(report.ignored) == sorted(
        f"{i3d_checkpoint.SCOPE}/{name}" for name in i3d_checkpoint.LOGITS
    )
    weights = tf1_reader.keras_weights(fresh)
    for entry in i3d_checkpoint.weight_table():
        np.testing.assert_array_equal(weights[entry.keras_paths[0]].numpy(), arrays[entry.tf1_name])


def _expect_refusal(model, arrays, path, *fragments):
    tf1_reader.write_tf1_checkpoint(str(path), arrays)
    before = [w.numpy().copy() for w in model.weights[:3]]
    with pytest.raises(TF1ImportError) as error:
        i3d_checkpoint.load_i3d_weights(model, path)
    for fragment in fragments:
        assert fragment in str(error.value)
    for old, weight in zip(before, model.weights[:3]):  # nothing was assigned
        np.testing.assert_array_equal(old, weight.numpy())


def test_refuses_missing_unexpected_and_misshapen_variables(layout, model, tmp_path):
    arrays = {name: np.zeros(shape, np.float32) for name, shape in layout.items()}
    missing = dict(arrays)
    del missing["RGB/inception_i3d/Mixed_4c/Branch_1/Conv3d_0b_3x3/conv_3d/w"]
    _expect_refusal(
        model,
        missing,
        tmp_path / "missing" / "model.ckpt",
        "missing from the checkpoint (1)",
        "RGB/inception_i3d/Mixed_4c/Branch_1/Conv3d_0b_3x3/conv_3d/w [3, 3, 3, 112, 224]",
    )
    unexpected = {**arrays, "RGB/inception_i3d/Mixed_6a/Branch_0/Conv3d_0a_1x1/conv_3d/w": np.zeros([1], np.float32)}
    _expect_refusal(
        model, unexpected, tmp_path / "unexpected" / "model.ckpt", "unexpected", "RGB/inception_i3d/Mixed_6a/Branch_0"
    )
    misshapen = {**arrays, "RGB/inception_i3d/Conv3d_2b_1x1/batch_norm/beta": np.zeros([65], np.float32)}
    _expect_refusal(
        model,
        misshapen,
        tmp_path / "misshapen" / "model.ckpt",
        "wrong shape (1)",
        "RGB/inception_i3d/Conv3d_2b_1x1/batch_norm/beta: checkpoint [65], expected [64]",
    )


def test_refuses_the_flow_stream(tmp_path):
    flow = shared_layout("flow_imagenet")
    assert all(name.startswith("Flow/") for name in flow)
    name = "Flow/inception_i3d/Conv3d_1a_7x7/conv_3d/w"
    tf1_reader.write_tf1_checkpoint(str(tmp_path / "model.ckpt"), {name: np.zeros(flow[name], np.float32)})
    with pytest.raises(TF1ImportError, match="optical-flow I3D"):
        i3d_checkpoint.load_i3d(tmp_path / "model.ckpt")


def test_checkpoint_digest_names_the_values(tmp_path):
    arrays = {"RGB/inception_i3d/Conv3d_1a_7x7/batch_norm/beta": np.zeros([64], np.float32)}
    first = tf1_reader.write_tf1_checkpoint(str(tmp_path / "a" / "model.ckpt"), arrays)
    same = tf1_reader.write_tf1_checkpoint(str(tmp_path / "b" / "model.ckpt"), arrays)
    other = tf1_reader.write_tf1_checkpoint(
        str(tmp_path / "c" / "model.ckpt"), {name: value + 1 for name, value in arrays.items()}
    )
    assert i3d_checkpoint.checkpoint_digest(first) == i3d_checkpoint.checkpoint_digest(same)
    assert i3d_checkpoint.checkpoint_digest(first) != i3d_checkpoint.checkpoint_digest(other)
