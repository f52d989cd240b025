"""The distribution of LPNet's learned proposals over the ground-truth moments (the paper's Fig. 4).

Each point is a normalized (center, half-length) pair: the K learned boxes `(c_k, h_k)` (the `proposal_box`
variable, fidelity LPNet §8.1) over the training moments `(c, h) = ((s + e) / 2 / D, (e − s) / 2 / D)`; the
initialization region `c ∈ [0, 1)`, `h ∈ [0, initial_max_half_length)` is outlined. matplotlib is optional (`pip install
nlvl-tf[plot]`); `plot_proposals` raises an `ImportError` naming the extra when it is missing.

    arrays = plot_proposals(model.proposal_box.numpy(), ground_truth_boxes(examples), path="proposals.png")
"""

import os

import numpy as np

MISSING_MATPLOTLIB = "the proposal plot needs matplotlib: pip install 'nlvl-tf[plot]' (or pip install matplotlib)"


def ground_truth_boxes(examples):
    """Normalized `(center, half_length)` of each example's moment, float32 `[N, 2]`.

    Args:
        examples: processed examples (dicts with `start_time`, `end_time` and `duration` in seconds); times are
            clipped to `[0, duration]` and examples without a positive duration are skipped.
    """
    rows = []
    for example in examples:
        duration = float(example["duration"])
        if not duration > 0:
            continue
        start = min(max(float(example["start_time"]), 0.0), duration) / duration
        end = min(max(float(example["end_time"]), 0.0), duration) / duration
        rows.append(((start + end) / 2.0, abs(end - start) / 2.0))
    return np.asarray(rows, np.float32).reshape(-1, 2)


def require_matplotlib():
    """`(Figure, FigureCanvasAgg, Rectangle)` of matplotlib (no pyplot state); `ImportError` naming the extra."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError(MISSING_MATPLOTLIB) from error
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    return Figure, FigureCanvasAgg, Rectangle


def plot_proposals(boxes, ground_truth=None, path=None, *, initial_max_half_length=0.25, title=None, bins=40):
    """Scatter the learned proposals (center vs half-length) over the ground-truth moments' distribution.

    Args:
        boxes: the proposal boxes `[K, 2]` (column 0 the normalized center c, column 1 the half-length h).
        ground_truth: optional `[N, 2]` normalized (center, half-length) of the moments (`ground_truth_boxes`),
            drawn as a 2-D histogram (darker: more moments) under the proposals.
        path: where to write the figure (format from the extension, e.g. `.png`, `.pdf`); `None`: not written.
        initial_max_half_length: the outlined initialization region is `c ∈ [0, 1)`, `h ∈ [0, this)`.
        title: optional figure title.
        bins: histogram bins per axis of the ground truth.

    Returns:
        dict of what was plotted: `proposals` float32 `[K, 2]`, `ground_truth` float32 `[N, 2]` (or `None`),
        `ground_truth_histogram` `[bins, bins]` counts (rows: center bins, columns: half-length bins; or `None`),
        `histogram_edges` `(center_edges, half_length_edges)` (or `None`), `init_region` `(c0, c1, h0, h1)`,
        `inside_init_region` bool `[K]` (proposals still inside the initialization region), `figure` (the matplotlib
        `Figure`) and `path`.

    Raises:
        ImportError: matplotlib is not installed.
    """
    Figure, FigureCanvasAgg, Rectangle = require_matplotlib()
    proposals = np.asarray(boxes, np.float32).reshape(-1, 2)
    init_region = (0.0, 1.0, 0.0, float(initial_max_half_length))
    inside = (
        (proposals[:, 0] >= init_region[0])
        & (proposals[:, 0] < init_region[1])
        & (proposals[:, 1] >= init_region[2])
        & (proposals[:, 1] < init_region[3])
    )
    figure = Figure(figsize=(6.0, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    # Axis ranges: the unit square of centers and [0, 0.5] of half-lengths, widened to every point.
    points = (
        proposals
        if ground_truth is None
        else np.concatenate([proposals, np.asarray(ground_truth, np.float32).reshape(-1, 2)])
    )
    c_range = (min(0.0, float(points[:, 0].min(initial=0.0))), max(1.0, float(points[:, 0].max(initial=1.0))))
    h_range = (min(0.0, float(points[:, 1].min(initial=0.0))), max(0.5, float(points[:, 1].max(initial=0.5))))
    histogram = edges = None
    if ground_truth is not None:
        ground_truth = np.asarray(ground_truth, np.float32).reshape(-1, 2)
        histogram, c_edges, h_edges = np.histogram2d(
            ground_truth[:, 0], ground_truth[:, 1], bins=bins, range=[c_range, h_range]
        )
        edges = (c_edges, h_edges)
        masked = np.ma.masked_equal(histogram.T, 0)
        mesh = axes.pcolormesh(c_edges, h_edges, masked, cmap="Greys", shading="flat")
        figure.colorbar(mesh, ax=axes, label=f"ground-truth moments ({len(ground_truth)})")
    axes.add_patch(
        Rectangle(
            (init_region[0], init_region[2]),
            init_region[1] - init_region[0],
            init_region[3] - init_region[2],
            fill=False,
            edgecolor="tab:blue",
            linestyle="--",
            linewidth=1.2,
            label="initialization region",
        )
    )
    axes.scatter(
        proposals[:, 0],
        proposals[:, 1],
        s=14,
        c="tab:red",
        edgecolors="none",
        label=f"learned proposals ({len(proposals)})",
    )
    axes.set_xlim(*c_range)
    axes.set_ylim(*h_range)
    axes.set_xlabel("normalized center")
    axes.set_ylabel("normalized half-length")
    axes.legend(loc="upper right", fontsize="small")
    if title:
        axes.set_title(title)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=150)
    return {
        "proposals": proposals,
        "ground_truth": ground_truth,
        "ground_truth_histogram": histogram,
        "histogram_edges": edges,
        "init_region": init_region,
        "inside_init_region": inside,
        "figure": figure,
        "path": path,
    }


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
        require_matplotlib()
    except ImportError:
        if missing_ok:
            print(f"no proposal plot: {MISSING_MATPLOTLIB}")
            return None
        raise
    from common.data import dataset as dataset_lib
    from common.training import run_loader

    loaded = run_loader.load_run(run_dir, checkpoint=checkpoint)
    if not hasattr(loaded.model, "proposal_box"):
        raise ValueError(f"{run_dir} is a {loaded.family!r} run; the proposal plot needs an LPNet run")
    ground_truth = None
    processed_dir = run_loader.resolve_run_path(loaded.run_config["data"]["processed_dir"], run_dir)
    if os.path.exists(os.path.join(processed_dir, f"{split}.jsonl")):
        examples = dataset_lib.load_processed(processed_dir).splits[split]
        ground_truth = ground_truth_boxes(examples)
    out = out or os.path.join(run_dir, "proposals.png")
    result = plot_proposals(
        loaded.model.proposal_box.numpy(),
        ground_truth,
        path=out,
        initial_max_half_length=loaded.config.initial_max_half_length,
        title=f"{os.path.basename(os.path.normpath(run_dir))}: {len(loaded.model.proposal_box.numpy())} proposals"
        + (f" over {len(ground_truth)} {split} moments" if ground_truth is not None else ""),
    )
    result["checkpoint"] = loaded.checkpoint
    return result
