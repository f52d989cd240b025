"""Mask helpers shared by every layer: `sequence_mask`, `mask_logits` (the original's exact formula), `masked_fill`.

Masks are bool tensors with `True` on valid positions (STYLE §4). The TF1 code's float 1/0 masks correspond to
`ops.cast(mask, "float32")`.

Reference: fidelity VSLNet §3.1 (`model/ops.py::mask_logits`), fidelity LPNet §4 (`models/ops.py::mask_logits`).
"""

import keras
from keras import ops

#: The additive constant the original code uses for masked logits. It is exact in float32 and overflows in float16,
#: so masked logits are always computed in float32 (fidelity VSLNet §7.15).
NEG_INF = -1e30


def sequence_mask(lengths, maxlen=None):
    """Bool mask of valid positions from lengths (`tf.sequence_mask`).

    Args:
        lengths: int tensor `(B,)`, the number of valid positions of each row.
        maxlen: int or scalar int tensor, the padded length `n`. Defaults to `max(lengths)`.

    Returns:
        bool tensor `(B, maxlen)`, `True` where `position < lengths[b]`.

    Example:
    >>> ops.convert_to_numpy(sequence_mask([1, 3], 3)).astype(int).tolist()
    [[1, 0, 0], [1, 1, 1]]
    """
    lengths = ops.cast(ops.convert_to_tensor(lengths), "int32")
    if maxlen is None:
        maxlen = ops.max(lengths)
    positions = ops.arange(maxlen, dtype="int32")
    return ops.less(ops.expand_dims(positions, 0), ops.expand_dims(lengths, -1))


def mask_logits(x, mask):
    """The original `mask_logits`: `x·m + (−1e30)·(1 − m)`, computed in float32.

    This is the exact formula of the TF1 code (fidelity VSLNet §3.1, fidelity LPNet §4), so padded positions hold
    `float32(-1e30)` (`-1.0000000150474662e+30`) and valid positions keep `x` bit for bit.

    Args:
        x: float tensor of any shape, e.g. logits `(B, n)` or similarity scores `(B, n, m)`.
        mask: bool (or 0/1) tensor broadcastable to `x`, `True` on valid positions.

    Returns:
        float32 tensor with the shape of `x` (broadcast with `mask`).

    Example:
    >>> ops.convert_to_numpy(mask_logits([1.0, 2.0], [True, False])).tolist()
    [1.0, -1.0000000150474662e+30]
    """
    x = ops.cast(x, "float32")
    m = ops.cast(mask, "float32")
    return x * m + NEG_INF * (1.0 - m)


def masked_fill(x, mask, value=None):
    """Replace padded positions of `x` with `value` (dtype-aware default), keeping valid positions.

    Unlike `mask_logits` this keeps the dtype of `x`. The default fill is `-1e30` for float32/float64 and a
    large negative number that stays finite in float16 (`-3e4`); bfloat16 has the float32 exponent range and keeps
    `-1e30`.

    Args:
        x: float tensor.
        mask: bool tensor broadcastable to `x`, `True` on valid positions.
        value: python float, the fill value. Defaults to the dtype-aware large negative number above.

    Returns:
        tensor with the shape and dtype of `x`.
    """
    x = ops.convert_to_tensor(x)
    if value is None:
        value = -3e4 if keras.backend.standardize_dtype(x.dtype) == "float16" else NEG_INF
    return ops.where(ops.cast(mask, "bool"), x, ops.cast(value, x.dtype))
