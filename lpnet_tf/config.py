"""`LPNetConfig`: every constant of the original LPNet code, the paper's ablation switches, and one named option
per defect of fidelity LPNet §13 that changes results. Defaults reproduce the code (Charades setting).
"""

import dataclasses

from common.layers.backbone_config import LSTM_IMPLEMENTATIONS, BackboneConfig

LR_SCHEDULES = ("staircase", "constant")
BAL_PREDICTORS = ("conditioned", "bilstm")
ROI_FRAMES = ("padded", "per_sample")
ROI_ALIGN_IMPLEMENTATIONS = ("crop_and_resize", "gather")
QUIRK_PRESETS = ("original", "fixed")


@dataclasses.dataclass
class LPNetConfig(BackboneConfig):
    """Model and optimization settings of LPNet (fidelity LPNet §1, §4–§10).

    Attributes:
        hidden_dim: d (256; the original hard-codes 256 in the dynamic head, fidelity LPNet D5).
        num_heads: encoder attention heads (8).
        word_dim: GloVe size (300).
        char_dim: char embedding size (50 Charades/TACoS; 100 ActivityNet).
        drop_rate: dropout during training (0.1).
        max_pos_len: position-table size and resampling bound (256 Charades; 512 ActivityNet/TACoS).
        kernel_size, num_conv_layers: encoder conv block (7, 4).
        extend: highlight extension α of the labels (0.1).
        num_proposals: K learnable proposals (100 in the code; the paper's Tables 1–2 use 300, Table 3 30/100/300).
        initial_max_half_length: h of each proposal starts uniform in [0, this) (0.25: max initial length 0.5).
        roi_length: l, RoIAlign samples per proposal (16).
        roi_align_implementation: `crop_and_resize` (the original's op) or `gather` (the same arithmetic with
            gathers; needed for a `jit_compile`d train step, since `CropAndResize` has no XLA kernel).
        lstm_implementation: how the LSTMs of the boundary predictor (`bal_predictor`, either) are computed (the
            same function and weights either way; `common.layers.lstm_sequence.run_lstm`): `keras` calls the
            `keras.layers.LSTM` layer itself (on a GPU, in float32/float16 and outside XLA, Keras' TF backend runs
            cuDNN), `sequence` runs `lstm_sequence` (a hand-written BPTT, fast on CPU), `auto` (default) picks
            `keras` when a GPU is visible and the layer's compute dtype is float32 or float16, else `sequence`.
            cuDNN has no XLA kernel: with `--jit` the entry points use `sequence` for `auto`.
        proposal_heads: heads of the proposal self-attention (4).
        dynamic_dim: bottleneck of the dynamic interaction (64).
        scoring_hidden_dim: width of the scoring head (256).
        reg_weight: λ of the matching regression loss in the main loss (100).
        iou_weight: weight of L_IoU in the box loss (5).
        low_iou_threshold, low_iou_weight: weighted MSE: weight 0.92 where the IoU label < 0.001 (fidelity LPNet §8.7).
        iou_clamp: a selected box with IoU above this counts as IoU 1 (0.95, fidelity LPNet §8.8).
        init_lr: 1e-4.
        lr_schedule: `staircase` (Charades, ActivityNet: ×`lr_decay_rate` every `lr_decay_steps` global steps)
            or `constant` (TACoS) (fidelity LPNet §9).
        lr_decay_steps, lr_decay_rate: 100000, 0.9.
        predict_top_k: how many ranked proposals `predict_step` also returns (`topk_*` keys; capped at K).
        use_proposal_mhsa: self-attention over the proposal features (paper Table 4 "MHSA"; code: on).
        use_bal: the boundary-aware branch, i.e. the boundary predictor and L_KL (paper Table 4 "BAL"; code: on).
        use_highlight: the code's query-guided highlighting (not in the paper) and L_hl. Off with `use_bal` off
            gives the paper's "w/o BAL" model; the code has it on.
        bal_predictor: `conditioned` (the code's two stacked LSTMs, fidelity LPNet §7) or `bilstm` (the paper's Eq. 8–9
            BiLSTM + two FFNs, paper-derived, `BiLSTMBoundaryPredictor`).
        kl_first_sample_only: D1. The KL boundary loss uses only sample 0 of each batch (True, original); False
            averages the per-sample KL over the batch.
        roi_frame: D4. `padded` (original) scales the crop boxes by the padded batch width T−1; `per_sample`
            scales them by each sample's own L_b−1, with padded clips reading as 0, as if the sample were alone.
        masked_conv: D4. Zero padded clips before each encoder convolution (False, original: padding leaks into
            valid clips, so predictions depend on the batch). With `roi_frame="per_sample"` the model's valid
            outputs no longer depend on padding.
        adam_double_count: D10. The shared Adam β-powers advance twice per iteration, the box variable seeing
            t = 2i+1 and all others t = 2i+2 (True, original).
        anet_double_global_step: D10. ActivityNet's global step advances twice per iteration, so its staircase
            LR decays twice as early (True only for the original ActivityNet run; False otherwise).
        gt_end_exclusive: D11. False (original): IoU labels and the IoU loss treat the inclusive GT indices
            [st, et] as the continuous interval [st, et] (a one-clip GT has length 0). True: the GT is [st, et+1]
            and the decoded end index is round(p_y) − 1 (exclusive end), consistently.
        clamp_half_length: D13. Keep the half-lengths ≥ 0 with a constraint applied after every update (False,
            original: h may become negative, flipping the crop).
        (D2 evaluation of every sample is the trainer's behaviour; D2 `drop_last_train` is a `TrainerConfig`
        field; D14's train-only vocabulary is data-level.)
    """

    # The trunk's fields are `BackboneConfig`'s; these three have other defaults in the original LPNet.
    hidden_dim: int = 256
    drop_rate: float = 0.1
    max_pos_len: int = 256
    extend: float = 0.1
    num_proposals: int = 100
    initial_max_half_length: float = 0.25
    roi_length: int = 16
    roi_align_implementation: str = "crop_and_resize"
    proposal_heads: int = 4
    dynamic_dim: int = 64
    scoring_hidden_dim: int = 256
    reg_weight: float = 100.0
    iou_weight: float = 5.0
    low_iou_threshold: float = 0.001
    low_iou_weight: float = 0.92
    iou_clamp: float = 0.95
    init_lr: float = 1e-4
    lr_schedule: str = "staircase"
    lr_decay_steps: int = 100000
    lr_decay_rate: float = 0.9
    predict_top_k: int = 5
    use_proposal_mhsa: bool = True
    use_bal: bool = True
    use_highlight: bool = True
    bal_predictor: str = "conditioned"
    kl_first_sample_only: bool = True
    roi_frame: str = "padded"
    adam_double_count: bool = True
    anet_double_global_step: bool = False
    gt_end_exclusive: bool = False
    clamp_half_length: bool = False

    def validate(self):
        for name, allowed in (
            ("lr_schedule", LR_SCHEDULES),
            ("bal_predictor", BAL_PREDICTORS),
            ("roi_frame", ROI_FRAMES),
            ("roi_align_implementation", ROI_ALIGN_IMPLEMENTATIONS),
            ("lstm_implementation", LSTM_IMPLEMENTATIONS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}; expected one of {allowed}")
        if self.hidden_dim % self.num_heads or self.hidden_dim % self.proposal_heads:
            raise ValueError(
                f"hidden_dim {self.hidden_dim} must be divisible by num_heads {self.num_heads} and "
                f"proposal_heads {self.proposal_heads}"
            )
        if self.bal_predictor == "bilstm" and self.hidden_dim % 2:
            raise ValueError("the bilstm boundary predictor needs an even hidden_dim")
        for name in ("num_proposals", "roi_length", "dynamic_dim", "scoring_hidden_dim", "predict_top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.roi_length < 2:
            raise ValueError("roi_length must be >= 2 (crop_and_resize spaces the samples by (x2 − x1)/(l − 1))")
        return self


#: The corrected value of every quirk field (fidelity LPNet §13); `apply_quirks(config, "original")` restores the
# code's.
FIXED_QUIRKS = {
    "kl_first_sample_only": False,  # D1
    "roi_frame": "per_sample",  # D4
    "masked_conv": True,  # D4
    "adam_double_count": False,  # D10
    "anet_double_global_step": False,  # D10
    "gt_end_exclusive": True,  # D11
    "clamp_half_length": True,  # D13
}
ORIGINAL_QUIRKS = {
    "kl_first_sample_only": True,
    "roi_frame": "padded",
    "masked_conv": False,
    "adam_double_count": True,
    "gt_end_exclusive": False,
    "clamp_half_length": False,
}


def apply_quirks(config, preset, dataset=None):
    """A copy of `config` with every defect field set by `preset`.

    `original` keeps the code's behaviour; `fixed` corrects every defect of fidelity LPNet §13 that changes results
    (`FIXED_QUIRKS`). `anet_double_global_step` depends on the dataset in the original: with `dataset` given it
    becomes `dataset == "activitynet"`, otherwise it is left as is. The trainer-level defects are `TrainerConfig`
    fields (`drop_last_train`, D2; `protocol`, D8).
    """
    if preset not in QUIRK_PRESETS:
        raise ValueError(f"quirks={preset!r}; expected one of {QUIRK_PRESETS}")
    if preset == "fixed":
        return dataclasses.replace(config, **FIXED_QUIRKS)
    values = dict(ORIGINAL_QUIRKS)
    if dataset is not None:
        values["anet_double_global_step"] = dataset == "activitynet"
    return dataclasses.replace(config, **values)
