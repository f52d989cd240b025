import numpy as np
import tensorflow as tf
from absl.testing import parameterized
from keras import ops

from lpnet_tf.layers.temporal_roi_align import TemporalRoIAlign
from tests.test_case import TestCase


def reference(features, boxes, length=16):
    """Spec §8.2 in numpy: u_j = x1·(W−1) + j·(x2 − x1)·(W−1)/(l−1), 0 outside [0, W−1], linear in between."""
    width = features.shape[1]
    out = np.zeros((features.shape[0], len(boxes), length, features.shape[2]), np.float64)
    for b in range(features.shape[0]):
        for k, (_, x1, _, x2) in enumerate(boxes):
            for j in range(length):
                u = x1 * (width - 1) + j * (x2 - x1) * (width - 1) / (length - 1)
                if u < 0 or u > width - 1:
                    continue
                lo, hi = int(np.floor(u)), int(np.ceil(u))
                out[b, k, j] = features[b, lo] + (features[b, hi] - features[b, lo]) * (u - lo)
    return out


def box(x1, x2):
    return [0.0, x1, 1.0, x2]


def sample_major(crops):
    """The layer's proposal-major crops `(K, B, l, d)` as numpy `(B, K, l, d)`, the layout of `reference`."""
    return np.transpose(ops.convert_to_numpy(crops), (1, 0, 2, 3))


IMPLEMENTATIONS = (("crop_and_resize", "crop_and_resize"), ("gather", "gather"))


class TemporalRoIAlignTest(TestCase):
    def setUp(self):
        super().setUp()
        # Clip t holds the value t + 1 in channel 0 and 10·(t + 1) in channel 1: interpolation is readable.
        self.features = np.stack([np.arange(1, 6), 10 * np.arange(1, 6)], -1)[None].astype("float32")  # (1, 5, 2)

    def test_layer_basics(self):
        self.run_layer_test(
            TemporalRoIAlign,
            {"roi_length": 4},
            {
                "features": np.random.RandomState(0).normal(size=(2, 6, 3)).astype("float32"),
                "boxes": np.array([box(0.1, 0.7), box(0.5, 0.2), box(0.0, 1.3)], "float32"),
            },
            expected_output_shape=(3, 2, 4, 3),  # proposal-major (K, B, l, d)
            expected_num_trainable_weights=0,
        )

    @parameterized.named_parameters(*IMPLEMENTATIONS)
    def test_hand_computed_inside_edges_outside_reversed(self, implementation):
        roi = TemporalRoIAlign(roi_length=5, implementation=implementation)
        boxes = np.array(
            [
                box(0.0, 1.0),  # u = 0, 1, 2, 3, 4: exactly the clips, both endpoints included
                box(0.125, 0.375),  # u = 0.5, 0.75, 1.0, 1.25, 1.5: bilinear between clips
                box(0.5, 1.5),  # u = 2, 3, 4, 5, 6: past W − 1 = 4 → 0
                box(1.0, 0.0),  # reversed: u = 4, 3, 2, 1, 0
                box(0.25, 0.25),  # zero width: five times clip 1
            ],
            "float32",
        )
        out = sample_major(roi(self.features, boxes))[0, :, :, 0]
        np.testing.assert_allclose(out[0], [1, 2, 3, 4, 5])
        np.testing.assert_allclose(out[1], [1.5, 1.75, 2.0, 2.25, 2.5])
        np.testing.assert_allclose(out[2], [3, 4, 5, 0, 0])
        np.testing.assert_allclose(out[3], [5, 4, 3, 2, 1])
        np.testing.assert_allclose(out[4], [2, 2, 2, 2, 2])
        # Every channel is interpolated the same way.
        np.testing.assert_allclose(sample_major(roi(self.features, boxes))[0, :, :, 1], 10 * out)

    @parameterized.named_parameters(*IMPLEMENTATIONS)
    def test_sixteen_points_match_the_spec_formula(self, implementation):
        rng = np.random.RandomState(1)
        features = rng.normal(size=(3, 9, 4)).astype("float32")
        x = rng.uniform(-0.3, 1.4, size=(12, 2)).astype("float32")
        boxes = np.array([box(a, b) for a, b in x], "float32")
        out = sample_major(TemporalRoIAlign(implementation=implementation)(features, boxes))
        np.testing.assert_allclose(out, reference(features, boxes), atol=1e-5)

    @parameterized.named_parameters(*IMPLEMENTATIONS)
    def test_single_clip_width_reads_clip_zero(self, implementation):
        features = np.array([[[3.0, -1.0]]], "float32")  # W = 1
        boxes = np.array([box(0.0, 1.0), box(0.7, 2.5), box(0.9, 0.1)], "float32")
        out = ops.convert_to_numpy(TemporalRoIAlign(roi_length=4, implementation=implementation)(features, boxes))
        np.testing.assert_allclose(out, np.broadcast_to([3.0, -1.0], out.shape))

    def test_padded_frame_scales_by_the_padded_width(self):
        # Sample 1 has 3 valid clips in a batch padded to 5: the original reads u·(5 − 1), i.e. padded clips.
        features = np.concatenate([self.features, self.features], 0)
        out = sample_major(TemporalRoIAlign(roi_length=5)(features, np.array([box(0, 1)], "float32"), np.array([5, 3])))
        np.testing.assert_allclose(out[1, 0, :, 0], [1, 2, 3, 4, 5])

    @parameterized.named_parameters(*IMPLEMENTATIONS)
    def test_per_sample_frame_equals_the_sample_alone(self, implementation):
        rng = np.random.RandomState(2)
        lengths = np.array([7, 4, 1])
        features = rng.normal(size=(3, 7, 3)).astype("float32")
        x = rng.uniform(0.0, 1.3, size=(10, 2)).astype("float32")
        boxes = np.array([box(a, b) for a, b in x], "float32")
        roi = TemporalRoIAlign(roi_length=6, roi_frame="per_sample", implementation=implementation)
        out = sample_major(roi(features, boxes, lengths))
        for b, length in enumerate(lengths):
            alone = reference(features[b : b + 1, :length], boxes, length=6)[0]
            np.testing.assert_allclose(out[b], alone, atol=1e-5, err_msg=f"sample {b}")

    def test_per_sample_frame_is_padding_invariant(self):
        rng = np.random.RandomState(3)
        features = rng.normal(size=(2, 6, 3)).astype("float32")
        boxes = np.array([box(0.2, 0.9), box(0.6, 1.2)], "float32")
        roi = TemporalRoIAlign(roi_length=4, roi_frame="per_sample")

        def call(pad):
            padded = np.concatenate([features, rng.normal(size=(2, pad, 3)).astype("float32")], 1)
            return roi(padded, boxes, np.array([6, 4]))

        self.assert_padding_invariant(call)

    @parameterized.parameters("padded", "per_sample")
    def test_gather_equals_crop_and_resize_with_gradients(self, roi_frame):
        rng = np.random.RandomState(4)
        features = tf.constant(rng.normal(size=(3, 11, 5)).astype("float32"))
        x = rng.uniform(-0.2, 1.3, size=(9, 2)).astype("float32")
        boxes = tf.constant([box(a, b) for a, b in x])
        lengths = np.array([11, 6, 3])
        results = []
        for implementation in ("crop_and_resize", "gather"):
            roi = TemporalRoIAlign(roi_length=7, roi_frame=roi_frame, implementation=implementation)
            with tf.GradientTape() as tape:
                tape.watch(features)
                out = roi(features, boxes, lengths)
                loss = tf.reduce_sum(out * tf.cos(out))
            results.append((out.numpy(), tape.gradient(loss, features).numpy()))
        np.testing.assert_allclose(results[1][0], results[0][0], atol=1e-6)
        np.testing.assert_allclose(results[1][1], results[0][1], atol=1e-5)

    def test_gather_compiles_with_xla(self):
        roi = TemporalRoIAlign(roi_length=4, roi_frame="per_sample", implementation="gather")
        features = np.random.RandomState(5).normal(size=(2, 6, 3)).astype("float32")
        boxes = np.array([box(0.1, 0.8), box(0.9, 0.3)], "float32")
        lengths = np.array([6, 4])
        compiled = tf.function(lambda f, b, n: roi(f, b, n), jit_compile=True)
        np.testing.assert_allclose(
            compiled(features, boxes, lengths).numpy(), roi(features, boxes, lengths).numpy(), atol=1e-5
        )

    def test_gradient_reaches_features_and_boxes(self):
        features = tf.constant(self.features)
        boxes = tf.constant([box(0.1, 0.6)])
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([features, boxes])
            out = tf.reduce_sum(TemporalRoIAlign(roi_length=4)(features, boxes))
        self.assertGreater(float(tf.reduce_sum(tape.gradient(out, features))), 0.0)
        self.assertIsNotNone(tape.gradient(out, boxes))  # LPNet stops it at the model level (fidelity LPNet D18)
