import math

import numpy as np
import tensorflow as tf

from tests.test_case import TestCase
from vslnet_tf.layers.nil_prediction import NilPredictionModule, normalize_nil_scores


class NilPredictionModuleTest(TestCase):
    def test_layer_contract(self):
        self.run_layer_test(
            NilPredictionModule,
            init_kwargs={"hidden_dim": 8, "num_heads": 2, "max_pos_len": 16, "num_conv_layers": 1, "ffn": "mlp"},
            input_data={"clip_features": np.random.rand(6, 4, 8).astype("float32"), "clip_mask": np.ones((6, 4), bool)},
            expected_output_shape=((6, 4, 8), (6,)),
        )

    def test_without_own_encoder_pooling_ignores_padded_positions(self):
        npm = NilPredictionModule(8, own_encoder=False)
        features = np.random.rand(2, 5, 8).astype("float32")
        mask = np.array([[True] * 5, [True, True, False, False, False]])
        encoded, logits = npm(features, mask)
        self.assertAllClose(encoded, features)  # Ĉ = C^q
        changed = features.copy()
        changed[1, 2:] = 50.0
        _, logits_changed = npm(changed, mask)
        self.assertAllClose(logits, logits_changed)
        self.assertLen(npm.trainable_weights, 3)  # pooling kernel, FFN kernel and bias

    def test_pooling_is_an_attention_weighted_mean(self):
        npm = NilPredictionModule(2, own_encoder=False)
        npm.build((1, 3, 2))
        npm.pooling.pooling_kernel.assign([[0.0], [0.0]])  # uniform attention
        npm.ffn_output.kernel.assign([[1.0], [2.0]])
        npm.ffn_output.bias.assign([0.5])
        features = np.array([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]], "float32")
        _, logits = npm(features, np.array([[True, True, False]]))
        # mean of the two valid rows = (2, 3); 1·2 + 2·3 + 0.5
        self.assertAllClose(logits, [8.5])


class NormalizeNilScoresTest(TestCase):
    def test_divides_by_the_best_valid_clip_and_zeroes_empty_clips(self):
        logits = np.array([[0.0, math.log(3.0), 5.0]], "float32")  # sigmoid 0.5, 0.75, 0.993
        valid = np.array([[True, True, False]])
        self.assertAllClose(normalize_nil_scores(logits, valid), [[0.5 / 0.75, 1.0, 0.0]])
        included = normalize_nil_scores(logits, valid, exclude_empty=False)
        s = 1.0 / (1.0 + np.exp(-logits))
        self.assertAllClose(included, s / s.max())

    def test_gradient_through_the_max_is_an_option(self):
        logits = tf.constant([[0.0, 1.0]])
        valid = tf.constant([[True, True]])
        grads = {}
        for through in (True, False):
            with tf.GradientTape() as tape:
                tape.watch(logits)
                weights = normalize_nil_scores(logits, valid, gradient_through_max=through)
                target = weights[0, 0]
            grads[through] = tape.gradient(target, logits).numpy()
        self.assertAllClose(grads[False][0, 1], 0.0)  # S̄_0 = S_0 / stop(S_1)
        self.assertLess(grads[True][0, 1], 0.0)  # a larger S_1 shrinks S̄_0
        self.assertAllClose(grads[True][0, 0], grads[False][0, 0])

    def test_underflowing_scores_give_zero_not_nan(self):
        weights = normalize_nil_scores(np.array([[-200.0, -300.0]], "float32"), np.array([[True, True]]))
        self.assertAllEqual(np.isfinite(weights), [[True, True]])
