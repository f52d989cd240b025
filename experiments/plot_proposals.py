"""Plot the learned proposals of an LPNet run over its training moments (the paper's Fig. 4).

    python -m experiments.plot_proposals --run_dir=RUN --out=RUN/proposals.png [--split=train] [--checkpoint=...]

Reads the run with `common.training.run_loader.load_run` (the selected checkpoint: `best/` if present, else the
latest in `checkpoints/`), takes the `proposal_box` variable (normalized center, half-length) and the normalized
(center, half-length) of the split's moments from the run's processed data, and draws them with
`lpnet_tf.proposal_plot.plot_proposals` (the initialization region outlined). Needs matplotlib (`nlvl-tf[plot]`).
"""

import os
import sys

from absl import app, flags

from lpnet_tf import proposal_plot


def define_flags(flag_values=flags.FLAGS):
    """This entry point's flags (defined under `__main__` only, so importing defines none)."""
    flags.DEFINE_string("run_dir", None, "LPNet run directory.", flag_values=flag_values)
    flags.DEFINE_string("out", None, "Figure to write (format from the extension; default RUN_DIR/proposals.png).",
                        flag_values=flag_values)
    flags.DEFINE_string("split", "train", "Split whose ground-truth moments form the background.",
                        flag_values=flag_values)
    flags.DEFINE_string("checkpoint", None, "Checkpoint instead of the run's selected one.", flag_values=flag_values)


def plot_run(run_dir, out=None, *, split="train", checkpoint=None, missing_ok=False):
    """Plot the proposals of the LPNet run `run_dir` over the moments of `split`.

    Args:
        run_dir: an LPNet run directory.
        out: the figure path; default `RUN_DIR/proposals.png`.
        split: processed split of the ground truth (no ground truth drawn when the processed data has no such
            split, e.g. an imported TF1 run without processed data).
        checkpoint: optional checkpoint path.
        missing_ok: without matplotlib, print a note and return `None` instead of raising (for the end of
            training).

    Returns:
        the arrays `plot_proposals` returns (and `checkpoint`), or `None` (matplotlib missing with `missing_ok`).

    Raises:
        ValueError: not an LPNet run.
        ImportError: matplotlib missing (unless `missing_ok`).
    """
    try:
        proposal_plot.require_matplotlib()
    except ImportError:
        if missing_ok:
            print(f"no proposal plot: {proposal_plot.MISSING_MATPLOTLIB}")
            return None
        raise
    from common.data import dataset as dataset_lib
    from common.training import run_loader

    loaded = run_loader.load_run(run_dir, checkpoint=checkpoint)
    if loaded.family != "lpnet":
        raise ValueError(f"{run_dir} is a {loaded.family!r} run; the proposal plot needs an LPNet run")
    ground_truth = None
    processed_dir = run_loader.resolve_run_path(loaded.run_config["data"]["processed_dir"], run_dir)
    if os.path.exists(os.path.join(processed_dir, f"{split}.jsonl")):
        examples = dataset_lib.load_processed(processed_dir).splits[split]
        ground_truth = proposal_plot.ground_truth_boxes(examples)
    out = out or os.path.join(run_dir, "proposals.png")
    result = proposal_plot.plot_proposals(
        loaded.model.proposal_box.numpy(), ground_truth, path=out,
        initial_max_half_length=loaded.config.initial_max_half_length,
        title=f"{os.path.basename(os.path.normpath(run_dir))}: {len(loaded.model.proposal_box.numpy())} proposals"
              + (f" over {len(ground_truth)} {split} moments" if ground_truth is not None else ""))
    result["checkpoint"] = loaded.checkpoint
    return result


def run(flag_values):
    if not flag_values.run_dir:
        raise app.UsageError("--run_dir is required")
    result = plot_run(flag_values.run_dir, flag_values.out, split=flag_values.split,
                      checkpoint=flag_values.checkpoint)
    inside = int(result["inside_init_region"].sum())
    print(f"wrote {result['path']} ({len(result['proposals'])} proposals from {result['checkpoint']}, {inside} still "
          "inside the initialization region"
          + (f"; {len(result['ground_truth'])} ground-truth moments)" if result["ground_truth"] is not None else ")"))
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
    app.run(main)
