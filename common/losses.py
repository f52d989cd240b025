"""Losses of VSLNet and LPNet as pure functions (float32, batch-level reductions exactly as the original code).

Shape letters: B batch, n padded clips. Masks are bool, `True` on valid clips.

| function | original | spec |
|---|---|---|
| `span_cross_entropy` | VSLNet `localization_loss` (CE_s + CE_e, no ½, batch mean) | VSLNet §3.10 |
| `highlight_loss` | VSLNet `highlight_layer` loss (weighted sigmoid BCE, one batch normalization) | VSLNet §3.8 |
| `l2_penalty` | TF1 contrib `l2_regularizer` (scale·Σ‖w‖²/2) or Keras `l2` (scale·Σ‖w‖²) | VSLNet §7.3 |
"""

from keras import ops

L2_SEMANTICS = ("tf1", "keras")


def span_cross_entropy(start_logits, end_logits, start_idx, end_idx):
    """Batch mean of CE(softmax(start_logits), start) + CE(softmax(end_logits), end); no ½ (fidelity VSLNet §3.10).

    Args:
        start_logits: float tensor `(B, n)`, masked logits (padding at −1e30 contributes probability 0).
        end_logits: float tensor `(B, n)`.
        start_idx: int tensor `(B,)`, the ground-truth start clip (the argmax of the one-hot `y1`).
        end_idx: int tensor `(B,)`, the ground-truth end clip.

    Returns:
        float32 scalar.
    """

    def cross_entropy(logits, index):
        log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        index = ops.expand_dims(ops.cast(index, "int32"), -1)
        return -ops.squeeze(ops.take_along_axis(log_probs, index, axis=-1), -1)  # (B,)

    return ops.mean(cross_entropy(start_logits, start_idx) + cross_entropy(end_logits, end_idx))


def _sigmoid_cross_entropy_with_logits(logits, targets):
    """`tf.nn.sigmoid_cross_entropy_with_logits`: max(x, 0) − x·z + log(1 + exp(−|x|)), elementwise."""
    return ops.relu(logits) - logits * targets + ops.log1p(ops.exp(-ops.abs(logits)))


def weighted_highlight_bce(logits, labels, mask, target_floor, epsilon, positive_weight=2.0):
    logits = ops.cast(logits, "float32")
    labels = ops.cast(labels, "float32")
    mask = ops.cast(mask, "float32")
    # The original's weights, from the raw labels: 1 where the label is 0, 2·label elsewhere (2 for positives).
    weights = ops.where(ops.equal(labels, 0.0), labels + 1.0, labels * positive_weight)
    targets = labels if target_floor is None else ops.clip(labels, target_floor, 1.0)
    losses = _sigmoid_cross_entropy_with_logits(logits, targets) * weights
    return ops.sum(losses * mask) / (ops.sum(mask) + epsilon)


def highlight_loss(logits, labels, mask, epsilon=1e-12, positive_weight=2.0):
    """QGH loss: Σ_{b,t} BCE(z, y)·w·mask / (Σ mask + ε), w = 2 on positives, 1 on negatives (fidelity VSLNet §3.8).

    One normalization for the whole batch (longer videos weigh more), as the original (fidelity VSLNet §7.12).

    Args:
        logits: float tensor `(B, n)`, the masked highlight logits z.
        labels: 0/1 tensor `(B, n)`, the (extended) highlight labels, 0 on padding.
        mask: bool tensor `(B, n)`, valid clips.
        epsilon: float added to the denominator. Defaults to 1e-12.
        positive_weight: weight of positive clips: 2 in the code, 1 for the paper's plain f_CE (fidelity VSLNet §6 #4).

    Returns:
        float32 scalar.
    """
    return weighted_highlight_bce(logits, labels, mask, None, epsilon, positive_weight)


def l2_penalty(variables, scale, semantics="tf1"):
    """Σ over `variables` of the L2 penalty of each variable.

    Args:
        variables: iterable of variables/tensors, the regularized set (fidelity VSLNet §3.12: every Dense/conv kernel
            and bias, LayerNorm scales/offsets, trilinear and pooling vectors; not the position tables, UNK row,
            char table or LSTM weights).
        scale: float, the regularization coefficient (3e-7 in the original).
        semantics: `"tf1"`: scale·Σw²/2 (TF1 contrib `l2_regularizer` = `scale * tf.nn.l2_loss`, which produced
            the published numbers); `"keras"`: scale·Σw² (Keras `l2`, the original's TF2 code path, twice as
            large; fidelity VSLNet §7.3). Defaults to `"tf1"`.

    Returns:
        float32 scalar (0 for an empty list).
    """
    if semantics not in L2_SEMANTICS:
        raise ValueError(f"semantics must be one of {L2_SEMANTICS}, got {semantics!r}.")
    factor = 0.5 if semantics == "tf1" else 1.0
    total = ops.zeros((), dtype="float32")
    for variable in variables:
        value = ops.cast(ops.convert_to_tensor(variable), "float32")
        total = total + scale * factor * ops.sum(ops.square(value))
    return total
