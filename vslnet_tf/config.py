"""`VSLNetConfig`: every constant of the original VSLNet code, and a named option for each paper-vs-code difference
and each defect that changes results (fidelity VSLNet §1, §6, §7). Defaults reproduce the code.
"""

import dataclasses

from common.layers import backbone_config as backbone

MODELS = ("vslbase", "vslnet", "vslnet_l")
NPM_FFNS = ("linear", "mlp")
NPM_LABELS = ("overlap", "boundary")
CLIP_POSITIONS = ("restart", "global")
SPLIT_PADDINGS = ("exact_n", "batch_max")
MULTISCALE_LOSSES = ("mean", "sum")
#: VSLNet-L's clip lengths l per n in the paper (Tables 3, 4, 10); other n need explicit `scales`.
PAPER_SCALES = {300: (60, 75, 100, 150), 600: (100, 120, 150, 200)}
PREDICTORS = ("rnn", "transformer")
L2_MODES = ("tf1", "none")
QUIRK_PRESETS = ("original", "fixed")
LABEL_RULES = ("iou_argmax", "round")  # = common.data.labels.LABEL_RULES
OPTIMIZERS = ("adam_weight_decay", "adam")


@dataclasses.dataclass
class VSLNetConfig(backbone.BackboneConfig):
    """Model and optimization settings of VSLBase / VSLNet / VSLNet-L.

    The trunk's fields (`hidden_dim` … `lstm_implementation`) are `common.layers.backbone_config.BackboneConfig`'s, with
    the original VSLNet's defaults.

    Attributes:
        model: `vslnet` (with query pooling + QGH), `vslbase` (without them; fidelity VSLNet §3.13) or `vslnet_l`
            (VSLNet with the multi-scale split-and-concat and the Nil Prediction Module, fidelity VSLNet §5;
            `vslnet_tf/vslnet_l_design.md`).
        hidden_dim: d (128).
        num_heads: attention heads (8, head size 16).
        word_dim: GloVe size (300).
        char_dim: char embedding size (50; 100 for ActivityNet).
        drop_rate: dropout during training (0.2).
        max_pos_len: size of the positional tables and the resampling bound n.
        kernel_size, num_conv_layers: encoder conv block (7, 4).
        predictor: `rnn` (two stacked uni-LSTMs, the default) or `transformer` (fidelity VSLNet §3.9).
        encoder: `cmf` (conv + multi-head attention + FFN, the default) or `bilstm` (paper Table 8 ablation).
        interaction: `cqa` (context-query attention, the default) or `cat` (paper Table 8 ablation).
        lstm_implementation: how the LSTMs of the `rnn` predictor and the `bilstm` encoder are computed (the same
            function and weights either way; `common.layers.lstm_sequence.run_lstm`): `keras` calls the
            `keras.layers.LSTM` layer itself (on a GPU, in float32/float16 and outside XLA, Keras' TF backend runs
            cuDNN), `sequence` runs `lstm_sequence` (a hand-written BPTT, fast on CPU), `auto` (default) picks
            `keras` when a GPU is visible and the layer's compute dtype is float32 or float16, else `sequence`.
            cuDNN has no XLA kernel: with `--jit` the entry points use `sequence` for `auto`.
        highlight_lambda: weight of the QGH loss (5.0 in the code; the paper's Eq. 9 has 1).
        extend: highlight extension α (0.1; paper Fig. 13 sweeps it).
        init_lr, warmup_proportion, weight_decay, clip_norm: the BERT-style optimizer of fidelity VSLNet §4.1–4.3.
        l2_mode: `tf1` adds the L2 term of the HEAD code (3e-7·Σw²/2 over the regularized set, fidelity VSLNet §7.3);
            `none` reproduces the ACL-era code, where L2 was effectively zero (fidelity VSLNet §7.4).
        l2_scale: the TF1 contrib scale (3e-7); the penalty is `l2_scale / 2 · Σ w²`.
        masked_conv: zero padded positions before each encoder convolution. The original does not (fidelity VSLNet §7.6:
            padding leaks into valid positions, so a sample's output depends on its batch). Default False.
        paper_span_loss: halve the span loss as the paper's Eq. 5 (fidelity VSLNet §6 #2). Default False (the code).
        highlight_positive_weight: weight of positive clips in the QGH loss: 2.0 in the code, 1.0 for the paper's
            plain f_CE (fidelity VSLNet §6 #4).
        cqa_output_bias: give the CQA output projection a bias, as the paper's FFN and the PyTorch ports (fidelity
            VSLNet §6 #15). Default False (the TF1 code).
        label_rule: seconds ↔ clip indices (fidelity VSLNet §2.5, §6 #1). `iou_argmax` (the code, default): labels by
            the IoU-argmax over all unit pairs, predictions end at (â_e + 1)·T/n. `round` (the paper): labels
            a = clip(round_half_even(τ/T·n), 0, n − 1) for start and end, predictions τ = â/n·T for both (the
            paper's inference rule; one option because the two rules are each other's inverse only in pairs).
            Labels are made when the processed dataset is built: the data must be built with the same rule
            (`DataConfig.label_rule`; `VSLNetTask.build_model` checks it) and the trainer decodes with the data's
            rule. See `common.data.labels.time_to_index` / `index_to_time`.
        qgh_on_concat: the paper's QGH on the 2d concat (fidelity VSLNet §6 #5): S_h = σ(Dense(2d → 1)([V^q; h_Q])) and
            X̃ = S_h·[V^q; h_Q] (2d), with no Dense(2d → d) before QGH. The rnn predictor then reads the 2d
            features as in the paper's Eq. 4 (LSTM_s input 2d, heads read [h; X̃] = 3d). The transformer predictor
            (not in the paper) needs d channels, so there the code's Dense(2d → d, bias) is applied after QGH.
            Default False (the code: project to d, then QGH on X).
        paper_predictor_head: the paper's single linear boundary head S = W[h; F] + b (fidelity VSLNet §6 #7) instead of
            the code's Dense(2d → d) + ReLU then Dense(d → 1). Default False.
        paper_extension: the paper's highlight extension length L = a_e − a_s (fidelity VSLNet §6 #6) instead of the
            code's a_e − a_s + 1 (ext = round_half_even(α·L) either way). Used by the data pipeline: pass
            `extension_length` (this config's property) to `Trainer(..., extension_length=...)`. Default False.
        optimizer: `adam_weight_decay` (the code's BERT-style optimizer, fidelity VSLNet §4.1, default) or `adam` (the
            paper's "Adam", fidelity VSLNet §6 #9): bias-corrected Adam, β 0.9/0.999, ε 1e-8, no weight decay, same
            linear schedule and global-norm clipping (`optimizers.TF1Adam`, TF1's `tf.train.AdamOptimizer`). The L2 term
            is separate (`l2_mode`).
        use_char_embedding: GloVe ⊕ char-CNN query embedding (the code, default True). False: GloVe only, as the
            paper (fidelity VSLNet §6 #11): no char-CNN and the query projection is Dense(300 → d).

    VSLNet-L only (fidelity VSLNet §5; each [OPEN] choice is a field, defaulting to its recommendation):
        scales: clip lengths l, one per scale (K = n / l clips each; every l must divide n = `max_pos_len`).
            Empty: the paper's scales for n = 300 / 600 (`PAPER_SCALES`).
        split_padding: [OPEN-1] `exact_n` (pad every video to n, so K·l = n) or `batch_max` (split the batch's
            padded length into K clips of ceil(T / K), as the ReLER port).
        clip_positions: [OPEN-3] `restart` (positions 0..l−1 in every clip) or `global` (clip k uses rows
            k·l .. k·l + l − 1 of the position table).
        npm_own_encoder: [OPEN-4] the NPM has its own feature encoder (True) or pools the CQA output directly
            (False, as the ReLER port).
        npm_ffn: [OPEN-5] `linear` (Dense(d → 1)) or `mlp` (Dense(d → d, ReLU) then Dense(d → 1)).
        npm_positive_weight: [OPEN-6] weight of positive clips in L_NPM (1.0: the paper's f_CE; 2.0 as QGH).
        npm_label: `overlap` (Y_k = 1 iff clip k overlaps the GT span, the paper) or `boundary` (iff it contains
            the start or end index, the ReLER port).
        exclude_empty_clips: [OPEN-7] all-padding clips get S_k = 0 and leave the max and L_NPM (True).
        npm_gradient_through_max: [OPEN-8] differentiate through max_k S_k in S̄ = S / max S (True).
        npm_lambda: [OPEN-9] λ_npm (1.0); λ_h is `highlight_lambda` (5.0, the code's).
        multiscale_loss: [OPEN-10] `mean` (default) or `sum` of the per-scale losses.
    """

    model: str = "vslnet"
    predictor: str = "rnn"
    encoder: str = "cmf"
    interaction: str = "cqa"
    highlight_lambda: float = 5.0
    extend: float = 0.1
    init_lr: float = 1e-4
    warmup_proportion: float = 0.0
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    l2_mode: str = "tf1"
    l2_scale: float = 3e-7
    paper_span_loss: bool = False
    highlight_positive_weight: float = 2.0
    cqa_output_bias: bool = False
    label_rule: str = "iou_argmax"
    qgh_on_concat: bool = False
    paper_predictor_head: bool = False
    paper_extension: bool = False
    optimizer: str = "adam_weight_decay"
    use_char_embedding: bool = True
    scales: list = dataclasses.field(default_factory=list)
    split_padding: str = "exact_n"
    clip_positions: str = "restart"
    npm_own_encoder: bool = True
    npm_ffn: str = "linear"
    npm_positive_weight: float = 1.0
    npm_label: str = "overlap"
    exclude_empty_clips: bool = True
    npm_gradient_through_max: bool = True
    npm_lambda: float = 1.0
    multiscale_loss: str = "mean"

    def validate(self):
        # A list, so that the config equals itself after a JSON round trip (config.json).
        self.scales = [int(l) for l in self.scales]
        for name, allowed in (
            ("model", MODELS),
            ("npm_ffn", NPM_FFNS),
            ("npm_label", NPM_LABELS),
            ("clip_positions", CLIP_POSITIONS),
            ("split_padding", SPLIT_PADDINGS),
            ("multiscale_loss", MULTISCALE_LOSSES),
            ("predictor", PREDICTORS),
            ("encoder", backbone.ENCODERS),
            ("interaction", backbone.INTERACTIONS),
            ("l2_mode", L2_MODES),
            ("label_rule", LABEL_RULES),
            ("optimizer", OPTIMIZERS),
            ("lstm_implementation", backbone.LSTM_IMPLEMENTATIONS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}; expected one of {allowed}")
        if self.hidden_dim % self.num_heads:
            raise ValueError(f"hidden_dim {self.hidden_dim} is not divisible by num_heads {self.num_heads}")
        if self.model == "vslnet_l":
            if not self.scales:
                if self.max_pos_len not in PAPER_SCALES:
                    raise ValueError(
                        f"vslnet_l with max_pos_len={self.max_pos_len} needs explicit scales (clip "
                        f"lengths l dividing it); the paper's are {PAPER_SCALES}"
                    )
                self.scales = list(PAPER_SCALES[self.max_pos_len])
            bad = [l for l in self.scales if l < 1 or self.max_pos_len % l]
            if bad:
                raise ValueError(f"scales {bad} do not divide max_pos_len={self.max_pos_len} (K = n / l clips)")
            if self.clip_positions == "global" and self.split_padding != "exact_n":
                raise ValueError("clip_positions='global' needs split_padding='exact_n' (clip rows must stay < n)")
            if self.encoder != "cmf" or self.interaction != "cqa":
                raise ValueError("vslnet_l is built on the cmf encoder and CQA (fidelity VSLNet §5.2)")
        return self

    def backbone_arguments(self):
        return {
            **super().backbone_arguments(),
            "use_char_embedding": self.use_char_embedding,
            "encoder": self.encoder,
            "interaction": self.interaction,
            "cqa_output_bias": self.cqa_output_bias,
        }

    @property
    def is_multiscale(self):
        return self.model == "vslnet_l"

    @property
    def extension_length(self):
        """`"paper"` or `"code"`: the `extension_length` argument of the pipeline and the trainer."""
        return "paper" if self.paper_extension else "code"


def apply_quirks(config, preset):
    """`original` keeps the code's behaviour; `fixed` corrects every defect of fidelity VSLNet §7 that changes results.

    Only the masked convolutions are a model defect here; the test-set checkpoint selection (§7.1) is the
    trainer's `protocol` (`clean` under `fixed`), and the unseeded shuffle (§7.2) is always seeded.
    """
    if preset not in QUIRK_PRESETS:
        raise ValueError(f"quirks={preset!r}; expected one of {QUIRK_PRESETS}")
    return dataclasses.replace(config, masked_conv=(preset == "fixed"))
