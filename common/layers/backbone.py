"""The trunk every model shares: embeddings, projections, the shared encoder and the video-query interaction.

    word ids ─ WordEmbedding ┐
    char ids ─ CharEmbedding ┴ concat [B,m,400] ─ Dense(→d) "query_conv1d" ─ FeatureEncoder ─ Q̃ [B,m,d] ─┐
    video [B,n,Dv] ─ dropout ─ Dense(→d) "video_conv1d" ─ the same FeatureEncoder ─ Ṽ [B,n,d] ─ CQA ─ V^q [B,n,d]

VSLNet, VSLNet-L and LPNet are this trunk plus their own heads (`docs/fidelity.md`, VSLNet §3.1–§3.6, LPNet §4).
"""

import keras
from keras import ops

from common.layers.backbone_config import ENCODERS, INTERACTIONS
from common.layers.bilstm_encoder import BiLSTMEncoder
from common.layers.char_embedding import CharEmbedding
from common.layers.concat_interaction import ConcatInteraction
from common.layers.context_query_attention import ContextQueryAttention
from common.layers.dropout import Dropout
from common.layers.feature_encoder import FeatureEncoder
from common.layers.word_embedding import WordEmbedding


@keras.saving.register_keras_serializable(package="nlvl")
class VideoQueryBackbone(keras.layers.Layer):
    """The shared trunk: query-aware clip features V^q from a video and a query.

    TF1 scopes (both originals): `word_embeddings`, `char_embeddings`, `video_conv1d`, `query_conv1d`,
    `feature_encoder` (QANet's encoder block, one set of weights for the video and the query) and
    `video_query_attention`; here the layers of the same names under `backbone/`.

    Args:
        num_words: word vocabulary size including PAD and UNK.
        num_chars: char vocabulary size including PAD and UNK.
        feature_dim: visual feature size Dv.
        hidden_dim, num_heads, word_dim, char_dim, drop_rate, max_pos_len, kernel_size, num_conv_layers,
            masked_conv, lstm_implementation: as
            `common.layers.backbone_config.BackboneConfig`.
        use_char_embedding: with the char-CNN branch (the code); without it the query is the 300-d word vectors
            (a VSLNet paper variant).
        encoder: `cmf` (QANet's conv + self-attention block, the code) or `bilstm` (VSLNet paper Table 8).
        interaction: `cqa` (context-query attention, the code) or `cat` (VSLNet paper Table 8).
        cqa_output_bias: give the CQA output projection a bias (the paper's FFN; the TF1 code has none).
        word_vectors: optional frozen GloVe rows `[num_words - 2, word_dim]`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: dict with `video_features` `[B, n, Dv]` float, `video_mask` `[B, n]` bool, `word_ids` `[B, m]`
            int32 (0 = PAD; the query mask is `word_ids != 0`), `char_ids` `[B, m, W]` int32.
        training: dropout on/off.
        encode_video: with False the video stops after its projection (VSLNet-L encodes it clip by clip).
        return_intermediates: also return every stage (for parity checks against the originals).

    Returns:
        dict: `video_mask` `[B, n]`, `query_mask` `[B, m]`, `query` Q̃ `[B, m, d]` and `features` V^q `[B, n, d]`
        (with `encode_video=False`: `video` V′ `[B, n, d]` instead). With `return_intermediates`, also
        `char_features` `[B, m, 100]`, `query_embedding` `[B, m, 400]`, `video_projection`, `query_projection`,
        `video_encoded` `[B, n, d]`, `query_encoded` `[B, m, d]` and, for CQA, `similarity` `[B, n, m]`.
    """

    def __init__(
        self,
        num_words,
        num_chars,
        feature_dim,
        hidden_dim=128,
        num_heads=8,
        word_dim=300,
        char_dim=50,
        drop_rate=0.0,
        max_pos_len=128,
        kernel_size=7,
        num_conv_layers=4,
        masked_conv=False,
        lstm_implementation="auto",
        use_char_embedding=True,
        encoder="cmf",
        interaction="cqa",
        cqa_output_bias=False,
        word_vectors=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # `get_config`: every argument but the word vectors, which are weights (saved with them); numpy scalars
        # (sizes read from data files) as Python numbers, for JSON.
        self._arguments = {
            k: v.item() if hasattr(v, "item") else v
            for k, v in locals().items()
            if k not in ("self", "kwargs", "word_vectors", "__class__")
        }
        if encoder not in ENCODERS or interaction not in INTERACTIONS:
            raise ValueError(
                f"encoder must be one of {ENCODERS} and interaction one of {INTERACTIONS}, got "
                f"{encoder!r} / {interaction!r}"
            )
        self.num_words, self.num_chars, self.feature_dim = int(num_words), int(num_chars), int(feature_dim)
        self.hidden_dim, self.num_heads, self.word_dim, self.char_dim = hidden_dim, num_heads, word_dim, char_dim
        self.drop_rate, self.max_pos_len, self.kernel_size = float(drop_rate), max_pos_len, kernel_size
        self.num_conv_layers, self.masked_conv, self.lstm_implementation = (
            num_conv_layers,
            masked_conv,
            lstm_implementation,
        )
        self.use_char_embedding, self.encoder_kind, self.interaction_kind = use_char_embedding, encoder, interaction
        self.cqa_output_bias = cqa_output_bias
        d, rate = hidden_dim, self.drop_rate
        # The attribute names are the checkpoints' object paths: renaming one breaks every saved run.
        self.word_embedding = WordEmbedding(
            num_words, word_dim=word_dim, dropout=rate, word_vectors=word_vectors, name="word_embeddings"
        )
        if use_char_embedding:
            self.char_embedding = CharEmbedding(num_chars, char_dim=char_dim, dropout=rate, name="char_embeddings")
        self.video_dropout = Dropout(rate, name="video_dropout")
        self.video_projection = keras.layers.Dense(d, name="video_conv1d")
        self.query_projection = keras.layers.Dense(d, name="query_conv1d")
        if encoder == "cmf":
            self.encoder = FeatureEncoder(
                d,
                num_heads=num_heads,
                max_pos_len=max_pos_len,
                kernel_size=kernel_size,
                num_conv_layers=num_conv_layers,
                dropout=rate,
                masked_conv=masked_conv,
                name="feature_encoder",
            )
        else:
            self.encoder = BiLSTMEncoder(
                d, dropout=rate, lstm_implementation=lstm_implementation, name="feature_encoder"
            )
        if interaction == "cqa":
            self.interaction = ContextQueryAttention(
                d, dropout=rate, use_bias=cqa_output_bias, name="video_query_attention"
            )
        else:
            self.interaction = ConcatInteraction(d, name="video_query_concat")

    @property
    def query_embedding_dim(self):
        """Width of the query before its projection: the word vectors plus the char-CNN features."""
        return self.word_dim + (sum(self.char_embedding.filters) if self.use_char_embedding else 0)

    def build(self, inputs_shape=None):
        # The embeddings, projections and the encoder are built here, under this layer's name scope, so that a model
        # that calls the encoder itself (VSLNet-L) gets the same weight paths as one that calls the whole trunk. The
        # interaction is built on its first call, after the encoder has run: this keeps the draws of Keras' default
        # seeds in the order the models made them before the trunk was one layer, so a seed gives the same initial
        # weights (and the README's numbers) as then.
        d = self.hidden_dim
        self.word_embedding.build((None, None))
        if self.use_char_embedding:
            self.char_embedding.build((None, None, None))
        self.query_projection.build((None, None, self.query_embedding_dim))
        self.video_projection.build((None, None, self.feature_dim))
        self.encoder.build((None, None, d))

    def call(self, inputs, training=None, encode_video=True, return_intermediates=False):
        video_mask = ops.cast(inputs["video_mask"], "bool")
        word_ids = ops.cast(inputs["word_ids"], "int32")
        query_mask = ops.not_equal(word_ids, 0)
        out = {}
        query = self.word_embedding(word_ids, training=training)
        if self.use_char_embedding:
            out["char_features"] = self.char_embedding(inputs["char_ids"], training=training)
            query = ops.concatenate([query, out["char_features"]], axis=-1)
        out["query_embedding"] = query
        out["query_projection"] = self.query_projection(query)
        out["video_projection"] = self.video_projection(self.video_dropout(inputs["video_features"], training=training))
        out["query_encoded"] = self.encoder(out["query_projection"], query_mask, training=training)
        result = {"video_mask": video_mask, "query_mask": query_mask, "query": out["query_encoded"]}
        if not encode_video:
            result["video"] = out["video_projection"]
        else:
            out["video_encoded"] = self.encoder(out["video_projection"], video_mask, training=training)
            result["features"] = self.interact(
                out["video_encoded"], out["query_encoded"], video_mask, query_mask, training=training, intermediates=out
            )
        if return_intermediates:
            result.update(out)
        return result

    def interact(self, video, query, video_mask, query_mask, training=None, intermediates=None):
        """V^q `[B, n, d]` from an encoded video and query; with `intermediates` (a dict), CQA's similarity too."""
        if self.interaction_kind == "cat":
            return self.interaction(video, query, query_mask)
        features, similarity = self.interaction(
            video, query, video_mask, query_mask, training=training, return_similarity=True
        )
        if intermediates is not None:
            intermediates["similarity"] = similarity
        return features

    def get_config(self):
        return {**super().get_config(), **self._arguments}
