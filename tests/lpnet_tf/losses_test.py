import numpy as np
from keras import ops

from common import losses as common_losses
from lpnet_tf import losses
from tests.common.losses_test import HighlightLossTest as CommonHighlightLossTest
from tests.test_case import TestCase

NEG = np.float32(-1e30)


def log_softmax(x):
    x = np.asarray(x, "float64")
    return x - x.max() - np.log(np.exp(x - x.max()).sum())


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
        expected = (0.92 * 0.4995**2 + 0.0 + 0.4**2 + 0.001**2) / 4
        self.assertAllClose(float(losses.iou_regression_loss(scores, labels)), expected, rtol=1e-5)

    def test_temporal_iou_zero_union_is_zero(self):
        self.assertAllClose(ops.convert_to_numpy(losses.temporal_iou([3.0], [3.0], [3.0], [3.0])), [0.0])


class HighlightLossTest(CommonHighlightLossTest):
    """LPNet's variant on the batch of VSLNet's highlight-loss test (which it also runs)."""

    def test_negative_targets_are_clipped_to_1e_7(self):
        loss = float(losses.highlight_loss(self.logits, self.labels, self.mask))
        eps = 1e-7
        terms = [
            2 * self.bce(2.0, 1),
            1 * self.bce(-1.0, eps),  # negatives: target 1e-7, weight still 1
            2 * self.bce(0.5, 1),
            1 * self.bce(-3.0, eps),
            2 * self.bce(4.0, 1),
        ]
        self.assertAllClose(loss, sum(terms) / 5, atol=1e-6)
        self.assertGreater(loss, float(common_losses.highlight_loss(self.logits, self.labels, self.mask)))


class BoundaryKLTest(TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.RandomState(0)
        self.start = rng.normal(size=(3, 6)).astype("float32")
        self.end = rng.normal(size=(3, 6)).astype("float32")
        self.mask = np.array([[1, 1, 1, 1, 0, 0], [1] * 6, [1, 1, 1, 0, 0, 0]], bool)
        labels = np.full((3, 6), 1e-8, "float32")
        self.start_labels, self.end_labels = labels.copy(), labels.copy()
        self.start_labels[:, 1], self.start_labels[:, 0], self.start_labels[:, 2] = 0.5, 0.25, 0.25
        self.end_labels[:, 2], self.end_labels[:, 1], self.end_labels[:, 3] = 0.5, 0.25, 0.25

    @staticmethod
    def kl(logits, labels, length):
        p = np.exp(log_softmax(logits[:length]))
        p, q = np.clip(p, 1e-7, 1.0), np.clip(labels[:length].astype("float64"), 1e-7, 1.0)
        return np.sum(q * np.log(q / p))

    def test_first_sample_only(self):
        loss = float(losses.boundary_kl(self.start, self.end, self.start_labels, self.end_labels, self.mask))
        expected = self.kl(self.start[0], self.start_labels[0], 4) + self.kl(self.end[0], self.end_labels[0], 4)
        self.assertAllClose(loss, expected, atol=1e-5)
        # The other samples do not matter.
        start = self.start.copy()
        start[1:] = 0.0
        self.assertAllClose(
            float(losses.boundary_kl(start, self.end, self.start_labels, self.end_labels, self.mask)),
            loss,
            atol=1e-6,
        )

    def test_all_samples(self):
        loss = float(
            losses.boundary_kl(
                self.start, self.end, self.start_labels, self.end_labels, self.mask, first_sample_only=False
            )
        )
        lengths = self.mask.sum(1)
        expected = np.mean(
            [
                self.kl(self.start[b], self.start_labels[b], lengths[b])
                + self.kl(self.end[b], self.end_labels[b], lengths[b])
                for b in range(3)
            ]
        )
        self.assertAllClose(loss, expected, atol=1e-5)

    def test_masked_logits_give_the_same_value(self):
        masked = np.where(self.mask, self.start, NEG)
        a = losses.boundary_kl(masked, self.end, self.start_labels, self.end_labels, self.mask, False)
        b = losses.boundary_kl(self.start, self.end, self.start_labels, self.end_labels, self.mask, False)
        self.assertAllClose(float(a), float(b), atol=1e-6)
