"""Tests of `common.training.gradients`: clipping after the sum, slices' norms, and two-replica sums."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.training import gradients, optimizers
from tests.common.training.optimizer_helpers import GRADS_BIAS, GRADS_KERNEL, make_variables, run_script

# Embedding-row gradients: two rows of one id, so the norm as given (√18) is not the dense norm (6).
SLICE_VALUES = np.array([[3.0, 0.0], [3.0, 0.0]], np.float32)
SLICE_IDS = np.array([1, 1])


def _slices():
    return tf.IndexedSlices(tf.constant(SLICE_VALUES), tf.constant(SLICE_IDS), tf.constant([3, 2]))


# === One replica ===


def test_one_replica_passes_gradients_through_unchanged():
    grads = [tf.constant([1.0, 2.0]), _slices(), None]
    summed, slices_squared_norm = gradients.all_reduce_gradients(grads)
    assert slices_squared_norm is None
    assert all(s is g for s, g in zip(summed, grads))


def test_clip_summed_gradients_norms_slices_as_given():
    dense = tf.constant([[4.0, 0.0]])
    expected = [tf.convert_to_tensor(g) for g in tf.clip_by_global_norm([dense, _slices()], 1.0)[0]]
    # What `all_reduce_gradients` hands over: the slices summed dense, over every row, and their values' norm².
    summed_slices = tf.IndexedSlices(
        tf.convert_to_tensor(_slices()), tf.range(3, dtype=tf.int64), tf.constant([3, 2], tf.int64)
    )
    clipped = gradients.clip_summed_gradients([dense, summed_slices], 1.0, tf.constant(18.0))
    for got, want in zip(clipped, expected):
        np.testing.assert_allclose(tf.convert_to_tensor(got).numpy(), want.numpy(), rtol=1e-6)
    # Without the slices' own norm², the merged row (norm 6) is normed instead: √(16 + 36), not √(16 + 18).
    merged = gradients.clip_summed_gradients([dense, summed_slices], 1.0)
    np.testing.assert_allclose(merged[0].numpy(), [[4.0 / np.sqrt(52.0), 0.0]], rtol=1e-6)
    np.testing.assert_allclose(clipped[0].numpy(), [[4.0 / np.sqrt(34.0), 0.0]], rtol=1e-6)


def test_global_clipnorm_equals_tf_clip_by_global_norm_before_the_update():
    kernel, bias = make_variables("float32")
    big_kernel = GRADS_KERNEL[0] * 40.0
    big_bias = GRADS_BIAS[0] * 40.0
    clipped, norm = tf.clip_by_global_norm(
        [tf.constant(big_kernel, tf.float32), tf.constant(big_bias, tf.float32)], 1.0
    )
    assert norm.numpy() > 1.0

    optimizer = optimizers.AdamWeightDecay(learning_rate=0.1, global_clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_list=[bias])
    optimizer.apply_gradients(
        [(tf.constant(big_kernel, tf.float32), kernel), (tf.constant(big_bias, tf.float32), bias)]
    )
    reference_kernel, reference_bias = make_variables("float32")
    unclipped = optimizers.AdamWeightDecay(learning_rate=0.1)
    unclipped.exclude_from_weight_decay(var_list=[reference_bias])
    unclipped.apply_gradients([(clipped[0], reference_kernel), (clipped[1], reference_bias)])
    np.testing.assert_array_equal(kernel.numpy(), reference_kernel.numpy())
    np.testing.assert_array_equal(bias.numpy(), reference_bias.numpy())


def test_global_clipnorm_takes_the_norm_of_indexed_slices_as_given():
    # The original's `tf.clip_by_global_norm` sums the squares of the slices, duplicates not merged.
    table = keras.Variable(np.zeros((3, 2), np.float32), name="table")
    optimizer = optimizers.AdamWeightDecay(learning_rate=1.0, weight_decay=0.0, global_clipnorm=1.0)
    optimizer.build([table])
    optimizer.apply_gradients([(_slices(), table)])
    dense_g = np.array([[0, 0], [6.0, 0], [0, 0]], np.float32) / np.sqrt(18.0)  # norm √18, not 6
    expected = -(0.1 * dense_g) / (np.sqrt(0.001 * dense_g**2) + 1e-6)
    np.testing.assert_allclose(table.numpy(), expected, rtol=1e-6)


# === Two replicas ===

MIRRORED_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from common.training import gradients, optimizers

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
        if isinstance(optimizer, optimizers.AdamWeightDecay):
            optimizer.exclude_from_weight_decay(var_list=[bias])
        elif isinstance(optimizer, optimizers.TF1Adam):
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
    "adam_weight_decay": lambda: optimizers.AdamWeightDecay(0.01, global_clipnorm=1.0),
    "tf1_adam_double": lambda: optimizers.TF1Adam(0.01, adam_double_count=True),
    "keras_adam_global_clipnorm": lambda: keras.optimizers.Adam(0.01, global_clipnorm=1.0),
}
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert mirrored.num_replicas_in_sync == 2
out = {name: {"default": run(tf.distribute.get_strategy(), make), "mirrored": run(mirrored, make)}
       for name, make in makers.items()}

# `all_reduce_gradients` itself, with slices of 3 rows on replica 0 and 1 row on replica 1.
per_replica = {"dense": ([1.0, 2.0], [10.0, 20.0]), "values": ([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [[-1.0, 0.5]]),
               "ids": ([0, 2, 0], [3])}
inputs = [mirrored.experimental_distribute_values_from_function(
    lambda ctx, name=name: tf.constant(per_replica[name][ctx.replica_id_in_sync_group])) for name in per_replica]


def replica_sums(dense, values, ids):
    summed, slices_squared_norm = gradients.all_reduce_gradients(
        [dense, None, tf.IndexedSlices(values, ids, tf.constant([4, 2], tf.int64))])
    assert summed[1] is None and isinstance(summed[2], tf.IndexedSlices)
    return summed[0], summed[2].values, summed[2].indices, slices_squared_norm


results = tf.function(lambda *args: mirrored.run(replica_sums, args=args))(*inputs)
out["all_reduce"] = [[t.numpy().tolist() for t in mirrored.experimental_local_results(r)] for r in results]
json.dump(out, open(sys.argv[1], "w"))
"""


@pytest.fixture(scope="module")
def mirrored_results(tmp_path_factory):
    return run_script(MIRRORED_SCRIPT, tmp_path_factory.mktemp("mirrored"))


def test_all_reduce_sums_slices_of_different_row_counts_dense(mirrored_results):
    dense, values, ids, slices_squared_norm = mirrored_results["all_reduce"]
    for replica in range(2):  # both replicas hold the sums
        assert dense[replica] == [11.0, 22.0]
        assert values[replica] == [[6.0, 8.0], [0.0, 0.0], [3.0, 4.0], [-1.0, 0.5]]
        assert ids[replica] == [0, 1, 2, 3]
        assert slices_squared_norm[replica] == 1 + 4 + 9 + 16 + 25 + 36 + 1 + 0.25


def test_mirrored_strategy_matches_single_device(mirrored_results):
    results = mirrored_results
    for name in ("adam_weight_decay", "tf1_adam_double"):
        for single, mirrored in zip(results[name]["default"], results[name]["mirrored"]):
            np.testing.assert_allclose(mirrored, single, rtol=1e-5, atol=1e-6, err_msg=name)
    # The gradients here have norm ≫ 1, so where the clip happens matters: Keras' own `global_clipnorm`
    # clips each replica's half-batch gradient before the sum and does not match.
    keras_adam = results["keras_adam_global_clipnorm"]
    assert not all(
        np.allclose(m, s, rtol=1e-5, atol=1e-6) for s, m in zip(keras_adam["default"], keras_adam["mirrored"])
    )
