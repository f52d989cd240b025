"""VSLNet-L's two ways of turning one candidate moment per scale into one answer (fidelity VSLNet §5.5).

- **Pm**: the candidate of the scale with the highest joint boundary probability P_span = P_s(â_s)·P_e(â_e);
  ties go to the first scale in list order.
- **U**: among all pairs of candidates (i < j), the pair with the largest temporal IoU; the answer is their union
  hull [min(s_i, s_j), max(e_i, e_j)]. Ties go to the lexicographically first pair; if every pair has IoU 0 the
  first pair still wins and the hull spans the gap between them. With a single scale U returns its candidate.

Both work on clip indices. The IoU is computed on the intervals the label rule maps the indices to, so the ranking
equals the ranking in seconds: `end_offset=1` for the code's rule (clip a_e ends at (a_e + 1)·T/n) and 0 for the
paper's `round` rule (τ_e = a_e/n·T).
"""

from keras import ops

STRATEGIES = ("pm", "u")


def pm_select(start_index, end_index, span_prob):
    """Pm: the candidate of the most confident scale.

    Args:
        start_index, end_index: int `[B, S]`, one decoded span per scale.
        span_prob: float `[B, S]`, P_span of each scale.

    Returns:
        `(start, end, score, scale)`: int32 `[B]`, int32 `[B]`, float32 `[B]` (the chosen P_span) and the chosen
        scale's position int32 `[B]`.
    """
    scale = ops.cast(ops.argmax(span_prob, axis=-1), "int32")
    pick = ops.expand_dims(scale, -1)

    def take(x):
        return ops.take_along_axis(x, pick, axis=-1)[:, 0]

    return ops.cast(take(start_index), "int32"), ops.cast(take(end_index), "int32"), take(span_prob), scale


def union_of_most_overlapping(start_index, end_index, end_offset=1):
    """U: the union hull of the two most overlapping candidates.

    Args:
        start_index, end_index: int `[B, S]`.
        end_offset: 1 when index e covers [e, e + 1) (the code's rule), 0 when it is a point (the paper's rule).

    Returns:
        `(start, end, pair_iou)`: int32 `[B]`, int32 `[B]`, and the IoU of the chosen pair float32 `[B]`
        (1 with a single scale).
    """
    num_scales = start_index.shape[-1]
    start_index = ops.cast(start_index, "int32")
    end_index = ops.cast(end_index, "int32")
    if num_scales == 1:
        return start_index[:, 0], end_index[:, 0], ops.ones_like(ops.cast(start_index[:, 0], "float32"))
    left = ops.cast(start_index, "float32")
    right = ops.cast(end_index + end_offset, "float32")
    inter = ops.maximum(
        ops.minimum(right[:, :, None], right[:, None, :]) - ops.maximum(left[:, :, None], left[:, None, :]), 0.0
    )
    union = ops.maximum(right[:, :, None], right[:, None, :]) - ops.minimum(left[:, :, None], left[:, None, :])
    iou = ops.where(union > 0, inter / ops.maximum(union, 1e-12), ops.ones_like(union))  # two equal points
    rows = ops.arange(num_scales)
    upper = rows[:, None] < rows[None, :]
    # −1 below the diagonal so that every real pair (IoU ≥ 0) beats them; argmax keeps the first maximum, which
    # in row-major order is the lexicographically first pair.
    scored = ops.reshape(ops.where(upper[None], iou, -ops.ones_like(iou)), (-1, num_scales * num_scales))
    best = ops.cast(ops.argmax(scored, axis=-1), "int32")
    first, second = best // num_scales, best % num_scales

    def take(x, index):
        return ops.take_along_axis(x, ops.expand_dims(index, -1), axis=-1)[:, 0]

    start = ops.minimum(take(start_index, first), take(start_index, second))
    end = ops.maximum(take(end_index, first), take(end_index, second))
    return start, end, ops.max(scored, axis=-1)
