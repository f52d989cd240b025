import keras
import numpy as np
from keras import ops

from lpnet_tf.layers.learnable_proposals import (
    LearnableProposals,
    NonNegativeHalfLength,
    ProposalBoxInitializer,
)
from tests.test_case import TestCase


class LearnableProposalsTest(TestCase):
    def test_layer_basics(self):
        layer = self.run_layer_test(
            LearnableProposals,
            {"num_proposals": 7},
            {"lengths": np.array([10, 4], "int32")},
            expected_output_shape=((7, 2), (2, 7), (2, 7)),
            expected_num_trainable_weights=1,
            expected_num_trainable_params=14,
        )
        self.assertEqual(layer.proposal_box.name, "proposal_box")

    def test_initialization_ranges(self):
        boxes = ops.convert_to_numpy(ProposalBoxInitializer(0.25, seed=3)((5000, 2), "float32"))
        self.assertTrue(np.all((boxes[:, 0] >= 0) & (boxes[:, 0] < 1)))
        self.assertTrue(np.all((boxes[:, 1] >= 0) & (boxes[:, 1] < 0.25)))
        self.assertAllClose(boxes.mean(0), [0.5, 0.125], atol=0.02)

    def test_crop_boxes_and_index_bounds(self):
        boxes = np.array([[0.5, 0.25], [0.1, 0.3], [0.9, 0.3], [0.4, -0.1]], "float32")
        crop = ops.convert_to_numpy(LearnableProposals.crop_boxes(boxes))
        # ReLU(0, c − h, 1, c + h): start clipped at 0, no clipping at 1, reversed box kept.
        self.assertAllClose(crop, [[0, 0.25, 1, 0.75], [0, 0, 1, 0.4], [0, 0.6, 1, 1.2], [0, 0.5, 1, 0.3]])
        start, end = LearnableProposals.index_bounds(boxes, np.array([8, 20]))
        self.assertAllClose(ops.convert_to_numpy(start), [[2, -1.6, 4.8, 4.0], [5, -4, 12, 10]], atol=1e-5)
        self.assertAllClose(ops.convert_to_numpy(end), [[6, 3.2, 9.6, 2.4], [15, 8, 24, 6]], atol=1e-5)

    def test_clamp_half_length_constraint(self):
        layer = LearnableProposals(3, clamp_half_length=True)
        layer.build()
        layer.proposal_box.assign([[0.5, 0.1], [0.2, 0.3], [0.7, 0.05]])
        optimizer = keras.optimizers.SGD(1.0)
        optimizer.apply_gradients([(np.array([[0.0, 0.0], [0.0, 0.5], [0.1, 0.0]], "float32"), layer.proposal_box)])
        self.assertAllClose(layer.proposal_box.numpy(), [[0.5, 0.1], [0.2, 0.0], [0.6, 0.05]])
        self.assertAllClose(ops.convert_to_numpy(NonNegativeHalfLength()(np.array([[-0.2, -0.1]]))), [[-0.2, 0.0]])

    def test_no_constraint_by_default(self):
        layer = LearnableProposals(3)
        layer.build()
        self.assertIsNone(layer.proposal_box.constraint)
