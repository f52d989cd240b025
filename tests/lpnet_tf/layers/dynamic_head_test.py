from unittest import mock

import numpy as np
import tensorflow as tf
from keras import ops

from common.layers import chunked
from lpnet_tf.layers.dynamic_head import DynamicHead
from tests.test_case import TestCase, num_params


def layer_norm(x, layer):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-6) * layer.gamma.numpy() + layer.beta.numpy()


def dense(x, layer):
    return x @ layer.kernel.numpy() + layer.bias.numpy()


class DynamicHeadTest(TestCase):
    def setUp(self):
        super().setUp()
        self.rois = np.random.RandomState(0).normal(size=(3, 2, 4, 8)).astype("float32")  # (K, B, l, d)
        self.kwargs = {"num_proposals": 3, "hidden_dim": 8, "roi_length": 4, "num_heads": 2, "dynamic_dim": 5}

    def test_layer_basics(self):
        d, e, l, k = 8, 5, 4, 3
        mhsa = 4 * (d * d + d) + 4 * d
        expected = k * d + mhsa + 2 * d + (d * 2 * d * e + 2 * d * e) + 2 * e + 2 * d + (l * d * d + d) + 4 * d
        self.run_layer_test(
            DynamicHead, self.kwargs, self.rois, expected_output_shape=(2, 3, 8), expected_num_trainable_params=expected
        )

    def test_matches_per_sample_per_proposal_loop(self):
        head = DynamicHead(**self.kwargs)
        out = ops.convert_to_numpy(head(self.rois))
        proposals = ops.convert_to_numpy(head.proposal_features())
        # P̃ = LN3(P + MHSA(P)) without dropout.
        p = head.pro_features.numpy()
        np.testing.assert_allclose(
            proposals,
            layer_norm(p + ops.convert_to_numpy(head.attention_block(p[None]))[0], head.layer_norm3),
            atol=1e-5,
        )
        params = dense(proposals, head.dynamic_layer)
        for b in range(2):
            for k in range(3):
                w1 = params[k, :40].reshape(8, 5)  # row-major [d, e]
                w2 = params[k, 40:].reshape(5, 8)
                z = np.maximum(layer_norm(self.rois[k, b] @ w1, head.layer_norm4), 0)
                z = np.maximum(layer_norm(z @ w2, head.layer_norm5), 0)
                z = np.maximum(layer_norm(dense(z.reshape(-1), head.out_layer), head.layer_norm6), 0)
                np.testing.assert_allclose(out[b, k], layer_norm(proposals[k] + z, head.layer_norm7), atol=1e-4)

    def test_proposal_slices_give_the_same_outputs_and_gradients(self):
        head = DynamicHead(**self.kwargs)
        rois = tf.constant(self.rois)

        def values_and_gradients():
            with tf.GradientTape() as tape:
                tape.watch(rois)
                out = head(rois, training=True)
                loss = tf.reduce_sum(tf.sin(out))
            return [out] + tape.gradient(loss, [rois] + head.trainable_variables)

        whole = values_and_gradients()
        # A budget of one proposal's (B·l, d) intermediate: three slices of one proposal.
        with mock.patch.object(chunked, "CPU_SLICE_VALUES", 2 * 4 * 8):
            sliced = values_and_gradients()
        for a, b, name in zip(sliced, whole, ["outputs", "rois"] + [v.path for v in head.trainable_variables]):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, err_msg=name)

    def test_return_intermediates(self):
        head = DynamicHead(**self.kwargs)
        out = ops.convert_to_numpy(head(self.rois))
        again, stages = head(self.rois, return_intermediates=True)
        np.testing.assert_array_equal(ops.convert_to_numpy(again), out)  # the default output is unchanged
        np.testing.assert_array_equal(ops.convert_to_numpy(stages["head_features"]), out)
        proposals = ops.convert_to_numpy(stages["proposal_features"])
        np.testing.assert_array_equal(proposals, ops.convert_to_numpy(head.proposal_features()))
        # G = LN7(P̃ + Z) without dropout: the dynamic-conv features are the Z of the residual.
        z = ops.convert_to_numpy(stages["dynamic_conv_features"])
        self.assertEqual(z.shape, (2, 3, 8))
        self.assertTrue(np.all(z >= 0))  # after the ReLU
        np.testing.assert_allclose(out, layer_norm(proposals[None] + z, head.layer_norm7), atol=1e-5)

    def test_without_mhsa_proposal_features_are_the_table(self):
        head = DynamicHead(**self.kwargs, use_mhsa=False)
        head.build()
        np.testing.assert_array_equal(ops.convert_to_numpy(head.proposal_features()), head.pro_features.numpy())
        self.assertFalse(hasattr(head, "attention_block"))

    def test_dropout_only_in_training(self):
        head = DynamicHead(**self.kwargs, dropout=0.5)
        self.assert_dropout_only_in_training(head, lambda layer, training: layer(self.rois, training=training))

    def test_parameter_count_original(self):
        head = DynamicHead()
        head.build()
        # pro_features 25,600 + MHSA 264,192 + LN3 512 + dynamic 8,421,376 + LN4 128 + LN5 512 + out 1,048,832
        # + LN6/LN7 1,024 (the original has the same, plus the dead 2 → 32 position Dense).
        self.assertEqual(num_params(head.trainable_weights), 9_762_176)
