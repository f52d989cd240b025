"""Trainable parameter counts of the full VSLNet layer set vs fidelity VSLNet §3.14 (the original code prints them).

The real model class is written elsewhere; this test composes the layers the same way (one shared encoder,
one CQA, pooling+concat, QGH, predictor, and the two input projections) and counts trainable values only
(the UNK row counts, the GloVe rows do not).
"""

import keras
import numpy as np
from absl.testing import parameterized

from common.layers.char_embedding import CharEmbedding
from common.layers.context_query_attention import ContextQueryAttention
from common.layers.feature_encoder import FeatureEncoder
from common.layers.highlighting import QueryGuidedHighlighting
from common.layers.query_pooling import QueryPooling
from common.layers.span_predictor import ConditionedSpanPredictor
from common.layers.word_embedding import WordEmbedding
from tests.test_case import TestCase, num_params

NUM_CHARS = 30  # any value: the char table adds (NUM_CHARS - 1)·char_dim


def build_vslnet_layers(predictor, max_pos_len=128, char_dim=50, hidden_dim=128, video_dim=1024):
    """Every trainable block of VSLNet, built; returns {block name: [layers]}."""
    d = hidden_dim
    blocks = {
        "word_embedding": [WordEmbedding(102, word_dim=300)],
        "char_embedding": [CharEmbedding(NUM_CHARS, char_dim=char_dim)],
        "video_conv1d": [keras.layers.Dense(d, name="video_conv1d")],
        "query_conv1d": [keras.layers.Dense(d, name="query_conv1d")],
        "feature_encoder": [FeatureEncoder(d, num_heads=8, max_pos_len=max_pos_len)],
        "cqa": [ContextQueryAttention(d)],
        "pooling_concat": [QueryPooling(d)],
        "highlight": [QueryGuidedHighlighting()],
        "predictor": [ConditionedSpanPredictor(d, predictor=predictor, max_pos_len=max_pos_len)],
    }
    blocks["word_embedding"][0].build((None, None))
    blocks["char_embedding"][0].build((None, None, None))
    blocks["video_conv1d"][0].build((None, None, video_dim))
    blocks["query_conv1d"][0].build((None, None, 300 + 100))
    blocks["feature_encoder"][0].build((None, None, d))
    blocks["cqa"][0].build()
    blocks["pooling_concat"][0].build()
    blocks["highlight"][0].build((None, None, d))
    blocks["predictor"][0].build((None, None, d))
    return blocks


def trainable(blocks):
    return [w for layers in blocks.values() for layer in layers for w in layer.trainable_weights]


class VSLNetParameterCountTest(TestCase):
    def test_per_block_counts(self):
        blocks = build_vslnet_layers("rnn")
        count = lambda name: num_params(blocks[name][0].trainable_weights)
        self.assertEqual(count("feature_encoder"), 153_600)
        self.assertEqual(count("cqa"), 65_920)
        self.assertEqual(count("pooling_concat"), 33_024)
        self.assertEqual(count("highlight"), 129)
        predictor = blocks["predictor"][0]
        self.assertEqual(num_params(predictor.start_rnn.weights + predictor.end_rnn.weights), 263_168)
        hidden = predictor.start_hidden.weights + predictor.end_hidden.weights
        self.assertEqual(num_params(hidden), 65_792)
        self.assertEqual(num_params(predictor.start_dense.weights + predictor.end_dense.weights), 258)
        char = blocks["char_embedding"][0]
        self.assertEqual(num_params([w for c in char.convs for w in c.weights]), 15_100)
        self.assertEqual(count("char_embedding"), 15_100 + (NUM_CHARS - 1) * 50)
        self.assertEqual(count("video_conv1d") + count("query_conv1d"), 1024 * 128 + 128 + 400 * 128 + 128)
        self.assertEqual(count("word_embedding"), 300)  # the UNK row; GloVe rows are frozen
        self.assertEqual(num_params(blocks["word_embedding"][0].non_trainable_weights), 100 * 300)

    @parameterized.named_parameters(
        ("rnn_128_c50", "rnn", 128, 50, 779_819),
        ("transformer_128_c50", "transformer", 128, 50, 670_763),
        ("rnn_300_c100", "rnn", 300, 100, 816_835),
    )
    def test_total(self, predictor, max_pos_len, char_dim, base):
        blocks = build_vslnet_layers(predictor, max_pos_len=max_pos_len, char_dim=char_dim)
        weights = trainable(blocks)
        self.assertEqual(num_params(weights), base + (NUM_CHARS - 1) * char_dim)
        # Shared encoder: each variable exists once.
        self.assertEqual(len({id(w) for w in weights}), len(weights))
        self.assertTrue(all(np.all(np.isfinite(w.numpy())) for w in weights[:3]))
