"""VSLNet-L: VSLNet with multi-scale split-and-concat and the Nil Prediction Module (fidelity VSLNet §5, paper §3.6).

No official code exists; every choice the paper leaves open is a `VSLNetConfig` field defaulting to
the fidelity doc's recommendation (VSLNet §5), and `vslnet_tf/vslnet_l_design.md` lists them. Per scale i with clip
length l_i and K_i = n / l_i:

    V′ [B,T,d] (VSLNet's projection) ─ pad to K·l, cut into clips [B·K, l, d]
        ─ shared FeatureEncoder (positions restart per clip) ─ CQA with the tiled Q̃ → C^q_k
        ─ NilPredictionModule: Enc_NPM → Ĉ_k, attentive pooling, FFN → nil logit z_k
        ─ S̄ = sigmoid(z) / max (all-padding clips 0) ─ C̄_k = S̄_k·Ĉ_k ─ concat → [B, T, d]
        ─ VSLNet's pooling + QGH + span predictor (shared by all scales)

The word/char embeddings, projections and the query encoding run once; the scales share every weight.
"""

import keras
from keras import ops

from vslnet_tf.layers import clip_split
from vslnet_tf.layers.nil_prediction import NilPredictionModule, normalize_nil_scores
from vslnet_tf.model import VSLNet


@keras.saving.register_keras_serializable(package="nlvl")
class VSLNetL(VSLNet):
    """VSLNet-L (`config.model == "vslnet_l"`).

    Args:
        config: a `VSLNetConfig` with `model="vslnet_l"` (its `scales` set by `validate()`).
        num_words, num_chars, feature_dim, word_vectors: as `VSLNet`.

    Call arguments:
        inputs: as `VSLNet` (`video_features` `[B, T, Dv]` with T ≤ n = `max_pos_len`).
        training: dropout on/off.

    Returns:
        dict: `start_logits`, `end_logits`, `highlight_logits` float32 `[B, S, T]` (one row per scale, in the
        order of `config.scales`; padding at −1e30), and per scale tuples (length S) `nil_logits` `[B, K_i]`,
        `clip_valid` bool `[B, K_i]`, `nil_weights` S̄ `[B, K_i]`.
    """

    def __init__(self, config, num_words, num_chars, feature_dim, word_vectors=None, **kwargs):
        super().__init__(config, num_words, num_chars, feature_dim, word_vectors=word_vectors, **kwargs)
        config = self.config
        if config.model != "vslnet_l":
            raise ValueError(f"VSLNetL needs config.model='vslnet_l', got {config.model!r}")
        self.nil_prediction = NilPredictionModule(
            config.hidden_dim,
            own_encoder=config.npm_own_encoder,
            ffn=config.npm_ffn,
            num_heads=config.num_heads,
            max_pos_len=config.max_pos_len,
            kernel_size=config.kernel_size,
            num_conv_layers=config.num_conv_layers,
            dropout=config.drop_rate,
            masked_conv=config.masked_conv,
            name="nil_prediction",
        )

    checkpoint_moves = VSLNet.checkpoint_moves + (
        ("nil_prediction/pooling/pooling_kernel", "nil_prediction/pooling/_kernel"),
    )

    @property
    def scales(self):
        """`(K_i, l_i)` per scale."""
        return [(self.config.max_pos_len // length, length) for length in self.config.scales]

    def call(self, inputs, training=None):
        config = self.config
        trunk = self.backbone(inputs, training=training, encode_video=False)
        video, video_mask, query, query_mask = trunk["video"], trunk["video_mask"], trunk["query"], trunk["query_mask"]
        batch, length = ops.shape(video)[0], ops.shape(video)[1]
        per_scale = []
        for num_clips, clip_length in self.scales:
            size, total = clip_split.clip_geometry(length, num_clips, clip_length, config.split_padding)
            clips, clip_mask = clip_split.split_into_clips(video, video_mask, size, total)
            offsets = clip_split.clip_offsets(batch, num_clips, size) if config.clip_positions == "global" else None
            encoded = self.backbone.encoder(clips, clip_mask, training=training, position_offsets=offsets)
            clip_query = ops.repeat(query, num_clips, axis=0)
            clip_query_mask = ops.repeat(query_mask, num_clips, axis=0)
            attended = self.backbone.interact(encoded, clip_query, clip_mask, clip_query_mask, training=training)
            npm_features, nil_logits = self.nil_prediction(
                attended, clip_mask, position_offsets=offsets, training=training
            )
            nil_logits = ops.reshape(nil_logits, (-1, num_clips))
            clip_valid = clip_split.clip_validity(clip_mask, num_clips)
            weights = normalize_nil_scores(
                nil_logits,
                clip_valid,
                exclude_empty=config.exclude_empty_clips,
                gradient_through_max=config.npm_gradient_through_max,
            )
            weighted = npm_features * ops.cast(ops.reshape(weights, (-1, 1, 1)), npm_features.dtype)
            features = clip_split.merge_clips(weighted, num_clips, length)  # C̄_V, cropped back to T
            outputs = self.localize(features, video_mask, query, query_mask, training=training)
            outputs.update(nil_logits=nil_logits, clip_valid=clip_valid, nil_weights=weights)
            per_scale.append(outputs)
        result = {
            key: ops.stack([o[key] for o in per_scale], axis=1)
            for key in ("start_logits", "end_logits", "highlight_logits")
        }
        result.update({key: tuple(o[key] for o in per_scale) for key in ("nil_logits", "clip_valid", "nil_weights")})
        return result
