from math import comb

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from common.layers.dropout import MASK_BITS, Dropout, dropout, keep_mask
from tests.test_case import TestCase

SEED = tf.constant([11, 29], tf.int64)


class KeepMaskTest(TestCase):
    def test_each_element_compares_sixteen_bits_of_a_splitmix64_word(self):
        # An independent reconstruction in numpy: SplitMix64 (Steele et al. 2014) from an offset mixed from the seed,
        # each 64-bit word split into four 16-bit parts (in memory order), kept where a part is >= round(rate · 2^16).
        def mix64(z):
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            return z ^ (z >> np.uint64(31))

        gamma = np.uint64(0x9E3779B97F4A7C15)
        seed = SEED.numpy().astype(np.uint64)
        with np.errstate(over="ignore"):
            offset = mix64(np.array([seed[0] * gamma + seed[1]], np.uint64))
            words = mix64(np.arange(4, dtype=np.uint64) * gamma + offset)
        rate, size = 0.3, 13  # a size that is not a multiple of 4 uses the first parts of the last word only
        expected = words.view(np.uint16)[:size] >= round(rate * 2**MASK_BITS)
        np.testing.assert_array_equal(keep_mask([size], rate, SEED).numpy(), expected)

    @parameterized.parameters(0.05, 0.1, 0.2, 0.5, 0.9)
    def test_keep_probability(self, rate):
        threshold = round(rate * 2**MASK_BITS)
        self.assertLess(abs((2**MASK_BITS - threshold) / 2**MASK_BITS - (1 - rate)), 1e-4)  # exact by construction
        kept = keep_mask([1000, 1000], rate, SEED).numpy().mean()
        self.assertLess(abs(kept - (1 - rate)), 5 * np.sqrt(rate * (1 - rate) / 1e6))  # and drawn uniformly

    def test_stateless_same_seed_same_mask_other_seed_other_mask(self):
        a = keep_mask([64, 33], 0.5, SEED).numpy()
        np.testing.assert_array_equal(a, keep_mask([64, 33], 0.5, SEED).numpy())
        b = keep_mask([64, 33], 0.5, SEED + 1).numpy()
        self.assertGreater((a != b).mean(), 0.4)

    def test_elements_and_consecutive_seeds_are_independent(self):
        # Four neighbours share a 64-bit word, and a layer's consecutive calls differ by one in the seed's second
        # word: the agreement of such pairs is that of independent fair draws (0.5 ± 5σ).
        mask = keep_mask([4_000_000], 0.5, SEED).numpy()
        words = mask.reshape(-1, 4)
        tolerance = 5 * 0.5 / np.sqrt(1e6)
        for a, b in ((0, 1), (1, 2), (0, 3)):
            self.assertLess(abs((words[:, a] == words[:, b]).mean() - 0.5), tolerance)
        next_call = keep_mask([4_000_000], 0.5, SEED + [0, 1]).numpy()
        self.assertLess(abs((mask == next_call).mean() - 0.5), 5 * 0.5 / np.sqrt(4e6))
        # The masks' positive counts in blocks of 64 follow Binomial(64, 1/2): the chi-square statistic of the
        # 4 M / 64 block counts against it is that of a fair generator.
        counts = np.bincount(mask.reshape(-1, 64).sum(1), minlength=65)

        expected = np.array([comb(64, k) for k in range(65)]) / 2**64 * len(mask) / 64
        used = expected > 5
        chi2 = (((counts[used] - expected[used]) ** 2) / expected[used]).sum()
        self.assertLess(chi2, used.sum() + 6 * np.sqrt(2 * used.sum()))

    def test_refuses_a_rate_of_one(self):
        with self.assertRaisesRegex(ValueError, r"\[0, 1\)"):
            keep_mask([3], 1.0, SEED)


class DropoutTest(TestCase):
    def test_kept_values_are_scaled_and_the_gradient_is_the_mask(self):
        x = tf.constant(np.random.RandomState(0).uniform(1, 2, size=(5, 40)).astype("float32"))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = dropout(x, 0.25, SEED)
        keep = keep_mask([5, 40], 0.25, SEED).numpy()
        np.testing.assert_allclose(y.numpy(), np.where(keep, x.numpy() / 0.75, 0.0), rtol=1e-6)
        np.testing.assert_allclose(tape.gradient(y, x).numpy(), keep / 0.75, rtol=1e-6)

    def test_noise_shape_shares_the_mask_along_unit_axes(self):
        x = tf.ones([4, 6, 3])
        y = dropout(x, 0.5, SEED, noise_shape=(None, 1, 3)).numpy()
        np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1], y.shape))
        self.assertTrue(0 < (y == 0).mean() < 1)

    def test_rates_zero_and_one(self):
        x = tf.ones([3, 2])
        self.assertIs(dropout(x, 0.0, SEED), x)
        np.testing.assert_array_equal(dropout(x, 1.0, SEED).numpy(), 0.0)

    def test_layer_is_identity_outside_training_and_draws_new_masks_each_call(self):
        layer = Dropout(0.5, seed=3)
        x = np.ones((8, 50), "float32")
        np.testing.assert_array_equal(layer(x).numpy(), x)
        first, second = layer(x, training=True).numpy(), layer(x, training=True).numpy()
        self.assertTrue(set(np.unique(first)) <= {0.0, 2.0})
        self.assertGreater((first != second).mean(), 0.3)

    def test_restored_seed_state_draws_the_same_masks(self):
        # What a resumed run relies on: the trainer saves the seed generators' states with the checkpoint.
        layer = Dropout(0.4, seed=5)
        x = np.ones((6, 30), "float32")
        layer(x, training=True)
        state = layer.seed_generator.state.numpy()
        expected = [layer(x, training=True).numpy() for _ in range(2)]
        layer.seed_generator.state.assign(state)
        for want in expected:
            np.testing.assert_array_equal(layer(x, training=True).numpy(), want)
