"""Summing and clipping gradients across `tf.distribute` replicas, as one device would.

On one device, Keras 3's `global_clipnorm` gives the same floats as `tf.clip_by_global_norm`. But its TF backend
applies it to each replica's *local* gradients, before the all-reduce, so with two replicas the norm that is
clipped is not the batch's norm. And its all-reduce sends `tf.IndexedSlices` gradients (embedding rows) through an
all-gather whose row count differs between replicas and steps, which crashes TensorFlow's collective ring
(segfault in `RingGatherer`, or `UnavailableError` across workers). The optimizers of
`common.training.optimizers` take the sum over: `all_reduce_gradients` densifies each replica's slices (one
`unsorted_segment_sum`, what the update does with them anyway) and sums fixed-shape tensors; then
`tf.clip_by_global_norm`, the function the original calls, clips all gradients of the step after the sum. Its
norm keeps the original's quirk for slices, which are normed as given, duplicates not summed: each replica
contributes the squared norm of its own slices' values, and these sum to the global batch's. The result is the
single-device result for the same global batch, to float32 rounding of the sums' order. On one replica nothing
is densified or summed, so the single-device floats are unchanged. `clipnorm`/`clipvalue` keep Keras'
per-replica behaviour.
"""

import tensorflow as tf

__all__ = ["AllReduceThenClipMixin", "all_reduce_gradients", "clip_summed_gradients"]


def all_reduce_gradients(grads):
    """The cross-replica sums of one replica's gradients, with slices made dense first (module docstring).

    Args:
        grads: this replica's gradients (tensors, `tf.IndexedSlices` or `None`), in a replica context.

    Returns:
        `(summed, slices_squared_norm)`: the summed gradients in the order given (`None` stays `None`; a
        gradient that was `tf.IndexedSlices` comes back as `tf.IndexedSlices` over every row, so the optimizer's
        sparse path still runs), and the sum over replicas of the squared norms of the slices' values (`None`
        without slices). On one replica, `(grads, None)` unchanged.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return list(grads), None
    present = [g for g in grads if g is not None]
    slices = [g for g in present if isinstance(g, tf.IndexedSlices)]
    dense = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in present]
    squared_norm = (
        [tf.add_n([tf.reduce_sum(tf.square(tf.cast(g.values, tf.float32))) for g in slices])] if slices else []
    )
    reduced = context.all_reduce(tf.distribute.ReduceOp.SUM, dense + squared_norm)
    summed, position = [], 0
    for g in grads:
        if g is None:
            summed.append(None)
            continue
        value = reduced[position]
        position += 1
        if isinstance(g, tf.IndexedSlices):
            value = tf.IndexedSlices(
                value, tf.range(tf.shape(value, out_type=tf.int64)[0]), tf.shape(value, out_type=tf.int64)
            )
        summed.append(value)
    return summed, (reduced[-1] if slices else None)


def clip_summed_gradients(grads, clip_norm, slices_squared_norm=None):
    """`tf.clip_by_global_norm` of summed gradients; with `slices_squared_norm` (from `all_reduce_gradients`) the
    norm of gradients that were slices is that of their values as given, as on one device."""
    if slices_squared_norm is None:
        return tf.clip_by_global_norm(grads, clip_norm)[0]
    squares = [
        tf.reduce_sum(tf.square(tf.cast(g, tf.float32)))
        for g in grads
        if g is not None and not isinstance(g, tf.IndexedSlices)
    ]
    norm = tf.sqrt(tf.add_n(squares + [slices_squared_norm]))
    return tf.clip_by_global_norm(grads, clip_norm, use_norm=norm)[0]


class AllReduceThenClipMixin:
    """Replaces Keras' cross-replica sum and moves its `global_clipnorm` after that sum (module docstring).

    Mix it in before `keras.optimizers.Optimizer`. Keras 3's TF backend calls `_clip_gradients` on the local
    gradients and later, inside `_backend_update_step`, sums them with `_all_reduce_sum_gradients`
    (`keras/src/backend/tensorflow/optimizer.py`). This mixin turns the first into a no-op when
    `global_clipnorm` is set and makes the second `all_reduce_gradients` followed by `clip_summed_gradients`.
    Keras has no public hook between the sum and the update, so both overrides are of private methods, tested
    with Keras 3.10 and 3.15 (the range `setup.py` allows).
    """

    def _clip_gradients(self, grads):
        if self.global_clipnorm and self.global_clipnorm > 0:
            return grads  # Deferred to `_all_reduce_sum_gradients`, after the sum.
        return super()._clip_gradients(grads)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        grads_and_vars = list(grads_and_vars)
        grads, slices_squared_norm = all_reduce_gradients([g for g, _ in grads_and_vars])
        if self.global_clipnorm and self.global_clipnorm > 0:
            grads = clip_summed_gradients(grads, self.global_clipnorm, slices_squared_norm)
        return [(g, v) for g, (_, v) in zip(grads, grads_and_vars) if g is not None]
