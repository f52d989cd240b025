import numpy as np
import tensorflow as tf
from keras import ops

from common.layers.span_decoding import span_decode, span_decode_topk, span_scores
from tests.test_case import TestCase


def decode(start, end, **kwargs):
    s, e, p = span_decode(np.array(start, "float32"), np.array(end, "float32"), **kwargs)
    return ops.convert_to_numpy(s).tolist(), ops.convert_to_numpy(e).tolist(), ops.convert_to_numpy(p)


class SpanDecodingTest(TestCase):
    def test_joint_argmax_beats_independent_argmax(self):
        # Independent argmaxes would give start 2 > end 1; the banded joint maximum is (0, 1).
        start = [[0.3, 0.2, 0.5]]
        end = [[0.1, 0.6, 0.3]]
        s, e, p = decode(start, end)
        # Allowed products: (0,0).03 (0,1).18 (0,2).09 (1,1).12 (1,2).06 (2,2).15 -> best (0, 1).
        self.assertEqual((s, e), ([0], [1]))
        np.testing.assert_allclose(p, [0.18], rtol=1e-6)

    def test_diagonal_is_allowed(self):
        s, e, p = decode([[0.1, 0.8, 0.1]], [[0.1, 0.8, 0.1]])
        self.assertEqual((s, e), ([1], [1]))
        np.testing.assert_allclose(p, [0.64], rtol=1e-6)

    def test_lower_triangle_is_excluded(self):
        s, e, _ = decode([[0.0, 0.1, 0.9]], [[0.9, 0.1, 0.0]])
        self.assertLessEqual(s[0], e[0])
        self.assertEqual((s, e), ([1], [1]))  # (2, 0) has .81 but end < start

    def test_ties_resolve_to_first_index(self):
        # Uniform probabilities: every allowed pair ties; the first row max and first column max are (0, 0).
        s, e, _ = decode([[0.25] * 4], [[0.25] * 4])
        self.assertEqual((s, e), ([0], [0]))
        # Two tied pairs (0, 2) and (1, 2): start takes the first row (0), end the column 2.
        s, e, p = decode([[0.4, 0.4, 0.2]], [[0.0, 0.1, 0.9]])
        self.assertEqual((s, e), ([0], [2]))
        np.testing.assert_allclose(p, [0.36], rtol=1e-6)

    def test_original_row_column_rule_under_cross_ties(self):
        # (0, 1), (0, 2), (1, 1) and (1, 2) all tie at 0.25: the first row max gives start 0 and the first column
        # max gives end 1, the smallest tied pair.
        s, e, _ = decode([[0.5, 0.5, 0.0]], [[0.0, 0.5, 0.5]])
        self.assertEqual((s, e), ([0], [1]))

    def test_padding_never_selected_and_batch(self):
        start = [[0.7, 0.3, 0.0, 0.0], [0.1, 0.1, 0.1, 0.7]]
        end = [[0.2, 0.8, 0.0, 0.0], [0.4, 0.3, 0.2, 0.1]]
        s, e, _ = decode(start, end)
        self.assertEqual(s, [0, 3])
        self.assertEqual(e, [1, 3])

    def test_max_span_len(self):
        s, e, _ = decode([[0.9, 0.05, 0.05]], [[0.05, 0.05, 0.9]], max_span_len=2)
        self.assertLessEqual(e[0] - s[0] + 1, 2)

    def test_span_scores_band(self):
        scores = ops.convert_to_numpy(span_scores(np.ones((1, 3), "float32"), np.ones((1, 3), "float32")))
        np.testing.assert_array_equal(scores[0], np.triu(np.ones((3, 3))))

    def test_topk(self):
        start = np.array([[0.3, 0.2, 0.5]], "float32")
        end = np.array([[0.1, 0.6, 0.3]], "float32")
        s, e, p = span_decode_topk(start, end, k=3)
        self.assertEqual(ops.convert_to_numpy(s).tolist(), [[0, 2, 1]])
        self.assertEqual(ops.convert_to_numpy(e).tolist(), [[1, 2, 1]])
        np.testing.assert_allclose(ops.convert_to_numpy(p), [[0.18, 0.15, 0.12]], rtol=1e-6)
        top1 = span_decode(start, end)
        self.assertEqual(int(ops.convert_to_numpy(s)[0, 0]), int(ops.convert_to_numpy(top1[0])[0]))

    def test_topk_ties_row_major(self):
        s, e, _ = span_decode_topk(np.full((1, 3), 0.5, "float32"), np.full((1, 3), 0.5, "float32"), k=3)
        self.assertEqual(list(zip(ops.convert_to_numpy(s)[0], ops.convert_to_numpy(e)[0])), [(0, 0), (0, 1), (0, 2)])

    def test_dynamic_shapes_in_tf_function(self):
        function = tf.function(span_decode, input_signature=[tf.TensorSpec([None, None])] * 2)
        s, e, _ = function(np.array([[0.1, 0.9]], "float32"), np.array([[0.2, 0.8]], "float32"))
        self.assertEqual((int(s[0]), int(e[0])), (1, 1))

    def test_linear_time_rule_equals_the_outer_product_rule(self):
        # The O(n) decoding (running maxima) against the original's banded outer product, taken in numpy, on random
        # probabilities, quantized ones (many ties) and lengths from 1 on.
        rng = np.random.RandomState(0)
        for trial in range(60):
            batch, length = rng.randint(1, 4), rng.randint(1, 70)
            start = rng.dirichlet(np.ones(length), size=batch).astype("float32")
            end = rng.dirichlet(np.ones(length), size=batch).astype("float32")
            if trial % 2:
                start, end = np.round(start * 3) / 3, np.round(end * 3) / 3
            outer = np.triu(start[:, :, None] * end[:, None, :])
            s, e, p = decode(start, end)
            self.assertEqual(s, outer.max(2).argmax(1).tolist())
            self.assertEqual(e, outer.max(1).argmax(1).tolist())
            np.testing.assert_array_equal(p, outer.max((1, 2)))
