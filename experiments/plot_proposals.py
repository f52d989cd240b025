"""Plot the learned proposals of an LPNet run over its training moments (the paper's Fig. 4).

    python -m experiments.plot_proposals --run_dir=RUN --out=RUN/proposals.png [--split=train] [--checkpoint=...]

`lpnet_tf.proposal_plot.plot_run` reads the run with `common.training.run_loader.load_run` (the selected checkpoint:
    `best/` if present, else the
latest in `checkpoints/`), takes the `proposal_box` variable (normalized center, half-length) and the normalized
(center, half-length) of the split's moments from the run's processed data, and draws them with
`lpnet_tf.proposal_plot.plot_proposals` (the initialization region outlined). Needs matplotlib (`nlvl-tf[plot]`).
"""

import sys

from absl import app, flags

from experiments import flag_help
from lpnet_tf import proposal_plot


def define_flags(flag_values=flags.FLAGS):
    """This entry point's flags (defined under `__main__` only, so importing defines none)."""
    flags.DEFINE_string("run_dir", None, "LPNet run directory.", flag_values=flag_values)
    flags.DEFINE_string(
        "out",
        None,
        "Figure to write (format from the extension; default RUN_DIR/proposals.png).",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "split", "train", "Split whose ground-truth moments form the background.", flag_values=flag_values
    )
    flags.DEFINE_string("checkpoint", None, "Checkpoint instead of the run's selected one.", flag_values=flag_values)


def run(flag_values):
    if not flag_values.run_dir:
        raise app.UsageError("--run_dir is required")
    result = proposal_plot.plot_run(
        flag_values.run_dir, flag_values.out, split=flag_values.split, checkpoint=flag_values.checkpoint
    )
    inside = int(result["inside_init_region"].sum())
    print(
        f"wrote {result['path']} ({len(result['proposals'])} proposals from {result['checkpoint']}, {inside} still "
        "inside the initialization region"
        + (f"; {len(result['ground_truth'])} ground-truth moments)" if result["ground_truth"] is not None else ")")
    )
    return result


def main(argv):
    del argv  # unused
    try:
        run(flags.FLAGS)
    except (ValueError, FileNotFoundError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    flag_help.run(main)
