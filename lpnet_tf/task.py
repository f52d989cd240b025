"""`LPNetTask`: how the shared trainer builds, trains (two routed losses) and decodes LPNet (fidelity LPNet §8–§10)."""

import tensorflow as tf
from keras import ops

from common.data import pipeline
from common.training import distribute, optimizers, schedules
from common.training.task import Task
from lpnet_tf import labels, losses
from lpnet_tf.model import LPNet


def _first_replica():
    """1.0 on the replica that holds sample 0 of the global batch, 0.0 elsewhere."""
    context = tf.distribute.get_replica_context()
    if context is None:
        return tf.constant(1.0)
    return tf.cast(tf.equal(context.replica_id_in_sync_group, 0), tf.float32)


class LPNetTask(Task):
    """Two losses routed to disjoint variables and applied in one optimizer step (fidelity LPNet §9):

    - `main` = `reg_weight`·L_reg + L_hl + L_KL → every trainable variable except the proposal boxes;
    - `box` = `iou_weight`·L_IoU + L_regular → the proposal boxes only.

    The IoU labels (in L_reg) and the RoIAlign crop boxes are stop-gradiented (fidelity LPNet D18), so `main` has no
    path to the boxes, and `box` depends only on the boxes (the selection is an argmax). Each loss entry is this
    replica's share of the global-batch value, so the strategy's sum of gradients is exact.
    """

    def build_model(self, data_info):
        model = LPNet(
            self.config,
            num_words=len(data_info["word_vectors"]) + 2,
            num_chars=data_info["num_chars"],
            feature_dim=data_info["feature_dim"],
            word_vectors=data_info["word_vectors"],
            name="lpnet",
        )
        model(pipeline.dummy_inputs(data_info["feature_dim"]))
        return model

    def build_optimizer(self, total_steps):
        config = self.config
        if config.lr_schedule == "staircase":
            learning_rate = schedules.build_learning_rate(
                "staircase_exponential_decay",
                config.init_lr,
                decay_steps=config.lr_decay_steps,
                decay_rate=config.lr_decay_rate,
                global_step_multiplier=2 if config.anet_double_global_step else 1,
            )
        else:
            learning_rate = schedules.build_learning_rate("constant", config.init_lr)
        return optimizers.build_optimizer("tf1_adam", learning_rate, adam_double_count=config.adam_double_count)

    def prepare_optimizer(self, optimizer, model):
        if self.config.adam_double_count:
            optimizer.mark_first_update([model.proposal_box])

    def gradient_groups(self, model):
        box = model.proposal_box
        others = [v for v in model.trainable_variables if v is not box]
        return [("main", others), ("box", [box])]

    def ground_truth(self, batch):
        """(x, y) in clip units, float32 `(B,)`: (st, et), or (st, et + 1) with `gt_end_exclusive` (fidelity LPNet
        D11)."""
        start = ops.cast(batch["start_index"], "float32")
        end = ops.cast(batch["end_index"], "float32")
        if self.config.gt_end_exclusive:
            end = end + 1.0
        return start, end

    def build_labels(self, batch):
        """The base batch plus the soft boundary labels of the KL loss (`labels.add_soft_boundary_labels`)."""
        return labels.add_soft_boundary_labels(batch)

    def compute_losses(self, model, batch, training):
        config = self.config
        outputs = model(batch, training=training)
        real = pipeline.real_rows(batch)
        batch_size = ops.sum(real)
        gt_start, gt_end = self.ground_truth(batch)
        result = {}
        # Main loss: matching regression, highlighting, boundary KL.
        iou_labels = ops.stop_gradient(
            losses.proposal_iou_labels(outputs["proposal_start"], outputs["proposal_end"], gt_start, gt_end)
        )
        reg = losses.iou_regression_loss(outputs["scores"], iou_labels, config.low_iou_threshold, config.low_iou_weight)
        result["reg"] = distribute.global_share(reg, batch_size)
        main = config.reg_weight * result["reg"]
        if config.use_highlight:
            highlight = losses.highlight_loss(
                outputs["highlight_logits"], batch["highlight_labels"], batch["video_mask"]
            )
            mask_count = ops.sum(ops.cast(batch["video_mask"], "float32") * real[:, None])
            result["highlight"] = distribute.global_share(highlight, mask_count)
            main = main + result["highlight"]
        if config.use_bal:
            kl = losses.boundary_kl(
                outputs["start_logits"],
                outputs["end_logits"],
                batch["soft_start_labels"],
                batch["soft_end_labels"],
                batch["video_mask"],
                first_sample_only=config.kl_first_sample_only,
            )
            result["kl"] = (
                kl * _first_replica() if config.kl_first_sample_only else distribute.global_share(kl, batch_size)
            )
            main = main + result["kl"]
        result["main"] = main
        # Box loss: IoU of the selected proposal and the boundary regular term.
        adjustor = model.adjustor
        _, p_x, p_y = adjustor(
            outputs["proposal_boxes"], outputs["video_length"], outputs["scores"], iou_labels, training=training
        )
        iou = ops.mean(1.0 - adjustor.clamped_iou(p_x, p_y, gt_start, gt_end))
        result["iou"] = distribute.global_share(iou, batch_size)
        result["regular"] = adjustor.regular_term(outputs["proposal_boxes"]) / distribute.num_replicas()
        result["box"] = config.iou_weight * result["iou"] + result["regular"]
        return result

    def predict_step(self, model, batch):
        outputs = model(batch, training=False)
        adjustor, scores, lengths = model.adjustor, outputs["scores"], outputs["video_length"]
        boxes = outputs["proposal_boxes"]
        index, p_x, p_y = adjustor(boxes, lengths, scores, training=False)
        start_index, end_index = adjustor.decode(p_x, p_y, lengths)
        top_k = min(self.config.predict_top_k, self.config.num_proposals)
        topk_scores, topk_index = ops.top_k(scores, k=top_k, sorted=True)
        topk_start, topk_end = adjustor.decode(*adjustor.bounds(boxes, ops.cast(topk_index, "int32"), lengths), lengths)
        return {
            "start_index": start_index,
            "end_index": end_index,
            "score": ops.take_along_axis(scores, ops.expand_dims(index, -1), axis=-1)[:, 0],
            "topk_start_index": topk_start,
            "topk_end_index": topk_end,
            "topk_scores": topk_scores,
        }
