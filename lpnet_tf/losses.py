"""LPNet's proposal losses as pure functions: IoU labels and the weighted matching regression (spec §8.7).

The boundary losses shared with VSLNet live in `common/losses.py` (`lpnet_highlight_loss`, `boundary_kl`); the
IoU loss of the selected proposal and the boundary regular term are in `lpnet_tf/layers/dynamic_adjustor.py`.
Shape letters: B batch, K proposals.
"""

from keras import ops


def temporal_iou(start, end, gt_start, gt_end):
    """(min(e, y) − max(s, x)) / (max(e, y) − min(s, x)) on continuous intervals, not clipped (float32).

    Broadcasts `(B, K)` proposals against `(B, 1)` ground truth (or `(B,)` against `(B,)`). A zero union (both
    intervals the same single point) gives 0 instead of the original's 0/0 (never used there: such a proposal
    has zero length, which the callers treat separately).
    """
    start, end = ops.cast(start, "float32"), ops.cast(end, "float32")
    gt_start, gt_end = ops.cast(gt_start, "float32"), ops.cast(gt_end, "float32")
    inter = ops.minimum(end, gt_end) - ops.maximum(start, gt_start)
    union = ops.maximum(end, gt_end) - ops.minimum(start, gt_start)
    safe_union = ops.where(ops.equal(union, 0.0), ops.ones_like(union), union)
    return ops.where(ops.equal(union, 0.0), ops.zeros_like(inter), inter / safe_union)


def proposal_iou_labels(proposal_start, proposal_end, gt_start, gt_end):
    """IoU labels of every proposal (spec §8.7): max(IoU, 0), and 0 wherever e − s ≤ 0.

    Args:
        proposal_start, proposal_end: float `(B, K)`, s_bk = (c − h)·L_b and e_bk = (c + h)·L_b.
        gt_start, gt_end: `(B,)`, the ground truth in clip units: x = st, y = et (the original, spec D11) or
            y = et + 1 (`gt_end_exclusive`).

    Returns:
        float32 `(B, K)` in [0, 1]. Not stop-gradiented here: the caller stops it (spec D18).
    """
    gt_start = ops.expand_dims(ops.cast(gt_start, "float32"), -1)
    gt_end = ops.expand_dims(ops.cast(gt_end, "float32"), -1)
    iou = ops.maximum(temporal_iou(proposal_start, proposal_end, gt_start, gt_end), 0.0)
    length = ops.cast(proposal_end, "float32") - ops.cast(proposal_start, "float32")
    return ops.where(length <= 0.0, ops.zeros_like(iou), iou)


def iou_regression_loss(scores, iou_labels, low_iou_threshold=0.001, low_iou_weight=0.92):
    """L_reg = Σ_bk ω_bk·(ŝ_bk − IoU_bk)² / (B·K), ω = `low_iou_weight` where IoU < `low_iou_threshold`, else 1.

    This is TF's `mean_squared_error(labels, predictions, weights)` with SUM_BY_NONZERO_WEIGHTS, all weights
    non-zero (spec §8.7).

    Args:
        scores: float `(B, K)`, predicted IoU ŝ.
        iou_labels: float `(B, K)`.
        low_iou_threshold: Defaults to 0.001.
        low_iou_weight: Defaults to 0.92.

    Returns:
        float32 scalar.
    """
    scores = ops.cast(scores, "float32")
    iou_labels = ops.cast(iou_labels, "float32")
    weights = ops.where(iou_labels < low_iou_threshold, ops.full_like(iou_labels, low_iou_weight),
                        ops.ones_like(iou_labels))
    return ops.mean(weights * ops.square(scores - iou_labels))
