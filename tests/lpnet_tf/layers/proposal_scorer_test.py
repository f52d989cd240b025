import numpy as np
from keras import ops

from lpnet_tf.layers.proposal_scorer import ProposalScorer, l2_normalize
from tests.test_case import TestCase, num_params


class ProposalScorerTest(TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.RandomState(0)
        self.inputs = {
            "features": rng.normal(size=(2, 3, 4)).astype("float32"),
            "query": rng.normal(size=(2, 5, 4)).astype("float32"),
            "query_mask": np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool),
        }

    def test_layer_basics(self):
        self.run_layer_test(
            ProposalScorer,
            {"hidden_dim": 4, "scoring_hidden_dim": 6},
            self.inputs,
            expected_output_shape=(2, 3),
            expected_num_trainable_weights=9,
            expected_num_trainable_params=4 + 20 + 30 + 12 + 7,
        )

    def test_matches_numpy(self):
        scorer = ProposalScorer(4, scoring_hidden_dim=6)
        scores = ops.convert_to_numpy(scorer(**self.inputs))
        w = {v.path.split("/", 1)[1]: v.numpy() for v in scorer.weights}
        pooled = ops.convert_to_numpy(scorer.pooling(self.inputs["query"], self.inputs["query_mask"]))
        x = self.inputs["features"] * pooled[:, None]
        x = x / np.sqrt(np.maximum((x**2).sum(-1, keepdims=True), 1e-12))  # multiply + L2-normalize
        x = x @ w["projection/kernel"] + w["projection/bias"]
        h = x @ w["score_hidden/kernel"] + w["score_hidden/bias"]
        h = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-6)
        h = np.maximum(h * w["layer_norm8/gamma"] + w["layer_norm8/beta"], 0)
        logits = h @ w["score_output/kernel"] + w["score_output/bias"]
        np.testing.assert_allclose(scores, 1 / (1 + np.exp(-logits[..., 0])), atol=1e-5)

    def test_l2_normalize_floor(self):
        self.assertAllClose(
            ops.convert_to_numpy(l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))), [[0.6, 0.8], [0.0, 0.0]]
        )

    def test_parameter_count_original(self):
        scorer = ProposalScorer(256)
        scorer.build()
        # pooling 256 + fusion Dense 65,792 + dense_1 65,792 + LN8 512 + dense_2 257.
        self.assertEqual(num_params(scorer.trainable_weights), 132_609)
