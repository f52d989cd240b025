import numpy as np
from keras import ops

from common.layers.conv_block import ConvBlock
from tests.test_case import TestCase


def numpy_layer_norm(x, gamma, beta, eps=1e-6):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def numpy_conv_block(layer, x):
    """Reference: per layer r = x; x = LN(x); ReLU(pointwise(depthwise_SAME(x)) + b) + r."""
    for norm, depthwise, pointwise in zip(layer.layer_norms, layer.depthwise_convs, layer.pointwise_convs):
        y = numpy_layer_norm(x, norm.gamma.numpy(), norm.beta.numpy())
        kernel = depthwise.kernel.numpy()[:, :, 0]  # (k, d)
        k = kernel.shape[0]
        padded = np.pad(y, [(0, 0), (k // 2, k // 2), (0, 0)])
        conv = np.stack([(padded[:, t : t + k] * kernel).sum(1) for t in range(x.shape[1])], 1)
        y = np.maximum(conv @ pointwise.kernel.numpy() + pointwise.bias.numpy(), 0)
        x = y + x
    return x


class ConvBlockTest(TestCase):
    def setUp(self):
        super().setUp()
        self.x = np.random.RandomState(0).normal(size=(2, 9, 8)).astype("float32")
        self.mask = np.array([[True] * 9, [True] * 5 + [False] * 4])

    def test_layer_basics(self):
        # Per layer (5 weights): LN 2d + depthwise 7d + pointwise d² + bias d = 16 + 56 + 64 + 8 = 144.
        self.run_layer_test(
            ConvBlock,
            {"hidden_dim": 8, "dropout": 0.1},
            self.x,
            expected_output_shape=(2, 9, 8),
            expected_num_trainable_weights=20,
            expected_num_trainable_params=4 * 144,
        )

    def test_masked_variant_basics(self):
        self.run_layer_test(
            ConvBlock,
            {"hidden_dim": 8, "masked": True, "num_layers": 2},
            {"inputs": self.x, "padding_mask": self.mask},
            expected_output_shape=(2, 9, 8),
            expected_num_trainable_weights=10,
        )

    def test_matches_numpy_reference(self):
        layer = ConvBlock(8, num_layers=2)
        layer(self.x)
        for pointwise in layer.pointwise_convs:
            pointwise.bias.assign(np.random.RandomState(2).normal(size=(8,)).astype("float32"))
        for norm in layer.layer_norms:
            norm.beta.assign(np.random.RandomState(3).normal(size=(8,)).astype("float32"))
        np.testing.assert_allclose(ops.convert_to_numpy(layer(self.x)), numpy_conv_block(layer, self.x), atol=1e-4)
        self.assertEqual(tuple(layer.depthwise_convs[0].kernel.shape), (7, 8, 1))  # TF1 [7, 1, d, 1] reshaped
        self.assertEqual(tuple(layer.pointwise_convs[0].kernel.shape), (8, 8))  # TF1 [1, 1, d, d] reshaped

    def test_depthwise_glorot_fans(self):
        layer = ConvBlock(64, num_layers=1)
        layer.build((None, None, 64))
        kernel = layer.depthwise_convs[0].kernel.numpy()
        limit = np.sqrt(6.0 / (7 * 64 + 7))  # fan_in = k·d, fan_out = k
        self.assertLessEqual(np.abs(kernel).max(), limit)
        self.assertGreater(np.abs(kernel).max(), 0.9 * limit)

    def _padding_effect(self, masked):
        """Max change of the valid outputs of a length-5 sequence when 6 padded positions are appended."""
        layer = ConvBlock(8, masked=masked)
        short = self.x[:1, :5]
        padded = np.concatenate([short, np.random.RandomState(5).normal(size=(1, 6, 8)).astype("float32")], 1)
        out_short = ops.convert_to_numpy(layer(short, padding_mask=np.ones((1, 5), bool)))
        mask = np.array([[True] * 5 + [False] * 6])
        out_padded = ops.convert_to_numpy(layer(padded, padding_mask=mask))[:, :5]
        return np.abs(out_short - out_padded).max(axis=(0, 2))  # per valid position

    def test_unmasked_conv_leaks_padding_into_valid_positions(self):
        effect = self._padding_effect(masked=False)
        self.assertGreater(effect[-1], 1e-3)  # the original's defect (fidelity VSLNet §7.6)

    def test_masked_conv_does_not_leak(self):
        effect = self._padding_effect(masked=True)
        self.assertLess(effect.max(), 1e-5)
        layer = ConvBlock(8, masked=True)
        noise = np.random.RandomState(6).normal(size=(1, 6, 8)).astype("float32")

        def call(pad):
            x = np.concatenate([self.x[:1, :5], noise[:, :pad]], 1)
            mask = np.arange(5 + pad)[None, :] < 5
            return layer(x, padding_mask=mask)[:, :5]

        self.assert_padding_invariant(call, pads=(1, 3, 6))

    def test_masked_requires_mask(self):
        with self.assertRaisesRegex(ValueError, "padding_mask"):
            ConvBlock(8, masked=True)(self.x)

    def test_dropout_only_in_training(self):
        layer = ConvBlock(8, dropout=0.5)
        self.assert_dropout_only_in_training(layer, lambda l, training: l(self.x, training=training))
