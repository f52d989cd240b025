import numpy as np
import tensorflow as tf
from keras import ops

from common import losses
from tests.test_case import TestCase

NEG = np.float32(-1e30)


def log_softmax(x):
    x = np.asarray(x, "float64")
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


class SpanCrossEntropyTest(TestCase):
    def test_hand_computed(self):
        start = np.array([[1.0, 2.0, 0.5, NEG], [0.0, 0.0, 3.0, 1.0]], "float32")
        end = np.array([[0.2, 0.1, 2.0, NEG], [1.0, -1.0, 0.0, 2.0]], "float32")
        start_idx, end_idx = np.array([1, 2]), np.array([2, 3])
        loss = float(losses.span_cross_entropy(start, end, start_idx, end_idx))
        ls, le = log_softmax(start), log_softmax(end)
        expected = np.mean([-(ls[0, 1] + le[0, 2]), -(ls[1, 2] + le[1, 3])])  # CE_s + CE_e, no ½, batch mean
        self.assertAllClose(loss, expected, atol=1e-6)
        # First sample by hand: log-sum-exp over the three valid logits only.
        ce_s0 = -(2.0 - np.log(np.exp(1.0) + np.exp(2.0) + np.exp(0.5)))
        self.assertAllClose(-ls[0, 1], ce_s0, atol=1e-12)

    def test_matches_tf_softmax_cross_entropy(self):
        rng = np.random.RandomState(0)
        start, end = rng.normal(size=(2, 3, 7)).astype("float32")
        y1, y2 = np.array([0, 6, 3]), np.array([2, 6, 4])
        reference = tf.reduce_mean(
            tf.nn.softmax_cross_entropy_with_logits(tf.one_hot(y1, 7), start)
            + tf.nn.softmax_cross_entropy_with_logits(tf.one_hot(y2, 7), end)
        )
        self.assertAllClose(float(losses.span_cross_entropy(start, end, y1, y2)), float(reference), atol=1e-6)


class HighlightLossTest(TestCase):
    def setUp(self):
        super().setUp()
        self.logits = np.array([[2.0, -1.0, 0.5, NEG], [-3.0, 4.0, NEG, NEG]], "float32")
        self.labels = np.array([[1, 0, 1, 0], [0, 1, 0, 0]], "int32")
        self.mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool)

    @staticmethod
    def bce(x, z):
        p = 1.0 / (1.0 + np.exp(-x))
        return -(z * np.log(p) + (1 - z) * np.log(1 - p))

    def test_hand_computed(self):
        loss = float(losses.highlight_loss(self.logits, self.labels, self.mask))
        terms = [
            2 * self.bce(2.0, 1),
            1 * self.bce(-1.0, 0),
            2 * self.bce(0.5, 1),
            1 * self.bce(-3.0, 0),
            2 * self.bce(4.0, 1),
        ]
        expected = sum(terms) / (5 + 1e-12)  # one normalization over all valid clips of the batch
        self.assertAllClose(loss, expected, atol=1e-6)

    def test_padding_is_ignored_and_finite(self):
        labels = self.labels.copy()
        labels[0, 3] = 1  # even a (wrong) positive label on padding contributes nothing
        loss = float(losses.highlight_loss(self.logits, labels, self.mask))
        self.assertTrue(np.isfinite(loss))
        self.assertAllClose(loss, float(losses.highlight_loss(self.logits, self.labels, self.mask)), atol=1e-7)


class L2PenaltyTest(TestCase):
    def test_semantics(self):
        weights = [np.array([[1.0, -2.0]], "float32"), np.array([3.0], "float32")]
        self.assertAllClose(float(losses.l2_penalty(weights, 0.1)), 0.1 * 14 / 2, atol=1e-7)  # TF1 contrib
        self.assertAllClose(float(losses.l2_penalty(weights, 0.1, semantics="keras")), 0.1 * 14, atol=1e-7)
        self.assertEqual(float(losses.l2_penalty([], 0.1)), 0.0)
        with self.assertRaises(ValueError):
            losses.l2_penalty(weights, 0.1, semantics="torch")

    def test_accepts_variables_and_is_differentiable(self):
        variable = tf.Variable([[1.0, 2.0]])
        with tf.GradientTape() as tape:
            penalty = losses.l2_penalty([variable], 3e-7)
        grad = tape.gradient(penalty, variable)
        np.testing.assert_allclose(ops.convert_to_numpy(grad), 3e-7 * np.array([[1.0, 2.0]]), rtol=1e-6)
