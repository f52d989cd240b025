"""Export a trained run (VSLNet, VSLBase or LPNet) as a SavedModel that takes raw text.

    python -m experiments.export --run_dir=runs/x --out=exported/x [--checkpoint=runs/x/checkpoints/ckpt-120]

The run directory is read by `common.export.run_loader.load_run` (its `config.json`, processed vocabulary and the
selected checkpoint: `best/` if present, else the latest in `checkpoints/`). The SavedModel has two signatures:
`serving_default` (one video's features `[T, Dv]`, a raw query string and the duration in seconds → the moment in
seconds, its score and the probability curves; for LPNet the chosen proposal's score and the top-k proposals) and
`predict_ids` (batched token ids → spans); see
`common/export/saved_model.py`. Reload it with `tf.saved_model.load(OUT)`; serving needs neither this package nor
NLTK.
"""

import json
import os
import sys

from absl import app, flags

from common.export import saved_model
from experiments import flag_help


def define_flags(flag_values=flags.FLAGS):
    """This entry point's flags (defined under `__main__` only, so importing defines none)."""
    flags.DEFINE_string(
        "run_dir", None, "Run directory (config.json, processed data, checkpoints).", flag_values=flag_values
    )
    flags.DEFINE_string("out", None, "SavedModel folder to write.", flag_values=flag_values)
    flags.DEFINE_string(
        "checkpoint", None, "Checkpoint to export instead of the run's selected one.", flag_values=flag_values
    )


def describe(run, out_dir):
    with open(os.path.join(out_dir, "nlvl_export.json")) as f:
        signatures = json.load(f)["signatures"]
    serving, ids = signatures["serving_default"], signatures["predict_ids"]
    strategy = ", strategy string ('pm' or 'u')" if run.model_name == "vslnet_l" else ""
    return (
        f"exported {run.model_name} from {run.checkpoint} to {out_dir}\n"
        f"  serving_default: video_features [T, {run.feature_dim}] float32, query string, duration float32"
        f"{strategy} -> "
        f"{', '.join(serving)} (features resampled to at most {run.max_pos_len} clips)\n"
        f"  predict_ids: video_features [B, n, {run.feature_dim}], video_mask, word_ids, char_ids -> "
        f"{', '.join(ids)}"
    )


def run(flag_values):
    """Export as the flags say; returns the `LoadedRun` that was exported."""
    if not flag_values.run_dir or not flag_values.out:
        raise app.UsageError("--run_dir and --out are required")
    loaded = saved_model.export_run(flag_values.run_dir, flag_values.out, checkpoint=flag_values.checkpoint)
    print(describe(loaded, flag_values.out))
    return loaded


def main(argv):
    del argv  # unused
    try:
        run(flags.FLAGS)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    flag_help.run(main)
