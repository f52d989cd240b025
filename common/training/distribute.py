"""`tf.distribute` strategy by name, and the cross-replica sums that make a loss exact under distribution.

The originals' losses are means over the whole batch (span CE) or over every valid position of the batch (QGH).
Under a strategy each replica sees part of the global batch, so each loss is written as
`local numerator / global denominator`: the gradients that the strategy sums over replicas are then exactly the
gradients of the global-batch loss, whatever the split.
"""

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")


def get_strategy(name="default"):
    """`default` (one device), `mirrored` (all local devices), or `multi_worker` (reads `TF_CONFIG`)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown distribution strategy {name!r}; expected one of {STRATEGIES}")


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
