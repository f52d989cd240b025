import numpy as np
from keras import ops

from common.layers.multi_head_attention import MultiHeadAttentionBlock
from tests.common.layers.conv_block_test import numpy_layer_norm
from tests.test_case import TestCase, num_params


def numpy_attention_block(layer, x, mask):
    """Reference of the original block at dropout 0 (no output projection, linear FFN, additive key mask)."""
    w = {name: v.numpy() for name, v in ((v.path.split("/", 1)[1], v) for v in layer.weights)}
    y = numpy_layer_norm(x, w["layer_norm_1/gamma"], w["layer_norm_1/beta"])
    q, k, v = (y @ w[f"{n}/kernel"] + w[f"{n}/bias"] for n in ("query", "key", "value"))
    batch, length, dim = x.shape
    heads = layer.num_heads
    split = lambda t: t.reshape(batch, length, heads, dim // heads).transpose(0, 2, 1, 3)
    q, k, v = split(q) / np.sqrt(dim // heads), split(k), split(v)
    scores = q @ k.transpose(0, 1, 3, 2) + (1.0 - mask[:, None, None, :]) * -1e30
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    merged = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, dim)
    residual = merged + x
    z = numpy_layer_norm(residual, w["layer_norm_2/gamma"], w["layer_norm_2/beta"])
    return z @ w["ffn/kernel"] + w["ffn/bias"] + residual


class MultiHeadAttentionBlockTest(TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.RandomState(0)
        self.x = rng.normal(size=(2, 6, 8)).astype("float32")
        self.mask = np.array([[True] * 6, [True] * 4 + [False] * 2])

    def test_layer_basics(self):
        # LN 2·16 + Q/K/V 3·(64 + 8) + FFN (64 + 8) = 320 values in 12 weights.
        self.run_layer_test(
            MultiHeadAttentionBlock,
            {"hidden_dim": 8, "num_heads": 2, "dropout": 0.1},
            {"inputs": self.x, "padding_mask": self.mask},
            expected_output_shape=(2, 6, 8),
            expected_num_trainable_weights=12,
            expected_num_trainable_params=320,
        )

    def test_matches_numpy_reference(self):
        layer = MultiHeadAttentionBlock(8, num_heads=2)
        layer(self.x, padding_mask=self.mask)
        rng = np.random.RandomState(1)
        for weight in layer.weights:  # non-trivial biases and LayerNorm parameters
            if weight.path.endswith(("bias", "beta")):
                weight.assign(rng.normal(scale=0.3, size=weight.shape).astype("float32"))
        out = ops.convert_to_numpy(layer(self.x, padding_mask=self.mask))
        np.testing.assert_allclose(out, numpy_attention_block(layer, self.x, self.mask.astype("float32")), atol=1e-5)
        self.assertEqual(
            sorted({w.path.split("/")[1] for w in layer.weights}),
            ["ffn", "key", "layer_norm_1", "layer_norm_2", "query", "value"],
        )

    def test_padded_keys_do_not_change_valid_outputs(self):
        layer = MultiHeadAttentionBlock(8, num_heads=2)
        out = ops.convert_to_numpy(layer(self.x, padding_mask=self.mask))
        changed = self.x.copy()
        changed[1, 4:] = np.random.RandomState(7).normal(scale=10.0, size=(2, 8))
        out_changed = ops.convert_to_numpy(layer(changed, padding_mask=self.mask))
        np.testing.assert_allclose(out_changed[1, :4], out[1, :4], atol=1e-5)
        np.testing.assert_allclose(out_changed[0], out[0], atol=0)
        # Without the mask the padded keys do matter.
        unmasked = ops.convert_to_numpy(layer(changed))
        self.assertGreater(np.abs(unmasked[1, :4] - out[1, :4]).max(), 1e-3)

    def test_attention_probabilities_are_zero_on_padded_keys(self):
        layer = MultiHeadAttentionBlock(8, num_heads=2)
        _, probs = layer(self.x, padding_mask=self.mask, return_attention_scores=True)
        probs = ops.convert_to_numpy(probs)
        self.assertEqual(probs.shape, (2, 2, 6, 6))
        np.testing.assert_array_equal(probs[1, :, :, 4:], 0.0)
        np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-6)

    def test_parameter_count_vslnet(self):
        layer = MultiHeadAttentionBlock(128, num_heads=8)
        layer.build((None, None, 128))
        self.assertEqual(num_params(layer.trainable_weights), 66_560)

    def test_heads_must_divide(self):
        with self.assertRaisesRegex(ValueError, "multiple"):
            MultiHeadAttentionBlock(10, num_heads=4)

    def test_dropout_only_in_training(self):
        layer = MultiHeadAttentionBlock(8, num_heads=2, dropout=0.5)
        self.assert_dropout_only_in_training(
            layer, lambda l, training: l(self.x, padding_mask=self.mask, training=training)
        )
