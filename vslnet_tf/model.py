"""VSLBase and VSLNet: a thin composition of `common.layers` (spec `shared/specs/vslnet.md` §3).

    word ids ─ WordEmbedding ┐
    char ids ─ CharEmbedding ┴ concat [B,m,400] ─ Dense(→d) "query_conv1d" ─┐
    video [B,n,Dv] ─ dropout ─ Dense(→d) "video_conv1d" ─────────────────────┤
                                  shared FeatureEncoder (or BiLSTM) ─────────┤
                        ContextQueryAttention (or ConcatInteraction) → V^q   │
    VSLNet only:   QueryPooling → X,  QueryGuidedHighlighting → logits, X̃   │
                   ConditionedSpanPredictor(X̃ or V^q) → start/end logits ───┘

Paper variants (`VSLNetConfig`, spec §6): `use_char_embedding=False` drops the char branch (query 300-d);
`qgh_on_concat` highlights [V^q; h_Q] (2d) with `ConcatQueryPooling` instead of `QueryPooling`;
`paper_predictor_head` gives the predictor linear heads.
"""

import keras
from keras import ops

from common.layers.bilstm_encoder import BiLSTMEncoder
from common.layers.char_embedding import CharEmbedding
from common.layers.concat_interaction import ConcatInteraction
from common.layers.context_query_attention import ContextQueryAttention
from common.layers.feature_encoder import FeatureEncoder
from common.layers.highlighting import QueryGuidedHighlighting
from common.layers.masking import mask_logits
from common.layers.position_embedding import PositionEmbedding
from common.layers.query_pooling import QueryPooling
from common.layers.span_predictor import ConditionedSpanPredictor
from common.layers.word_embedding import WordEmbedding
from vslnet_tf.config import VSLNetConfig


@keras.saving.register_keras_serializable(package="nlvl")
class ConcatQueryPooling(keras.layers.Layer):
    """[V^q; tile(h_Q)] `(B, n, 2d)` without the code's projection: the input of the paper's QGH (spec §6 #5).

    h_Q is `QueryPooling`'s attentive pooling (spec §3.7, same `pooling_kernel` `[d, 1]`, no bias); only the
    Dense(2d → d) is left out. Parameters: d.
    """

    def __init__(self, hidden_dim, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, features_shape=None, query_shape=None, query_mask_shape=None):
        self.pooling_kernel = self.add_weight(name="pooling_kernel", shape=(self.hidden_dim, 1),
                                              initializer=self.kernel_initializer)

    def pool(self, query, query_mask):
        """h_Q `(B, d)`, as `QueryPooling.pool`."""
        logits = ops.squeeze(ops.matmul(query, ops.cast(self.pooling_kernel, query.dtype)), -1)
        alphas = ops.softmax(mask_logits(logits, query_mask), axis=1)
        return ops.squeeze(ops.matmul(ops.expand_dims(ops.cast(alphas, query.dtype), 1), query), 1)

    def call(self, features, query, query_mask):
        pooled = self.pool(query, query_mask)
        tiled = ops.repeat(ops.expand_dims(pooled, 1), ops.shape(features)[1], axis=1)
        return ops.concatenate([features, ops.cast(tiled, features.dtype)], axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_dim": self.hidden_dim,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config


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
        self.word_embedding = WordEmbedding(num_words, word_dim=config.word_dim, dropout=config.drop_rate,
                                            word_vectors=word_vectors, name="word_embeddings")
        if config.use_char_embedding:
            self.char_embedding = CharEmbedding(num_chars, char_dim=config.char_dim, dropout=config.drop_rate,
                                                name="char_embeddings")
        self.video_dropout = keras.layers.Dropout(config.drop_rate, name="video_dropout")
        self.video_projection = keras.layers.Dense(d, name="video_conv1d")
        self.query_projection = keras.layers.Dense(d, name="query_conv1d")
        if config.encoder == "cmf":
            self.encoder = FeatureEncoder(d, num_heads=config.num_heads, max_pos_len=config.max_pos_len,
                                          kernel_size=config.kernel_size, num_conv_layers=config.num_conv_layers,
                                          dropout=config.drop_rate, masked_conv=config.masked_conv,
                                          name="feature_encoder")
        else:
            self.encoder = BiLSTMEncoder(d, dropout=config.drop_rate, lstm_implementation=config.lstm_implementation,
                                         name="feature_encoder")
        if config.interaction == "cqa":
            self.interaction = ContextQueryAttention(d, dropout=config.drop_rate, use_bias=config.cqa_output_bias,
                                                     name="video_query_attention")
        else:
            self.interaction = ConcatInteraction(d, name="video_query_concat")
        if self.uses_highlighting:
            if config.qgh_on_concat:
                self.query_pooling = ConcatQueryPooling(d, name="context_query_concat")
                if config.predictor == "transformer":
                    self.highlighted_projection = keras.layers.Dense(d, name="highlighted_projection")
            else:
                self.query_pooling = QueryPooling(d, name="context_query_concat")
            self.highlighting = QueryGuidedHighlighting(name="highlighting_layer")
        self.predictor = ConditionedSpanPredictor(d, predictor=config.predictor, num_heads=config.num_heads,
                                                  max_pos_len=config.max_pos_len, dropout=config.drop_rate,
                                                  head="linear" if config.paper_predictor_head else "mlp",
                                                  lstm_implementation=config.lstm_implementation, name="predictor")

    @property
    def uses_highlighting(self):
        """Query pooling + QGH: VSLNet and VSLNet-L, not VSLBase."""
        return self.config.model in ("vslnet", "vslnet_l")

    def call(self, inputs, training=None):
        video, video_mask, query, query_mask = self.embed(inputs, training=training)
        video = self.encoder(video, video_mask, training=training)
        query = self.encoder(query, query_mask, training=training)
        features = self.interact(video, query, video_mask, query_mask, training=training)
        return self.localize(features, video_mask, query, query_mask, training=training)

    def embed(self, inputs, training=None):
        """Projected video V′ `[B, n, d]` and query `[B, m, d]` (both before the shared encoder), and their masks."""
        video_mask = ops.cast(inputs["video_mask"], "bool")
        word_ids = ops.cast(inputs["word_ids"], "int32")
        query_mask = ops.not_equal(word_ids, 0)
        query = self.word_embedding(word_ids, training=training)
        if self.config.use_char_embedding:
            chars = self.char_embedding(inputs["char_ids"], training=training)
            query = ops.concatenate([query, chars], axis=-1)
        query = self.query_projection(query)
        video = self.video_projection(self.video_dropout(inputs["video_features"], training=training))
        return video, video_mask, query, query_mask

    def interact(self, video, query, video_mask, query_mask, training=None):
        """V^q `[B, n, d]` from the encoded video and query (CQA or the Table 8 concat)."""
        if self.config.interaction == "cqa":
            return self.interaction(video, query, video_mask, query_mask, training=training)
        return self.interaction(video, query, query_mask)

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
        """The variables the original L2-regularizes (spec §3.12): everything trainable except the position
        tables, the UNK row, the char table and the LSTM weights."""
        excluded = {id(self.char_embedding.char_table)} if self.config.use_char_embedding else set()
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
