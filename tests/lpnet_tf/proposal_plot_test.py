"""Tests for `lpnet_tf.proposal_plot` and `experiments.plot_proposals` (the paper's Fig. 4)."""

import json
import sys

import numpy as np
import pytest
from absl import flags

from experiments import plot_proposals as plot_cli
from lpnet_tf import proposal_plot
from tests.lpnet_tf.export_test import make_lpnet_run_dir

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EXAMPLES = [
    {"start_time": 2.0, "end_time": 6.0, "duration": 20.0},  # c 0.2, h 0.1
    {"start_time": 0.0, "end_time": 30.0, "duration": 30.0},  # c 0.5, h 0.5
    {"start_time": 9.0, "end_time": 12.0, "duration": 10.0},  # end clipped to the duration: c 0.95, h 0.05
    {"start_time": 1.0, "end_time": 2.0, "duration": 0.0},  # skipped
]


def test_ground_truth_boxes():
    np.testing.assert_allclose(
        proposal_plot.ground_truth_boxes(EXAMPLES), [[0.2, 0.1], [0.5, 0.5], [0.95, 0.05]], atol=1e-6
    )
    assert proposal_plot.ground_truth_boxes([]).shape == (0, 2)


def test_plot_proposals_writes_a_png_and_returns_what_it_plotted(tmp_path):
    pytest.importorskip("matplotlib")
    boxes = np.array([[0.1, 0.05], [0.5, 0.3], [0.9, 0.2], [1.1, 0.1], [0.4, -0.02]], np.float32)
    ground_truth = proposal_plot.ground_truth_boxes(EXAMPLES)
    path = tmp_path / "proposals.png"
    result = proposal_plot.plot_proposals(boxes, ground_truth, path=str(path), bins=10)
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 1000
    np.testing.assert_array_equal(result["proposals"], boxes)
    np.testing.assert_array_equal(result["ground_truth"], ground_truth)
    np.testing.assert_array_equal(result["inside_init_region"], [True, False, True, False, False])
    assert result["init_region"] == (0.0, 1.0, 0.0, 0.25)
    histogram = result["ground_truth_histogram"]
    assert histogram.shape == (10, 10) and histogram.sum() == 3
    c_edges, h_edges = result["histogram_edges"]
    # The axes widen to every point: centers up to 1.1, half-lengths down to -0.02.
    assert c_edges[0] == 0.0 and np.isclose(c_edges[-1], 1.1) and np.isclose(h_edges[0], -0.02)
    assert h_edges[-1] == 0.5
    row = np.searchsorted(c_edges, 0.2, side="right") - 1
    col = np.searchsorted(h_edges, 0.1, side="right") - 1
    assert histogram[row, col] == 1
    # Without ground truth: only the proposals.
    alone = proposal_plot.plot_proposals(boxes[:3], path=None, initial_max_half_length=0.1)
    assert alone["ground_truth"] is None and alone["ground_truth_histogram"] is None
    np.testing.assert_array_equal(alone["inside_init_region"], [True, False, False])


def test_missing_matplotlib_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"nlvl-tf\[plot\]"):
        proposal_plot.plot_proposals(np.zeros((2, 2)), path=str(tmp_path / "x.png"))
    assert proposal_plot.plot_run(str(tmp_path), missing_ok=True) is None


def test_plot_run_reads_the_checkpoint_and_the_train_split(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    run_dir, model, _ = make_lpnet_run_dir(tmp_path / "run")
    with open(run_dir / "data" / "train.jsonl", "w") as f:
        for example in EXAMPLES:
            f.write(json.dumps(dict(example, qid=0, vid="v")) + "\n")
    flag_values = flags.FlagValues()
    plot_cli.define_flags(flag_values)
    flag_values(["plot_proposals", f"--run_dir={run_dir}"])
    result = plot_cli.run(flag_values)
    assert result["path"] == str(run_dir / "proposals.png")
    assert (run_dir / "proposals.png").read_bytes()[:8] == PNG_MAGIC
    np.testing.assert_array_equal(result["proposals"], model.proposal_box.numpy())
    np.testing.assert_allclose(result["ground_truth"], proposal_plot.ground_truth_boxes(EXAMPLES))
    assert result["checkpoint"].endswith("checkpoints/ckpt-1")
    assert "5 proposals" in capsys.readouterr().out
    # A processed folder without the split: the proposals alone.
    alone = proposal_plot.plot_run(str(run_dir), str(tmp_path / "alone.png"), split="val")
    assert alone["ground_truth"] is None and (tmp_path / "alone.png").exists()
