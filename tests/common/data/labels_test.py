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


class TestPaperRoundRule:
    """Spec vslnet §6 #1: `rule="round"` is a = clip(round_half_even(τ/T·n), 0, n − 1); τ = a/n·T back."""

    @pytest.mark.parametrize(
        "start,end,n,duration,expected",
        [
            (2.0, 5.0, 10, 10.0, (2, 5)),  # boundaries: the end index is the boundary position (IoU-argmax: (2, 4))
            (2.5, 5.5, 10, 10.0, (2, 6)),  # half to even: 2.5 -> 2, 5.5 -> 6
            (1.5, 4.5, 10, 10.0, (2, 4)),  # 1.5 -> 2, 4.5 -> 4
            (3.49, 3.51, 10, 10.0, (3, 4)),
            (0.0, 10.0, 10, 10.0, (0, 9)),  # round(10) = 10 is clipped to n - 1
            (-1.0, 0.4, 10, 10.0, (0, 0)),  # clipped at 0
            (5.0, 12.5, 8, 20.0, (2, 5)),  # 5/20·8 = 2, 12.5/20·8 = 5
        ],
    )
    def test_round(self, start, end, n, duration, expected):
        assert labels.time_to_index(start, end, n, duration, rule="round") == expected
        assert labels.round_time_to_index(start, end, n, duration) == expected

    def test_default_is_the_code(self):
        assert labels.time_to_index(2.0, 5.0, 10, 10.0) == labels.time_to_index(2.0, 5.0, 10, 10.0, rule="iou_argmax")
        assert labels.time_to_index(2.0, 5.0, 10, 10.0) == (2, 4)
        assert labels.index_to_time(2, 4, 10, 10.0) == (2.0, 5.0)

    def test_paper_inference_rule_and_round_trip(self):
        assert labels.index_to_time(2, 5, 10, 10.0, rule="round") == (2.0, 5.0)
        start, end = labels.index_to_time(1, 2, 3, 10.0, rule="round")
        assert start == float(np.float32(10.0) / np.float32(3))
        assert end == float(np.float32(2) * np.float32(10.0) / np.float32(3))
        # Each rule is the inverse of its own labels on grid-aligned moments; mixing them moves the end by a clip.
        for rule in labels.LABEL_RULES:
            s, e = labels.time_to_index(3.0, 7.0, 10, 10.0, rule=rule)
            assert labels.index_to_time(s, e, 10, 10.0, rule=rule) == (3.0, 7.0)
        assert labels.index_to_time(*labels.time_to_index(3.0, 7.0, 10, 10.0, rule="round"), 10, 10.0) == (3.0, 8.0)

    def test_start_never_after_end(self):
        rng = np.random.default_rng(1)
        for _ in range(200):
            n = int(rng.integers(1, 40))
            duration = float(rng.uniform(5, 100))
            s, e = sorted(rng.uniform(0, duration, 2))
            a_s, a_e = labels.time_to_index(s, e, n, duration, rule="round")
            assert 0 <= a_s <= a_e < n

    def test_unknown_rule(self):
        with pytest.raises(ValueError, match="rule"):
            labels.time_to_index(0.0, 1.0, 4, 4.0, rule="floor")
        with pytest.raises(ValueError, match="rule"):
            labels.index_to_time(0, 1, 4, 4.0, rule="floor")


class TestPaperExtensionLength:
    """Spec vslnet §6 #6: `extension_length="paper"` uses L = a_e − a_s instead of a_e − a_s + 1."""

    @pytest.mark.parametrize(
        "start,end,code,paper",
        [
            (10, 15, 1, 0),  # code L = 6: round(0.6) = 1; paper L = 5: round(0.5) = 0 (half to even)
            (0, 14, 2, 1),  # 15: round(1.5) = 2; 14: round(1.4) = 1
            (10, 25, 2, 2),  # 16: round(1.6) = 2; 15: round(1.5) = 2
            (0, 34, 4, 3),  # 35: round(3.5) = 4; 34: round(3.4) = 3
            (3, 3, 0, 0),
        ],
    )
    def test_extension(self, start, end, code, paper):
        assert labels.highlight_extension(start, end, 0.1) == code
        assert labels.highlight_extension(start, end, 0.1, "code") == code
        assert labels.highlight_extension(start, end, 0.1, "paper") == paper

    def test_labels(self):
        # L = 6 (code) -> ext 1, clipped at v_len - 1 = 7; L = 5 (paper) -> ext 0: the span itself.
        np.testing.assert_array_equal(labels.highlight_labels(2, 7, 8, 10), [0, 1, 1, 1, 1, 1, 1, 1, 0, 0])
        np.testing.assert_array_equal(
            labels.highlight_labels(2, 7, 8, 10, extension_length="paper"), [0, 0, 1, 1, 1, 1, 1, 1, 0, 0]
        )
        assert labels.highlight_bounds(0, 14, 20, 0.1, "paper") == (0, 15)
        assert labels.highlight_bounds(0, 14, 20, 0.1) == (0, 16)

    def test_unknown_length_rule(self):
        with pytest.raises(ValueError, match="extension_length"):
            labels.highlight_extension(0, 4, 0.1, "other")
