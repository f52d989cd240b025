import numpy as np
import pytest

from vslnet_tf import multiscale_inference as inference


def _pm(starts, ends, probs):
    return [
        np.asarray(x).tolist()
        for x in inference.pm_select(np.array(starts), np.array(ends), np.array(probs, "float32"))
    ]


def _u(starts, ends, end_offset=1):
    start, end, iou = inference.union_of_most_overlapping(np.array(starts), np.array(ends), end_offset)
    return np.asarray(start).tolist(), np.asarray(end).tolist(), np.asarray(iou)


def test_pm_takes_the_most_confident_scale():
    start, end, score, scale = _pm([[1, 5, 9]], [[2, 8, 9]], [[0.1, 0.4, 0.3]])
    assert (start, end, scale) == ([5], [8], [1]) and score == pytest.approx([0.4])


def test_pm_ties_go_to_the_first_scale():
    assert _pm([[1, 5, 9]], [[2, 8, 9]], [[0.2, 0.4, 0.4]])[3] == [1]


def test_u_is_the_hull_of_the_most_overlapping_pair():
    # spans [0, 10), [2, 10), [20, 26): IoU(0, 1) = 0.8 is the largest
    start, end, iou = _u([[0, 2, 20]], [[9, 9, 25]])
    assert (start, end) == ([0], [9]) and iou == pytest.approx([0.8])
    start, end, _ = _u([[2, 20, 0]], [[9, 25, 12]])  # pair (0, 2): [2, 10) and [0, 13), IoU 8 / 13
    assert (start, end) == ([0], [12])


def test_u_ties_go_to_the_lexicographically_first_pair():
    # identical candidates 0 and 2, identical 1 and 3: both pairs have IoU 1; (0, 2) comes first
    start, end, _ = _u([[0, 30, 0, 30]], [[4, 34, 4, 34]])
    assert (start, end) == ([0], [4])


def test_u_without_overlap_spans_the_gap_of_the_first_pair():
    start, end, iou = _u([[0, 5, 10]], [[1, 6, 11]])
    assert (start, end) == ([0], [6]) and iou == pytest.approx([0.0])


def test_u_end_offset_follows_the_label_rule():
    # adjacent spans [3, 5] and [5, 8]: overlap of one clip with the code's rule, of a point with the paper's
    assert _u([[3, 5]], [[5, 8]], end_offset=1)[2] == pytest.approx([1 / 6])
    assert _u([[3, 5]], [[5, 8]], end_offset=0)[2] == pytest.approx([0.0])
    assert _u([[4, 4]], [[4, 4]], end_offset=0)[2] == pytest.approx([1.0])  # two equal points


def test_u_with_one_scale_returns_its_candidate():
    start, end, iou = _u([[3], [1]], [[7], [2]])
    assert (start, end) == ([3, 1], [7, 2]) and iou.tolist() == [1.0, 1.0]


def test_batch_rows_are_independent():
    start, end, _ = _u([[0, 2, 20], [0, 5, 10]], [[9, 9, 25], [1, 6, 11]])
    assert (start, end) == ([0, 0], [9, 6])
