import numpy as np
import pytest

from common.data import labels


def _features(num_clips, dim=3):
    return np.arange(num_clips * dim, dtype=np.float32).reshape(num_clips, dim)


class TestVisualFeatureSampling:
    def test_short_video_is_unchanged(self):
        f = _features(4)
        assert labels.visual_feature_sampling(f, 4) is f

    def test_half_rounds_down_to_even(self):
        # C=5, n=2: boundaries round([0, 2.5, 5]) = [0, 2, 5] -> clipped to [0, 2, 4]; F[4] is never used.
        f = _features(5)
        out = labels.visual_feature_sampling(f, 2)
        np.testing.assert_array_equal(out, [f[0:2].mean(0), f[2:4].mean(0)])

    def test_half_rounds_up_to_even(self):
        # C=7, n=2: round([0, 3.5, 7]) = [0, 4, 7] -> [0, 4, 6].
        f = _features(7)
        out = labels.visual_feature_sampling(f, 2)
        np.testing.assert_array_equal(out, [f[0:4].mean(0), f[4:6].mean(0)])

    def test_empty_bucket_takes_the_boundary_row(self):
        # C=3, n=2: round([0, 1.5, 3]) = [0, 2, 3] -> [0, 2, 2]; the second bucket is empty -> F[2].
        f = _features(3)
        out = labels.visual_feature_sampling(f, 2)
        np.testing.assert_array_equal(out, [f[0:2].mean(0), f[2]])

    def test_output_length_and_dtype(self):
        out = labels.visual_feature_sampling(np.random.rand(1000, 8).astype(np.float32), 128)
        assert out.shape == (128, 8) and out.dtype == np.float32


class TestTimeToIndex:
    @pytest.mark.parametrize(
        "start,end,expected",
        [
            ((2.0, 5.0, (2, 4))),  # exact unit boundaries
            ((2.5, 5.5, (2, 5))),  # IoU 0.75 for [2, 6] beats 0.714 for [3, 6] and [2, 5]
            ((2.5, 3.5, (2, 3))),  # [2, 4] (0.5) beats the one-unit spans (0.333)
            ((0.0, 10.0, (0, 9))),
            ((20.0, 30.0, (0, 0))),  # no overlap anywhere: the first maximum (IoU 0 at (0, 0)) wins
        ],
    )
    def test_iou_argmax(self, start, end, expected):
        assert labels.time_to_index(start, end, 10, 10.0) == expected

    def test_start_never_after_end_when_overlapping(self):
        rng = np.random.default_rng(0)
        for _ in range(200):
            n = int(rng.integers(1, 40))
            duration = float(rng.uniform(5, 100))
            s, e = sorted(rng.uniform(0, duration, 2))
            a_s, a_e = labels.time_to_index(s, e, n, duration)
            assert 0 <= a_s <= a_e < n

    def test_rejects_empty_grid(self):
        with pytest.raises(ValueError):
            labels.time_to_index(0.0, 1.0, 0, 10.0)


class TestIndexToTime:
    def test_end_is_inclusive(self):
        assert labels.index_to_time(2, 4, 10, 10.0) == (2.0, 5.0)

    def test_float32_multiply_first(self):
        start, end = labels.index_to_time(1, 1, 3, 10.0)
        assert start == float(np.float32(10.0) / np.float32(3))
        assert end == float(np.float32(2) * np.float32(10.0) / np.float32(3))


class TestHighlight:
    @pytest.mark.parametrize(
        "length,ext",
        [(1, 0), (5, 0), (6, 1), (14, 1), (15, 2), (25, 2), (26, 3), (34, 3), (35, 4)],
    )
    def test_extension_rounds_half_to_even(self, length, ext):
        # Spec vslnet §2.6: with alpha = 0.1, ext = 0 for L <= 5, 1 for 6-14, 2 for 15-25 (2.5 -> 2), 3 for 26-34.
        assert labels.highlight_extension(10, 10 + length - 1, 0.1) == ext

    def test_no_extension_marks_the_span(self):
        np.testing.assert_array_equal(labels.highlight_labels(2, 4, 8, 10), [0, 0, 1, 1, 1, 0, 0, 0, 0, 0])

    def test_extension_clipped_to_sample_length_not_padding(self):
        # L = 6 -> ext 1; the end is clipped at v_len - 1 = 7 although the batch is padded to 10.
        np.testing.assert_array_equal(labels.highlight_labels(2, 7, 8, 10), [0, 1, 1, 1, 1, 1, 1, 1, 0, 0])
        np.testing.assert_array_equal(labels.highlight_labels(0, 5, 12, 12), [1] * 7 + [0] * 5)


class TestSoftBoundaryLabels:
    def test_values(self):
        eps = 1e-8
        nb = (1 - 2 * eps - 0.5) / 2
        np.testing.assert_array_equal(labels.soft_boundary_labels(0, 5), np.float32([0.5, nb, eps, eps, eps]))
        np.testing.assert_array_equal(labels.soft_boundary_labels(2, 5), np.float32([eps, nb, 0.5, nb, eps]))
        np.testing.assert_array_equal(labels.soft_boundary_labels(4, 5), np.float32([eps, eps, eps, nb, 0.5]))

    def test_sums_to_one_with_both_neighbours(self):
        row = labels.soft_boundary_labels(3, 40).astype(np.float64)
        assert abs(row.sum() - 1.0) < 1e-6
