import numpy as np
from keras import ops

from common.layers.feature_encoder import FeatureEncoder
from tests.test_case import TestCase, num_params


class FeatureEncoderTest(TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.RandomState(0)
        self.video = rng.normal(size=(2, 7, 8)).astype("float32")
        self.video_mask = np.array([[True] * 7, [True] * 3 + [False] * 4])
        self.query = rng.normal(size=(2, 4, 8)).astype("float32")
        self.query_mask = np.array([[True] * 4, [True] * 2 + [False] * 2])

    def test_layer_basics(self):
        # pos 10·8 + conv block 4·144 + attention block 320 = 976 values in 1 + 20 + 12 weights.
        self.run_layer_test(
            FeatureEncoder,
            {"hidden_dim": 8, "num_heads": 2, "max_pos_len": 10, "dropout": 0.1},
            {"inputs": self.video, "padding_mask": self.video_mask},
            expected_output_shape=(2, 7, 8),
            expected_num_trainable_weights=33,
            expected_num_trainable_params=976,
        )

    def test_masked_conv_variant(self):
        self.run_layer_test(
            FeatureEncoder,
            {"hidden_dim": 8, "num_heads": 2, "max_pos_len": 10, "masked_conv": True},
            {"inputs": self.video, "padding_mask": self.video_mask},
            expected_output_shape=(2, 7, 8),
        )

    def test_one_instance_shared_by_video_and_query(self):
        encoder = FeatureEncoder(8, num_heads=2, max_pos_len=10)
        video_out = encoder(self.video, padding_mask=self.video_mask)
        weights_before = [w.path for w in encoder.weights]
        query_out = encoder(self.query, padding_mask=self.query_mask)
        self.assertEqual([w.path for w in encoder.weights], weights_before)  # no new variables on the 2nd call
        self.assertEqual(tuple(video_out.shape), (2, 7, 8))
        self.assertEqual(tuple(query_out.shape), (2, 4, 8))

    def test_composition(self):
        encoder = FeatureEncoder(8, num_heads=2, max_pos_len=10)
        out = encoder(self.video, padding_mask=self.video_mask)
        x = encoder.position_embedding(self.video)
        x = encoder.conv_block(x)
        expected = encoder.attention_block(x, padding_mask=self.video_mask)
        np.testing.assert_allclose(ops.convert_to_numpy(out), ops.convert_to_numpy(expected), atol=1e-6)
        self.assertEqual(
            sorted({w.path.split("/")[1] for w in encoder.weights}),
            ["conv_block", "multihead_attention_block", "positional_embedding"],
        )

    def test_parameter_count_vslnet(self):
        encoder = FeatureEncoder(128, num_heads=8, max_pos_len=128)
        encoder.build((None, None, 128))
        self.assertEqual(num_params(encoder.trainable_weights), 153_600)

    def test_parameter_count_lpnet(self):
        # LPNet: d = 256, 8 heads of 32, max_position_length 256 (Charades).
        encoder = FeatureEncoder(256, num_heads=8, max_pos_len=256)
        encoder.build((None, None, 256))
        d = 256
        expected = 256 * d + 4 * (2 * d + 7 * d + d * d + d) + (2 * d + 3 * (d * d + d) + 2 * d + d * d + d)
        self.assertEqual(num_params(encoder.trainable_weights), expected)

    def test_dropout_only_in_training(self):
        encoder = FeatureEncoder(8, num_heads=2, max_pos_len=10, dropout=0.5)
        self.assert_dropout_only_in_training(
            encoder, lambda l, training: l(self.video, padding_mask=self.video_mask, training=training)
        )
