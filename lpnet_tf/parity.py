"""LPNet's hooks of the TF1 parity check (`experiments/check_parity.py`, `Family.parity`) on the fixture
`shared/fixtures/lpnet_tf1` (README there), imported with drop_rate 0, the value the fixture's is_training pass fed.

- the boundary branch as for VSLNet (logits, probabilities, highlight scores, `start_index`/`end_index` of the
  outer product), the proposal scores `scores`, `proposal_start`/`proposal_end`, `iou_labels` (ground truth =
  argmax of the soft labels), the selection `p_x_float`, `p_y_float` and the rounded `p_x`, `p_y` (equal),
  `proposal_dx`/`proposal_dy` (floor/ceil of our float bounds: the original computes them for nothing);
- losses: `reg_loss_mse`, `highlight_loss`, `kl_loss` (sample 0 only), `reg_loss_total`, `regular`, `iou_loss`,
  `l1_loss` (logged only by the original; computed here), `my_loss`. The original adds no L2 term to any LPNet loss
  (its regularizers are computed and dropped), and ours has none;
- the `is_training` True pass (`*__is_training`: selection by the IoU labels, its IoU/L1/box losses) from our
  `training=True` forward pass;
- `task.*` rows: `LPNetTask.compute_losses` in both modes against the same numbers, and `LPNetTask.predict_step`
  against the original's selection clamped to [0, L_b − 1] (`p_x__decoded`) and the best score; the
  `(training)` rows compare the training-mode logits and scores with the stored ones (identical in the original);
- intermediates (`char_features` … `end_rnn_output`, then `proposal_box` … `head_fused`), from the layers' own
  return options in the order of `LPNet.call`, checked against `model(inputs)` bit for bit in both modes.
"""

import numpy as np
from keras import ops

# LPNet's branch A is VSLNet's boundary branch, and both fixtures store the same inputs and trunk stages.
from common.checkpoint_conversion.parity import (
    BOUNDARY_INTERMEDIATES,
    INDICES,
    MASKED_LOGITS,
    PREDICTOR_FEATURES,
    ComputedOutputs,
    ParityHooks,
    boundary_intermediates,
    model_inputs,
    self_check,
)
from common.layers.span_decoding import span_decode
from lpnet_tf import losses as lpnet_losses
from lpnet_tf.task import LPNetTask

#: The fixture's outputs of the `is_training` True pass (same feed, drop_rate 0) carry this suffix; a derived
#: reference of ours is `<fixture key>__<what>`. The comparison rule is the one of the key before the first `__`.
TRAINING_SUFFIX = "__is_training"
SELECTION_INDICES = ("p_x", "p_y", "proposal_dx", "proposal_dy")
LOSSES = ("reg_loss_mse", "highlight_loss", "iou_loss", "l1_loss", "regular", "my_loss", "kl_loss", "reg_loss_total")
#: Our extra rows (the task's loss and decoding path, and the training-mode forward pass) and their reference.
TASK_ROWS = {
    "task.reg": "reg_loss_mse",
    "task.highlight": "highlight_loss",
    "task.kl": "kl_loss",
    "task.main": "reg_loss_total",
    "task.iou": "iou_loss",
    "task.regular": "regular",
    "task.box": "my_loss",
    "task.main (training)": "reg_loss_total",
    "task.iou (training)": "iou_loss" + TRAINING_SUFFIX,
    "task.box (training)": "my_loss" + TRAINING_SUFFIX,
    "task.start_index": "p_x__decoded",
    "task.end_index": "p_y__decoded",
    "task.score": "scores__selected",
    "start_logits (training)": "start_logits",
    "end_logits (training)": "end_logits",
    "highlight_logits (training)": "highlight_logits",
    "scores (training)": "scores",
}
INTERMEDIATES = (
    BOUNDARY_INTERMEDIATES
    + PREDICTOR_FEATURES["rnn"]
    + (
        "proposal_box",
        "proposal_boxes_crop",
        "crop_features_first8",
        "proposal_features",
        "dynamic_conv_features",
        "head_features",
        "pooled_query_head",
        "head_fused",
    )
)
SUMMARY_ORDER = (
    MASKED_LOGITS
    + ("start_prob", "end_prob", "highlight_scores", "scores", "proposal_start", "proposal_end", "iou_labels")
    + tuple(k + s for s in ("", TRAINING_SUFFIX) for k in ("p_x_float", "p_y_float"))
    + INDICES
    + ("proposal_dx", "proposal_dy")
    + tuple(k + s for s in ("", TRAINING_SUFFIX) for k in ("p_x", "p_y"))
    + ("reg_loss_mse", "highlight_loss", "kl_loss", "reg_loss_total", "regular")
    + tuple(k + s for s in ("", TRAINING_SUFFIX) for k in ("iou_loss", "l1_loss", "my_loss"))
    + tuple(TASK_ROWS)
    + INTERMEDIATES
)


def lpnet_batch(fixture):
    """The task's batch dict from an LPNet fixture: the model inputs, the ground truth (argmax of the soft labels
    `y1`, `y2`, as the original's IoU labels use it), the highlight labels and the soft labels as stored."""
    return dict(
        model_inputs(fixture),
        start_index=np.argmax(fixture["y1"], axis=1).astype(np.int32),
        end_index=np.argmax(fixture["y2"], axis=1).astype(np.int32),
        highlight_labels=fixture["highlight_labels"],
        soft_start_labels=fixture["y1"],
        soft_end_labels=fixture["y2"],
    )


def intermediates_of(model, inputs, training=False):
    """The fixture's intermediates from the layers' own return options, in the order of `LPNet.call`, plus the
    outputs of this path (logits, `scores`, `proposal_start`/`proposal_end`) for the self-check against
    `model(inputs)`."""
    out, trunk = boundary_intermediates(model, inputs, PREDICTOR_FEATURES["rnn"], training=training)
    lengths = ops.sum(ops.cast(trunk["video_mask"], "int32"), axis=1)
    boxes, out["proposal_start"], out["proposal_end"] = model.proposals(lengths)
    out["proposal_box"] = boxes
    out["proposal_boxes_crop"] = crop_boxes = model.proposals.crop_boxes(boxes)
    rois = model.roi_align(trunk["features"], crop_boxes, lengths)  # (K, B, l, d)
    # The original's (B, 8, 1, l, d): the crops of the first 8 proposals, sample-major.
    out["crop_features_first8"] = ops.expand_dims(ops.transpose(rois[:8], (1, 0, 2, 3)), 2)
    head, stages = model.dynamic_head(rois, training=training, return_intermediates=True)
    out.update(stages)
    out["proposal_features"] = stages["proposal_features"][None]  # the original's (1, K, d)
    out["scores"], stages = model.scorer(
        head, trunk["query"], trunk["query_mask"], training=training, return_intermediates=True
    )
    out["pooled_query_head"], out["head_fused"] = stages["pooled_query"], stages["fused"]
    return out


#: The outputs of `LPNet.call` that `intermediates_of` recomputes (its self-check).
CALL_OUTPUTS = ("highlight_logits", "start_logits", "end_logits", "scores", "proposal_start", "proposal_end")


def run(model, config, fixture):
    """Our value of every LPNet fixture output, loss and intermediate, plus the task rows (`TASK_ROWS`).

    Both `is_training` passes of the fixture are reproduced: the model runs with `training=False` and with
    `training=True`, which needs the imported config's `drop_rate` to be 0 (the fixture's is_training pass fed
    drop_rate 0). The unsuffixed keys come from the inference pass; the `__is_training` keys (the selection by the
    IoU labels and what depends on it) from the training pass. The original adds no L2 term to any LPNet loss, and
    neither do we (so there is no `l2_loss` row).

    Returns:
        `(ours, consistency)`: dict name → numpy array, and the largest difference between the intermediates path
        and `model(inputs)` over both passes (`self_check`).
    """
    if config.drop_rate != 0.0:
        raise ValueError(
            f"the LPNet fixture's is_training pass ran with drop_rate 0; the imported config has "
            f"drop_rate={config.drop_rate} (import with the override drop_rate=0)"
        )
    if not (config.use_highlight and config.use_bal and config.bal_predictor == "conditioned"):
        raise ValueError("the LPNet fixture is the code's model (highlighting, the conditioned boundary predictor)")
    batch = lpnet_batch(fixture)
    inputs = {k: batch[k] for k in ("video_features", "video_mask", "word_ids", "char_ids")}
    task = LPNetTask(config)
    adjustor = model.adjustor
    gt_start, gt_end = task.ground_truth(batch)
    video_mask = batch["video_mask"]
    outputs, intermediates, consistency = {}, {}, 0.0
    for training in (False, True):
        outputs[training] = model(inputs, training=training)
        intermediates[training] = intermediates_of(model, inputs, training=training)
        consistency = max(consistency, self_check(outputs[training], intermediates[training], CALL_OUTPUTS))

    ours = dict(intermediates[False])
    main = outputs[False]
    start, end, highlight, scores = (main["start_logits"], main["end_logits"], main["highlight_logits"], main["scores"])
    ours.update(
        start_logits=start,
        end_logits=end,
        highlight_logits=highlight,
        scores=scores,
        proposal_start=main["proposal_start"],
        proposal_end=main["proposal_end"],
    )
    ours["start_prob"] = ops.softmax(start, axis=-1)
    ours["end_prob"] = ops.softmax(end, axis=-1)
    ours["highlight_scores"] = ops.sigmoid(highlight)
    ours["start_index"], ours["end_index"], _ = span_decode(ours["start_prob"], ours["end_prob"])
    # The original's integer proposal bounds floor(L·(a−b)), ceil(L·(a+b)): computed there, used nowhere; we do
    # not compute them in the model, only here from our float bounds.
    ours["proposal_dx"] = ops.cast(ops.floor(main["proposal_start"]), "int32")
    ours["proposal_dy"] = ops.cast(ops.ceil(main["proposal_end"]), "int32")
    iou_labels = {
        training: lpnet_losses.proposal_iou_labels(
            outputs[training]["proposal_start"], outputs[training]["proposal_end"], gt_start, gt_end
        )
        for training in (False, True)
    }
    ours["iou_labels"] = iou_labels[False]
    regular = adjustor.regular_term(main["proposal_boxes"])
    lengths = ops.cast(main["video_length"], "float32")
    for training, suffix in ((False, ""), (True, TRAINING_SUFFIX)):
        result = outputs[training]
        _, p_x, p_y = adjustor(
            result["proposal_boxes"], result["video_length"], result["scores"], iou_labels[training], training=training
        )
        ours["p_x_float" + suffix], ours["p_y_float" + suffix] = p_x[:, None], p_y[:, None]
        ours["p_x" + suffix] = ops.cast(ops.round(p_x), "int32")[:, None]  # round half to even, like tf.rint
        ours["p_y" + suffix] = ops.cast(ops.round(p_y), "int32")[:, None]
        iou = ops.mean(1.0 - adjustor.clamped_iou(p_x, p_y, gt_start, gt_end))
        ours["iou_loss" + suffix] = iou
        # Logged only by the original (no model or task code of ours computes it).
        ours["l1_loss" + suffix] = ops.mean((ops.abs(p_x - gt_start) + ops.abs(p_y - gt_end)) / lengths)
        ours["my_loss" + suffix] = config.iou_weight * iou + regular
    ours["regular"] = regular
    ours["reg_loss_mse"] = lpnet_losses.iou_regression_loss(
        scores, iou_labels[False], config.low_iou_threshold, config.low_iou_weight
    )
    ours["highlight_loss"] = lpnet_losses.highlight_loss(highlight, batch["highlight_labels"], video_mask)
    ours["kl_loss"] = lpnet_losses.boundary_kl(
        start,
        end,
        batch["soft_start_labels"],
        batch["soft_end_labels"],
        video_mask,
        first_sample_only=config.kl_first_sample_only,
    )
    ours["reg_loss_total"] = config.reg_weight * ours["reg_loss_mse"] + ours["highlight_loss"] + ours["kl_loss"]

    # The task's own loss and decoding code, on the two forward passes already computed.
    computed = ComputedOutputs(model, outputs[False], outputs[True])
    task_losses = task.compute_losses(computed, batch, training=False)
    for name in ("reg", "highlight", "kl", "main", "iou", "regular", "box"):
        ours[f"task.{name}"] = task_losses[name]
    task_losses = task.compute_losses(computed, batch, training=True)
    for name in ("main", "iou", "box"):
        ours[f"task.{name} (training)"] = task_losses[name]
    predictions = task.predict_step(computed, batch)
    ours["task.start_index"] = predictions["start_index"]
    ours["task.end_index"] = predictions["end_index"]
    ours["task.score"] = predictions["score"]
    for key in ("start_logits", "end_logits", "highlight_logits", "scores"):
        ours[f"{key} (training)"] = outputs[True][key]
    return {k: np.asarray(v) for k, v in ours.items()}, consistency  # convert_to_numpy warns on variables (NumPy 2)


def references(fixture):
    """The fixture plus the references of our task rows derived from it: `p_x__decoded`/`p_y__decoded`, the
    original's rounded selection clamped to [0, L_b − 1] (what `LPNetTask.predict_step` returns; the original's
    own `p_x` is not clamped), and `scores__selected`, the score of the selected (best) proposal."""
    references = dict(fixture)
    last = fixture["video_seq_length"].astype(np.int64) - 1
    references["p_x__decoded"] = np.clip(fixture["p_x"][:, 0], 0, last)
    references["p_y__decoded"] = np.clip(fixture["p_y"][:, 0], 0, last)
    references["scores__selected"] = np.max(fixture["scores"], axis=1)
    return references


def detect(names):
    """An LPNet checkpoint: it holds the learnable proposals and the dynamic head."""
    return any(n == "proposal_box" or n.startswith("dynamic_head/") for n in names)


#: The fixture's is_training pass fed drop_rate 0, so our training-mode forward pass must have no dropout either
#: (drop_rate is a run-time feed in the original).
HOOKS = ParityHooks(
    detect=detect,
    import_overrides={"drop_rate": 0.0},
    run=run,
    extra_rows=TASK_ROWS,
    references=references,
    kinds={
        **dict.fromkeys(MASKED_LOGITS, "masked logits"),
        **dict.fromkeys(INDICES + SELECTION_INDICES, "index"),
        **dict.fromkeys(LOSSES, "loss"),
    },
    summary_order=SUMMARY_ORDER,
)
