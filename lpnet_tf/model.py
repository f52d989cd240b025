"""LPNet: a thin composition of `common.layers` and the proposal layers of `lpnet_tf.layers` (spec
fidelity LPNet §4–§8).

    word ids ─ WordEmbedding ┐
    char ids ─ CharEmbedding ┴ concat [B,m,400] ─ Dense(→d) "query_conv1d" ─┐
    video [B,T,Dv] ─ dropout ─ Dense(→d) "video_conv1d" ─────────────────────┤
                                  shared FeatureEncoder → V′, Q′ ────────────┤
                        ContextQueryAttention → X [B,T,d] ───────────────────┤
    branch A (boundary-aware, training signal only):                          │
        QueryPooling → H0,  QueryGuidedHighlighting → logits, H,              │
        ConditionedSpanPredictor (or BiLSTMBoundaryPredictor) → start/end     │
    branch B (propose and rank):                                              │
        LearnableProposals → crop boxes (gradient stopped) → TemporalRoIAlign(X) │
        → DynamicHead → ProposalScorer(·, Q′) → scores ŝ [B,K] ───────────────┘
    DynamicAdjustor (selection, IoU loss, decoding) is used by `LPNetTask`.
"""

import keras
from keras import ops

from common.layers.backbone import VideoQueryBackbone
from common.layers.highlighting import QueryGuidedHighlighting
from common.layers.query_pooling import QueryPooling
from common.layers.span_predictor import ConditionedSpanPredictor
from lpnet_tf.config import LPNetConfig
from lpnet_tf.layers.bilstm_boundary_predictor import BiLSTMBoundaryPredictor
from lpnet_tf.layers.dynamic_adjustor import DynamicAdjustor
from lpnet_tf.layers.dynamic_head import DynamicHead
from lpnet_tf.layers.learnable_proposals import LearnableProposals
from lpnet_tf.layers.proposal_scorer import ProposalScorer
from lpnet_tf.layers.temporal_roi_align import TemporalRoIAlign


@keras.saving.register_keras_serializable(package="nlvl")
class LPNet(keras.Model):
    """LPNet (Xiao et al., EMNLP 2021): learnable moment proposals ranked against the query.

    Args:
        config: an `LPNetConfig` (or its dict).
        num_words: word vocabulary size including PAD and UNK.
        num_chars: char vocabulary size including PAD and UNK.
        feature_dim: visual feature size Dv.
        word_vectors: optional frozen GloVe rows `[num_words - 2, word_dim]`.

    Call arguments:
        inputs: dict with `video_features` `[B, T, Dv]` float32, `video_mask` `[B, T]` bool (right padding; the
            lengths are its row sums), `word_ids` `[B, m]` int32, `char_ids` `[B, m, W]` int32.
        training: dropout on/off.

    Returns:
        dict of float32 tensors:
        - `scores` `[B, K]`, predicted IoU of every proposal;
        - `proposal_boxes` `[K, 2]`, the (c, h) boxes (differentiable: the IoU loss trains them);
        - `proposal_start`, `proposal_end` `[B, K]`, (c ∓ h)·L_b in clip units;
        - `video_length` `[B]` int32;
        - `highlight_logits` `[B, T]` (with `use_highlight`), `start_logits`, `end_logits` `[B, T]` (with
          `use_bal`), padded clips at −1e30.
    """

    def __init__(self, config, num_words, num_chars, feature_dim, word_vectors=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = LPNetConfig(**config)
        self.config = config.validate()
        self.num_words = num_words
        self.num_chars = num_chars
        self.feature_dim = feature_dim
        d, rate = config.hidden_dim, config.drop_rate
        # === Layers ===
        self.backbone = VideoQueryBackbone(
            num_words, num_chars, feature_dim, word_vectors=word_vectors, name="backbone", **config.backbone_arguments()
        )
        if config.use_highlight or config.use_bal:
            self.query_pooling = QueryPooling(d, name="context_query_concat")
        if config.use_highlight:
            self.highlighting = QueryGuidedHighlighting(name="highlighting_layer")
        if config.use_bal:
            if config.bal_predictor == "conditioned":
                self.predictor = ConditionedSpanPredictor(
                    d, predictor="rnn", lstm_implementation=config.lstm_implementation, name="conditioned_predictor"
                )
            else:
                self.predictor = BiLSTMBoundaryPredictor(
                    d, lstm_implementation=config.lstm_implementation, name="bilstm_predictor"
                )
        self.proposals = LearnableProposals(
            config.num_proposals,
            initial_max_half_length=config.initial_max_half_length,
            clamp_half_length=config.clamp_half_length,
            dtype="float32",
            name="proposals",
        )
        self.roi_align = TemporalRoIAlign(
            config.roi_length,
            roi_frame=config.roi_frame,
            implementation=config.roi_align_implementation,
            name="roi_align",
        )
        self.dynamic_head = DynamicHead(
            config.num_proposals,
            d,
            roi_length=config.roi_length,
            num_heads=config.proposal_heads,
            dynamic_dim=config.dynamic_dim,
            use_mhsa=config.use_proposal_mhsa,
            dropout=rate,
            name="dynamic_head",
        )
        self.scorer = ProposalScorer(
            d, scoring_hidden_dim=config.scoring_hidden_dim, dropout=rate, name="proposal_scorer"
        )
        # Box coordinates, IoUs and the selection stay float32 under a mixed-precision policy.
        self.adjustor = DynamicAdjustor(
            iou_clamp=config.iou_clamp, end_exclusive=config.gt_end_exclusive, dtype="float32", name="dynamic_adjustor"
        )

    #: Moves that checkpoints written before the trunk became one layer (297eda3) predate
    #: (`common.training.checkpoint_layout`).
    checkpoint_moves = (
        ("backbone/*", "*"),
        ("query_pooling/pooling/pooling_kernel", "query_pooling/pooling_kernel"),
        ("scorer/pooling/pooling_kernel", "scorer/pooling_kernel"),
    )

    @property
    def proposal_box(self):
        """The proposal-box variable `(K, 2)`, the only variable the IoU loss trains (fidelity LPNet §9)."""
        return self.proposals.proposal_box

    def call(self, inputs, training=None):
        config = self.config
        video_mask = ops.cast(inputs["video_mask"], "bool")
        lengths = ops.sum(ops.cast(video_mask, "int32"), axis=1)
        trunk = self.backbone(inputs, training=training)
        features, query, query_mask = trunk["features"], trunk["query"], trunk["query_mask"]  # X, Q′
        outputs = {}
        # Branch A: highlighting and the boundary predictor (losses only).
        if config.use_highlight or config.use_bal:
            branch = self.query_pooling(features, query, query_mask)
            if config.use_highlight:
                outputs["highlight_logits"], branch = self.highlighting(branch, video_mask)
            if config.use_bal:
                outputs["start_logits"], outputs["end_logits"] = self.predictor(branch, video_mask, training=training)
        # Branch B: proposals. Crop boxes are stop-gradiented (fidelity LPNet D18): the boxes learn from the IoU loss
        # only.
        boxes, proposal_start, proposal_end = self.proposals(lengths)
        crop_boxes = ops.stop_gradient(self.proposals.crop_boxes(boxes))
        rois = self.roi_align(features, crop_boxes, lengths)
        head = self.dynamic_head(rois, training=training)
        outputs["scores"] = self.scorer(head, query, query_mask, training=training)
        outputs["proposal_boxes"] = boxes
        outputs["proposal_start"], outputs["proposal_end"] = proposal_start, proposal_end
        outputs["video_length"] = lengths
        return outputs

    def get_config(self):
        return {
            "config": dict(vars(self.config)),
            "num_words": self.num_words,
            "num_chars": self.num_chars,
            "feature_dim": self.feature_dim,
            "name": self.name,
        }
