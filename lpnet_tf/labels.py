"""LPNet's relaxed boundary labels (`docs/fidelity.md`, LPNet §3): built by `LPNetTask.build_labels` for its
batches, since no other model reads them."""

import numpy as np
import tensorflow as tf

SOFT_LABEL_EPSILON = 1e-8


def soft_boundary_labels(index, padded_length):
    """LPNet's relaxed boundary label of one boundary (fidelity LPNet §3), over the batch's padded length `T`.

    Every entry is 1e-8; the two neighbours of `index` (when inside `[0, T)`) get `(1 − (T − 3)·1e-8 − 0.5) / 2`
    and `index` gets 0.5, so the row sums to 1 when both neighbours exist. Computed in float64 and stored as
    float32, as the original's numpy arrays are fed to a float32 placeholder.

    Returns:
        float32 array `[padded_length]`.
    """
    labels = np.full([padded_length], SOFT_LABEL_EPSILON, dtype=np.float64)
    neighbour = (1.0 - (padded_length - 3) * SOFT_LABEL_EPSILON - 0.5) / 2.0
    if index > 0:
        labels[index - 1] = neighbour
    if index < padded_length - 1:
        labels[index + 1] = neighbour
    labels[index] = 0.5
    return labels.astype(np.float32)


def batch_soft_boundary_labels(index, padded_length):
    """`soft_boundary_labels` of a batch, in the graph: `index` `[B]` int32 → `[B, n]` float32, the same float64
    arithmetic."""
    positions = tf.range(padded_length)[None, :]
    index = index[:, None]
    eps = tf.constant(SOFT_LABEL_EPSILON, tf.float64)
    neighbour = (1.0 - tf.cast(padded_length - 3, tf.float64) * eps - 0.5) / 2.0
    values = tf.fill(tf.shape(positions + index), eps)
    values = tf.where(tf.abs(positions - index) == 1, neighbour, values)
    values = tf.where(positions == index, tf.constant(0.5, tf.float64), values)
    return tf.cast(values, tf.float32)


def add_soft_boundary_labels(batch):
    """`batch` with `soft_start_labels`, `soft_end_labels` `[B, n]` over its padded length."""
    padded_length = tf.shape(batch["video_mask"])[1]
    return {
        **batch,
        "soft_start_labels": batch_soft_boundary_labels(batch["start_index"], padded_length),
        "soft_end_labels": batch_soft_boundary_labels(batch["end_index"], padded_length),
    }
