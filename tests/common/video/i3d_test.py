"""`I3D` against an independent `tf.nn` reference (DeepMind's `i3d.py` written out, `i3d_reference.py`) on a
checkpoint of random values under DeepMind's exact variable names and shapes; the row rule; config round trip."""

import keras
import numpy as np
import pytest

from common.video import i3d_checkpoint
from common.video.i3d import END_POINTS, I3D, num_feature_rows
from tests.common.video.i3d_reference import layout_or_ours, reference_i3d, write_random_checkpoint


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """`(model, arrays)`: an `I3D` holding a random-valued checkpoint in DeepMind's layout, and those values."""
    prefix = tmp_path_factory.mktemp("i3d") / "model.ckpt"
    arrays = write_random_checkpoint(prefix, layout_or_ours(), seed=1)
    return i3d_checkpoint.load_i3d(prefix), arrays


def test_keras_i3d_equals_the_tf_nn_reference(imported):
    model, arrays = imported
    frames = np.random.default_rng(0).uniform(-1, 1, (2, 9, 224, 224, 3)).astype(np.float32)
    reference = reference_i3d(frames, arrays)
    outputs = keras.Model(
        model.input, [model.get_layer(name).output for name in END_POINTS] + [model.output]
    ).predict_on_batch(frames)
    for name, output in zip([*END_POINTS, "features"], outputs):
        assert output.shape == reference[name].shape, name
        scale = max(1.0, float(np.max(np.abs(reference[name]))))
        np.testing.assert_allclose(output, reference[name], atol=1e-4 * scale, rtol=0, err_msg=name)
    features = outputs[-1]
    assert features.shape == (2, 1, 1024)  # 9 frames → ceil(9 / 8) − 1 row
    assert 0.05 < np.std(features) < 50  # the random weights keep activations informative (not all 0 or huge)
    # Mixed_5c has 2 time steps, which the pool averages: a test of the time axis, not of a constant.
    mixed_5c = outputs[len(END_POINTS) - 1]
    assert mixed_5c.shape == (2, 2, 7, 7, 1024)
    assert np.max(np.abs(mixed_5c[:, 0] - mixed_5c[:, 1])) > 1e-3
    np.testing.assert_allclose(features[:, 0], mixed_5c.mean(axis=(1, 2, 3)), atol=1e-4 * np.abs(features).max())


def test_end_point_model_shares_the_weights():
    model = I3D()
    mixed_4f = model.end_point_model("Mixed_4f")
    assert tuple(mixed_4f.output.shape) == (None, None, 14, 14, 832)
    assert {id(w) for w in mixed_4f.weights} <= {id(w) for w in model.weights}
    with pytest.raises(ValueError, match="unknown I3D end point 'Logits'"):
        model.end_point_model("Logits")


@pytest.mark.parametrize(
    "frames, rows",
    # Three stride-2 steps with SAME padding (ceil) then a VALID pool of 2: the spec's 16 → 1, 24 → 2.
    [(8, 0), (9, 1), (15, 1), (16, 1), (17, 2), (23, 2), (24, 2), (25, 3), (10000, 1249)],
)
def test_num_feature_rows(frames, rows):
    assert num_feature_rows(frames) == rows


def test_config_round_trip_and_sizes():
    model = I3D(image_size=200, name="my_i3d")
    clone = I3D.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert (clone.name, clone.image_size) == ("my_i3d", 200)
    assert model.count_params() == 12_294_544  # 228 weights: the checkpoint's 230 variables minus the classifier
    assert len(model.weights) == 228
    with pytest.raises(ValueError, match="image_size must be 193 to 224"):
        I3D(image_size=256)
