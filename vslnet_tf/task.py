"""`VSLNetTask`: how the shared trainer builds, trains and decodes VSLBase / VSLNet (spec vslnet §3.10–4.3)."""

from keras import ops

from common import losses
from common.layers.span_decoding import span_decode
from common.training import distribute
from common.training import optimization
from common.training.task import Task
from vslnet_tf.model import VSLNet, dummy_inputs


class VSLNetTask(Task):
    """Losses: `L_loc + L2 + highlight_lambda · L_QGH` (VSLNet) or `L_loc + L2` (VSLBase); one gradient group."""

    def build_model(self, data_info):
        # `trainer.data_info` records the data's rule; callers that build `data_info` by hand may leave it out.
        data_rule = data_info.get("label_rule", self.config.label_rule)
        if data_rule != self.config.label_rule:
            raise ValueError(
                f"the processed data was labelled with label_rule={data_rule!r} but the model config says "
                f"{self.config.label_rule!r}; rebuild the data with DataConfig(label_rule={self.config.label_rule!r})")
        model = VSLNet(self.config, num_words=len(data_info["word_vectors"]) + 2, num_chars=data_info["num_chars"],
                       feature_dim=data_info["feature_dim"], word_vectors=data_info["word_vectors"], name="vslnet")
        model(dummy_inputs(data_info["feature_dim"]))
        return model

    def build_optimizer(self, total_steps):
        """`adam_weight_decay` (the code, spec §4.1) or `adam` (the paper, spec §6 #9: TF1's bias-corrected Adam,
        ε 1e-8, no weight decay); both with the linear-decay schedule and global-norm clipping after the all-reduce.
        """
        config = self.config
        schedule = optimization.build_learning_rate(
            "linear_decay", config.init_lr, total_steps=total_steps, warmup_proportion=config.warmup_proportion
        )
        if config.optimizer == "adam":
            return optimization.build_optimizer("tf1_adam", schedule, epsilon=1e-8,
                                                global_clipnorm=config.clip_norm or None)
        return optimization.build_optimizer("adam_weight_decay", schedule, weight_decay=config.weight_decay,
                                            global_clipnorm=config.clip_norm or None)

    def prepare_optimizer(self, optimizer, model):
        if self.config.optimizer == "adam_weight_decay":
            optimizer.exclude_from_weight_decay(var_list=optimization.weight_decay_exclusions(model))

    def compute_losses(self, model, batch, training):
        outputs = model(batch, training=training)
        batch_size = ops.shape(batch["start_index"])[0]
        span = losses.span_cross_entropy(outputs["start_logits"], outputs["end_logits"], batch["start_index"],
                                         batch["end_index"])
        if self.config.paper_span_loss:
            span = 0.5 * span
        result = {"span": distribute.global_share(span, batch_size)}
        total = result["span"]
        if self.config.model == "vslnet":
            highlight = losses.highlight_loss(outputs["highlight_logits"], batch["highlight_labels"],
                                              batch["video_mask"],
                                              positive_weight=self.config.highlight_positive_weight)
            mask_count = ops.sum(ops.cast(batch["video_mask"], "float32"))
            result["highlight"] = distribute.global_share(highlight, mask_count)
            total = total + self.config.highlight_lambda * result["highlight"]
        if self.config.l2_mode == "tf1":
            result["l2"] = losses.l2_penalty(model.l2_variables(), self.config.l2_scale, semantics="tf1") / (
                distribute.num_replicas())
            total = total + result["l2"]
        result["total"] = total
        return result

    def predict_step(self, model, batch):
        outputs = model(batch, training=False)
        start_probs = ops.softmax(outputs["start_logits"], axis=-1)
        end_probs = ops.softmax(outputs["end_logits"], axis=-1)
        start_index, end_index, score = span_decode(start_probs, end_probs)
        result = {"start_index": start_index, "end_index": end_index, "score": score}
        if "highlight_logits" in outputs:
            result["highlight_probs"] = ops.sigmoid(outputs["highlight_logits"])
        return result
