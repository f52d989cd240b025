"""Tests of `common.training.schedules` against TF1's decay functions and the formulas they replaced."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.training import optimizers, schedules

# === The formulas the Keras-based schedules replaced, op for op ===


def _previous_linear_decay_with_warmup(initial_learning_rate, decay_steps, warmup_steps, step):
    learning_rate_0 = tf.convert_to_tensor(initial_learning_rate, tf.float32)
    decay_steps_f = tf.cast(decay_steps, tf.float32)
    p = tf.divide(tf.minimum(tf.cast(step, tf.float32), decay_steps_f), decay_steps_f)
    end, power = tf.constant(0.0, tf.float32), tf.constant(1.0, tf.float32)
    learning_rate = tf.add(tf.multiply(learning_rate_0 - end, tf.pow(1 - p, power)), end)
    if warmup_steps:
        step_int, warmup_int = tf.cast(step, tf.int32), tf.constant(warmup_steps, tf.int32)
        warmup_learning_rate = initial_learning_rate * (tf.cast(step_int, tf.float32) / tf.cast(warmup_int, tf.float32))
        is_warmup = tf.cast(step_int < warmup_int, tf.float32)
        learning_rate = (1.0 - is_warmup) * learning_rate + is_warmup * warmup_learning_rate
    return learning_rate


def _previous_staircase_exponential_decay(initial_learning_rate, decay_steps, decay_rate, multiplier, step):
    global_step = tf.cast(tf.cast(step, tf.int64) * multiplier, tf.float32)
    p = tf.floor(global_step / tf.cast(decay_steps, tf.float32))
    return tf.multiply(
        tf.convert_to_tensor(initial_learning_rate, tf.float32), tf.pow(tf.cast(decay_rate, tf.float32), p)
    )


def _at_step(schedule, step):
    """The schedule at `step` given as a Python int, an int64 tensor, and an int64 variable in a `tf.function`
    (how the optimizer calls it with `iterations`). Grappler rewrites the traced division by a constant, so the
    last can differ from the eager values in the last bit (t = 999 of 1000 does), for both formulas alike."""
    variable = tf.Variable(step, dtype=tf.int64)
    return [schedule(step), schedule(tf.constant(step, tf.int64)), tf.function(lambda: schedule(variable))()]


@pytest.mark.parametrize("initial_learning_rate", [1e-4, 3])
@pytest.mark.parametrize("warmup_steps", [0, 100])
def test_linear_decay_with_warmup_is_bitwise_the_previous_formula(initial_learning_rate, warmup_steps):
    schedule = schedules.LinearDecayWithWarmup(initial_learning_rate, 1000, warmup_steps=warmup_steps)

    def previous(step):
        return _previous_linear_decay_with_warmup(initial_learning_rate, 1000, warmup_steps, step)

    for t in (0, 1, 99, 100, 101, 500, 999, 1000, 1001, 10000):
        for value, expected in zip(_at_step(schedule, t), _at_step(previous, t)):
            assert value.dtype == tf.float32
            assert value.numpy() == expected.numpy(), (t, float(value), float(expected))


@pytest.mark.parametrize("multiplier", [1, 2])
def test_staircase_exponential_decay_is_bitwise_the_previous_formula(multiplier):
    schedule = schedules.StaircaseExponentialDecay(1e-4, 100000, 0.9, global_step_multiplier=multiplier)

    def previous(step):
        return _previous_staircase_exponential_decay(1e-4, 100000, 0.9, multiplier, step)

    for t in (0, 1, 49999, 50000, 99999, 100000, 100001, 233799, 10**6):
        for value, expected in zip(_at_step(schedule, t), _at_step(previous, t)):
            assert value.dtype == tf.float32
            assert value.numpy() == expected.numpy(), (t, float(value), float(expected))


def test_schedules_reject_bad_arguments():
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.LinearDecayWithWarmup(1e-4, 0)
    with pytest.raises(ValueError, match="warmup_steps"):
        schedules.LinearDecayWithWarmup(1e-4, 100, warmup_steps=-1)
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.StaircaseExponentialDecay(1e-4, decay_steps=0)
    with pytest.raises(ValueError, match="global_step_multiplier"):
        schedules.StaircaseExponentialDecay(1e-4, global_step_multiplier=0)


# === Values ===


def test_linear_decay_values():
    schedule = schedules.LinearDecayWithWarmup(1e-4, decay_steps=1000)
    values = [float(schedule(t)) for t in (0, 500, 750, 1000, 5000)]
    np.testing.assert_allclose(values, [1e-4, 5e-5, 2.5e-5, 0.0, 0.0], rtol=1e-6, atol=1e-12)
    # Near T the float32 `1 − t/T` cancels, exactly as in the original: 1 − 0.999f = 1.0000467e-3.
    np.testing.assert_allclose(float(schedule(999)), 1e-4 * (1 - np.float32(0.999)), rtol=1e-6)


def test_linear_decay_with_warmup_values():
    schedule = schedules.LinearDecayWithWarmup(1e-4, decay_steps=1000, warmup_steps=100)
    values = [float(schedule(t)) for t in (0, 50, 99, 100, 500, 1000)]
    np.testing.assert_allclose(values, [0.0, 5e-5, 9.9e-5, 9e-5, 5e-5, 0.0], rtol=1e-6, atol=1e-12)


def test_warmup_steps_from_proportion():
    assert schedules.warmup_steps_from_proportion(1000, 0.0) == 0
    assert schedules.warmup_steps_from_proportion(1000, 0.1) == 100
    assert schedules.warmup_steps_from_proportion(1001, 0.1) == 100
    assert schedules.warmup_steps_from_proportion(1000, 1.0) == 1000
    assert schedules.warmup_steps_from_proportion(1000, 250.0) == 250


def test_schedules_are_bitwise_tf1_decay_functions():
    steps = [0, 1, 7, 333, 12345, 23399, 23400, 99999, 100000, 100001, 250000]
    step = tf.Variable(0, dtype=tf.int64)
    tf1_linear = tf.compat.v1.train.polynomial_decay(
        tf.constant(1e-4, tf.float32), step, 23400, end_learning_rate=0.0, power=1.0, cycle=False
    )
    tf1_staircase = tf.compat.v1.train.exponential_decay(1e-4, step, 100000, 0.9, staircase=True)
    linear = schedules.LinearDecayWithWarmup(1e-4, 23400)
    staircase = schedules.StaircaseExponentialDecay(1e-4)
    for t in steps:
        step.assign(t)
        assert linear(t).numpy() == tf1_linear().numpy(), t
        assert staircase(t).numpy() == tf1_staircase().numpy(), t


def test_staircase_with_doubled_global_step():
    single = schedules.StaircaseExponentialDecay(1e-4, 100000, 0.9)
    double = schedules.StaircaseExponentialDecay(1e-4, 100000, 0.9, global_step_multiplier=2)
    np.testing.assert_allclose(
        [float(single(t)) for t in (0, 99999, 100000, 233799)], [1e-4, 1e-4, 9e-5, 8.1e-5], rtol=1e-6
    )
    np.testing.assert_allclose(
        [float(double(t)) for t in (0, 49999, 50000, 233799)], [1e-4, 1e-4, 9e-5, 1e-4 * 0.9**4], rtol=1e-6
    )


def test_optimizer_reads_the_schedule_at_the_zero_based_update_count():
    bias = keras.Variable(np.zeros(1), name="bias")
    schedule = schedules.LinearDecayWithWarmup(1.0, decay_steps=4)
    optimizer = optimizers.AdamWeightDecay(learning_rate=schedule)
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
        schedules.LinearDecayWithWarmup(1e-4, 2340, warmup_steps=10),
        schedules.StaircaseExponentialDecay(1e-4, 100000, 0.9, global_step_multiplier=2),
    ],
)
def test_schedule_config_round_trip(obj):
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(obj))
    assert type(restored) is type(obj)
    assert restored.get_config() == obj.get_config()
    assert float(restored(60000)) == float(obj(60000))


def test_build_learning_rate():
    schedule = schedules.build_learning_rate("linear_decay", 1e-4, total_steps=1000, warmup_proportion=0.1)
    assert isinstance(schedule, schedules.LinearDecayWithWarmup)
    assert (schedule.decay_steps, schedule.warmup_steps) == (1000, 100)
    schedule = schedules.build_learning_rate("staircase_exponential_decay", 1e-4, global_step_multiplier=2)
    assert schedule.get_config()["global_step_multiplier"] == 2
    assert schedules.build_learning_rate("constant", 1e-4) == 1e-4
    with pytest.raises(ValueError):
        schedules.build_learning_rate("cosine", 1e-4)
    with pytest.raises(ValueError):
        schedules.build_learning_rate("linear_decay", 1e-4)
