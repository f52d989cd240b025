"""Tests of the experiments/make_synthetic.py entry point."""

import json
import pathlib
import subprocess
import sys

from experiments import make_synthetic

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_import_defines_no_flags():
    # In a fresh interpreter: other tests in this process may define flags of their own.
    code = (
        "from absl import flags; import experiments.make_synthetic; "
        "print([n in flags.FLAGS for n in ('out', 'preset')])"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[False, False]"


def test_entry_point_writes_the_dataset(tmp_path):
    out = tmp_path / "cli"
    command = [sys.executable, "-m", "experiments.make_synthetic", f"--out={out}", "--preset=tiny", "--seed=3"]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    for text in ("mean query length (words)", "mean_moment", "random_span", "r1_iou07"):
        assert text in completed.stdout

    summary = make_synthetic.make_synthetic(str(tmp_path / "api"), preset="tiny", seed=3)
    assert json.loads((out / "baselines.json").read_text()) == summary["baselines"]
    assert (out / "charades_sta_test.txt").read_bytes() == (tmp_path / "api" / "charades_sta_test.txt").read_bytes()

    again = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert again.returncode != 0 and "--overwrite" in again.stderr


def test_format_summary(tmp_path):
    summary = make_synthetic.make_synthetic(str(tmp_path), preset="tiny", seed=0)
    text = make_synthetic.format_summary(summary)
    assert f"{summary['statistics']['test']['queries']:>10d}" in text
    assert f"{summary['baselines']['mean_moment']['miou']:9.2f}" in text
