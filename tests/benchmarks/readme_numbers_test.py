"""Tests of `benchmarks/readme_numbers.py`: the row format, the machine line, and (slow) one tiny end-to-end run."""

import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "readme_numbers.py"
ROW = r"\| [^|]+ \| \d+\.\d\d \| \d+\.\d\d \| \d+\.\d\d \| \d+\.\d\d \|"


def _load():
    spec = importlib.util.spec_from_file_location("benchmarks_readme_numbers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_and_machine_line_have_the_readmes_format():
    numbers = _load()
    scores = {"r1_iou03": 97.7594, "r1_iou05": 96.2264, "r1_iou07": 95.4, "miou": 94.951}
    assert numbers.table_row("VSLNet (x)", scores) == "| VSLNet (x) | 97.76 | 96.23 | 95.40 | 94.95 |"
    assert numbers.format_duration(176.4) == "2 min 56 s" and numbers.format_duration(42) == "42 s"
    assert re.fullmatch(r".+, \d+ of \d+ cores, TensorFlow \S+, Keras \S+, Python \S+", numbers.machine_description())


@pytest.mark.slow  # trains a tiny VSLNet for 2 steps in a subprocess
def test_a_tiny_run_prints_the_table():
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--", "--synthetic_preset=tiny", "--max_steps=2", "--noexport"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("machine: ") and lines[1].startswith("| test split")
    assert re.fullmatch(ROW, lines[3]) and "VSLNet (README command, original protocol; " in lines[3]
    assert "with --synthetic_preset=tiny --max_steps=2 --noexport" in lines[3]
    assert [line.split(" |")[0] for line in lines[4:]] == [
        "| baseline: mean training moment",
        "| baseline: random span",
    ]
