"""Tests of `benchmarks/speed.py`: the per-replica split of its random batches, and a multi-replica smoke run."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from common.data import pipeline

SPEED_PY = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "speed.py"


def _load_speed():
    """`benchmarks/speed.py` as a module (it is a script, not in a package; importing it defines no flags)."""
    name = "benchmarks_speed"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SPEED_PY)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.parametrize("batch_size, num_replicas", [(16, 2), (5, 3), (2, 4)])
def test_replica_batches_are_the_pipeline_rows_padded_to_the_global_batch(batch_size, num_replicas):
    speed = _load_speed()
    batch = speed.random_batch(np.random.default_rng(0), batch_size, num_clips=12, num_words=4)
    parts = speed.replica_batches(batch, num_replicas, range(num_replicas))
    assert len(parts) == num_replicas
    for replica, part in enumerate(parts):
        rows = pipeline.replica_rows(np.arange(batch_size), num_replicas, replica)
        assert part.keys() == batch.keys()
        for key, value in batch.items():
            assert part[key].shape == (len(rows),) + value.shape[1:], key  # global padding kept
            np.testing.assert_array_equal(part[key], value[rows], err_msg=key)
    # Every row goes to exactly one replica, in order.
    np.testing.assert_array_equal(np.concatenate([p["start_index"] for p in parts]), batch["start_index"])


def test_replica_batches_of_a_subset_of_replicas():
    speed = _load_speed()
    batch = speed.random_batch(np.random.default_rng(1), 6, num_clips=8, num_words=3)
    (part,) = speed.replica_batches(batch, 3, (2,))
    np.testing.assert_array_equal(part["word_ids"], batch["word_ids"][4:6])


@pytest.mark.slow
def test_mirrored_smoke_run_on_two_logical_cpus():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [
            sys.executable,
            str(SPEED_PY),
            "--model=vslnet",
            "--shape=charades",
            "--steps=1",
            "--warmup=1",
            "--strategy=mirrored",
            "--cpu_devices=2",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = result.stdout.strip().splitlines()
    assert "strategy mirrored, 2 replicas on CPU (rows 8+8)" in lines[0]
    rates = json.loads(lines[-1])
    assert set(rates) == {"train_samples_per_s", "infer_samples_per_s"}
    assert all(rate > 0 for rate in rates.values())


def test_cpu_devices_needs_mirrored():
    result = subprocess.run(
        [sys.executable, str(SPEED_PY), "--strategy=default", "--cpu_devices=2"],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "--cpu_devices only makes replicas for --strategy=mirrored" in result.stdout + result.stderr
