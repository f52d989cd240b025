"""An independent I3D for tests: DeepMind's `i3d.py` written out with `tf.nn` ops and explicit batch-norm arithmetic,
reading weights by DeepMind's checkpoint names; and checkpoints of random values under exactly those names."""

import numpy as np
import pytest
import tensorflow as tf

from common.checkpoint_conversion import tf1_reader
from tests.conftest import SHARED_DIR

SCOPE = "RGB/inception_i3d"
EPSILON = 1e-3
LAYOUT_DIR = SHARED_DIR / "specs" / "i3d_checkpoint_layout"


def shared_layout(stream="rgb_imagenet"):
    """`{name: shape}` of DeepMind's checkpoint (`shared/specs/i3d_checkpoint_layout/STREAM/variables.txt`); the
    calling test skips where the shared folder is absent."""
    path = LAYOUT_DIR / stream / "variables.txt"
    if not path.is_file():
        pytest.skip(f"{path} is absent (it exists only in the development workplace)")
    return read_layout(path)


def layout_or_ours():
    """DeepMind's layout where the shared folder has it, else the one our table names (the same, as
    `i3d_checkpoint_test.py` checks where it can), so that the numerical tests run everywhere."""
    path = LAYOUT_DIR / "rgb_imagenet" / "variables.txt"
    if path.is_file():
        return read_layout(path)
    from common.video import i3d_checkpoint
    from common.video.i3d import I3D

    weights = tf1_reader.keras_weights(I3D())
    layout = {entry.tf1_name: tuple(weights[entry.keras_paths[0]].shape) for entry in i3d_checkpoint.weight_table()}
    weight, bias = (f"{SCOPE}/{name}" for name in i3d_checkpoint.LOGITS)
    return {**layout, weight: (1, 1, 1, 1024, 400), bias: (400,)}


def read_layout(variables_txt):
    """`{name: shape}` from a `variables.txt` of `shared/specs/i3d_checkpoint_layout` (`NAME [d0, d1, ...]` lines)."""
    layout = {}
    for line in variables_txt.read_text().splitlines():
        if line.strip():
            name, shape = line.split(" ", 1)
            layout[name] = tuple(int(d) for d in shape.strip("[]").split(","))
    return layout


def random_arrays(layout, seed=0):
    """Random values for every variable of `layout`, scaled so that activations stay of order 1 through the network
    (He-normal kernels, small offsets and means, variances near 1)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, shape in sorted(layout.items()):
        if name.endswith("/w"):
            fan_in = int(np.prod(shape[:-1]))
            value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        elif name.endswith("moving_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        else:  # beta, moving_mean, the logits' bias
            value = rng.normal(0.0, 0.1, shape)
        arrays[name] = value.astype(np.float32)
    return arrays


def write_random_checkpoint(prefix, layout, seed=0):
    """A TF1 name-based checkpoint of `random_arrays(layout, seed)` at `prefix`; returns the arrays."""
    arrays = random_arrays(layout, seed)
    tf1_reader.write_tf1_checkpoint(str(prefix), arrays)
    return arrays


def _unit(x, arrays, scope, strides=(1, 1, 1)):
    y = tf.nn.conv3d(x, arrays[f"{scope}/conv_3d/w"], strides=[1, *strides, 1], padding="SAME")
    mean = arrays[f"{scope}/batch_norm/moving_mean"]
    variance = arrays[f"{scope}/batch_norm/moving_variance"]
    y = (y - mean) / np.sqrt(variance.astype(np.float64) + EPSILON).astype(np.float32)
    gamma = arrays.get(f"{scope}/batch_norm/gamma")  # the PyTorch port's batch norms have a scale
    if gamma is not None:
        y = y * gamma
    return tf.nn.relu(y + arrays[f"{scope}/batch_norm/beta"])


def _max_pool(x, size, strides):
    return tf.nn.max_pool3d(x, ksize=[1, *size, 1], strides=[1, *strides, 1], padding="SAME")


def _mixed(x, arrays, scope):
    branch_0 = _unit(x, arrays, f"{scope}/Branch_0/Conv3d_0a_1x1")
    branch_1 = _unit(_unit(x, arrays, f"{scope}/Branch_1/Conv3d_0a_1x1"), arrays, f"{scope}/Branch_1/Conv3d_0b_3x3")
    second = f"{scope}/Branch_2/Conv3d_0b_3x3"
    if f"{second}/conv_3d/w" not in arrays:  # DeepMind's Mixed_5b names it Conv3d_0a_3x3
        second = f"{scope}/Branch_2/Conv3d_0a_3x3"
    branch_2 = _unit(_unit(x, arrays, f"{scope}/Branch_2/Conv3d_0a_1x1"), arrays, second)
    branch_3 = _unit(_max_pool(x, (3, 3, 3), (1, 1, 1)), arrays, f"{scope}/Branch_3/Conv3d_0b_1x1")
    return tf.concat([branch_0, branch_1, branch_2, branch_3], axis=-1)


def reference_i3d(frames, arrays, scope=SCOPE, until=None):
    """DeepMind's `InceptionI3d` up to `Mixed_5c`, then `avg_pool3d([2, 7, 7], stride 1, VALID)` squeezed to
    `[batch, time', 1024]`. `frames`: float32 `[batch, time, height, width, 3]`.

    Returns:
        dict of numpy arrays: every end point by DeepMind's name, and `"features"`; only the end points up to
        `until` when it is given.
    """
    steps = [
        ("Conv3d_1a_7x7", lambda x: _unit(x, arrays, f"{scope}/Conv3d_1a_7x7", (2, 2, 2))),
        ("MaxPool3d_2a_3x3", lambda x: _max_pool(x, (1, 3, 3), (1, 2, 2))),
        ("Conv3d_2b_1x1", lambda x: _unit(x, arrays, f"{scope}/Conv3d_2b_1x1")),
        ("Conv3d_2c_3x3", lambda x: _unit(x, arrays, f"{scope}/Conv3d_2c_3x3")),
        ("MaxPool3d_3a_3x3", lambda x: _max_pool(x, (1, 3, 3), (1, 2, 2))),
        ("Mixed_3b", None),
        ("Mixed_3c", None),
        ("MaxPool3d_4a_3x3", lambda x: _max_pool(x, (3, 3, 3), (2, 2, 2))),
        ("Mixed_4b", None),
        ("Mixed_4c", None),
        ("Mixed_4d", None),
        ("Mixed_4e", None),
        ("Mixed_4f", None),
        ("MaxPool3d_5a_2x2", lambda x: _max_pool(x, (2, 2, 2), (2, 2, 2))),
        ("Mixed_5b", None),
        ("Mixed_5c", None),
    ]
    outputs = {}
    x = tf.constant(frames, tf.float32)
    for name, step in steps:
        x = step(x) if step is not None else _mixed(x, arrays, f"{scope}/{name}")
        outputs[name] = x.numpy()
        if name == until:
            return outputs
    pooled = tf.nn.avg_pool3d(x, ksize=[1, 2, 7, 7, 1], strides=[1, 1, 1, 1, 1], padding="VALID")
    outputs["features"] = tf.squeeze(pooled, axis=[2, 3]).numpy()
    return outputs


def write_model_checkpoint(prefix, seed=0, num_classes=400):
    """A checkpoint in DeepMind's layout (names from `common.video.i3d_checkpoint`) holding the weights of a freshly
    initialized `I3D` (Keras' initializers, seeded) and a random classifier; needs no shared material."""
    import keras

    from common.video import i3d_checkpoint
    from common.video.i3d import I3D

    keras.utils.set_random_seed(seed)
    arrays = tf1_reader.export_tf1_arrays(i3d_checkpoint.weight_table(), tf1_reader.keras_weights(I3D()))
    rng = np.random.default_rng(seed)
    weight, bias = (f"{SCOPE}/{name}" for name in i3d_checkpoint.LOGITS)
    arrays[weight] = rng.normal(0, 0.03, (1, 1, 1, 1024, num_classes)).astype(np.float32)
    arrays[bias] = np.zeros(num_classes, np.float32)
    tf1_reader.write_tf1_checkpoint(str(prefix), arrays)
    return str(prefix)
