"""VSLBase and VSLNet: a thin composition of `common.layers` (fidelity VSLNet §3).

    word ids ─ WordEmbedding ┐
    char ids ─ CharEmbedding ┴ concat [B,m,400] ─ Dense(→d) "query_conv1d" ─┐
    video [B,n,Dv] ─ dropout ─ Dense(→d) "video_conv1d" ─────────────────────┤
                                  shared FeatureEncoder (or BiLSTM) ─────────┤
                        ContextQueryAttention (or ConcatInteraction) → V^q   │
    VSLNet only:   QueryPooling → X,  QueryGuidedHighlighting → logits, X̃   │
                   ConditionedSpanPredictor(X̃ or V^q) → start/end logits ───┘

Paper variants (`VSLNetConfig`, fidelity VSLNet §6): `use_char_embedding=False` drops the char branch (query 300-d);
`qgh_on_concat` highlights [V^q; h_Q] (2d) with `ConcatQueryPooling` instead of `QueryPooling`;
`paper_predictor_head` gives the predictor linear heads.
"""

import keras

from common.layers.backbone import VideoQueryBackbone
from common.layers.highlighting import QueryGuidedHighlighting
from common.layers.position_embedding import PositionEmbedding
from common.layers.query_pooling import QueryPooling
from common.layers.span_predictor import ConditionedSpanPredictor
from common.layers.word_embedding import WordEmbedding
from vslnet_tf.config import VSLNetConfig


@keras.saving.register_keras_serializable(package="nlvl")
class VSLNet(keras.Model):
    """VSLNet (`config.model == "vslnet"`) or VSLBase (`"vslbase"`): span prediction over video clips.

    Args:
        config: a `VSLNetConfig`.
        num_words: word vocabulary size including PAD and UNK.
        num_chars: char vocabulary size including PAD and UNK (`n_chars`).
        feature_dim: visual feature size Dv.
        word_vectors: optional frozen GloVe rows `[num_words - 2, word_dim]`.

    Call arguments:
        inputs: dict with `video_features` `[B, n, Dv]` float32, `video_mask` `[B, n]` bool, `word_ids` `[B, m]`
            int32, `char_ids` `[B, m, W]` int32 (`query_mask` is derived: `word_ids != 0`).
        training: dropout on/off.

    Returns:
        dict of float32 tensors: `start_logits`, `end_logits` `[B, n]` (padding at −1e30) and, for VSLNet,
        `highlight_logits` `[B, n]`.
    """

    def __init__(self, config, num_words, num_chars, feature_dim, word_vectors=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = VSLNetConfig(**config)
        self.config = config.validate()
        self.num_words = num_words
        self.num_chars = num_chars
        self.feature_dim = feature_dim
        d = config.hidden_dim
        # === Layers ===
        self.backbone = VideoQueryBackbone(
            num_words, num_chars, feature_dim, word_vectors=word_vectors, name="backbone", **config.backbone_arguments()
        )
        if self.uses_highlighting:
            if config.qgh_on_concat:
                self.query_pooling = QueryPooling(d, projection=False, name="context_query_concat")
                if config.predictor == "transformer":
                    self.highlighted_projection = keras.layers.Dense(d, name="highlighted_projection")
            else:
                self.query_pooling = QueryPooling(d, name="context_query_concat")
            self.highlighting = QueryGuidedHighlighting(name="highlighting_layer")
        self.predictor = ConditionedSpanPredictor(
            d,
            predictor=config.predictor,
            num_heads=config.num_heads,
            max_pos_len=config.max_pos_len,
            dropout=config.drop_rate,
            head="linear" if config.paper_predictor_head else "mlp",
            lstm_implementation=config.lstm_implementation,
            name="predictor",
        )

    @property
    def uses_highlighting(self):
        """Query pooling + QGH: VSLNet and VSLNet-L, not VSLBase."""
        return self.config.model in ("vslnet", "vslnet_l")

    #: Moves that checkpoints written before the trunk became one layer (297eda3) predate
    #: (`common.training.checkpoint_layout`).
    checkpoint_moves = (("backbone/*", "*"), ("query_pooling/pooling/pooling_kernel", "query_pooling/pooling_kernel"))

    def call(self, inputs, training=None):
        trunk = self.backbone(inputs, training=training)
        return self.localize(
            trunk["features"], trunk["video_mask"], trunk["query"], trunk["query_mask"], training=training
        )

    def localize(self, features, video_mask, query, query_mask, training=None):
        """Pooling + QGH (VSLNet) and the span predictor over `features` `[B, n, d]`: the outputs dict."""
        outputs = {}
        if self.uses_highlighting:
            features = self.query_pooling(features, query, query_mask)
            highlight_logits, features = self.highlighting(features, video_mask)
            if self.config.qgh_on_concat and self.config.predictor == "transformer":
                features = self.highlighted_projection(features)
            outputs["highlight_logits"] = highlight_logits
        start_logits, end_logits = self.predictor(features, video_mask, training=training)
        outputs["start_logits"] = start_logits
        outputs["end_logits"] = end_logits
        return outputs

    def l2_variables(self):
        """The variables the original L2-regularizes (fidelity VSLNet §3.12): everything trainable except the position
        tables, the UNK row, the char table and the LSTM weights."""
        backbone = self.backbone
        excluded = {id(backbone.char_embedding.char_table)} if backbone.use_char_embedding else set()
        for layer in self._flatten_layers():
            if isinstance(layer, (PositionEmbedding, WordEmbedding, keras.layers.LSTM)):
                excluded.update(id(v) for v in layer.weights)
        return [v for v in self.trainable_variables if id(v) not in excluded]

    def get_config(self):
        return {
            "config": dict(vars(self.config)),
            "num_words": self.num_words,
            "num_chars": self.num_chars,
            "feature_dim": self.feature_dim,
            "name": self.name,
        }
