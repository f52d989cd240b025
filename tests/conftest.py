"""Shared pytest configuration: quiet TensorFlow, `--run_slow`, and the `shared_dir` fixture."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

SHARED_DIR = pathlib.Path(__file__).resolve().parents[1].parent / "shared"


def pytest_addoption(parser):
    parser.addoption("--run_slow", action="store_true", default=False, help="run tests marked slow")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test, skipped unless --run_slow is given")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run_slow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: pass --run_slow to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture
def shared_dir():
    """The read-only `../shared` folder beside the checkout; tests that need it skip cleanly without it."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} is absent (it exists only in the development workplace)")
    return SHARED_DIR
