import numpy as np
import pytest

from vslnet_tf.layers import clip_split


def _batch(lengths, total, dim=2):
    """Features whose value at (b, t) is 100·b + t + 1 (0 on padding), and the right-padding mask."""
    lengths = np.asarray(lengths)
    mask = np.arange(total)[None] < lengths[:, None]
    values = (100 * np.arange(len(lengths))[:, None] + np.arange(total)[None] + 1) * mask
    return np.repeat(values[..., None], dim, axis=-1).astype("float32"), mask


@pytest.mark.parametrize("split_padding, expected", [("exact_n", (4, 12)), ("batch_max", (4, 12))])
def test_geometry_of_a_length_not_divisible_by_l(split_padding, expected):
    size, total = clip_split.clip_geometry(10, num_clips=3, clip_length=4, split_padding=split_padding)
    assert (int(size), int(total)) == expected


def test_batch_max_splits_the_batch_length_into_k_pieces():
    size, total = clip_split.clip_geometry(7, num_clips=3, clip_length=40, split_padding="batch_max")
    assert (int(size), int(total)) == (3, 9)  # ceil(7 / 3) = 3
    with pytest.raises(ValueError, match="split_padding"):
        clip_split.clip_geometry(7, 3, 4, split_padding="ragged")


def test_split_pads_to_k_times_l_and_stacks_clips_sample_major():
    features, mask = _batch([10, 3], total=10)  # n = 12, l = 4: T = 10 < n and not divisible by l
    clips, clip_mask = clip_split.split_into_clips(features, mask, clip_length=4, total_length=12)
    clips, clip_mask = np.asarray(clips), np.asarray(clip_mask)
    assert clips.shape == (6, 4, 2) and clip_mask.shape == (6, 4)
    np.testing.assert_array_equal(clips[0, :, 0], [1, 2, 3, 4])
    np.testing.assert_array_equal(clips[2, :, 0], [9, 10, 0, 0])  # positions 8, 9 and two of padding
    np.testing.assert_array_equal(clips[3, :, 0], [101, 102, 103, 0])  # sample 1, clip 0
    np.testing.assert_array_equal(clip_mask[2], [True, True, False, False])
    np.testing.assert_array_equal(clip_mask[4], [False] * 4)
    np.testing.assert_array_equal(
        np.asarray(clip_split.clip_validity(clip_mask, 3)), [[True, True, True], [True, False, False]]
    )


def test_merge_undoes_split_and_crops_to_the_batch_length():
    features, mask = _batch([10, 3], total=10, dim=3)
    clips, _ = clip_split.split_into_clips(features, mask, clip_length=4, total_length=12)
    merged = np.asarray(clip_split.merge_clips(clips, num_clips=3, length=10))
    np.testing.assert_array_equal(merged, features)


def test_video_as_long_as_n_is_split_without_padding():
    features, mask = _batch([12], total=12)
    clips, clip_mask = clip_split.split_into_clips(features, mask, clip_length=6, total_length=12)
    assert np.asarray(clip_mask).all() and np.asarray(clips).shape == (2, 6, 2)


def test_clip_offsets_are_each_clips_first_position():
    np.testing.assert_array_equal(np.asarray(clip_split.clip_offsets(2, 3, 4)), [0, 4, 8, 0, 4, 8])


@pytest.mark.parametrize(
    "start, end, overlap, boundary",
    [
        (3, 4, [1, 1, 0], [1, 1, 0]),  # crosses the boundary between clips 0 and 1 (position 3 | 4)
        (4, 7, [0, 1, 0], [0, 1, 0]),  # exactly clip 1
        (3, 3, [1, 0, 0], [1, 0, 0]),  # the last position of clip 0
        (8, 8, [0, 0, 1], [0, 0, 1]),  # the first position of clip 2
        (0, 11, [1, 1, 1], [1, 0, 1]),  # the whole video: the inner clip holds no boundary
    ],
)
def test_nil_labels_at_clip_boundaries(start, end, overlap, boundary):
    args = (np.array([start]), np.array([end]), 3, 4)
    np.testing.assert_array_equal(np.asarray(clip_split.nil_labels(*args, rule="overlap"))[0], overlap)
    np.testing.assert_array_equal(np.asarray(clip_split.nil_labels(*args, rule="boundary"))[0], boundary)
    with pytest.raises(ValueError, match="nil label rule"):
        clip_split.nil_labels(*args, rule="inside")
