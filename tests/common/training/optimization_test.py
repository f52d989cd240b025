"""Tests of `common.training.optimization` against float64/float32 numpy references and `tf.compat.v1`.

The `tf.compat.v1` graph and the two-replica `MirroredStrategy` checks run in subprocesses: the first disables
eager execution and the second must configure logical devices before TensorFlow initializes.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.training import optimization

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

GRADS_KERNEL = [
    np.array([[0.3, -0.2], [0.05, 0.1]]),
    np.array([[-0.1, 0.4], [0.2, -0.3]]),
    np.array([[0.25, 0.0], [-0.15, 0.05]]),
]
GRADS_BIAS = [np.array([0.2, -0.01]), np.array([-0.3, 0.02]), np.array([0.1, 0.0])]
KERNEL_0 = np.array([[0.5, -1.0], [2.0, 0.25]])
BIAS_0 = np.array([0.1, -0.2])


def _run_subprocess(script, tmp_path, timeout=120):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get(
        "PYTHONPATH", ""))
    out = tmp_path / "out.json"
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(out)], env=env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    with open(out) as f:
        return json.load(f)


# === numpy references ===


def _adam_weight_decay_reference(theta, grads, lr, decayed, dtype=np.float64, beta_1=0.9, beta_2=0.999,
                                 epsilon=1e-6, weight_decay=0.01):
    """Spec vslnet §4.1, op by op in `dtype`; constants rounded from Python doubles as in the original graph."""
    theta = theta.astype(dtype)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for g in grads:
        g = g.astype(dtype)
        m = dtype(beta_1) * m + dtype(1.0 - beta_1) * g
        v = dtype(beta_2) * v + dtype(1.0 - beta_2) * np.square(g)
        u = m / (np.sqrt(v) + dtype(epsilon))
        if decayed:
            u = u + dtype(weight_decay) * theta
        theta = theta - dtype(lr) * u
    return theta


def _tf1_adam_reference(theta, grads, lr, steps_seen, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
    """TF1 `ApplyAdam` in float64: lr_t = lr·√(1−β2^t)/(1−β1^t), θ −= m·lr_t/(√v + ε); t from `steps_seen`.

    As in TF1, the hyperparameters are float32 tensors cast to the variable's dtype, and β^t comes from float32
    accumulators that start at β and are multiplied by β once per `minimize`.
    """
    f32 = lambda x: np.float64(np.float32(x))  # noqa: E731
    lr, beta_1_32, beta_2_32, epsilon = f32(lr), np.float32(beta_1), np.float32(beta_2), f32(epsilon)
    powers_1, powers_2 = [None, beta_1_32], [None, beta_2_32]
    for _ in range(max(steps_seen)):
        powers_1.append(np.float32(powers_1[-1] * beta_1_32))
        powers_2.append(np.float32(powers_2[-1] * beta_2_32))
    beta_1, beta_2 = np.float64(beta_1_32), np.float64(beta_2_32)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for g, t in zip(grads, steps_seen):
        lr_t = lr * np.sqrt(1 - np.float64(powers_2[t])) / (1 - np.float64(powers_1[t]))
        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        theta = theta - m * lr_t / (np.sqrt(v) + epsilon)
    return theta


def _variables(dtype):
    kernel = keras.Variable(KERNEL_0.astype(dtype), name="kernel")
    bias = keras.Variable(BIAS_0.astype(dtype), name="bias")
    return kernel, bias


def _apply(optimizer, kernel, bias, steps=3, in_function=False):
    def step(gk, gb):
        optimizer.apply_gradients([(gk, kernel), (gb, bias)])

    if in_function:
        step = tf.function(step)
    for t in range(steps):
        step(tf.constant(GRADS_KERNEL[t], kernel.dtype), tf.constant(GRADS_BIAS[t], bias.dtype))


# === AdamWeightDecay ===


@pytest.mark.parametrize("in_function", [False, True])
def test_adam_weight_decay_matches_float64_reference(in_function):
    kernel, bias = _variables("float64")
    optimizer = optimization.AdamWeightDecay(learning_rate=0.1)
    optimizer.exclude_from_weight_decay(var_list=[bias])
    optimizer.build([kernel, bias])
    _apply(optimizer, kernel, bias, in_function=in_function)
    np.testing.assert_allclose(kernel.numpy(), _adam_weight_decay_reference(KERNEL_0, GRADS_KERNEL, 0.1, True),
                               rtol=0, atol=1e-7)
    np.testing.assert_allclose(bias.numpy(), _adam_weight_decay_reference(BIAS_0, GRADS_BIAS, 0.1, False),
                               rtol=0, atol=1e-7)
    assert int(optimizer.iterations.numpy()) == 3


def test_adam_weight_decay_float32_is_op_for_op_the_original():
    kernel, bias = _variables("float32")
    optimizer = optimization.AdamWeightDecay(learning_rate=0.1)
    optimizer.exclude_from_weight_decay(var_list=[bias])
    optimizer.build([kernel, bias])
    _apply(optimizer, kernel, bias, in_function=True)
    f32 = [g.astype(np.float32) for g in GRADS_KERNEL]
    np.testing.assert_array_equal(kernel.numpy(), _adam_weight_decay_reference(
        KERNEL_0, f32, 0.1, True, dtype=np.float32))
    f32 = [g.astype(np.float32) for g in GRADS_BIAS]
    np.testing.assert_array_equal(bias.numpy(), _adam_weight_decay_reference(
        BIAS_0, f32, 0.1, False, dtype=np.float32))


def test_adam_weight_decay_has_no_bias_correction():
    # First step: m = 0.1g, v = 0.001g², so u = 0.1g/(√0.001·|g| + ε) ≈ 3.1623·sign(g), not Adam's sign(g).
    bias = keras.Variable(np.zeros(3), name="bias")
    g = np.array([0.5, -2.0, 3.0])
    optimizer = optimization.AdamWeightDecay(learning_rate=0.1)
    optimizer.exclude_from_weight_decay(var_list=[bias])
    optimizer.apply_gradients([(tf.constant(g), bias)])
    expected = -0.1 * (0.1 * g / (np.sqrt(0.001) * np.abs(g) + 1e-6))
    np.testing.assert_allclose(bias.numpy(), expected, rtol=1e-7)  # lr is a float32 variable, as in TF1
    np.testing.assert_allclose(np.abs(bias.numpy()), 0.1 * np.sqrt(10), rtol=1e-4)


def test_decay_is_applied_once_in_the_original_form():
    # Zero gradient: m = v = 0, so the whole step is the decay term lr·wd·θ (and Keras' own decay is off).
    kernel = keras.Variable(np.array([1.0, -3.0]), name="kernel")
    optimizer = optimization.AdamWeightDecay(learning_rate=0.5, weight_decay=0.1)
    optimizer.apply_gradients([(tf.zeros(2, tf.float64), kernel)])
    np.testing.assert_allclose(kernel.numpy(), [1.0 - 0.05, -3.0 + 0.15], rtol=1e-15)


def test_exclusions_accumulate_and_are_frozen_after_build():
    kernel, bias = _variables("float64")
    other = keras.Variable(np.ones(2), name="gamma")
    optimizer = optimization.AdamWeightDecay()
    optimizer.exclude_from_weight_decay(var_list=[bias])
    optimizer.exclude_from_weight_decay(var_list=[other])
    optimizer.build([kernel, bias, other])
    assert optimizer._use_weight_decay(kernel)
    assert not optimizer._use_weight_decay(bias)
    assert not optimizer._use_weight_decay(other)
    with pytest.raises(ValueError, match="before the optimizer is built"):
        optimizer.exclude_from_weight_decay(var_list=[kernel])


def test_global_clipnorm_equals_tf_clip_by_global_norm_before_the_update():
    kernel, bias = _variables("float32")
    big_kernel = GRADS_KERNEL[0] * 40.0
    big_bias = GRADS_BIAS[0] * 40.0
    clipped, norm = tf.clip_by_global_norm([tf.constant(big_kernel, tf.float32), tf.constant(big_bias, tf.float32)],
                                           1.0)
    assert norm.numpy() > 1.0

    optimizer = optimization.AdamWeightDecay(learning_rate=0.1, global_clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_list=[bias])
    optimizer.apply_gradients([(tf.constant(big_kernel, tf.float32), kernel), (tf.constant(big_bias, tf.float32),
                                                                               bias)])
    reference_kernel, reference_bias = _variables("float32")
    unclipped = optimization.AdamWeightDecay(learning_rate=0.1)
    unclipped.exclude_from_weight_decay(var_list=[reference_bias])
    unclipped.apply_gradients([(clipped[0], reference_kernel), (clipped[1], reference_bias)])
    np.testing.assert_array_equal(kernel.numpy(), reference_kernel.numpy())
    np.testing.assert_array_equal(bias.numpy(), reference_bias.numpy())


def test_global_clipnorm_takes_the_norm_of_indexed_slices_as_given():
    # The original's `tf.clip_by_global_norm` sums the squares of the slices, duplicates not merged.
    table = keras.Variable(np.zeros((3, 2), np.float32), name="table")
    optimizer = optimization.AdamWeightDecay(learning_rate=1.0, weight_decay=0.0, global_clipnorm=1.0)
    optimizer.build([table])
    values = np.array([[3.0, 0.0], [3.0, 0.0]], np.float32)
    slices = tf.IndexedSlices(tf.constant(values), tf.constant([1, 1]), tf.constant([3, 2]))
    optimizer.apply_gradients([(slices, table)])
    dense_g = np.array([[0, 0], [6.0, 0], [0, 0]], np.float32) / np.sqrt(18.0)  # norm √18, not 6
    expected = -(0.1 * dense_g) / (np.sqrt(0.001 * dense_g**2) + 1e-6)
    np.testing.assert_allclose(table.numpy(), expected, rtol=1e-6)


# === TF1Adam ===


@pytest.mark.parametrize("double_count", [False, True])
def test_tf1_adam_matches_float64_reference(double_count):
    kernel, bias = _variables("float64")
    optimizer = optimization.TF1Adam(learning_rate=0.1, adam_double_count=double_count)
    optimizer.mark_first_update([bias])
    optimizer.build([kernel, bias])
    _apply(optimizer, kernel, bias, in_function=True)
    if double_count:
        bias_steps, kernel_steps = [1, 3, 5], [2, 4, 6]  # t = 2i+1 for the first op, 2i+2 for the other
    else:
        bias_steps = kernel_steps = [1, 2, 3]
    np.testing.assert_allclose(kernel.numpy(), _tf1_adam_reference(KERNEL_0, GRADS_KERNEL, 0.1, kernel_steps),
                               rtol=0, atol=1e-7)
    np.testing.assert_allclose(bias.numpy(), _tf1_adam_reference(BIAS_0, GRADS_BIAS, 0.1, bias_steps),
                               rtol=0, atol=1e-7)
    expected_power = np.float32(0.9) ** (7 if double_count else 4)
    np.testing.assert_allclose(optimizer._beta_1_power.numpy(), expected_power, rtol=1e-6)


def test_tf1_adam_first_step_is_bias_corrected():
    # Adam's first step is lr·sign(g); the float32 hyperparameters (1 − 0.999f, 1 − 0.9f) shift it by ~7e-6.
    bias = keras.Variable(np.zeros(2), name="bias")
    optimizer = optimization.TF1Adam(learning_rate=0.1)
    optimizer.apply_gradients([(tf.constant([0.5, -2.0], tf.float64), bias)])
    np.testing.assert_allclose(bias.numpy(), [-0.1, 0.1], rtol=1e-5)
    np.testing.assert_allclose(bias.numpy(), _tf1_adam_reference(np.zeros(2), [np.array([0.5, -2.0])], 0.1, [1]),
                               rtol=1e-12)


TF1_GRAPH_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
v1 = tf.compat.v1
v1.disable_eager_execution()
rng = np.random.default_rng(0)
grads_a = rng.normal(size=(4, 3, 2)).astype(np.float32)
grads_b = rng.normal(size=(4, 2)).astype(np.float32)
rows = rng.normal(size=(4, 3, 2)).astype(np.float32)
ids = np.array([1, 3, 1], np.int32)
out = {}
for double in (False, True):
    with tf.Graph().as_default():
        a = v1.get_variable("a", initializer=np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2))
        box = v1.get_variable("proposal_box", initializer=np.array([0.3, 0.7], np.float32))
        table = v1.get_variable("table", initializer=np.ones((5, 2), np.float32))
        ga = v1.placeholder(tf.float32, [3, 2]); gb = v1.placeholder(tf.float32, [2])
        gr = v1.placeholder(tf.float32, [3, 2])
        main_loss = tf.reduce_sum(a * ga) + tf.reduce_sum(tf.gather(table, ids) * gr)
        box_loss = tf.reduce_sum(box * gb)
        opt = v1.train.AdamOptimizer(1e-2)
        if double:  # two minimize ops, one shared optimizer; run box first, then main
            op_box = opt.minimize(box_loss, var_list=[box])
            op_main = opt.minimize(main_loss, var_list=[a, table])
            ops = [op_box, op_main]
        else:
            ops = [opt.minimize(main_loss + box_loss, var_list=[a, box, table])]
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            for i in range(4):
                for op in ops:
                    sess.run(op, {ga: grads_a[i], gb: grads_b[i], gr: rows[i]})
            out[str(double)] = {k: v.tolist() for k, v in zip(["a", "box", "table"], sess.run([a, box, table]))}
out["inputs"] = {"grads_a": grads_a.tolist(), "grads_b": grads_b.tolist(), "rows": rows.tolist(),
                 "ids": ids.tolist()}
json.dump(out, open(sys.argv[1], "w"))
"""


def test_tf1_adam_is_bitwise_tf_compat_v1_adam(tmp_path):
    reference = _run_subprocess(TF1_GRAPH_SCRIPT, tmp_path)
    inputs = {k: np.array(v) for k, v in reference["inputs"].items()}
    for double in (False, True):
        a = keras.Variable(np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2), name="a")
        box = keras.Variable(np.array([0.3, 0.7], np.float32), name="proposal_box")
        table = keras.Variable(np.ones((5, 2), np.float32), name="table")
        optimizer = optimization.TF1Adam(1e-2, adam_double_count=double)
        optimizer.mark_first_update([box])
        optimizer.build([a, box, table])

        @tf.function
        def step(ga, gb, gr):
            with tf.GradientTape() as tape:
                loss = (tf.reduce_sum(a * ga) + tf.reduce_sum(tf.gather(table.value, inputs["ids"]) * gr)
                        + tf.reduce_sum(box * gb))
            grads = tape.gradient(loss, [a, box, table])
            assert isinstance(grads[2], tf.IndexedSlices)
            optimizer.apply_gradients(zip(grads, [a, box, table]))

        for i in range(4):
            step(*(tf.constant(inputs[k][i], tf.float32) for k in ("grads_a", "grads_b", "rows")))
        expected = reference[str(double)]
        np.testing.assert_array_equal(a.numpy(), np.float32(expected["a"]))
        np.testing.assert_array_equal(box.numpy(), np.float32(expected["box"]))
        np.testing.assert_array_equal(table.numpy(), np.float32(expected["table"]))


# === Learning-rate schedules ===


def test_linear_decay_values():
    schedule = optimization.LinearDecayWithWarmup(1e-4, decay_steps=1000)
    values = [float(schedule(t)) for t in (0, 500, 750, 1000, 5000)]
    np.testing.assert_allclose(values, [1e-4, 5e-5, 2.5e-5, 0.0, 0.0], rtol=1e-6, atol=1e-12)
    # Near T the float32 `1 − t/T` cancels, exactly as in the original: 1 − 0.999f = 1.0000467e-3.
    np.testing.assert_allclose(float(schedule(999)), 1e-4 * (1 - np.float32(0.999)), rtol=1e-6)


def test_linear_decay_with_warmup_values():
    schedule = optimization.LinearDecayWithWarmup(1e-4, decay_steps=1000, warmup_steps=100)
    values = [float(schedule(t)) for t in (0, 50, 99, 100, 500, 1000)]
    np.testing.assert_allclose(values, [0.0, 5e-5, 9.9e-5, 9e-5, 5e-5, 0.0], rtol=1e-6, atol=1e-12)


def test_warmup_steps_from_proportion():
    assert optimization.warmup_steps_from_proportion(1000, 0.0) == 0
    assert optimization.warmup_steps_from_proportion(1000, 0.1) == 100
    assert optimization.warmup_steps_from_proportion(1001, 0.1) == 100
    assert optimization.warmup_steps_from_proportion(1000, 1.0) == 1000
    assert optimization.warmup_steps_from_proportion(1000, 250.0) == 250


def test_schedules_are_bitwise_tf1_decay_functions():
    steps = [0, 1, 7, 333, 12345, 23399, 23400, 99999, 100000, 100001, 250000]
    step = tf.Variable(0, dtype=tf.int64)
    tf1_linear = tf.compat.v1.train.polynomial_decay(tf.constant(1e-4, tf.float32), step, 23400,
                                                     end_learning_rate=0.0, power=1.0, cycle=False)
    tf1_staircase = tf.compat.v1.train.exponential_decay(1e-4, step, 100000, 0.9, staircase=True)
    linear = optimization.LinearDecayWithWarmup(1e-4, 23400)
    staircase = optimization.StaircaseExponentialDecay(1e-4)
    for t in steps:
        step.assign(t)
        assert linear(t).numpy() == tf1_linear().numpy(), t
        assert staircase(t).numpy() == tf1_staircase().numpy(), t


def test_staircase_with_doubled_global_step():
    single = optimization.StaircaseExponentialDecay(1e-4, 100000, 0.9)
    double = optimization.StaircaseExponentialDecay(1e-4, 100000, 0.9, global_step_multiplier=2)
    np.testing.assert_allclose([float(single(t)) for t in (0, 99999, 100000, 233799)],
                               [1e-4, 1e-4, 9e-5, 8.1e-5], rtol=1e-6)
    np.testing.assert_allclose([float(double(t)) for t in (0, 49999, 50000, 233799)],
                               [1e-4, 1e-4, 9e-5, 1e-4 * 0.9**4], rtol=1e-6)


def test_optimizer_reads_the_schedule_at_the_zero_based_update_count():
    bias = keras.Variable(np.zeros(1), name="bias")
    schedule = optimization.LinearDecayWithWarmup(1.0, decay_steps=4)
    optimizer = optimization.AdamWeightDecay(learning_rate=schedule)
    optimizer.exclude_from_weight_decay(var_list=[bias])
    deltas = []
    for _ in range(5):
        before = bias.numpy().copy()
        optimizer.apply_gradients([(tf.constant([1.0], tf.float64), bias)])
        deltas.append(float(before[0] - bias.numpy()[0]))
    # u = m/(√v+ε) for a constant gradient 1 after k+1 steps; lr = 1 − k/4.
    u = [(1 - 0.9 ** (k + 1)) / (np.sqrt(1 - 0.999 ** (k + 1)) + 1e-6) for k in range(5)]
    np.testing.assert_allclose(deltas, [(1 - k / 4) * u[k] for k in range(5)], rtol=1e-6, atol=1e-12)


# === Serialization and factories ===


@pytest.mark.parametrize(
    "obj",
    [
        optimization.LinearDecayWithWarmup(1e-4, 2340, warmup_steps=10),
        optimization.StaircaseExponentialDecay(1e-4, 100000, 0.9, global_step_multiplier=2),
    ],
)
def test_schedule_config_round_trip(obj):
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(obj))
    assert type(restored) is type(obj)
    assert restored.get_config() == obj.get_config()
    assert float(restored(60000)) == float(obj(60000))


@pytest.mark.parametrize(
    "make",
    [
        lambda: optimization.AdamWeightDecay(optimization.LinearDecayWithWarmup(1e-4, 100), weight_decay=0.02,
                                             epsilon=1e-5, global_clipnorm=1.0),
        lambda: optimization.TF1Adam(optimization.StaircaseExponentialDecay(1e-4, global_step_multiplier=2),
                                     adam_double_count=True),
        lambda: optimization.TF1Adam(1e-4),
    ],
)
def test_optimizer_config_round_trip(make):
    optimizer = make()
    config = optimizer.get_config()
    restored = type(optimizer).from_config(dict(config))
    assert restored.get_config() == config
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is type(optimizer)
    assert restored.get_config() == config


def test_build_factories():
    schedule = optimization.build_learning_rate("linear_decay", 1e-4, total_steps=1000, warmup_proportion=0.1)
    assert isinstance(schedule, optimization.LinearDecayWithWarmup)
    assert (schedule.decay_steps, schedule.warmup_steps) == (1000, 100)
    schedule = optimization.build_learning_rate("staircase_exponential_decay", 1e-4, global_step_multiplier=2)
    assert schedule.get_config()["global_step_multiplier"] == 2
    assert optimization.build_learning_rate("constant", 1e-4) == 1e-4
    with pytest.raises(ValueError):
        optimization.build_learning_rate("cosine", 1e-4)

    vslnet = optimization.build_optimizer("adam_weight_decay", schedule, global_clipnorm=1.0)
    assert isinstance(vslnet, optimization.AdamWeightDecay)
    assert (vslnet.epsilon, vslnet.weight_decay, vslnet.global_clipnorm) == (1e-6, 0.01, 1.0)
    lpnet = optimization.build_optimizer("tf1_adam", 1e-4, adam_double_count=True)
    assert isinstance(lpnet, optimization.TF1Adam)
    assert (lpnet.epsilon, lpnet.adam_double_count, lpnet.global_clipnorm) == (1e-8, True, None)
    with pytest.raises(ValueError):
        optimization.build_optimizer("sgd", 1e-4)


def test_weight_decay_exclusions_by_role():
    inputs = keras.Input((5, 4))
    x = keras.layers.Dense(6, name="dense")(inputs)
    x = keras.layers.LayerNormalization(name="norm")(x)
    x = keras.layers.Conv1D(6, 3, padding="same", use_bias=False, name="conv")(x)
    x = keras.layers.LSTM(3, return_sequences=True, name="lstm")(x)
    model = keras.Model(inputs, x)
    excluded = {v.path for v in optimization.weight_decay_exclusions(model)}
    assert excluded == {"dense/bias", "norm/gamma", "norm/beta", "lstm/lstm_cell/bias"}

    class Custom(keras.layers.Layer):
        def build(self, shape):
            self.scale = self.add_weight(shape=(2,), name="scale")
            self.table = self.add_weight(shape=(2, 2), name="table")

        def no_weight_decay_weights(self):
            return [self.scale]

    layer = Custom()
    layer.build((2,))
    assert [v.path for v in optimization.weight_decay_exclusions(layer)] == ["custom/scale"]


# === tf.distribute ===

MIRRORED_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from common.training import optimization

rng = np.random.default_rng(1)
x = rng.normal(size=(3, 8, 3)).astype(np.float32)
ids = rng.integers(0, 6, size=(3, 8)).astype(np.int32)
y = (5.0 * rng.normal(size=(3, 8, 4))).astype(np.float32)
GLOBAL = 8
SPLITS = (4, 5, 2)


def run(strategy, make_optimizer):
    with strategy.scope():
        kernel = keras.Variable(rng_init(3, 4), name="kernel")
        bias = keras.Variable(np.zeros(4, np.float32), name="bias")
        table = keras.Variable(rng_init(6, 4), name="table")
        variables = [kernel, bias, table]
        optimizer = make_optimizer()
        if isinstance(optimizer, optimization.AdamWeightDecay):
            optimizer.exclude_from_weight_decay(var_list=[bias])
        elif isinstance(optimizer, optimization.TF1Adam):
            optimizer.mark_first_update([bias])
        optimizer.build(variables)

    def replica_step(xb, ib, yb):
        with tf.GradientTape() as tape:
            pred = tf.matmul(xb, kernel) + bias + tf.gather(table.value, ib)
            loss = tf.reduce_sum(tf.square(pred - yb)) / GLOBAL  # this replica's share of the batch mean
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))

    @tf.function
    def step(xb, ib, yb):
        strategy.run(replica_step, args=(xb, ib, yb))

    # Replica 0 gets the first SPLITS[i] rows of step i: the embedding slices have other row counts on the two
    # replicas and at every step (what crashed Keras' all-gather of `tf.IndexedSlices`).
    for i in range(3):
        if strategy.num_replicas_in_sync == 1:
            step(x[i], ids[i], y[i])
        else:
            bounds = (0, SPLITS[i], 8)
            part = lambda a: strategy.experimental_distribute_values_from_function(
                lambda ctx: a[bounds[ctx.replica_id_in_sync_group]:bounds[ctx.replica_id_in_sync_group + 1]])
            step(part(x[i]), part(ids[i]), part(y[i]))
    return [v.numpy().tolist() for v in variables]


def rng_init(*shape):
    return np.linspace(-0.5, 0.5, int(np.prod(shape)), dtype=np.float32).reshape(shape)


makers = {
    "adam_weight_decay": lambda: optimization.AdamWeightDecay(0.01, global_clipnorm=1.0),
    "tf1_adam_double": lambda: optimization.TF1Adam(0.01, adam_double_count=True),
    "keras_adam_global_clipnorm": lambda: keras.optimizers.Adam(0.01, global_clipnorm=1.0),
}
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert mirrored.num_replicas_in_sync == 2
out = {name: {"default": run(tf.distribute.get_strategy(), make), "mirrored": run(mirrored, make)}
       for name, make in makers.items()}
json.dump(out, open(sys.argv[1], "w"))
"""


def test_mirrored_strategy_matches_single_device(tmp_path):
    results = _run_subprocess(MIRRORED_SCRIPT, tmp_path)
    for name in ("adam_weight_decay", "tf1_adam_double"):
        for single, mirrored in zip(results[name]["default"], results[name]["mirrored"]):
            np.testing.assert_allclose(mirrored, single, rtol=1e-5, atol=1e-6, err_msg=name)
    # The gradients here have norm ≫ 1, so where the clip happens matters: Keras' own `global_clipnorm`
    # clips each replica's half-batch gradient before the sum (module docstring) and does not match.
    keras_adam = results["keras_adam_global_clipnorm"]
    assert not all(np.allclose(m, s, rtol=1e-5, atol=1e-6) for s, m in zip(keras_adam["default"],
                                                                             keras_adam["mirrored"]))


@pytest.mark.parametrize("kind", ["adam_weight_decay", "tf1_adam"])
def test_optimizers_compile_with_xla(kind):
    def run(jit_compile):
        kernel = keras.Variable(KERNEL_0.astype(np.float32), name="kernel")
        table = keras.Variable(np.ones((4, 2), np.float32), name="table")
        if kind == "adam_weight_decay":
            optimizer = optimization.AdamWeightDecay(0.1, global_clipnorm=1.0)
        else:
            optimizer = optimization.TF1Adam(0.1, adam_double_count=True)
        optimizer.build([kernel, table])

        @tf.function(jit_compile=jit_compile)
        def step(g):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(kernel * g) + 3.0 * tf.reduce_sum(tf.gather(table.value, [2, 0, 2]))
            optimizer.apply_gradients(zip(tape.gradient(loss, [kernel, table]), [kernel, table]))

        for g in GRADS_KERNEL:
            step(tf.constant(g, tf.float32))
        return kernel.numpy(), table.numpy()

    # XLA fuses the element-wise ops its own way, so agreement is to float32 rounding, not bitwise.
    for compiled, plain in zip(run(True), run(False)):
        np.testing.assert_allclose(compiled, plain, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["adam_weight_decay", "tf1_adam"])
def test_checkpoint_restore_resumes_the_same_trajectory(kind, tmp_path):
    def make():
        kernel, bias = _variables("float32")
        if kind == "adam_weight_decay":
            optimizer = optimization.AdamWeightDecay(optimization.LinearDecayWithWarmup(0.1, 10), global_clipnorm=1.0)
            optimizer.exclude_from_weight_decay(var_list=[bias])
        else:
            optimizer = optimization.TF1Adam(0.1, adam_double_count=True)
            optimizer.mark_first_update([bias])
        optimizer.build([kernel, bias])
        return kernel, bias, optimizer, tf.train.Checkpoint(kernel=kernel, bias=bias, optimizer=optimizer)

    kernel, bias, optimizer, checkpoint = make()
    _apply(optimizer, kernel, bias, steps=2)
    path = checkpoint.write(str(tmp_path / "ckpt"))
    _apply(optimizer, kernel, bias, steps=3)

    kernel_2, bias_2, optimizer_2, checkpoint_2 = make()
    checkpoint_2.read(path).assert_consumed()
    _apply(optimizer_2, kernel_2, bias_2, steps=3)
    np.testing.assert_array_equal(kernel_2.numpy(), kernel.numpy())
    np.testing.assert_array_equal(bias_2.numpy(), bias.numpy())
    assert int(optimizer_2.iterations.numpy()) == 5
