"""`checkpoint_layout`: a checkpoint saved before layers moved restores into the new layout, value for value."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.training import checkpoint_layout


class OldModel(keras.Model):
    """The layout before the move: the dense layers and the pooling weight are the model's own attributes."""

    def __init__(self):
        super().__init__()
        self.first = keras.layers.Dense(3, name="first")
        self.second = keras.layers.Dense(2, name="second")

    def build(self, shape=None):
        self.first.build((None, 4))
        self.second.build((None, 3))
        self.pooling_kernel = self.add_weight(shape=(3, 1), name="pooling_kernel")


class Trunk(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.first = keras.layers.Dense(3, name="first")

    def build(self, shape=None):
        self.first.build((None, 4))


class Pooling(keras.layers.Layer):
    def build(self, shape=None):
        self.pooling_kernel = self.add_weight(shape=(3, 1), name="pooling_kernel")


class NewModel(keras.Model):
    """`first` moved into `trunk`, the pooling weight into its own layer; `with_pooling=False` lacks that layer."""

    checkpoint_moves = (("trunk/*", "*"), ("pooling/pooling_kernel", "pooling_kernel"))

    def __init__(self, with_pooling=True):
        super().__init__()
        self.trunk = Trunk()
        self.second = keras.layers.Dense(2, name="second")
        if with_pooling:
            self.pooling = Pooling()

    def build(self, shape=None):
        self.trunk.build()
        self.second.build((None, 3))
        if hasattr(self, "pooling"):
            self.pooling.build()


def _save_old(tmp_path):
    old = OldModel()
    old.build()
    for variable in old.weights:
        variable.assign(np.random.default_rng(len(variable.path)).normal(size=variable.shape))
    return old, tf.train.Checkpoint(model=old).save(str(tmp_path / "ckpt"))


def test_an_old_checkpoint_restores_into_the_moved_layout(tmp_path):
    old, path = _save_old(tmp_path)
    assert {"model/first", "model/pooling_kernel"} <= checkpoint_layout.saved_paths(path)
    new = NewModel()
    new.build()
    checkpoint_layout.restore(path, new).assert_existing_objects_matched()
    np.testing.assert_array_equal(new.trunk.first.kernel.numpy(), old.first.kernel.numpy())
    np.testing.assert_array_equal(new.trunk.first.bias.numpy(), old.first.bias.numpy())
    np.testing.assert_array_equal(new.second.kernel.numpy(), old.second.kernel.numpy())
    np.testing.assert_array_equal(new.pooling.pooling_kernel.numpy(), old.pooling_kernel.numpy())


def test_a_model_without_a_moved_layer_restores_the_rest(tmp_path):
    old, path = _save_old(tmp_path)
    new = NewModel(with_pooling=False)
    new.build()
    checkpoint_layout.restore(path, new).expect_partial().assert_existing_objects_matched()
    np.testing.assert_array_equal(new.trunk.first.kernel.numpy(), old.first.kernel.numpy())


def test_a_new_checkpoint_restores_without_a_view(tmp_path):
    new = NewModel()
    new.build()
    path = tf.train.Checkpoint(model=new).save(str(tmp_path / "new"))
    assert checkpoint_layout.model_for_checkpoint(new, path) is new
    other = NewModel()
    other.build()
    checkpoint_layout.restore(path, other).assert_existing_objects_matched()
    np.testing.assert_array_equal(other.pooling.pooling_kernel.numpy(), new.pooling.pooling_kernel.numpy())


def test_a_move_of_every_child_needs_a_wildcard_target(tmp_path):
    _, path = _save_old(tmp_path)
    new = NewModel()
    new.build()
    new.checkpoint_moves = (("trunk/*", "trunk_children"),)
    with pytest.raises(ValueError, match="ending in"):
        checkpoint_layout.model_for_checkpoint(new, path)
