"""LPNet's losses as pure functions: IoU labels, the weighted matching regression (fidelity LPNet §8.7), the highlight
loss with clipped targets and the paper's boundary-aware loss (fidelity LPNet §7).

The IoU loss of the selected proposal and the boundary regular term are in `lpnet_tf/layers/dynamic_adjustor.py`,
where the adjustor routes their gradients to the best-matching proposal only.
Shape letters: B batch, K proposals.
"""

from keras import ops

from common import losses as common_losses
from common.layers.masking import mask_logits


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
    """IoU labels of every proposal (fidelity LPNet §8.7): max(IoU, 0), and 0 wherever e − s ≤ 0.

    Args:
        proposal_start, proposal_end: float `(B, K)`, s_bk = (c − h)·L_b and e_bk = (c + h)·L_b.
        gt_start, gt_end: `(B,)`, the ground truth in clip units: x = st, y = et (the original, fidelity LPNet D11) or
            y = et + 1 (`gt_end_exclusive`).

    Returns:
        float32 `(B, K)` in [0, 1]. Not stop-gradiented here: the caller stops it (fidelity LPNet D18).
    """
    gt_start = ops.expand_dims(ops.cast(gt_start, "float32"), -1)
    gt_end = ops.expand_dims(ops.cast(gt_end, "float32"), -1)
    iou = ops.maximum(temporal_iou(proposal_start, proposal_end, gt_start, gt_end), 0.0)
    length = ops.cast(proposal_end, "float32") - ops.cast(proposal_start, "float32")
    return ops.where(length <= 0.0, ops.zeros_like(iou), iou)


def iou_regression_loss(scores, iou_labels, low_iou_threshold=0.001, low_iou_weight=0.92):
    """L_reg = Σ_bk ω_bk·(ŝ_bk − IoU_bk)² / (B·K), ω = `low_iou_weight` where IoU < `low_iou_threshold`, else 1.

    This is TF's `mean_squared_error(labels, predictions, weights)` with SUM_BY_NONZERO_WEIGHTS, all weights
    non-zero (fidelity LPNet §8.7).

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
    weights = ops.where(
        iou_labels < low_iou_threshold, ops.full_like(iou_labels, low_iou_weight), ops.ones_like(iou_labels)
    )
    return ops.mean(weights * ops.square(scores - iou_labels))


def highlight_loss(logits, labels, mask, epsilon=1e-12):
    """LPNet's highlight loss: as `common.losses.highlight_loss`, but the BCE targets are the labels clipped to [1e-7,
    1].

    The weights still come from the raw labels (2 on positives, 1 on negatives); only the BCE target of a negative
    clip becomes 1e-7 (fidelity LPNet §7, `models/layers.py::highlight_layer`).

    Args:
        logits: float tensor `(B, T)`, masked highlight logits.
        labels: 0/1 tensor `(B, T)`.
        mask: bool tensor `(B, T)`.
        epsilon: float added to the denominator. Defaults to 1e-12.

    Returns:
        float32 scalar.
    """
    return common_losses.weighted_highlight_bce(logits, labels, mask, 1e-7, epsilon)


def _clipped_kl(logits, labels, mask):
    """Per-sample KL(label ‖ softmax(logits)) over valid clips, both clipped to [1e-7, 1] (no renormalization)."""
    valid = ops.cast(mask, "float32")
    probs = ops.softmax(mask_logits(logits, mask), axis=-1)  # exactly 0 on padding, as a softmax over [:L]
    probs = ops.clip(probs, 1e-7, 1.0)
    targets = ops.clip(ops.cast(labels, "float32"), 1e-7, 1.0)
    return ops.sum(valid * targets * ops.log(targets / probs), axis=-1)  # (B,)


def boundary_kl(start_logits, end_logits, start_labels, end_labels, mask, first_sample_only=True):
    """The paper's boundary-aware loss L_KL = KL_s + KL_e, with KL(label ‖ prediction) (fidelity LPNet §7; defect D1).

    For each sample b with valid length L_b: p = softmax(logits[b, :L_b]), q = labels[b, :L_b], both clipped to
    [1e-7, 1], KL = Σ q·log(q / p). The original uses **only sample 0** of the batch (`first_sample_only=True`,
    the faithful default); `first_sample_only=False` averages the per-sample KL over the batch (the corrected
    version, flag `kl_first_sample_only`).

    Args:
        start_logits: float tensor `(B, T)`, start logits (masked or not; the mask is applied here).
        end_logits: float tensor `(B, T)`.
        start_labels: float tensor `(B, T)`, soft start labels (0.5 / ≈0.25 / 1e-8).
        end_labels: float tensor `(B, T)`, soft end labels.
        mask: bool tensor `(B, T)`, valid clips.
        first_sample_only: bool. Defaults to `True` (original).

    Returns:
        float32 scalar.
    """
    per_sample = _clipped_kl(start_logits, start_labels, mask) + _clipped_kl(end_logits, end_labels, mask)
    if first_sample_only:
        return per_sample[0]
    return ops.mean(per_sample)
