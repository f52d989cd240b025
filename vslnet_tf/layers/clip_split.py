"""VSLNet-L's split of a video into K clips of length l, their masks and labels, and the concatenation back.

Spec fidelity VSLNet §5.1–5.3. A video of n positions (after right-padding) is cut into K consecutive
clips; clip k (0-based) covers positions `[k·l, (k + 1)·l − 1]`. The clips are stacked along the batch axis
(`[B·K, l, d]`, sample-major: row `b·K + k` is clip k of sample b) so that the shared encoder and CQA process each
clip as a short video, and `merge_clips` undoes the reshape.
"""

from keras import ops

SPLIT_PADDINGS = ("exact_n", "batch_max")


def clip_geometry(padded_length, num_clips, clip_length, split_padding="exact_n"):
    """(clip length, total length) of one scale.

    Args:
        padded_length: T, the batch's padded length (scalar int tensor or int).
        num_clips: K of the scale (n / l).
        clip_length: l of the scale.
        split_padding: `exact_n` (spec [OPEN-1] recommendation): every video is padded to n = K·l and clips have
            length l. `batch_max` (the ReLER port): the batch's T is split into K clips of ceil(T / K).

    Returns:
        `(length, total)`: the clip length and K·length (≥ T), int32 scalars.
    """
    if split_padding == "exact_n":
        return ops.convert_to_tensor(clip_length, "int32"), ops.convert_to_tensor(num_clips * clip_length, "int32")
    if split_padding != "batch_max":
        raise ValueError(f"split_padding={split_padding!r}; expected one of {SPLIT_PADDINGS}")
    padded_length = ops.cast(padded_length, "int32")
    length = (padded_length + num_clips - 1) // num_clips
    return length, length * num_clips


def split_into_clips(features, video_mask, clip_length, total_length):
    """Right-pads a video batch to `total_length` = K·l and cuts it into K clips per sample.

    Args:
        features: float tensor `[B, T, d]`, T ≤ `total_length`.
        video_mask: bool tensor `[B, T]`, valid positions (right padding).
        clip_length: int scalar (tensor), l.
        total_length: int scalar (tensor), K·l.

    Returns:
        `(clips, clip_mask)`: float `[B·K, l, d]` (zeros past T) and bool `[B·K, l]`.
    """
    pad = total_length - ops.shape(features)[1]
    features = ops.pad(features, [[0, 0], [0, pad], [0, 0]])
    video_mask = ops.pad(ops.cast(video_mask, "bool"), [[0, 0], [0, pad]], constant_values=False)
    clips = ops.reshape(features, (-1, clip_length, ops.shape(features)[-1]))
    clip_mask = ops.reshape(video_mask, (-1, clip_length))
    return clips, clip_mask


def merge_clips(clips, num_clips, length):
    """Concatenates each sample's K clips in order and crops to `length`: `[B·K, l, d]` → `[B, length, d]`."""
    d = ops.shape(clips)[-1]
    merged = ops.reshape(clips, (-1, num_clips * ops.shape(clips)[1], d))
    return merged[:, :length]


def clip_validity(clip_mask, num_clips):
    """Bool `[B, K]`: clip k of sample b holds at least one valid position (spec [OPEN-7])."""
    return ops.reshape(ops.any(clip_mask, axis=-1), (-1, num_clips))


def clip_offsets(batch_size, num_clips, clip_length):
    """Int32 `[B·K]`: the first video position of every clip (`k·l`), for `clip_positions="global"`."""
    per_sample = ops.arange(num_clips, dtype="int32") * ops.cast(clip_length, "int32")
    return ops.reshape(ops.tile(per_sample[None], (batch_size, 1)), (-1,))


def nil_labels(start_index, end_index, num_clips, clip_length, rule="overlap"):
    """Y `[B, K]` float32: which clips hold the moment (fidelity VSLNet §5.2 step 5).

    Args:
        start_index, end_index: int `[B]`, the inclusive ground-truth indices (a_s, a_e) on the n-grid.
        num_clips: K. clip_length: l (int or int scalar tensor).
        rule: `overlap` (the paper): Y_k = 1 iff a_s ≤ (k + 1)·l − 1 and a_e ≥ k·l (0-based k), i.e. the clip
            overlaps [a_s, a_e]. `boundary` (the ReLER port): Y_k = 1 iff the clip contains a_s or a_e.

    Returns:
        float32 tensor `[B, K]` of 0/1.
    """
    length = ops.cast(clip_length, "int32")
    first = ops.arange(num_clips, dtype="int32")[None] * length  # [1, K]
    last = first + length - 1
    a_s = ops.cast(start_index, "int32")[:, None]
    a_e = ops.cast(end_index, "int32")[:, None]
    if rule == "overlap":
        hit = ops.logical_and(a_s <= last, a_e >= first)
    elif rule == "boundary":
        hit = ops.logical_or(ops.logical_and(a_s >= first, a_s <= last), ops.logical_and(a_e >= first, a_e <= last))
    else:
        raise ValueError(f"nil label rule {rule!r}; expected 'overlap' or 'boundary'")
    return ops.cast(hit, "float32")
