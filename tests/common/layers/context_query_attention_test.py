import numpy as np
from keras import ops

from common.layers.context_query_attention import ContextQueryAttention
from tests.test_case import TestCase, num_params


def numpy_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class ContextQueryAttentionTest(TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.RandomState(0)
        self.video = rng.normal(size=(2, 4, 3)).astype("float32")
        self.query = rng.normal(size=(2, 3, 3)).astype("float32")
        self.video_mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)
        self.query_mask = np.array([[1, 1, 1], [1, 0, 0]], bool)

    def inputs(self):
        return {
            "video": self.video,
            "query": self.query,
            "video_mask": self.video_mask,
            "query_mask": self.query_mask,
        }

    def test_layer_basics(self):
        self.run_layer_test(
            ContextQueryAttention,
            {"hidden_dim": 3, "dropout": 0.1},
            self.inputs(),
            expected_output_shape=(2, 4, 3),
            expected_num_trainable_weights=4,
            expected_num_trainable_params=3 + 3 + 3 + 12 * 3,
        )

    def test_hand_checked_against_numpy(self):
        layer = ContextQueryAttention(3)
        out, scores = layer(**self.inputs(), return_similarity=True)
        w_v = layer.video_kernel.numpy()  # (d, 1)
        w_q = layer.query_kernel.numpy()  # (d, 1)
        w_m = layer.mul_kernel.numpy()[0, 0]  # (d,)
        v, q = self.video.astype("float64"), self.query.astype("float64")
        # S_ij = v_i·w_v + q_j·w_q + Σ_k v_ik w_m,k q_jk, written out with explicit loops.
        s = np.zeros((2, 4, 3))
        for b in range(2):
            for i in range(4):
                for j in range(3):
                    s[b, i, j] = v[b, i] @ w_v[:, 0] + q[b, j] @ w_q[:, 0] + np.sum(v[b, i] * w_m * q[b, j])
        np.testing.assert_allclose(ops.convert_to_numpy(scores), s, atol=1e-5)

        qm = self.query_mask.astype("float64")[:, None, :]
        vm = self.video_mask.astype("float64")[:, :, None]
        s_r = numpy_softmax(s * qm - 1e30 * (1 - qm), axis=2)  # over the query axis
        s_c = numpy_softmax(s * vm - 1e30 * (1 - vm), axis=1)  # over the video axis
        # Sample 1 has one valid word: every row of S_r puts all its weight on word 0.
        np.testing.assert_allclose(s_r[1], np.tile([1.0, 0.0, 0.0], (4, 1)))
        # ... and S_c puts no weight on the two padded clips.
        np.testing.assert_array_equal(s_c[1, 2:], 0.0)
        a = s_r @ q
        bm = s_r @ s_c.transpose(0, 2, 1) @ v
        fused = np.concatenate([v, a, v * a, v * bm], -1)
        expected = fused @ layer.projection.kernel.numpy()
        np.testing.assert_allclose(ops.convert_to_numpy(out), expected, atol=1e-5)
        self.assertFalse(layer.projection.use_bias)

    def test_trilinear_kernel_shapes_match_tf1(self):
        layer = ContextQueryAttention(128)
        layer.build()
        self.assertEqual(tuple(layer.video_kernel.shape), (128, 1))
        self.assertEqual(tuple(layer.query_kernel.shape), (128, 1))
        self.assertEqual(tuple(layer.mul_kernel.shape), (1, 1, 128))
        self.assertEqual(tuple(layer.projection.kernel.shape), (512, 128))
        self.assertEqual(num_params(layer.trainable_weights), 65_920)
        limit = np.sqrt(6.0 / 129.0)  # Glorot over [d, 1] and [1, 1, d]
        for kernel in (layer.video_kernel, layer.query_kernel, layer.mul_kernel):
            self.assertLessEqual(np.abs(kernel.numpy()).max(), limit)

    def test_dropout_only_in_training(self):
        layer = ContextQueryAttention(3, dropout=0.5)
        self.assert_dropout_only_in_training(layer, lambda l, training: l(**self.inputs(), training=training))
