"""The PyTorch port's state dict → DeepMind's layout, tested with numpy dicts (no torch needed): the converted
weights make `I3D` compute what the port's network computes (the reference applies the batch-norm scale that the
conversion folds away), and a state dict of another network is refused with every problem listed."""

import numpy as np
import pytest

from common.checkpoint_conversion import tf1_reader
from common.video import i3d_checkpoint, i3d_torch_conversion
from common.video.i3d import I3D
from common.video.i3d_torch_conversion import TorchConversionError
from tests.common.video.i3d_reference import SCOPE, layout_or_ours, random_arrays, reference_i3d

# The port's module for each DeepMind unit scope inside a Mixed block (pytorch_i3d.py::InceptionModule).
PORT_BRANCHES = {
    "Branch_0/Conv3d_0a_1x1": "b0",
    "Branch_1/Conv3d_0a_1x1": "b1a",
    "Branch_1/Conv3d_0b_3x3": "b1b",
    "Branch_2/Conv3d_0a_1x1": "b2a",
    "Branch_2/Conv3d_0b_3x3": "b2b",
    "Branch_2/Conv3d_0a_3x3": "b2b",  # Mixed_5b
    "Branch_3/Conv3d_0b_1x1": "b3b",
}


def port_state_dict(arrays, num_classes=157, seed=0):
    """`(state, gammas)`: the port's state dict holding `arrays` (DeepMind names), with random batch-norm scales γ
    (some negative) and a `num_classes`-way classifier, as `torch.save(model.state_dict())` would hold it."""
    rng = np.random.default_rng(seed)
    state, gammas = {}, {}
    for name, value in arrays.items():
        scope, _, weight = name[len(SCOPE) + 1 :].partition("/conv_3d/")
        if not weight or scope.startswith("Logits"):
            continue
        end_point, _, branch = scope.partition("/")
        module = f"{end_point}.{PORT_BRANCHES[branch]}" if branch else end_point
        state[f"{module}.conv3d.weight"] = np.transpose(value, (4, 3, 0, 1, 2))
        bn = f"{SCOPE}/{scope}/batch_norm"
        gamma = rng.uniform(0.5, 1.5, value.shape[-1]) * rng.choice([-1.0, 1.0], value.shape[-1], p=[0.2, 0.8])
        gammas[f"{bn}/gamma"] = gamma.astype(np.float32)
        state[f"{module}.bn.weight"] = gammas[f"{bn}/gamma"]
        state[f"{module}.bn.bias"] = arrays[f"{bn}/beta"]
        state[f"{module}.bn.running_mean"] = arrays[f"{bn}/moving_mean"]
        state[f"{module}.bn.running_var"] = arrays[f"{bn}/moving_variance"]
        state[f"{module}.bn.num_batches_tracked"] = np.array(1000, np.int64)
    state["logits.conv3d.weight"] = rng.normal(size=(num_classes, 1024, 1, 1, 1)).astype(np.float32)
    state["logits.conv3d.bias"] = rng.normal(size=(num_classes,)).astype(np.float32)
    return state, gammas


@pytest.fixture(scope="module")
def model():
    return I3D()


@pytest.fixture(scope="module")
def port(model):
    arrays = random_arrays(layout_or_ours(), seed=5)
    state, gammas = port_state_dict(arrays)
    return arrays, gammas, state


def test_converted_weights_hold_the_ports_values(port, model):
    arrays, gammas, state = port
    converted = i3d_torch_conversion.torch_to_deepmind(state, i3d_torch_conversion.kernel_shapes_of(model))
    layout = layout_or_ours()
    assert {name: value.shape for name, value in converted.items() if "Logits" not in name} == {
        name: shape for name, shape in layout.items() if "Logits" not in name
    }
    assert converted[f"{SCOPE}/Logits/Conv3d_0c_1x1/conv_3d/w"].shape == (1, 1, 1, 1024, 157)
    for name, value in arrays.items():
        if "Logits" in name:
            continue
        scope, _, weight = name.rpartition("/")
        unit = scope.rpartition("/")[0]  # ".../Conv3d_0b_3x3/conv_3d" → ".../Conv3d_0b_3x3"
        gamma = gammas[f"{unit}/batch_norm/gamma"]
        if weight == "w" or weight == "moving_mean":  # the scale folds into the kernel's outputs and the mean
            np.testing.assert_allclose(converted[name], value * gamma, rtol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(converted[name], value, err_msg=name)


def test_converted_weights_compute_the_ports_units(port, model, tmp_path):
    # The fold keeps what each unit computes: the first units against the reference with the scale (cheap; the whole
    # network is compared with the port run by PyTorch below, where torch is installed).
    arrays, gammas, state = port
    converted = i3d_torch_conversion.torch_to_deepmind(state, i3d_torch_conversion.kernel_shapes_of(model))
    tf1_reader.write_tf1_checkpoint(str(tmp_path / "model.ckpt"), converted)
    i3d_checkpoint.load_i3d_weights(model, tmp_path / "model.ckpt")
    frames = np.random.default_rng(2).uniform(-1, 1, (1, 3, 224, 224, 3)).astype(np.float32)
    expected = reference_i3d(frames, {**arrays, **gammas}, until="Conv3d_2c_3x3")["Conv3d_2c_3x3"]
    output = model.end_point_model("Conv3d_2c_3x3").predict_on_batch(frames)
    np.testing.assert_allclose(output, expected, atol=1e-4 * max(1, np.abs(expected).max()))
    # Without the scale the units would differ: the reference above is not γ-blind.
    unscaled = reference_i3d(frames, arrays, until="Conv3d_2c_3x3")["Conv3d_2c_3x3"]
    assert np.max(np.abs(unscaled - expected)) > 1e-2


def test_refuses_a_state_dict_of_another_network(port, model):
    _, _, state = port
    shapes = i3d_torch_conversion.kernel_shapes_of(model)
    broken = dict(state)
    del broken["Mixed_4d.b2a.bn.running_var"]
    broken["Mixed_4d.b2a.conv3d.bias"] = np.zeros(24, np.float32)
    broken["Conv3d_2c_3x3.conv3d.weight"] = np.zeros((192, 64, 1, 3, 3), np.float32)
    broken["logits.conv3d.bias"] = np.zeros(3, np.float32)
    with pytest.raises(TorchConversionError) as error:
        i3d_torch_conversion.torch_to_deepmind(broken, shapes)
    message = str(error.value)
    assert "missing (1):\n    Mixed_4d.b2a.bn.running_var [24]" in message
    assert "unexpected (1):\n    Mixed_4d.b2a.conv3d.bias [24]" in message
    assert "Conv3d_2c_3x3.conv3d.weight: [192, 64, 1, 3, 3], expected [192, 64, 3, 3, 3]" in message
    assert "logits.conv3d.bias: [3], expected [157]" in message


def test_reading_a_pt_file(port, tmp_path):
    torch = pytest.importorskip("torch")
    _, _, state = port
    path = tmp_path / "rgb_charades.pt"
    torch.save({name: torch.from_numpy(np.asarray(value)) for name, value in state.items()}, path)
    read = i3d_torch_conversion.read_torch_state_dict(path)
    assert sorted(read) == sorted(state)
    np.testing.assert_array_equal(read["Mixed_5c.b3b.conv3d.weight"], state["Mixed_5c.b3b.conv3d.weight"])


def _same_padding(size, kernel, stride):
    """F.pad amounts `[front, back]` of TensorFlow's SAME for one axis."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return [total // 2, total - total // 2]


def port_forward(torch, state, frames):
    """The port's network in PyTorch semantics (NCTHW, explicit SAME pads, zeros before max pools, eval batch norm
    with scale), written with `torch.nn.functional` from the state dict; returns `[batch, time', 1024]`."""
    functional = torch.nn.functional

    def pad(x, kernel, stride):
        amounts = []
        for axis in (4, 3, 2):  # F.pad lists the last axis first
            amounts += _same_padding(x.shape[axis], kernel[axis - 2], stride[axis - 2])
        return functional.pad(x, amounts)  # zeros, as the port pads before its max pools too

    def unit(x, module, stride=(1, 1, 1)):
        weight = torch.from_numpy(state[f"{module}.conv3d.weight"])
        x = functional.conv3d(pad(x, weight.shape[2:], stride), weight, stride=stride)
        bn = {
            k: torch.from_numpy(np.asarray(state[f"{module}.bn.{k}"]))
            for k in ("weight", "bias", "running_mean", "running_var")
        }
        x = functional.batch_norm(x, bn["running_mean"], bn["running_var"], bn["weight"], bn["bias"], False, 0.0, 1e-3)
        return functional.relu(x)

    def max_pool(x, kernel, stride):
        return functional.max_pool3d(pad(x, kernel, stride), kernel, stride)

    def mixed(x, name):
        return torch.cat(
            [
                unit(x, f"{name}.b0"),
                unit(unit(x, f"{name}.b1a"), f"{name}.b1b"),
                unit(unit(x, f"{name}.b2a"), f"{name}.b2b"),
                unit(max_pool(x, (3, 3, 3), (1, 1, 1)), f"{name}.b3b"),
            ],
            dim=1,
        )

    x = torch.from_numpy(np.transpose(frames, (0, 4, 1, 2, 3)).copy())
    x = max_pool(unit(x, "Conv3d_1a_7x7", (2, 2, 2)), (1, 3, 3), (1, 2, 2))
    x = max_pool(unit(unit(x, "Conv3d_2b_1x1"), "Conv3d_2c_3x3"), (1, 3, 3), (1, 2, 2))
    x = max_pool(mixed(mixed(x, "Mixed_3b"), "Mixed_3c"), (3, 3, 3), (2, 2, 2))
    for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
        x = mixed(x, name)
    x = mixed(mixed(max_pool(x, (2, 2, 2), (2, 2, 2)), "Mixed_5b"), "Mixed_5c")
    x = functional.avg_pool3d(x, (2, 7, 7), (1, 1, 1))
    return x[:, :, :, 0, 0].permute(0, 2, 1).numpy()


def test_equals_the_ports_network_run_by_pytorch(port, model, tmp_path):
    torch = pytest.importorskip("torch")
    _, _, state = port
    converted = i3d_torch_conversion.torch_to_deepmind(state, i3d_torch_conversion.kernel_shapes_of(model))
    tf1_reader.write_tf1_checkpoint(str(tmp_path / "model.ckpt"), converted)
    i3d_checkpoint.load_i3d_weights(model, tmp_path / "model.ckpt")
    frames = np.random.default_rng(4).uniform(-1, 1, (1, 10, 224, 224, 3)).astype(np.float32)
    with torch.no_grad():
        expected = port_forward(torch, state, frames)
    assert expected.shape == (1, 1, 1024)
    np.testing.assert_allclose(model.predict_on_batch(frames), expected, atol=1e-4 * max(1, np.abs(expected).max()))
