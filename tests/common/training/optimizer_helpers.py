"""Variables, gradients and a subprocess runner shared by the optimizer, gradient and schedule tests.

Scripts run in a subprocess when they need their own TensorFlow state: a `tf.compat.v1` graph disables eager
execution, and a two-replica `MirroredStrategy` must configure logical devices before TensorFlow initializes.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import tensorflow as tf

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

GRADS_KERNEL = [
    np.array([[0.3, -0.2], [0.05, 0.1]]),
    np.array([[-0.1, 0.4], [0.2, -0.3]]),
    np.array([[0.25, 0.0], [-0.15, 0.05]]),
]
GRADS_BIAS = [np.array([0.2, -0.01]), np.array([-0.3, 0.02]), np.array([0.1, 0.0])]
KERNEL_0 = np.array([[0.5, -1.0], [2.0, 0.25]])
BIAS_0 = np.array([0.1, -0.2])


def run_script(script, tmp_path, timeout=120):
    """Runs `script` in a fresh Python with the repository importable; returns the JSON it wrote to `argv[1]`."""
    env = dict(
        os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")
    )
    out = tmp_path / "out.json"
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), str(out)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    with open(out) as f:
        return json.load(f)


def make_variables(dtype):
    """A `(2, 2)` kernel and a `(2,)` bias at `KERNEL_0`, `BIAS_0`."""
    kernel = keras.Variable(KERNEL_0.astype(dtype), name="kernel")
    bias = keras.Variable(BIAS_0.astype(dtype), name="bias")
    return kernel, bias


def apply_gradients(optimizer, kernel, bias, steps=3, in_function=False):
    """Applies `GRADS_KERNEL[t]`, `GRADS_BIAS[t]` for t < `steps`, eagerly or in a `tf.function`."""

    def step(gk, gb):
        optimizer.apply_gradients([(gk, kernel), (gb, bias)])

    if in_function:
        step = tf.function(step)
    for t in range(steps):
        step(tf.constant(GRADS_KERNEL[t], kernel.dtype), tf.constant(GRADS_BIAS[t], bias.dtype))
