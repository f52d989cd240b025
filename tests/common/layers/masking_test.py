import numpy as np
from keras import ops

from common.layers.masking import NEG_INF, mask_logits, masked_fill, sequence_mask
from tests.test_case import TestCase


class MaskingTest(TestCase):
    def test_sequence_mask(self):
        mask = ops.convert_to_numpy(sequence_mask(np.array([0, 2, 4]), 4))
        self.assertEqual(mask.dtype, np.bool_)
        np.testing.assert_array_equal(mask, [[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]])

    def test_sequence_mask_default_maxlen(self):
        self.assertEqual(tuple(sequence_mask(np.array([1, 3], "int64")).shape), (2, 3))

    def test_mask_logits_is_the_original_formula(self):
        x = np.array([[1.5, -2.0, 3.0], [0.25, 7.0, -1e3]], "float32")
        mask = np.array([[True, True, False], [True, False, False]])
        out = ops.convert_to_numpy(mask_logits(x, mask))
        self.assertEqual(out.dtype, np.float32)
        m = mask.astype("float32")
        expected = x * m + np.float32(-1e30) * (1.0 - m)
        np.testing.assert_array_equal(out, expected)
        # Valid positions keep x bit for bit; padded positions hold float32(-1e30).
        np.testing.assert_array_equal(out[mask], x[mask])
        self.assertEqual(float(out[0, 2]), -1.0000000150474662e30)
        self.assertEqual(NEG_INF, -1e30)

    def test_mask_logits_broadcasts_and_upcasts(self):
        x = np.ones((2, 3, 4), "float16")
        mask = np.array([[True, False, True, True]] * 2)[:, None, :]
        out = ops.convert_to_numpy(mask_logits(x, mask))
        self.assertEqual(out.dtype, np.float32)  # never fp16: -1e30 would overflow
        self.assertTrue(np.all(out[:, :, 1] == np.float32(-1e30)))
        self.assertTrue(np.all(out[:, :, 0] == 1.0))

    def test_mask_logits_softmax_gives_zero_on_padding(self):
        probs = ops.convert_to_numpy(ops.softmax(mask_logits(np.array([[3.0, 1.0, 2.0]]), [[True, True, False]])))
        self.assertEqual(probs[0, 2], 0.0)
        np.testing.assert_allclose(probs[0, :2], np.exp([3.0, 1.0]) / np.exp([3.0, 1.0]).sum(), rtol=1e-6)

    def test_masked_fill_dtype_aware(self):
        out = ops.convert_to_numpy(masked_fill(np.array([1.0, 2.0], "float16"), np.array([True, False])))
        self.assertEqual(out.dtype, np.float16)
        self.assertTrue(np.isfinite(out).all())
        self.assertEqual(float(out[0]), 1.0)
        out32 = ops.convert_to_numpy(masked_fill(np.array([1.0, 2.0], "float32"), np.array([False, True]), 5.0))
        np.testing.assert_array_equal(out32, [5.0, 2.0])
