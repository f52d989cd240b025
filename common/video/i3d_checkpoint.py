"""DeepMind's I3D TensorFlow checkpoints (`kinetics-i3d/data/checkpoints/rgb_imagenet`) → `I3D`, by an explicit table.

The checkpoint is a TF1 `Saver` file read with `tf.train.load_checkpoint` (`common.checkpoint_conversion.tf1_reader`).
Its 230 variables (`shared/specs/i3d_checkpoint_layout/rgb_imagenet/variables.txt`) are, under `RGB/inception_i3d/`:

| DeepMind | ours (`I3D` weight path) |
|---|---|
| `Conv3d_1a_7x7/conv_3d/w [7, 7, 7, 3, 64]` | `Conv3d_1a_7x7/conv_3d/kernel` (same layout) |
| `Conv3d_1a_7x7/batch_norm/{beta, moving_mean, moving_variance} [64]` | `Conv3d_1a_7x7/batch_norm/...` |
| `Mixed_3b/Branch_0/Conv3d_0a_1x1/...` | `Mixed_3b/branch_0/...` |
| `Mixed_3b/Branch_1/Conv3d_0a_1x1`, `Branch_1/Conv3d_0b_3x3` | `branch_1a`, `branch_1b` |
| `Mixed_3b/Branch_2/Conv3d_0a_1x1`, `Branch_2/Conv3d_0b_3x3` (`0a_3x3` in `Mixed_5b`) | `branch_2a`, `branch_2b` |
| `Mixed_3b/Branch_3/Conv3d_0b_1x1` | `branch_3b` |
| `Logits/Conv3d_0c_1x1/conv_3d/{w, b}` (the Kinetics classifier) | not imported: the features stop before it |

Like the TF1 model importer, loading refuses (assigning nothing) when a variable is missing, unexpected or
misshapen, listing every one.
"""

import hashlib

from common.checkpoint_conversion import tf1_reader
from common.checkpoint_conversion.tf1_reader import Entry, TF1ImportError
from common.video.i3d import END_POINTS, I3D

SCOPE = "RGB/inception_i3d"
#: Our branch layer → DeepMind's scope inside a `Mixed_*` block.
BRANCH_SCOPES = {
    "branch_0": "Branch_0/Conv3d_0a_1x1",
    "branch_1a": "Branch_1/Conv3d_0a_1x1",
    "branch_1b": "Branch_1/Conv3d_0b_3x3",
    "branch_2a": "Branch_2/Conv3d_0a_1x1",
    "branch_2b": "Branch_2/Conv3d_0b_3x3",
    "branch_3b": "Branch_3/Conv3d_0b_1x1",
}
#: DeepMind's `i3d.py` names this one convolution `Conv3d_0a_3x3` (its checkpoint keeps the name).
SCOPE_EXCEPTIONS = {"Mixed_5b/branch_2b": "Mixed_5b/Branch_2/Conv3d_0a_3x3"}
#: The classifier after the features: in the checkpoint, not in `I3D`.
LOGITS = ("Logits/Conv3d_0c_1x1/conv_3d/w", "Logits/Conv3d_0c_1x1/conv_3d/b")
#: A `Unit3D`'s weights: DeepMind's name under the unit's scope → ours under its layer path.
UNIT_WEIGHTS = {
    "conv_3d/w": "conv_3d/kernel",
    "batch_norm/beta": "batch_norm/beta",
    "batch_norm/moving_mean": "batch_norm/moving_mean",
    "batch_norm/moving_variance": "batch_norm/moving_variance",
}


def unit_scopes():
    """Every `Unit3D` of `I3D` in network order: `(DeepMind scope without "RGB/inception_i3d/", our layer path)`."""
    units = []
    for end_point, (kind, *_) in END_POINTS.items():
        if kind == "unit":
            units.append((end_point, end_point))
        elif kind == "mixed":
            for branch, scope in BRANCH_SCOPES.items():
                ours = f"{end_point}/{branch}"
                units.append((SCOPE_EXCEPTIONS.get(ours, f"{end_point}/{scope}"), ours))
    return units


def weight_table(scope=SCOPE):
    """The explicit table: one `Entry` per I3D weight (228 rows: 57 units × conv kernel + 3 batch-norm arrays)."""
    return [
        Entry(f"{scope}/{deepmind}/{name}", f"{ours}/{weight}")
        for deepmind, ours in unit_scopes()
        for name, weight in UNIT_WEIGHTS.items()
    ]


def _ignore_logits(scope):
    names = {f"{scope}/{name}" for name in LOGITS}

    def rule(name, table_names):
        del table_names  # unused: the classifier is ignored whatever the table holds
        return "the classifier after the features (Logits), which I3D features do not use" if name in names else None

    return rule


def load_i3d_weights(model, path, scope=SCOPE):
    """Assign the I3D weights of DeepMind's checkpoint layout at `path` to `model` (an `I3D`).

    Args:
        model: an `I3D`.
        path: checkpoint prefix (`.../rgb_imagenet/model.ckpt`) or the folder holding it.
        scope: the variables' scope. Defaults to the RGB stream's `RGB/inception_i3d`.

    Returns:
        a `tf1_reader.ImportReport` (the `Logits` variables are reported as ignored).

    Raises:
        TF1ImportError: the checkpoint holds the optical-flow stream, or a variable is missing, unexpected or
            misshapen (all of them listed); nothing is assigned then.
        FileNotFoundError: no checkpoint at `path`.
    """
    checkpoint = tf1_reader.TF1Checkpoint(path)
    names = checkpoint.names()
    if names and all(name.startswith("Flow/") for name in names):
        raise TF1ImportError(
            f"{checkpoint.path} is DeepMind's optical-flow I3D (variables under Flow/); the features are extracted "
            "with the RGB stream (rgb_imagenet, or rgb_charades converted by experiments.convert_i3d_torch)"
        )
    return tf1_reader.load_tf1_weights(
        checkpoint, weight_table(scope), tf1_reader.keras_weights(model), ignore=_ignore_logits(scope), what="I3D"
    )


def load_i3d(path, image_size=224):
    """A new `I3D` holding the weights of the checkpoint at `path` (see `load_i3d_weights`)."""
    model = I3D(image_size=image_size)
    load_i3d_weights(model, path)
    return model


def checkpoint_digest(path):
    """SHA-256 of the checkpoint's `.index` file, which holds a CRC32C of every tensor: it names the weights."""
    prefix = tf1_reader.resolve_checkpoint_path(path)
    with open(prefix + ".index", "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()
