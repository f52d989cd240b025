"""`VSLNetTask`: how the shared trainer builds, trains and decodes VSLBase / VSLNet (fidelity VSLNet §3.10–4.3)."""

from keras import ops

from common import losses
from common.data import pipeline
from common.layers.span_decoding import span_decode
from common.training import distribute, optimizers, schedules
from common.training.task import Task
from vslnet_tf import multiscale_inference
from vslnet_tf.layers import clip_split
from vslnet_tf.model import VSLNet
from vslnet_tf.model_l import VSLNetL


class VSLNetTask(Task):
    """Losses: `L_loc + L2 + highlight_lambda · L_QGH` (VSLNet) or `L_loc + L2` (VSLBase); one gradient group.

    VSLNet-L (fidelity VSLNet §5.3–5.5): per scale `L_loc + highlight_lambda · L_QGH + npm_lambda · L_NPM`, combined
    over the scales by `multiscale_loss` (mean or sum), plus L2 once. `predict_step` decodes every scale and returns the
    Pm answer under the usual keys and the U answer under `u_start_index` / `u_end_index`.
    """

    def build_model(self, data_info):
        # `trainer.data_info` records the data's rule; callers that build `data_info` by hand may leave it out.
        data_rule = data_info.get("label_rule", self.config.label_rule)
        if data_rule != self.config.label_rule:
            raise ValueError(
                f"the processed data was labelled with label_rule={data_rule!r} but the model config says "
                f"{self.config.label_rule!r}; rebuild the data with DataConfig(label_rule={self.config.label_rule!r})"
            )
        model_cls = VSLNetL if self.config.model == "vslnet_l" else VSLNet
        model = model_cls(
            self.config,
            num_words=len(data_info["word_vectors"]) + 2,
            num_chars=data_info["num_chars"],
            feature_dim=data_info["feature_dim"],
            word_vectors=data_info["word_vectors"],
            name="vslnet",
        )
        model(pipeline.dummy_inputs(data_info["feature_dim"]))
        return model

    def build_optimizer(self, total_steps):
        """`adam_weight_decay` (the code, fidelity VSLNet §4.1) or `adam` (the paper, fidelity VSLNet §6 #9: TF1's
        bias-corrected Adam, ε 1e-8, no weight decay); both with the linear-decay schedule and global-norm clipping
        after the all-reduce.
        """
        config = self.config
        schedule = schedules.build_learning_rate(
            "linear_decay", config.init_lr, total_steps=total_steps, warmup_proportion=config.warmup_proportion
        )
        if config.optimizer == "adam":
            return optimizers.build_optimizer(
                "tf1_adam", schedule, epsilon=1e-8, global_clipnorm=config.clip_norm or None
            )
        return optimizers.build_optimizer(
            "adam_weight_decay", schedule, weight_decay=config.weight_decay, global_clipnorm=config.clip_norm or None
        )

    def prepare_optimizer(self, optimizer, model):
        if self.config.optimizer == "adam_weight_decay":
            optimizer.exclude_from_weight_decay(var_list=optimizers.weight_decay_exclusions(model))

    @property
    def prediction_strategies(self):
        """VSLNet-L: `("pm", "u")` (Pm is the main answer); `(None,)` otherwise (`Task.prediction_strategies`)."""
        return multiscale_inference.STRATEGIES if self.config.model == "vslnet_l" else (None,)

    def _span_and_highlight(self, outputs, batch):
        """(span loss, highlight loss or None) of one set of logits `[B, n]`, each this replica's global share."""
        real = pipeline.real_rows(batch)
        batch_size = ops.sum(real)
        span = losses.span_cross_entropy(
            outputs["start_logits"], outputs["end_logits"], batch["start_index"], batch["end_index"]
        )
        if self.config.paper_span_loss:
            span = 0.5 * span
        span = distribute.global_share(span, batch_size)
        if "highlight_logits" not in outputs:
            return span, None
        highlight = losses.highlight_loss(
            outputs["highlight_logits"],
            batch["highlight_labels"],
            batch["video_mask"],
            positive_weight=self.config.highlight_positive_weight,
        )
        mask_count = ops.sum(ops.cast(batch["video_mask"], "float32") * real[:, None])
        return span, distribute.global_share(highlight, mask_count)

    def nil_loss(self, nil_logits, clip_valid, batch, num_clips, clip_length):
        """L_NPM of one scale: weighted BCE of the nil logits `[B, K]` against `clip_split.nil_labels`, averaged
        over the scored clips of the global batch (all-padding clips excluded with `exclude_empty_clips`)."""
        size, _ = clip_split.clip_geometry(
            ops.shape(batch["video_mask"])[1], num_clips, clip_length, self.config.split_padding
        )
        labels = clip_split.nil_labels(
            batch["start_index"], batch["end_index"], num_clips, size, rule=self.config.npm_label
        )
        scored = clip_valid if self.config.exclude_empty_clips else ops.ones_like(clip_valid)
        loss = losses.highlight_loss(nil_logits, labels, scored, positive_weight=self.config.npm_positive_weight)
        scored_count = ops.sum(ops.cast(scored, "float32") * pipeline.real_rows(batch)[:, None])
        return distribute.global_share(loss, scored_count)

    def compute_losses(self, model, batch, training):
        config = self.config
        outputs = model(batch, training=training)
        if config.model == "vslnet_l":
            result = self._multiscale_losses(model, outputs, batch)
            total = result["span"] + config.highlight_lambda * result["highlight"] + config.npm_lambda * result["npm"]
        else:
            span, highlight = self._span_and_highlight(outputs, batch)
            result = {"span": span}
            total = span
            if highlight is not None:
                result["highlight"] = highlight
                total = total + config.highlight_lambda * highlight
        if config.l2_mode == "tf1":
            result["l2"] = losses.l2_penalty(model.l2_variables(), config.l2_scale, semantics="tf1") / (
                distribute.num_replicas()
            )
            total = total + result["l2"]
        result["total"] = total
        return result

    def _multiscale_losses(self, model, outputs, batch):
        """Span, highlight and NPM losses combined over the scales (mean or sum, `multiscale_loss`)."""
        parts = {"span": [], "highlight": [], "npm": []}
        for i, (num_clips, clip_length) in enumerate(model.scales):
            scale_outputs = {key: outputs[key][:, i] for key in ("start_logits", "end_logits", "highlight_logits")}
            span, highlight = self._span_and_highlight(scale_outputs, batch)
            parts["span"].append(span)
            parts["highlight"].append(highlight)
            parts["npm"].append(
                self.nil_loss(outputs["nil_logits"][i], outputs["clip_valid"][i], batch, num_clips, clip_length)
            )
        combine = (lambda xs: sum(xs) / len(xs)) if self.config.multiscale_loss == "mean" else sum
        return {key: combine(values) for key, values in parts.items()}

    def predict_step(self, model, batch):
        outputs = model(batch, training=False)
        if self.config.model == "vslnet_l":
            return self.decode_multiscale(outputs)
        start_probs = ops.softmax(outputs["start_logits"], axis=-1)
        end_probs = ops.softmax(outputs["end_logits"], axis=-1)
        start_index, end_index, score = span_decode(start_probs, end_probs)
        result = {"start_index": start_index, "end_index": end_index, "score": score}
        if "highlight_logits" in outputs:
            result["highlight_probs"] = ops.sigmoid(outputs["highlight_logits"])
        return result

    def decode_multiscale(self, outputs):
        """Every scale's span, then Pm (main keys) and U (`u_*`); also the per-scale candidates and the
        probabilities `[B, S, n]` of every scale."""
        start_probs = ops.softmax(outputs["start_logits"], axis=-1)
        end_probs = ops.softmax(outputs["end_logits"], axis=-1)
        num_scales = start_probs.shape[1]
        decoded = [span_decode(start_probs[:, i], end_probs[:, i]) for i in range(num_scales)]
        scale_start, scale_end, scale_prob = (ops.stack(parts, axis=1) for parts in zip(*decoded))
        start, end, score, scale = multiscale_inference.pm_select(scale_start, scale_end, scale_prob)
        end_offset = 0 if self.config.label_rule == "round" else 1
        u_start, u_end, u_iou = multiscale_inference.union_of_most_overlapping(scale_start, scale_end, end_offset)
        return {
            "start_index": start,
            "end_index": end,
            "score": score,
            "pm_scale": scale,
            "u_start_index": u_start,
            "u_end_index": u_end,
            "u_pair_iou": u_iou,
            "scale_start_index": scale_start,
            "scale_end_index": scale_end,
            "scale_span_prob": scale_prob,
            "start_probs": start_probs,
            "end_probs": end_probs,
            "highlight_probs": ops.sigmoid(outputs["highlight_logits"]),
        }
