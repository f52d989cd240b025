import os
import pathlib
import subprocess
import sys

import pytest

from experiments import tensorflow_logging

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
NOT_INITIALIZED = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
CUDART = (
    b"I0000 00:00:1796538674.459444   18413 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    b"not be used.\n"
)
CUINIT = b"E0000 00:00:1796538694.949429   18413 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n"
WARNING = b"W1204 10:31:02.123456   18413 some_kernel.cc:12] a warning\n"


@pytest.mark.parametrize(
    "environ, driver, level",
    [
        ({}, False, "3"),
        ({}, True, "1"),
        ({"TF_CPP_MIN_LOG_LEVEL": "0"}, False, "0"),
        ({"TF_CPP_MIN_LOG_LEVEL": "2"}, True, "2"),
    ],
)
def test_the_users_level_wins_else_the_driver_decides(environ, driver, level):
    assert tensorflow_logging.start_up_level(environ, driver) == level


@pytest.mark.parametrize(
    "level, kept",
    [
        (0, [NOT_INITIALIZED, CUDART, WARNING, CUINIT, b"plain\n"]),
        (1, [WARNING, CUINIT, b"plain\n"]),
        (3, [b"plain\n"]),
    ],
)
def test_lines_below_the_level_and_absls_notice_are_dropped(level, kept):
    lines = [NOT_INITIALIZED, CUDART, WARNING, CUINIT, b"plain\n"]
    assert [line for line in lines if tensorflow_logging.keep_line(line, level)] == kept


def test_stderr_is_filtered_while_the_module_loads_only(tmp_path):
    # A stand-in for TensorFlow: its import writes to file descriptor 2 as TensorFlow's shared libraries do.
    (tmp_path / "noisy.py").write_text(
        "import os\n"
        f"os.write(2, {NOT_INITIALIZED + CUDART + WARNING + CUINIT!r})\n"
        "print('python line from noisy', file=__import__('sys').stderr)\n"
    )
    script = (
        "import os, sys\n"
        "from experiments import tensorflow_logging\n"
        "tensorflow_logging.quiet_start_up('noisy')\n"
        "import noisy\n"
        "assert type(noisy.__loader__).__name__ == 'SourceFileLoader', noisy.__loader__\n"
        f"os.write(2, {CUDART!r})\n"  # after the import: TF_CPP_MIN_LOG_LEVEL's business, not the filter's
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO_ROOT)]), TF_CPP_MIN_LOG_LEVEL="1")
    completed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, check=True, cwd=tmp_path)
    assert completed.stderr == WARNING + CUINIT + b"python line from noisy\n" + CUDART
