"""Keeps TensorFlow's start-up notices out of the entry points' output; `experiments/__init__.py` calls `quiet_start_up`
before any entry point imports TensorFlow (`python -m experiments.X` imports the package first).

What a start printed before, on a machine without an NVIDIA driver (TensorFlow 2.21; lines cut at 100 characters):

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796538674.459444   18413 cudart_stub.cc:31] Could not find cuda drivers on your machine, G
    E0000 00:00:1796538694.949429   18413 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error:

(the first two lines twice: two of TensorFlow's shared libraries log them while they load). The `cuInit` error
appears at every `TF_CPP_MIN_LOG_LEVEL` below 3, also with `CUDA_VISIBLE_DEVICES=""`. So:

- `TF_CPP_MIN_LOG_LEVEL`, unless the user set it (their setting always wins): `"3"` on a machine without an NVIDIA
  driver, where the level that hides the `cuInit` line is needed; `"1"` where a driver is installed, so that
  TensorFlow's warnings and errors about its GPUs stay visible and only its INFO notices go.
- The lines the shared libraries log while they load are written before absl logging is initialized, and
  `TF_CPP_MIN_LOG_LEVEL` does not apply to them. While `tensorflow` is imported, stderr goes to a temporary file;
  afterwards every line is passed on except absl's notice about its initialization and the absl log lines of a
  severity the level hides (INFO below 1, WARNING below 2, ERROR below 3). At level 0 nothing is filtered.

`TF_CPP_MIN_LOG_LEVEL=0 python -m experiments.train ...` shows everything.
"""

import contextlib
import ctypes
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
_ABSL_NOT_INITIALIZED = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# absl's log prefix: severity, MMDD hh:mm:ss.micros (before initialization `0000 00:00:<epoch seconds>`), thread,
# file:line].
_ABSL_LINE = re.compile(rb"([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]\s]+:\d+\] ")
_SEVERITIES = b"IWEF"


def has_nvidia_driver():
    """Whether an NVIDIA driver is installed (without importing TensorFlow): the kernel module's `/proc` entry
    (Linux, containers) or a loadable driver library (WSL has no `/proc` entry)."""
    if os.path.exists("/proc/driver/nvidia/version"):
        return True
    try:
        ctypes.CDLL("nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1")
    except OSError:
        return False
    return True


def start_up_level(environ, nvidia_driver):
    """The `TF_CPP_MIN_LOG_LEVEL` a run uses: the user's, else 3 without an NVIDIA driver and 1 with one."""
    if environ.get(LEVEL_VARIABLE, "").strip():
        return environ[LEVEL_VARIABLE].strip()
    return "1" if nvidia_driver else "3"


def keep_line(line, level):
    """Whether a line written to stderr while TensorFlow loads is shown at `TF_CPP_MIN_LOG_LEVEL` `level` (int)."""
    if level <= 0:
        return True
    if line.rstrip(b"\r\n") == _ABSL_NOT_INITIALIZED:
        return False
    match = _ABSL_LINE.match(line)
    return match is None or _SEVERITIES.index(match.group(1)) >= level


@contextlib.contextmanager
def filtered_stderr(level):
    """File descriptor 2 goes to a temporary file inside the block; its `keep_line` lines go to stderr after it."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to filter
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured:
                if keep_line(line, level):
                    os.write(2, line)


class _FilteredLoader(importlib.abc.Loader):
    """Runs a module's loader inside `filtered_stderr`."""

    def __init__(self, loader, level):
        self.loader = loader
        self.level = level

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader  # the module keeps its own loader
        with filtered_stderr(self.level):
            self.loader.exec_module(module)


class _FilteredImport(importlib.abc.MetaPathFinder):
    """Finds `name` once, as the other finders do, and has it loaded through `_FilteredLoader`."""

    def __init__(self, name, level):
        self.name = name
        self.level = level

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader, self.level)
        return spec


def quiet_start_up(module="tensorflow"):
    """Set `TF_CPP_MIN_LOG_LEVEL` (`start_up_level`) and filter stderr while `module` is first imported."""
    level = start_up_level(os.environ, has_nvidia_driver())
    os.environ[LEVEL_VARIABLE] = level
    if module not in sys.modules and level.isdigit() and int(level) > 0:
        sys.meta_path.insert(0, _FilteredImport(module, int(level)))
