"""`tf.distribute` strategies by name, chief and workers, input per replica, and the cross-replica sums that make a
loss exact under distribution.

**Chief.** Under `multi_worker` the chief (the `chief` task, else `worker` 0) alone writes the run directory;
the other workers compute the same steps, save their checkpoints into a temporary folder of their own that they
remove at the end (TensorFlow's documented pattern: every worker must take part in a save), and read the
chief's checkpoints to resume. `barrier` makes them wait for the chief where they need what it wrote.

The originals' losses are means over the whole batch (span CE) or over every valid position of the batch (QGH).
Under a strategy each replica sees part of the global batch, so each loss is written as
`local numerator / global denominator`: the gradients that the strategy sums over replicas are then exactly the
gradients of the global-batch loss, whatever the split.
"""

import os

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")


def split_cpu(num_devices):
    """Splits the CPU into `num_devices` logical devices, so that `mirrored` has that many replicas without GPUs.

    Must run before TensorFlow initializes its devices (before the first op); `num_devices <= 1` does nothing.
    The devices share the machine's cores: this is for running and testing multi-replica code, not for speed.
    """
    if num_devices <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
    except RuntimeError as error:
        raise RuntimeError(
            f"cannot split the CPU into {num_devices} devices after TensorFlow has started; split it "
            "first thing in the program"
        ) from error


def get_strategy(name="default"):
    """`default` (one device), `mirrored` (every local GPU, else every logical CPU of `split_cpu`), or
    `multi_worker` (`MultiWorkerMirroredStrategy`: the cluster of `TF_CONFIG`, every GPU of each worker, else one
    CPU replica per worker).

    One instance per name and process: runs after the first (several seeds, `experiments.reproduce`) share it,
    because the collectives of a second `MirroredStrategy` in a process can collide with the first one's
    (`Shape mismatch in the collective instance`), and `multi_worker` can only be set up once.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name not in _STRATEGIES:
        _STRATEGIES[name] = _new_strategy(name)
    return _STRATEGIES[name]


_STRATEGIES = {}


def _new_strategy(name):
    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "--strategy=multi_worker needs TF_CONFIG (the cluster and this worker's task); see the "
                "README's 'Scaling out'"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown distribution strategy {name!r}; expected one of {STRATEGIES}")


def worker_task(strategy):
    """`(task_type, task_id)` of this process in the cluster; `(None, None)` outside `multi_worker`."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return None, None
    return resolver.task_type, resolver.task_id


def is_chief(strategy):
    """Whether this process writes the run directory: always outside `multi_worker`; there, the `chief` task,
    or `worker` 0 of a cluster without one."""
    task_type, task_id = worker_task(strategy)
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    has_chief = "chief" in strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def barrier(strategy):
    """Waits until every worker has reached this point (a cross-worker sum; nothing outside `multi_worker`)."""
    if worker_task(strategy)[0] is not None:
        _all_values(strategy, 1)


def same_on_every_worker(strategy, value):
    """Whether the integer `value` is the same on every worker (always true outside `multi_worker`)."""
    if worker_task(strategy)[0] is None:
        return True
    return bool((_all_values(strategy, value) == value).all())


def _all_values(strategy, value):
    """Every replica's `value`, gathered on every worker."""

    @tf.function
    def gather(local):
        return strategy.gather(strategy.run(lambda: tf.identity(local)), axis=0)

    return gather(tf.constant([value], tf.int64)).numpy()


def distribute_batches(strategy, make_dataset):
    """A distributed dataset whose every input pipeline builds only its own replicas' rows of each global batch.

    Args:
        strategy: the `tf.distribute` strategy.
        make_dataset: `make_dataset(num_replicas=R, replicas=(ids...))` → a `tf.data.Dataset` that yields, per
            global batch, one batch per replica id given, in order (`common.data.pipeline.make_dataset`).

    Returns:
        what `strategy.distribute_datasets_from_function` returns: each pipeline's elements go to its local
        replicas in turn, so pipeline `p` of `P` feeds the replicas `p·R/P … (p+1)·R/P − 1`.
    """

    def dataset_fn(context):
        local = context.num_replicas_in_sync // context.num_input_pipelines
        first = context.input_pipeline_id * local
        return make_dataset(num_replicas=context.num_replicas_in_sync, replicas=tuple(range(first, first + local)))

    return strategy.distribute_datasets_from_function(dataset_fn)


def global_sum(value):
    """Sum of `value` over all replicas inside a replica context; `value` itself outside one."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def num_replicas():
    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def global_share(local_mean, local_count):
    """This replica's share of a global mean: `local_mean · local_count / global_count` (exact under any split)."""
    local_count = tf.cast(local_count, tf.float32)
    return local_mean * local_count / global_sum(local_count)
