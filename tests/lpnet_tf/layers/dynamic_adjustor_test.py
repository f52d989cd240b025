import numpy as np
import tensorflow as tf
from keras import ops

from lpnet_tf.layers.dynamic_adjustor import DynamicAdjustor
from tests.test_case import TestCase


class DynamicAdjustorTest(TestCase):
    def setUp(self):
        super().setUp()
        # (c, h): box 0 = [0.1, 0.3], box 1 = [0.5, 0.9], box 2 = [0.2, 0.6].
        self.boxes = np.array([[0.2, 0.1], [0.7, 0.2], [0.4, 0.2]], "float32")
        self.lengths = np.array([10, 20])
        self.scores = np.array([[0.1, 0.9, 0.2], [0.3, 0.3, 0.1]], "float32")
        self.iou_labels = np.array([[0.5, 0.1, 0.7], [0.0, 0.0, 0.0]], "float32")

    def test_selection_training_uses_iou_labels_inference_uses_scores(self):
        adjustor = DynamicAdjustor()
        index, p_x, p_y = adjustor(self.boxes, self.lengths, self.scores, self.iou_labels, training=True)
        self.assertAllEqual(ops.convert_to_numpy(index), [2, 0])  # all-zero labels: lowest index
        self.assertAllClose(ops.convert_to_numpy(p_x), [2.0, 2.0])
        self.assertAllClose(ops.convert_to_numpy(p_y), [6.0, 6.0])
        index, p_x, p_y = adjustor(self.boxes, self.lengths, self.scores, self.iou_labels, training=False)
        self.assertAllEqual(ops.convert_to_numpy(index), [1, 0])  # tie 0.3/0.3: lowest index
        self.assertAllClose(ops.convert_to_numpy(p_x), [5.0, 2.0])
        self.assertAllClose(ops.convert_to_numpy(p_y), [9.0, 6.0])
        with self.assertRaises(ValueError):
            adjustor(self.boxes, self.lengths, self.scores, training=True)

    def test_clamped_iou_floor_and_clamp(self):
        adjustor = DynamicAdjustor()
        p_x = np.array([2.0, 2.0, 0.0, 4.0], "float32")
        p_y = np.array([6.0, 6.0, 1.0, 8.2], "float32")
        gt_x = np.array([4.0, 2.0, 5.0, 4.0], "float32")
        gt_y = np.array([8.0, 5.0, 9.0, 8.0], "float32")
        iou = ops.convert_to_numpy(adjustor.clamped_iou(p_x, p_y, gt_x, gt_y))
        # 2/6; 3/4; disjoint → floor 1e-10; 4/4.2 = 0.952 > 0.95 → 1.
        self.assertAllClose(iou, [1 / 3, 0.75, 1e-10, 1.0], rtol=1e-6)

    def test_iou_loss_gradient(self):
        adjustor = DynamicAdjustor()
        boxes = tf.Variable([[0.45, 0.2], [0.5, 0.12], [0.9, 0.05], [0.45, 0.155]])
        lengths = np.array([10, 10, 10, 10])
        gt_x, gt_y = np.full(4, 3.0, "float32"), np.full(4, 6.0, "float32")
        with tf.GradientTape() as tape:
            p_x, p_y = adjustor.bounds(boxes, tf.range(4), lengths)
            losses = 1.0 - adjustor.clamped_iou(p_x, p_y, gt_x, gt_y)
            loss = ops.sum(losses)
        self.assertAllClose(ops.convert_to_numpy(losses), [0.25, 1 - 2.2 / 3.2, 1 - 1e-10, 0.0])
        grad = tape.gradient(loss, boxes).numpy()
        # Box 0 = [2.5, 6.5] ⊃ GT [3, 6]: 1 − 3/(2hL), so d/dc = 0 and d/dh = 3/(2h²L) = 3.75.
        self.assertAllClose(grad[0], [0.0, 3.75], atol=1e-4)
        # Box 1 = [3.8, 6.2]: inter = 6 − (c − h)L, union = (c + h)L − 3; d/dc = L(u + i)/u², d/dh = −L(u − i)/u².
        self.assertAllClose(grad[1], [10 * 5.4 / 3.2**2, -10 * 1.0 / 3.2**2], atol=1e-4)
        self.assertAllEqual(grad[2], [0.0, 0.0])  # [8.5, 9.5] misses the GT: floored at 1e-10, no gradient
        self.assertAllEqual(grad[3], [0.0, 0.0])  # IoU 3/3.1 > 0.95 counts as 1: no loss, no gradient

    def test_regular_term(self):
        boxes = np.array([[0.1, 0.3], [0.9, 0.2], [0.5, 0.1], [0.5, -0.6]], "float32")
        # ReLU(h − c) + ReLU(h + c − 1): 0.2; 0.1; 0; 0 (negative half-lengths are not penalized).
        self.assertAllClose(float(DynamicAdjustor.regular_term(boxes)), 0.3 / 4)

    def test_decode_round_half_even_and_clamp(self):
        adjustor = DynamicAdjustor()
        p_x = np.array([2.5, 3.5, -1.2, 0.49], "float32")
        p_y = np.array([4.5, 5.5, 12.7, 0.5], "float32")
        start, end = adjustor.decode(p_x, p_y, np.array([10, 10, 10, 10]))
        self.assertAllEqual(ops.convert_to_numpy(start), [2, 4, 0, 0])
        self.assertAllEqual(ops.convert_to_numpy(end), [4, 6, 9, 0])
        start, end = DynamicAdjustor(end_exclusive=True).decode(p_x, p_y, np.array([10, 10, 10, 10]))
        self.assertAllEqual(ops.convert_to_numpy(start), [2, 4, 0, 0])
        self.assertAllEqual(ops.convert_to_numpy(end), [3, 5, 9, 0])  # round(p_y) − 1, never below the start

    def test_decode_top_k_shapes(self):
        adjustor = DynamicAdjustor()
        index = tf.constant([[1, 0], [2, 1]])
        p_x, p_y = adjustor.bounds(self.boxes, index, self.lengths)
        self.assertAllClose(ops.convert_to_numpy(p_x), [[5.0, 1.0], [4.0, 10.0]])
        _start, end = adjustor.decode(p_x, p_y, self.lengths)
        self.assertAllEqual(ops.convert_to_numpy(end), [[9, 3], [12, 18]])
