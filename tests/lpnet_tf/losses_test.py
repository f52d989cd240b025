import numpy as np
from keras import ops

from lpnet_tf import losses
from tests.test_case import TestCase


class ProposalLossesTest(TestCase):
    def test_iou_labels_hand_computed(self):
        start = np.array([[2.0, 4.0, 9.0, 5.0, 3.0, 1.0]], "float32")
        end = np.array([[6.0, 8.0, 12.0, 5.0, 2.0, 10.0]], "float32")
        labels = ops.convert_to_numpy(losses.proposal_iou_labels(start, end, np.array([4.0]), np.array([8.0])))
        # [2,6]∩[4,8] = 2 / 6; identical; disjoint → max(−1/8, 0) = 0; zero length; reversed (e < s) → 0;
        # [1,10] ⊃ GT → 4/9.
        self.assertAllClose(labels, [[1 / 3, 1.0, 0.0, 0.0, 0.0, 4 / 9]])

    def test_single_clip_gt_gives_zero_labels(self):
        # Spec D11: inclusive [st, et] = [5, 5] is a zero-length interval, so every IoU label is 0.
        start = np.array([[4.0, 5.0, 0.0]], "float32")
        end = np.array([[6.0, 5.5, 10.0]], "float32")
        labels = ops.convert_to_numpy(losses.proposal_iou_labels(start, end, np.array([5]), np.array([5])))
        self.assertAllClose(labels, [[0.0, 0.0, 0.0]])
        # With an exclusive end (gt_end_exclusive) the GT is [5, 6].
        labels = ops.convert_to_numpy(losses.proposal_iou_labels(start, end, np.array([5]), np.array([6])))
        self.assertAllClose(labels, [[0.5, 0.5, 0.1]])

    def test_weighted_mse(self):
        scores = np.array([[0.5, 0.2], [0.9, 0.0]], "float32")
        labels = np.array([[0.0005, 0.2], [0.5, 0.001]], "float32")
        # Weight 0.92 where the label < 0.001 (0.0005), 1 elsewhere (0.001 is not below the threshold).
        expected = (0.92 * 0.4995 ** 2 + 0.0 + 0.4 ** 2 + 0.001 ** 2) / 4
        self.assertAllClose(float(losses.iou_regression_loss(scores, labels)), expected, rtol=1e-5)

    def test_temporal_iou_zero_union_is_zero(self):
        self.assertAllClose(ops.convert_to_numpy(losses.temporal_iou([3.0], [3.0], [3.0], [3.0])), [0.0])
