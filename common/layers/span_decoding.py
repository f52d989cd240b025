"""Span decoding from start/end probabilities: the original upper-triangular outer-product argmax, and top-k.

Reference: fidelity VSLNet §3.11 and §5.5 (`model/layers.py::localization_loss`, the index part); the LPNet code
computes the same indices (fidelity LPNet §7) but never uses them.
"""

import tensorflow as tf
from keras import ops


def _allowed_pairs(length, max_span_len=None):
    """Bool `(n, n)`: `True` where `end >= start` (and `end - start < max_span_len` when given)."""
    positions = ops.arange(length, dtype="int32")
    offsets = ops.expand_dims(positions, 0) - ops.expand_dims(positions, 1)  # [i, j] = j - i
    allowed = ops.greater_equal(offsets, 0)
    if max_span_len is not None:
        allowed = ops.logical_and(allowed, ops.less(offsets, int(max_span_len)))
    return allowed


def span_scores(start_probs, end_probs, max_span_len=None):
    """The banded outer product O_ij = P_s,i·P_e,j for j >= i, 0 elsewhere (`tf.matrix_band_part(O, 0, -1)`).

    Args:
        start_probs: float tensor `(B, n)`, P_s (0 on padding).
        end_probs: float tensor `(B, n)`, P_e (0 on padding).
        max_span_len: optional int; also zero out spans with `end - start + 1 > max_span_len` (the original has no
            such limit; `None` keeps its behaviour).

    Returns:
        float32 tensor `(B, n, n)`.
    """
    start_probs = ops.cast(start_probs, "float32")
    end_probs = ops.cast(end_probs, "float32")
    outer = ops.expand_dims(start_probs, 2) * ops.expand_dims(end_probs, 1)
    allowed = _allowed_pairs(ops.shape(start_probs)[1], max_span_len)
    return ops.where(ops.expand_dims(allowed, 0), outer, ops.zeros_like(outer))


def span_decode(start_probs, end_probs, max_span_len=None):
    """Top-1 span exactly as the original: â_s = argmax_i max_j O_ij, â_e = argmax_j max_i O_ij.

    O is `span_scores` (upper triangle including the diagonal, so single-clip spans are allowed). Because O is a
    banded rank-one product of non-negative vectors, this rule always returns a joint maximizer of O; with ties the
    start is the first row and the end the first column that hold the maximum (`tf.argmax` keeps the first index,
    as in the original).

    Args:
        start_probs: float tensor `(B, n)`.
        end_probs: float tensor `(B, n)`.
        max_span_len: optional int, see `span_scores`. Defaults to `None` (original: no limit).

    Returns:
        `(start_index, end_index, span_prob)`: int32 `(B,)`, int32 `(B,)` and float32 `(B,)` = max O (the
        "P_span" VSLNet-L uses to pick a scale).

    Example:
    >>> s, e, p = span_decode([[0.1, 0.6, 0.3]], [[0.2, 0.3, 0.5]])
    >>> int(s[0]), int(e[0])
    (1, 2)
    """
    if max_span_len is None:
        # Without a length limit, max_j O_ij = P_s,i · max_{j >= i} P_e,j and max_i O_ij = P_e,j · max_{i <= j} P_s,i
        # exactly (a product with a non-negative factor is monotone, rounding included): O(n) instead of O(n²).
        start_probs = ops.cast(start_probs, "float32")
        end_probs = ops.cast(end_probs, "float32")
        row_max = start_probs * ops.flip(_running_max(ops.flip(end_probs, axis=1)), axis=1)
        column_max = end_probs * _running_max(start_probs)
    else:
        outer = span_scores(start_probs, end_probs, max_span_len)
        row_max, column_max = ops.max(outer, axis=2), ops.max(outer, axis=1)
    start_index = ops.cast(ops.argmax(row_max, axis=1), "int32")
    end_index = ops.cast(ops.argmax(column_max, axis=1), "int32")
    return start_index, end_index, ops.max(row_max, axis=1)


def _running_max(values):
    """max(values[:, :j + 1]) for every j, `(B, n)` non-negative values: ⌈log2 n⌉ doublings of a shifted maximum."""
    length = tf.shape(values)[1]

    def double(shift, result):
        shifted = tf.pad(result, [[0, 0], [shift, 0]])[:, :length]
        return shift * 2, tf.maximum(result, shifted)

    return tf.while_loop(lambda shift, _: shift < length, double, (1, values))[1]


def span_decode_topk(start_probs, end_probs, k, max_span_len=None):
    """The `k` best spans of the banded outer product, best first (the Ego4D port's top-k rule).

    Ties keep row-major order (smaller start first, then smaller end), as `top_k` does. If fewer than `k` pairs
    are allowed (or have non-zero probability), the tail holds zero-score pairs.

    Args:
        start_probs: float tensor `(B, n)`.
        end_probs: float tensor `(B, n)`.
        k: python int, `1 <= k <= n·n`.
        max_span_len: optional int, see `span_scores`.

    Returns:
        `(start_index, end_index, scores)`: int32 `(B, k)`, int32 `(B, k)`, float32 `(B, k)`.
    """
    outer = span_scores(start_probs, end_probs, max_span_len)
    length = ops.shape(outer)[1]
    flat = ops.reshape(outer, (ops.shape(outer)[0], -1))
    scores, indices = ops.top_k(flat, k=int(k), sorted=True)
    indices = ops.cast(indices, "int32")
    length = ops.cast(length, "int32")
    return indices // length, indices % length, scores
