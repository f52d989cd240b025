"""Tests of `common.training.optimizers` against float64/float32 numpy references and `tf.compat.v1`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.training import optimizers, schedules
from tests.common.training.optimizer_helpers import (
    BIAS_0,
    GRADS_BIAS,
    GRADS_KERNEL,
    KERNEL_0,
    apply_gradients,
    make_variables,
    run_script,
)

# === numpy references ===


def _adam_weight_decay_reference(
    theta, grads, lr, decayed, dtype=np.float64, beta_1=0.9, beta_2=0.999, epsilon=1e-6, weight_decay=0.01
):
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


# === AdamWeightDecay ===


@pytest.mark.parametrize("in_function", [False, True])
def test_adam_weight_decay_matches_float64_reference(in_function):
    kernel, bias = make_variables("float64")
    optimizer = optimizers.AdamWeightDecay(learning_rate=0.1)
    optimizer.exclude_from_weight_decay(var_list=[bias])
    optimizer.build([kernel, bias])
    apply_gradients(optimizer, kernel, bias, in_function=in_function)
    np.testing.assert_allclose(
        kernel.numpy(), _adam_weight_decay_reference(KERNEL_0, GRADS_KERNEL, 0.1, True), rtol=0, atol=1e-7
    )
    np.testing.assert_allclose(
        bias.numpy(), _adam_weight_decay_reference(BIAS_0, GRADS_BIAS, 0.1, False), rtol=0, atol=1e-7
    )
    assert int(optimizer.iterations.numpy()) == 3


def test_adam_weight_decay_float32_is_op_for_op_the_original():
    kernel, bias = make_variables("float32")
    optimizer = optimizers.AdamWeightDecay(learning_rate=0.1)
    optimizer.exclude_from_weight_decay(var_list=[bias])
    optimizer.build([kernel, bias])
    apply_gradients(optimizer, kernel, bias, in_function=True)
    f32 = [g.astype(np.float32) for g in GRADS_KERNEL]
    np.testing.assert_array_equal(
        kernel.numpy(), _adam_weight_decay_reference(KERNEL_0, f32, 0.1, True, dtype=np.float32)
    )
    f32 = [g.astype(np.float32) for g in GRADS_BIAS]
    np.testing.assert_array_equal(bias.numpy(), _adam_weight_decay_reference(BIAS_0, f32, 0.1, False, dtype=np.float32))


def test_adam_weight_decay_has_no_bias_correction():
    # First step: m = 0.1g, v = 0.001g², so u = 0.1g/(√0.001·|g| + ε) ≈ 3.1623·sign(g), not Adam's sign(g).
    bias = keras.Variable(np.zeros(3), name="bias")
    g = np.array([0.5, -2.0, 3.0])
    optimizer = optimizers.AdamWeightDecay(learning_rate=0.1)
    optimizer.exclude_from_weight_decay(var_list=[bias])
    optimizer.apply_gradients([(tf.constant(g), bias)])
    expected = -0.1 * (0.1 * g / (np.sqrt(0.001) * np.abs(g) + 1e-6))
    np.testing.assert_allclose(bias.numpy(), expected, rtol=1e-7)  # lr is a float32 variable, as in TF1
    np.testing.assert_allclose(np.abs(bias.numpy()), 0.1 * np.sqrt(10), rtol=1e-4)


def test_decay_is_applied_once_in_the_original_form():
    # Zero gradient: m = v = 0, so the whole step is the decay term lr·wd·θ (and Keras' own decay is off).
    kernel = keras.Variable(np.array([1.0, -3.0]), name="kernel")
    optimizer = optimizers.AdamWeightDecay(learning_rate=0.5, weight_decay=0.1)
    optimizer.apply_gradients([(tf.zeros(2, tf.float64), kernel)])
    np.testing.assert_allclose(kernel.numpy(), [1.0 - 0.05, -3.0 + 0.15], rtol=1e-15)


def test_exclusions_accumulate_and_are_frozen_after_build():
    kernel, bias = make_variables("float64")
    other = keras.Variable(np.ones(2), name="gamma")
    optimizer = optimizers.AdamWeightDecay()
    optimizer.exclude_from_weight_decay(var_list=[bias])
    optimizer.exclude_from_weight_decay(var_list=[other])
    optimizer.build([kernel, bias, other])
    assert optimizer._use_weight_decay(kernel)
    assert not optimizer._use_weight_decay(bias)
    assert not optimizer._use_weight_decay(other)
    with pytest.raises(ValueError, match="before the optimizer is built"):
        optimizer.exclude_from_weight_decay(var_list=[kernel])


# === TF1Adam ===


@pytest.mark.parametrize("double_count", [False, True])
def test_tf1_adam_matches_float64_reference(double_count):
    kernel, bias = make_variables("float64")
    optimizer = optimizers.TF1Adam(learning_rate=0.1, adam_double_count=double_count)
    optimizer.mark_first_update([bias])
    optimizer.build([kernel, bias])
    apply_gradients(optimizer, kernel, bias, in_function=True)
    if double_count:
        bias_steps, kernel_steps = [1, 3, 5], [2, 4, 6]  # t = 2i+1 for the first op, 2i+2 for the other
    else:
        bias_steps = kernel_steps = [1, 2, 3]
    np.testing.assert_allclose(
        kernel.numpy(), _tf1_adam_reference(KERNEL_0, GRADS_KERNEL, 0.1, kernel_steps), rtol=0, atol=1e-7
    )
    np.testing.assert_allclose(
        bias.numpy(), _tf1_adam_reference(BIAS_0, GRADS_BIAS, 0.1, bias_steps), rtol=0, atol=1e-7
    )
    expected_power = np.float32(0.9) ** (7 if double_count else 4)
    np.testing.assert_allclose(optimizer._beta_1_power.numpy(), expected_power, rtol=1e-6)


def test_tf1_adam_first_step_is_bias_corrected():
    # Adam's first step is lr·sign(g); the float32 hyperparameters (1 − 0.999f, 1 − 0.9f) shift it by ~7e-6.
    bias = keras.Variable(np.zeros(2), name="bias")
    optimizer = optimizers.TF1Adam(learning_rate=0.1)
    optimizer.apply_gradients([(tf.constant([0.5, -2.0], tf.float64), bias)])
    np.testing.assert_allclose(bias.numpy(), [-0.1, 0.1], rtol=1e-5)
    np.testing.assert_allclose(
        bias.numpy(), _tf1_adam_reference(np.zeros(2), [np.array([0.5, -2.0])], 0.1, [1]), rtol=1e-12
    )


def test_tf1_adam_advances_the_beta_powers_once_per_counted_update():
    kernel, bias = make_variables("float32")
    optimizer = optimizers.TF1Adam(learning_rate=0.1, adam_double_count=True)
    optimizer.build([kernel, bias])
    optimizer.apply([], [])  # Keras applies and counts nothing, so the powers stay at β (t = 0).
    assert int(optimizer.iterations.numpy()) == 0
    assert optimizer._beta_1_power.numpy() == np.float32(0.9)
    apply_gradients(optimizer, kernel, bias, steps=1)
    assert int(optimizer.iterations.numpy()) == 1
    assert optimizer._beta_1_power.numpy() == np.float32(np.float32(0.9) * np.float32(0.9)) * np.float32(0.9)
    assert optimizer._beta_2_power.numpy() == np.float32(np.float32(0.999) * np.float32(0.999)) * np.float32(0.999)


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
    reference = run_script(TF1_GRAPH_SCRIPT, tmp_path)
    inputs = {k: np.array(v) for k, v in reference["inputs"].items()}
    for double in (False, True):
        a = keras.Variable(np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2), name="a")
        box = keras.Variable(np.array([0.3, 0.7], np.float32), name="proposal_box")
        table = keras.Variable(np.ones((5, 2), np.float32), name="table")
        optimizer = optimizers.TF1Adam(1e-2, adam_double_count=double)
        optimizer.mark_first_update([box])
        optimizer.build([a, box, table])

        @tf.function
        def step(ga, gb, gr):
            with tf.GradientTape() as tape:
                loss = (
                    tf.reduce_sum(a * ga)
                    + tf.reduce_sum(tf.gather(table.value, inputs["ids"]) * gr)
                    + tf.reduce_sum(box * gb)
                )
            grads = tape.gradient(loss, [a, box, table])
            assert isinstance(grads[2], tf.IndexedSlices)
            optimizer.apply_gradients(zip(grads, [a, box, table]))

        for i in range(4):
            step(*(tf.constant(inputs[k][i], tf.float32) for k in ("grads_a", "grads_b", "rows")))
        expected = reference[str(double)]
        np.testing.assert_array_equal(a.numpy(), np.float32(expected["a"]))
        np.testing.assert_array_equal(box.numpy(), np.float32(expected["box"]))
        np.testing.assert_array_equal(table.numpy(), np.float32(expected["table"]))


# === Serialization and factories ===


@pytest.mark.parametrize(
    "make",
    [
        lambda: optimizers.AdamWeightDecay(
            schedules.LinearDecayWithWarmup(1e-4, 100), weight_decay=0.02, epsilon=1e-5, global_clipnorm=1.0
        ),
        lambda: optimizers.TF1Adam(
            schedules.StaircaseExponentialDecay(1e-4, global_step_multiplier=2), adam_double_count=True
        ),
        lambda: optimizers.TF1Adam(1e-4),
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


def test_build_optimizer():
    schedule = schedules.StaircaseExponentialDecay(1e-4, global_step_multiplier=2)
    vslnet = optimizers.build_optimizer("adam_weight_decay", schedule, global_clipnorm=1.0)
    assert isinstance(vslnet, optimizers.AdamWeightDecay)
    assert (vslnet.epsilon, vslnet.weight_decay, vslnet.global_clipnorm) == (1e-6, 0.01, 1.0)
    lpnet = optimizers.build_optimizer("tf1_adam", 1e-4, adam_double_count=True)
    assert isinstance(lpnet, optimizers.TF1Adam)
    assert (lpnet.epsilon, lpnet.adam_double_count, lpnet.global_clipnorm) == (1e-8, True, None)
    with pytest.raises(ValueError):
        optimizers.build_optimizer("sgd", 1e-4)
    with pytest.raises(ValueError):
        optimizers.build_optimizer("adam_weight_decay", 1e-4, adam_double_count=True)


def test_weight_decay_exclusions_by_role():
    inputs = keras.Input((5, 4))
    x = keras.layers.Dense(6, name="dense")(inputs)
    x = keras.layers.LayerNormalization(name="norm")(x)
    x = keras.layers.Conv1D(6, 3, padding="same", use_bias=False, name="conv")(x)
    x = keras.layers.LSTM(3, return_sequences=True, name="lstm")(x)
    model = keras.Model(inputs, x)
    excluded = {v.path for v in optimizers.weight_decay_exclusions(model)}
    assert excluded == {"dense/bias", "norm/gamma", "norm/beta", "lstm/lstm_cell/bias"}

    class Custom(keras.layers.Layer):
        def build(self, shape):
            self.scale = self.add_weight(shape=(2,), name="scale")
            self.table = self.add_weight(shape=(2, 2), name="table")

        def no_weight_decay_weights(self):
            return [self.scale]

    layer = Custom()
    layer.build((2,))
    assert [v.path for v in optimizers.weight_decay_exclusions(layer)] == ["custom/scale"]


# === Compilation and checkpoints ===


@pytest.mark.parametrize("kind", ["adam_weight_decay", "tf1_adam"])
def test_optimizers_compile_with_xla(kind):
    def run(jit_compile):
        kernel = keras.Variable(KERNEL_0.astype(np.float32), name="kernel")
        table = keras.Variable(np.ones((4, 2), np.float32), name="table")
        if kind == "adam_weight_decay":
            optimizer = optimizers.AdamWeightDecay(0.1, global_clipnorm=1.0)
        else:
            optimizer = optimizers.TF1Adam(0.1, adam_double_count=True)
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
        kernel, bias = make_variables("float32")
        if kind == "adam_weight_decay":
            optimizer = optimizers.AdamWeightDecay(schedules.LinearDecayWithWarmup(0.1, 10), global_clipnorm=1.0)
            optimizer.exclude_from_weight_decay(var_list=[bias])
        else:
            optimizer = optimizers.TF1Adam(0.1, adam_double_count=True)
            optimizer.mark_first_update([bias])
        optimizer.build([kernel, bias])
        return kernel, bias, optimizer, tf.train.Checkpoint(kernel=kernel, bias=bias, optimizer=optimizer)

    kernel, bias, optimizer, checkpoint = make()
    apply_gradients(optimizer, kernel, bias, steps=2)
    path = checkpoint.write(str(tmp_path / "ckpt"))
    apply_gradients(optimizer, kernel, bias, steps=3)

    kernel_2, bias_2, optimizer_2, checkpoint_2 = make()
    checkpoint_2.read(path).assert_consumed()
    apply_gradients(optimizer_2, kernel_2, bias_2, steps=3)
    np.testing.assert_array_equal(kernel_2.numpy(), kernel.numpy())
    np.testing.assert_array_equal(bias_2.numpy(), bias.numpy())
    assert int(optimizer_2.iterations.numpy()) == 5
