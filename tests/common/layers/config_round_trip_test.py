"""Every layer rebuilt from its `get_config` computes what it did, and every model survives a `.keras` round trip."""

import inspect
import pkgutil

import keras
import numpy as np
import pytest

import common.layers
import lpnet_tf.layers
import vslnet_tf.layers
from common.data.pipeline import dummy_inputs
from common.layers.attentive_pooling import AttentivePooling
from common.layers.backbone import VideoQueryBackbone
from common.layers.bilstm_encoder import BiLSTMEncoder
from common.layers.char_embedding import CharEmbedding
from common.layers.concat_interaction import ConcatInteraction
from common.layers.context_query_attention import ContextQueryAttention
from common.layers.conv_block import ConvBlock
from common.layers.dropout import Dropout
from common.layers.feature_encoder import FeatureEncoder
from common.layers.highlighting import QueryGuidedHighlighting
from common.layers.layer_normalization import LayerNormalization
from common.layers.multi_head_attention import MultiHeadAttentionBlock
from common.layers.position_embedding import PositionEmbedding
from common.layers.query_pooling import QueryPooling
from common.layers.span_predictor import ConditionedSpanPredictor
from common.layers.word_embedding import WordEmbedding
from lpnet_tf.config import LPNetConfig
from lpnet_tf.layers.bilstm_boundary_predictor import BiLSTMBoundaryPredictor
from lpnet_tf.layers.dynamic_adjustor import DynamicAdjustor
from lpnet_tf.layers.dynamic_head import DynamicHead
from lpnet_tf.layers.learnable_proposals import LearnableProposals
from lpnet_tf.layers.proposal_scorer import ProposalScorer
from lpnet_tf.layers.temporal_roi_align import TemporalRoIAlign
from lpnet_tf.task import LPNetTask
from vslnet_tf.config import VSLNetConfig
from vslnet_tf.layers.nil_prediction import NilPredictionModule
from vslnet_tf.task import VSLNetTask

B, N, M, W, D = 2, 9, 4, 5, 8
RNG = np.random.default_rng(0)
VIDEO = RNG.normal(size=(B, N, D)).astype("float32")
QUERY = RNG.normal(size=(B, M, D)).astype("float32")
VIDEO_MASK = np.arange(N)[None] < np.array([[N], [6]])
QUERY_MASK = np.arange(M)[None] < np.array([[M], [2]])
WORD_IDS = np.array([[2, 3, 1, 4], [5, 6, 0, 0]], "int32")
CHAR_IDS = RNG.integers(1, 12, size=(B, M, W)).astype("int32")
LENGTHS = np.array([N, 6], "int32")
BOXES = np.array([[0.1, 0.5], [0.0, 0.3], [0.6, 1.0]], "float32")


def _trunk_inputs():
    inputs = dummy_inputs(6, batch=B, clips=N, words=M, chars=W)
    inputs.update(
        video_features=RNG.normal(size=(B, N, 6)).astype("float32"),
        video_mask=VIDEO_MASK,
        word_ids=WORD_IDS,
        char_ids=CHAR_IDS,
    )
    return inputs


# (layer, positional call arguments): one case per layer class of the three layer packages.
CASES = {
    "AttentivePooling": (lambda: AttentivePooling(D), (QUERY, QUERY_MASK)),
    "VideoQueryBackbone": (
        lambda: VideoQueryBackbone(7, 12, 6, hidden_dim=D, num_heads=2, max_pos_len=16, lstm_implementation="sequence"),
        (_trunk_inputs(),),
    ),
    "BiLSTMEncoder": (lambda: BiLSTMEncoder(D, lstm_implementation="sequence"), (VIDEO, VIDEO_MASK)),
    "CharEmbedding": (lambda: CharEmbedding(12, char_dim=6), (CHAR_IDS,)),
    "ConcatInteraction": (lambda: ConcatInteraction(D), (VIDEO, QUERY, QUERY_MASK)),
    "ContextQueryAttention": (lambda: ContextQueryAttention(D), (VIDEO, QUERY, VIDEO_MASK, QUERY_MASK)),
    "ConvBlock": (lambda: ConvBlock(D, kernel_size=3, num_layers=2), (VIDEO, VIDEO_MASK)),
    "Dropout": (lambda: Dropout(0.3, seed=4), (VIDEO,)),
    "LayerNormalization": (lambda: LayerNormalization(epsilon=1e-3), (VIDEO,)),
    "FeatureEncoder": (lambda: FeatureEncoder(D, num_heads=2, max_pos_len=16, kernel_size=3), (VIDEO, VIDEO_MASK)),
    "QueryGuidedHighlighting": (lambda: QueryGuidedHighlighting(), (VIDEO, VIDEO_MASK)),
    "MultiHeadAttentionBlock": (lambda: MultiHeadAttentionBlock(D, num_heads=2), (VIDEO, VIDEO_MASK)),
    "PositionEmbedding": (lambda: PositionEmbedding(16), (VIDEO,)),
    "QueryPooling": (lambda: QueryPooling(D), (VIDEO, QUERY, QUERY_MASK)),
    "ConditionedSpanPredictor": (
        lambda: ConditionedSpanPredictor(D, lstm_implementation="sequence"),
        (VIDEO, VIDEO_MASK),
    ),
    "WordEmbedding": (lambda: WordEmbedding(7, word_dim=6, word_vectors=RNG.normal(size=(5, 6))), (WORD_IDS,)),
    "NilPredictionModule": (
        lambda: NilPredictionModule(D, num_heads=2, max_pos_len=16, kernel_size=3),
        (VIDEO, VIDEO_MASK),
    ),
    "BiLSTMBoundaryPredictor": (
        lambda: BiLSTMBoundaryPredictor(D, lstm_implementation="sequence"),
        (VIDEO, VIDEO_MASK),
    ),
    "DynamicAdjustor": (lambda: DynamicAdjustor(), (BOXES, LENGTHS, RNG.uniform(size=(B, 3)).astype("float32"))),
    "DynamicHead": (
        lambda: DynamicHead(3, D, roi_length=4, num_heads=2, dynamic_dim=4),
        (RNG.normal(size=(3, B, 4, D)).astype("float32"),),  # proposal-major RoI features
    ),
    "LearnableProposals": (lambda: LearnableProposals(3), (LENGTHS,)),
    "ProposalScorer": (
        lambda: ProposalScorer(D, scoring_hidden_dim=4),
        (RNG.normal(size=(B, 3, D)), QUERY, QUERY_MASK),
    ),
    "TemporalRoIAlign": (
        lambda: TemporalRoIAlign(4, roi_frame="per_sample"),
        (VIDEO, np.array([[0, 0.1, 1, 0.6], [0, 0.0, 1, 0.3]], "float32"), LENGTHS),
    ),
}


def _layer_classes():
    classes = set()
    for package in (common.layers, vslnet_tf.layers, lpnet_tf.layers):
        for info in pkgutil.iter_modules(package.__path__):
            module = __import__(f"{package.__name__}.{info.name}", fromlist=["_"])
            classes.update(
                name
                for name, value in vars(module).items()
                if inspect.isclass(value)
                and issubclass(value, keras.layers.Layer)
                and value.__module__ == module.__name__
            )
    return classes


def test_every_layer_class_has_a_case():
    assert _layer_classes() == set(CASES)


def _flatten(outputs):
    # np.asarray, not keras.ops.convert_to_numpy: under NumPy 2 the latter warns (DeprecationWarning) on every call.
    if isinstance(outputs, dict):
        return [np.asarray(outputs[k]) for k in sorted(outputs)]
    if isinstance(outputs, (tuple, list)):
        return [np.asarray(o) for o in outputs]
    return [np.asarray(outputs)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_from_config_rebuilds_a_layer_that_computes_the_same(name):
    make, args = CASES[name]
    layer = make()
    expected = _flatten(layer(*args))
    clone = type(layer).from_config(layer.get_config())
    clone(*args)  # build
    assert len(clone.weights) == len(layer.weights)
    clone.set_weights(layer.get_weights())
    got = _flatten(clone(*args))
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    assert clone.get_config() == layer.get_config()


DATA_INFO = {
    "word_vectors": RNG.normal(size=(5, 300)).astype("float32"),
    "num_chars": 12,
    "feature_dim": 6,
    "max_pos_len": 32,
}
SMALL = dict(hidden_dim=16, num_heads=2, max_pos_len=32, drop_rate=0.0, lstm_implementation="sequence")
TASKS = {
    "vslbase": lambda: VSLNetTask(VSLNetConfig(model="vslbase", **SMALL)),
    "vslnet": lambda: VSLNetTask(VSLNetConfig(**SMALL)),
    "vslnet_transformer": lambda: VSLNetTask(VSLNetConfig(predictor="transformer", **SMALL)),
    "vslnet_l": lambda: VSLNetTask(VSLNetConfig(model="vslnet_l", scales=[8, 16], **SMALL)),
    "lpnet": lambda: LPNetTask(
        LPNetConfig(num_proposals=5, roi_length=4, dynamic_dim=4, scoring_hidden_dim=8, proposal_heads=2, **SMALL)
    ),
}


# Keras' own `model.save` reads every variable with `convert_to_numpy`, which NumPy 2 warns about (not our code).
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize("name", sorted(TASKS))
def test_a_keras_file_round_trip_gives_identical_outputs(name, tmp_path):
    model = TASKS[name]().build_model(DATA_INFO)
    inputs = _trunk_inputs()
    expected = model(inputs, training=False)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    got = loaded(inputs, training=False)
    assert set(got) == set(expected)
    for key in expected:
        for a, b in zip(_flatten(got[key]), _flatten(expected[key])):
            np.testing.assert_array_equal(a, b, err_msg=key)
