"""Feature resampling and every training label, with the original code's exact arithmetic.

References: fidelity VSLNet §2.4–2.6 (`visual_feature_sampling`, `time_to_index`, `index_to_time`,
highlight labels) and fidelity LPNet §2.3–3 (the same rules, plus LPNet's soft boundary labels). The
paper's own rules (fidelity VSLNet §6 #1, #6) are options: `rule="round"` and `extension_length="paper"`.
All rounding follows the originals: NumPy's `np.round` and Python's `round` both round half to even, and the
time grids are float32. Do not replace them by `floor(x + 0.5)`: labels would move by one clip on ties.
"""

import numpy as np

# Seconds <-> clip indices (fidelity VSLNet §2.5, §6 #1): the code's IoU-argmax with end time (a_e + 1)·T/N, or the
# paper's Round(τ/T·N) with τ = a/N·T. Each pair of rules is one option: the two are inverses of each other only in
# pairs (mixing them moves every predicted end by one clip).
LABEL_RULES = ("iou_argmax", "round")
# Length L of the highlight extension α·L (fidelity VSLNet §2.6, §6 #6): the code's a_e − a_s + 1 or the paper's
# a_e − a_s.
EXTENSION_LENGTHS = ("code", "paper")


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def visual_feature_sampling(features, max_len):
    """Bucket-average a `[num_clips, dim]` array down to at most `max_len` rows (fidelity VSLNet §2.4).

    If `num_clips <= max_len` the array is returned unchanged. Otherwise boundaries
    `idx_i = round_half_even(i / max_len * num_clips)` for `i = 0..max_len` are clipped to `num_clips - 1`,
    and row `i` is the mean of `features[idx_i:idx_{i+1}]` (or `features[idx_i]` when that slice is empty). The
    last original row therefore never enters the last bucket, exactly as in the original.

    Args:
        features: float array `[num_clips, dim]`.
        max_len: the maximal number of rows (`max_pos_len`).

    Returns:
        float32 array `[min(num_clips, max_len), dim]`.
    """
    num_clips = features.shape[0]
    if num_clips <= max_len:
        return features
    # float64 in this order, as the original: (i / n) * C, then NumPy's half-to-even rounding.
    idxs = np.round(np.arange(0, max_len + 1, dtype=np.float64) / max_len * num_clips).astype(np.int64)
    idxs = np.minimum(idxs, num_clips - 1)
    rows = []
    for i in range(max_len):
        start, end = idxs[i], idxs[i + 1]
        rows.append(features[start:end].mean(axis=0) if start < end else features[start])
    return np.asarray(rows, dtype=features.dtype)


def time_to_index(start_time, end_time, num_units, duration, rule="iou_argmax"):
    """Ground-truth seconds → inclusive clip indices (fidelity VSLNet §2.5; §6 #1 for `rule="round"`).

    - `rule="iou_argmax"` (the code, default): unit `i` covers `[i·T/N, (i+1)·T/N)`. Every pair `(i, j)` of unit
      start `s_i = (float32(i)/N)·T` and unit end `e_j = (float32(j+1)/N)·T` is scored by IoU with
      `[start_time, end_time]` (float32, intersection floored at 0, union at 1e-12) and the first maximum of the
      row-major `N×N` grid wins.
    - `rule="round"` (the paper): see `round_time_to_index`.

    Returns:
        `(start_index, end_index)` as Python ints with `0 <= start_index <= end_index < num_units` whenever the
        moment overlaps the video (`iou_argmax`) or `start_time <= end_time` (`round`).
    """
    _check("rule", rule, LABEL_RULES)
    if num_units <= 0:
        raise ValueError(f"num_units must be positive, got {num_units}")
    if rule == "round":
        return round_time_to_index(start_time, end_time, num_units, duration)
    units = np.arange(num_units, dtype=np.float32)
    s_times = units / np.float32(num_units) * np.float32(duration)
    e_times = (units + np.float32(1.0)) / np.float32(num_units) * np.float32(duration)
    s_grid = s_times[:, None]
    e_grid = e_times[None, :]
    gt_start, gt_end = np.float32(start_time), np.float32(end_time)
    inter = np.maximum(np.float32(0.0), np.minimum(e_grid, gt_end) - np.maximum(s_grid, gt_start))
    union = np.maximum(np.float32(1e-12), np.maximum(e_grid, gt_end) - np.minimum(s_grid, gt_start))
    flat = int(np.argmax(inter / union))
    return flat // num_units, flat % num_units


def round_time_to_index(start_time, end_time, num_units, duration):
    """The paper's rule (TPAMI §3.1, fidelity VSLNet §6 #1): `a = Round(τ/T·N)` for the start and for the end.

    Precisely: `a = clip(np.round(float64(τ) / float64(T) · N), 0, N − 1)` for `τ = start_time` and `τ = end_time`,
    i.e. division first, in float64, rounding half to even (NumPy's `np.round`, as every other rounding of the
    originals), then clipped to the valid clips. The indices are boundary positions on the clip grid, and the end
    index is used inclusively like the code's (it is the clip that carries the end label). The inverse is
    `index_to_time(..., rule="round")`: `τ = a/N·T`. A moment ending at `T` gets `a_e = N − 1` after the clip
    (so it maps back to `(N − 1)/N·T`, not `T`); a moment shorter than half a clip may get `a_s = a_e`.

    Returns:
        `(start_index, end_index)` as Python ints; `start_index <= end_index` whenever `start_time <= end_time`.
    """
    if num_units <= 0:
        raise ValueError(f"num_units must be positive, got {num_units}")
    positions = np.round(np.asarray([start_time, end_time], np.float64) / np.float64(duration) * num_units)
    start_index, end_index = np.clip(positions, 0, num_units - 1).astype(np.int64)
    return int(start_index), int(end_index)


def index_to_time(start_index, end_index, num_units, duration, rule="iou_argmax"):
    """Predicted inclusive clip indices → seconds (fidelity VSLNet §2.5, LPNet §10; §6 #1): multiply first, float32.

    - `rule="iou_argmax"` (the code, default): `(float32(start_index)·T/N, float32(end_index + 1)·T/N)`: the end
      index names the last clip, which ends one clip later.
    - `rule="round"` (the paper's inference rule `τ = a/N·T`): `(float32(start_index)·T/N,
      float32(end_index)·T/N)`: the end index is a boundary position, the inverse of `round_time_to_index`. A span
      with `start_index == end_index` is a zero-length moment.

    Returns:
        `(start, end)` as Python floats.
    """
    _check("rule", rule, LABEL_RULES)
    duration = np.float32(duration)
    num_units = np.float32(num_units)
    start = np.float32(start_index) * duration / num_units
    end = np.float32(end_index + (1 if rule == "iou_argmax" else 0)) * duration / num_units
    return float(start), float(end)


def highlight_extension(start_index, end_index, extend, extension_length="code"):
    """Clips added on each side of the highlight target: Python `round(extend · L)` (half to even).

    `extension_length="code"` (default, fidelity VSLNet §2.6): `L = end − start + 1`, the number of clips of the
    inclusive span. `"paper"` (fidelity VSLNet §6 #6, the paper's "L = a_e − a_s"): `L = end − start`. Only `L` changes;
    the rounding, the "no extension when 0" rule and the clipping of `highlight_bounds` are the code's in both cases.
    """
    _check("extension_length", extension_length, EXTENSION_LENGTHS)
    length = end_index - start_index + (1 if extension_length == "code" else 0)
    return round(extend * length)


def highlight_bounds(start_index, end_index, length, extend=0.1, extension_length="code"):
    """Inclusive clip range of the highlight target (fidelity VSLNet §2.6, LPNet §3).

    `[max(0, s − ext), min(e + ext, length − 1)]` when `ext > 0`, else `[s, e]`, with `ext` from
    `highlight_extension(s, e, extend, extension_length)` and `length` the sample's own valid length (`v_len`).
    """
    ext = highlight_extension(start_index, end_index, extend, extension_length)
    if ext > 0:
        return max(0, start_index - ext), min(end_index + ext, length - 1)
    return start_index, end_index


def highlight_labels(start_index, end_index, length, padded_length, extend=0.1, extension_length="code"):
    """Query-guided highlighting targets of one sample: ones on `highlight_bounds(...)`, zeros elsewhere.

    Args:
        start_index, end_index: inclusive ground-truth clip indices.
        length: this sample's valid length (`v_len`), the clip bound of the extension.
        padded_length: output size (the batch's padded length).
        extend: the extension ratio α.
        extension_length: `"code"` (L = e − s + 1, default) or `"paper"` (L = e − s); see `highlight_extension`.

    Returns:
        int32 array `[padded_length]`.
    """
    labels = np.zeros([padded_length], dtype=np.int32)
    low, high = highlight_bounds(start_index, end_index, length, extend, extension_length)
    labels[low : high + 1] = 1
    return labels
