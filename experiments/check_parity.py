"""Check that an imported TF1 checkpoint computes the original's function, on a parity fixture.

    python -m experiments.check_parity --fixture=shared/fixtures/{vslnet,lpnet}_tf1 [--model=auto] [--out=RUN_DIR] \
        [--atol=1e-4]

A fixture folder (`shared/fixtures/<family>_tf1/README.md`) holds the original's `model.ckpt` and, in
`fixture.npz` (a padded batch) and `fixture_single_{i}.npz` (each sample alone), the inputs and every output of the
original graph at drop_rate 0. The model family comes from the checkpoint's variables (LPNet's have `proposal_box`
and `dynamic_head/...`; `--model=vslnet|lpnet` must agree with them). This script imports the checkpoint with
`experiments.import_tf1` into a run directory (a temporary one unless `--out` is given), restores the model from
that run directory as evaluation would, feeds the stored inputs in the original's conventions (batch padding as
stored, the video mask from `video_seq_length`, the query mask from `word_ids != 0`, inference mode) and prints the
largest absolute difference of every stored array.

VSLNet (`vslnet_tf1`):
- outputs: `start_logits`, `end_logits`, `highlight_logits` (valid clips; padded clips must hold exactly
  float32(−1e30)), `start_prob`, `end_prob`, `highlight_scores`, and `start_index`, `end_index` (must be equal);
- losses (within `--loss_rtol` relative): `localization_loss`, `highlight_loss`, `l2_loss`, `loss`, `total_loss`.
  The fixture's L2 is the original's TF2 branch (Keras `l2`: 3e-7·Σw², README "L2 term"), so ours is computed
  with `l2_penalty(..., semantics="keras")`; the `task.*` rows check the training loss path
  (`VSLNetTask.compute_losses`, whose L2 has the TF1 `/2` semantics, spec §7.3) against the same numbers;
- intermediates (`char_features` … `end_rnn_output`), computed by calling the restored model's own sublayers in
  the order of `VSLNet.call`; the script checks that this path gives the model's logits bit for bit.

LPNet (`lpnet_tf1`; imported with drop_rate 0, the value the fixture's is_training pass fed):
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
- intermediates (`char_features` … `end_rnn_output`, then `proposal_box` … `head_fused`), computed from the model's
  sublayers in the order of `LPNet.call`/`DynamicHead.call`/`ProposalScorer.call`, checked against
  `model(inputs)` bit for bit in both modes.

It prints one line per output (the largest difference in the batch file and over the single-sample files;
`--details` prints every file) and exits with status 1 when any difference is above the tolerance (`--atol` 1e-4
on arrays, indices equal, losses within 1e-4 relative), 2 when the import itself fails. `--in_memory` checks the
imported model without the run-directory round trip.
"""

import dataclasses
import os
import sys
import tempfile

import numpy as np
from absl import app, flags
from keras import ops

from common import losses
from common.checkpoint_conversion import tf1_reader
from common.layers.masking import sequence_mask
from common.layers.span_decoding import span_decode
from experiments import import_tf1
from lpnet_tf import losses as lpnet_losses
from lpnet_tf.layers.proposal_scorer import l2_normalize
from lpnet_tf.task import LPNetTask
from vslnet_tf.task import VSLNetTask

FIXTURE_FILES = ("fixture.npz",) + tuple(f"fixture_single_{i}.npz" for i in range(4))
INPUT_KEYS = ("video_inputs", "video_seq_length", "word_ids", "char_ids", "highlight_labels", "y1", "y2")
MASKED_LOGITS = ("start_logits", "end_logits", "highlight_logits")
INDICES = ("start_index", "end_index")
LOSSES = ("localization_loss", "highlight_loss", "l2_loss", "loss", "total_loss")
#: Our extra rows (the task's loss and decoding path) and the fixture key each is compared with.
TASK_ROWS = {
    "task.span": "localization_loss",
    "task.highlight": "highlight_loss",
    "task.l2 x 2 (tf1 → keras)": "l2_loss",
    "task.total + task.l2": "total_loss",
    "task.start_index": "start_index",
    "task.end_index": "end_index",
    "task.highlight_probs": "highlight_scores",
}
INTERMEDIATES = ("char_features", "query_embedding", "video_projection", "query_projection", "video_encoded",
                 "query_encoded", "vq_trilinear_score", "vq_attention_output", "query_pooled", "cq_concat_output",
                 "predictor_input", "start_rnn_output", "end_rnn_output")
#: Rows of the summary: outputs, losses, the task's path, then the intermediates in forward order.
SUMMARY_ORDER = (("start_logits", "end_logits", "highlight_logits", "start_prob", "end_prob", "highlight_scores")
                 + INDICES + LOSSES + tuple(TASK_ROWS) + INTERMEDIATES)
#: float32(−1e30), the original's padded logits; anything below −1e29 is padding.
PADDED_LOGIT = np.float32(-1e30)
MODEL_FAMILIES = ("vslnet", "lpnet")

# --- LPNet (`shared/fixtures/lpnet_tf1/README.md`) ---
#: The fixture's outputs of the `is_training` True pass (same feed, drop_rate 0) carry this suffix; a derived
#: reference of ours is `<fixture key>__<what>`. The comparison rule is the one of the key before the first `__`.
TRAINING_SUFFIX = "__is_training"
LPNET_INDICES = ("p_x", "p_y", "proposal_dx", "proposal_dy")
LPNET_LOSSES = ("reg_loss_mse", "iou_loss", "l1_loss", "regular", "my_loss", "kl_loss", "reg_loss_total")
#: The fixture keys stored for both `is_training` passes (selection by the scores, resp. by the IoU labels).
LPNET_SELECTION = ("p_x_float", "p_y_float", "p_x", "p_y", "iou_loss", "l1_loss", "my_loss")
#: Our extra rows (the task's loss and decoding path, and the training-mode forward pass) and their reference.
LPNET_TASK_ROWS = {
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
LPNET_INTERMEDIATES = INTERMEDIATES + (
    "proposal_box", "proposal_boxes_crop", "crop_features_first8", "proposal_features", "dynamic_conv_features",
    "head_features", "pooled_query_head", "head_fused")
LPNET_SUMMARY_ORDER = (
    ("start_logits", "end_logits", "highlight_logits", "start_prob", "end_prob", "highlight_scores", "scores",
     "proposal_start", "proposal_end", "iou_labels")
    + tuple(k + s for s in ("", TRAINING_SUFFIX) for k in ("p_x_float", "p_y_float"))
    + INDICES + ("proposal_dx", "proposal_dy")
    + tuple(k + s for s in ("", TRAINING_SUFFIX) for k in ("p_x", "p_y"))
    + ("reg_loss_mse", "highlight_loss", "kl_loss", "reg_loss_total", "regular")
    + tuple(k + s for s in ("", TRAINING_SUFFIX) for k in ("iou_loss", "l1_loss", "my_loss"))
    + tuple(LPNET_TASK_ROWS) + LPNET_INTERMEDIATES)


@dataclasses.dataclass
class Row:
    """One comparison: `name` (ours) against the fixture's `reference` key."""

    fixture: str
    name: str
    reference: str
    kind: str
    max_abs: float
    tolerance: str
    ok: bool
    note: str = ""


def model_inputs(fixture):
    """The model's input dict from a fixture's stored (padded) inputs."""
    video = fixture["video_inputs"]
    return {
        "video_features": ops.convert_to_tensor(video),
        "video_mask": sequence_mask(fixture["video_seq_length"], video.shape[1]),
        "word_ids": ops.convert_to_tensor(fixture["word_ids"].astype(np.int32)),
        "char_ids": ops.convert_to_tensor(fixture["char_ids"].astype(np.int32)),
    }


def vslnet_intermediates(model, inputs):
    """The fixture's intermediates from the model's sublayers, in the order of `VSLNet.call` (inference mode)."""
    video_mask = inputs["video_mask"]
    query_mask = ops.not_equal(inputs["word_ids"], 0)
    out = {}
    out["char_features"] = chars = model.char_embedding(inputs["char_ids"], training=False)
    words = model.word_embedding(inputs["word_ids"], training=False)
    out["query_embedding"] = query = ops.concatenate([words, chars], axis=-1)
    out["query_projection"] = query = model.query_projection(query)
    out["video_projection"] = video = model.video_projection(inputs["video_features"])
    out["video_encoded"] = video = model.encoder(video, video_mask, training=False)
    out["query_encoded"] = query = model.encoder(query, query_mask, training=False)
    features, out["vq_trilinear_score"] = model.interaction(video, query, video_mask, query_mask, training=False,
                                                            return_similarity=True)
    out["vq_attention_output"] = features
    out["cq_concat_output"], out["query_pooled"] = model.query_pooling(features, query, query_mask,
                                                                       return_pooled=True)
    highlight_logits, out["predictor_input"] = model.highlighting(out["cq_concat_output"], video_mask)
    start, end, out["start_rnn_output"], out["end_rnn_output"] = model.predictor(
        out["predictor_input"], video_mask, training=False, return_features=True)
    return out, {"start_logits": start, "end_logits": end, "highlight_logits": highlight_logits}


class _ComputedOutputs:
    """Stands for `model` in a task's `compute_losses`/`predict_step`: returns the outputs of the forward pass already
    computed on the same inputs (inference mode, or training mode when `training_outputs` is given) and forwards
    every other attribute (`l2_variables`, `adjustor`, ...)."""

    def __init__(self, model, outputs, training_outputs=None):
        self._model = model
        self._outputs = outputs
        self._training_outputs = training_outputs

    def __call__(self, inputs, training=None):
        if training:
            if self._training_outputs is None:
                raise ValueError("the parity check runs in inference mode")
            return self._training_outputs
        return self._outputs

    def __getattr__(self, name):
        return getattr(self._model, name)


def run_vslnet(model, config, fixture):
    """Our value of every fixture output, loss and intermediate, plus the task rows (`TASK_ROWS`).

    Returns:
        `(ours, consistency)`: dict name → numpy array, and the largest difference between the sublayer path and
        `model(inputs)` (0 unless `vslnet_intermediates` no longer follows `VSLNet.call`).
    """
    if config.model != "vslnet" or config.predictor != "rnn":
        raise ValueError("the VSLNet fixture is a vslnet model with the rnn predictor")
    inputs = model_inputs(fixture)
    outputs = model(inputs, training=False)
    intermediates, sublayer_logits = vslnet_intermediates(model, inputs)
    consistency = max(float(np.max(np.abs(ops.convert_to_numpy(outputs[k]) - ops.convert_to_numpy(v))))
                      for k, v in sublayer_logits.items())
    ours = dict(intermediates)
    start, end, highlight = outputs["start_logits"], outputs["end_logits"], outputs["highlight_logits"]
    ours.update(start_logits=start, end_logits=end, highlight_logits=highlight)
    ours["start_prob"] = ops.softmax(start, axis=-1)
    ours["end_prob"] = ops.softmax(end, axis=-1)
    ours["highlight_scores"] = ops.sigmoid(highlight)
    start_label = np.argmax(fixture["y1"], axis=1)
    end_label = np.argmax(fixture["y2"], axis=1)
    ours["localization_loss"] = losses.span_cross_entropy(start, end, start_label, end_label)
    ours["highlight_loss"] = losses.highlight_loss(highlight, fixture["highlight_labels"], inputs["video_mask"])
    ours["l2_loss"] = losses.l2_penalty(model.l2_variables(), config.l2_scale, semantics="keras")
    ours["loss"] = ours["localization_loss"] + ours["l2_loss"]
    ours["total_loss"] = ours["loss"] + config.highlight_lambda * ours["highlight_loss"]

    task = VSLNetTask(config)
    batch = dict(inputs, start_index=start_label, end_index=end_label, highlight_labels=fixture["highlight_labels"])
    computed = _ComputedOutputs(model, outputs)  # the task's own loss/decoding code, without a second forward pass
    task_losses = task.compute_losses(computed, batch, training=False)
    ours["task.span"] = task_losses["span"]
    ours["task.highlight"] = task_losses["highlight"]
    ours["task.l2 x 2 (tf1 → keras)"] = 2.0 * task_losses["l2"]
    ours["task.total + task.l2"] = task_losses["total"] + task_losses["l2"]
    predictions = task.predict_step(computed, inputs)
    ours["task.start_index"] = predictions["start_index"]
    ours["task.end_index"] = predictions["end_index"]
    ours["task.highlight_probs"] = predictions["highlight_probs"]
    ours["start_index"], ours["end_index"], _ = span_decode(ours["start_prob"], ours["end_prob"])
    return {k: np.asarray(ops.convert_to_numpy(v)) for k, v in ours.items()}, consistency


def lpnet_batch(fixture):
    """The task's batch dict from an LPNet fixture: the model inputs, the ground truth (argmax of the soft labels
    `y1`, `y2`, as the original's IoU labels use it), the highlight labels and the soft labels as stored."""
    return dict(model_inputs(fixture),
                start_index=np.argmax(fixture["y1"], axis=1).astype(np.int32),
                end_index=np.argmax(fixture["y2"], axis=1).astype(np.int32),
                highlight_labels=fixture["highlight_labels"],
                soft_start_labels=fixture["y1"], soft_end_labels=fixture["y2"])


def lpnet_intermediates(model, inputs, training=False):
    """The fixture's intermediates from the model's sublayers, in the order of `LPNet.call` (and of
    `DynamicHead.call`, `ProposalScorer.call` for the proposal branch), plus the outputs of this path (logits,
    `scores`, `proposal_start`/`proposal_end`) for the self-check against `model(inputs)`."""
    video_mask = ops.cast(inputs["video_mask"], "bool")
    lengths = ops.sum(ops.cast(video_mask, "int32"), axis=1)
    word_ids = ops.cast(inputs["word_ids"], "int32")
    query_mask = ops.not_equal(word_ids, 0)
    out = {}
    words = model.word_embedding(word_ids, training=training)
    out["char_features"] = chars = model.char_embedding(inputs["char_ids"], training=training)
    out["query_embedding"] = query = ops.concatenate([words, chars], axis=-1)
    out["query_projection"] = query = model.query_projection(query)
    out["video_projection"] = video = model.video_projection(
        model.video_dropout(inputs["video_features"], training=training))
    out["video_encoded"] = video = model.encoder(video, video_mask, training=training)
    out["query_encoded"] = query = model.encoder(query, query_mask, training=training)
    features, out["vq_trilinear_score"] = model.interaction(video, query, video_mask, query_mask, training=training,
                                                            return_similarity=True)
    out["vq_attention_output"] = features
    out["cq_concat_output"], out["query_pooled"] = model.query_pooling(features, query, query_mask,
                                                                       return_pooled=True)
    out["highlight_logits"], out["predictor_input"] = model.highlighting(out["cq_concat_output"], video_mask)
    (out["start_logits"], out["end_logits"], out["start_rnn_output"],
     out["end_rnn_output"]) = model.predictor(out["predictor_input"], video_mask, training=training,
                                              return_features=True)
    # Proposal branch.
    boxes, out["proposal_start"], out["proposal_end"] = model.proposals(lengths)
    out["proposal_box"] = boxes
    out["proposal_boxes_crop"] = crop_boxes = model.proposals.crop_boxes(boxes)
    rois = model.roi_align(features, crop_boxes, lengths)  # (B, K, l, d)
    out["crop_features_first8"] = ops.expand_dims(rois[:, :8], 2)  # the original's (B, 8, 1, l, d)
    head = model.dynamic_head
    proposals = head.proposal_features(training=training)  # (K, d)
    out["proposal_features"] = proposals[None]
    d, e, length = head.hidden_dim, head.dynamic_dim, head.roi_length
    params = head.dynamic_layer(proposals)
    first = ops.reshape(params[:, : d * e], (head.num_proposals, d, e))
    second = ops.reshape(params[:, d * e:], (head.num_proposals, e, d))
    x = ops.relu(head.layer_norm4(ops.einsum("bkld,kde->bkle", rois, first)))
    x = ops.relu(head.layer_norm5(ops.einsum("bkle,ked->bkld", x, second)))
    x = ops.reshape(x, (ops.shape(rois)[0], head.num_proposals, length * d))
    out["dynamic_conv_features"] = x = ops.relu(head.layer_norm6(head.out_layer(x)))
    out["head_features"] = head_features = head.layer_norm7(proposals[None] + head.dropout_layer(x, training=training))
    scorer = model.scorer
    out["pooled_query_head"] = pooled = scorer.pool(query, query_mask)
    fused = l2_normalize(head_features * ops.cast(pooled[:, None, :], head_features.dtype))
    out["head_fused"] = fused = scorer.projection(ops.cast(fused, scorer.compute_dtype))
    hidden = ops.relu(scorer.layer_norm8(scorer.score_hidden(fused)))
    logits = scorer.score_output(scorer.dropout_layer(hidden, training=training))
    out["scores"] = ops.sigmoid(ops.cast(ops.squeeze(logits, -1), "float32"))
    return out


#: The outputs of `LPNet.call` that `lpnet_intermediates` recomputes (its self-check).
_LPNET_CALL_OUTPUTS = ("highlight_logits", "start_logits", "end_logits", "scores", "proposal_start", "proposal_end")


def run_lpnet(model, config, fixture):
    """Our value of every LPNet fixture output, loss and intermediate, plus the task rows (`LPNET_TASK_ROWS`).

    Both `is_training` passes of the fixture are reproduced: the model runs with `training=False` and with
    `training=True`, which needs the imported config's `drop_rate` to be 0 (the fixture's is_training pass fed
    drop_rate 0). The unsuffixed keys come from the inference pass; the `__is_training` keys (the selection by the
    IoU labels and what depends on it) from the training pass. The original adds no L2 term to any LPNet loss, and
    neither do we (so there is no `l2_loss` row).

    Returns:
        `(ours, consistency)`: dict name → numpy array, and the largest difference between the sublayer path and
        `model(inputs)` over both passes (0 unless `lpnet_intermediates` no longer follows `LPNet.call`).
    """
    if config.drop_rate != 0.0:
        raise ValueError(f"the LPNet fixture's is_training pass ran with drop_rate 0; the imported config has "
                         f"drop_rate={config.drop_rate} (import with the override drop_rate=0)")
    if not (config.use_highlight and config.use_bal and config.bal_predictor == "conditioned"):
        raise ValueError("the LPNet fixture is the code's model (highlighting, the conditioned boundary predictor)")
    batch = lpnet_batch(fixture)
    inputs = {k: batch[k] for k in ("video_features", "video_mask", "word_ids", "char_ids")}
    task = LPNetTask(config)
    adjustor = model.adjustor
    gt_start, gt_end = task.ground_truth(batch)
    video_mask = batch["video_mask"]
    outputs, sublayers, consistency = {}, {}, 0.0
    for training in (False, True):
        outputs[training] = model(inputs, training=training)
        sublayers[training] = lpnet_intermediates(model, inputs, training=training)
        consistency = max([consistency] + [
            float(np.max(np.abs(ops.convert_to_numpy(outputs[training][k])
                                - ops.convert_to_numpy(sublayers[training][k])))) for k in _LPNET_CALL_OUTPUTS])

    ours = dict(sublayers[False])
    main = outputs[False]
    start, end, highlight, scores = (main["start_logits"], main["end_logits"], main["highlight_logits"],
                                     main["scores"])
    ours.update(start_logits=start, end_logits=end, highlight_logits=highlight, scores=scores,
                proposal_start=main["proposal_start"], proposal_end=main["proposal_end"])
    ours["start_prob"] = ops.softmax(start, axis=-1)
    ours["end_prob"] = ops.softmax(end, axis=-1)
    ours["highlight_scores"] = ops.sigmoid(highlight)
    ours["start_index"], ours["end_index"], _ = span_decode(ours["start_prob"], ours["end_prob"])
    # The original's integer proposal bounds floor(L·(a−b)), ceil(L·(a+b)): computed there, used nowhere; we do
    # not compute them in the model, only here from our float bounds.
    ours["proposal_dx"] = ops.cast(ops.floor(main["proposal_start"]), "int32")
    ours["proposal_dy"] = ops.cast(ops.ceil(main["proposal_end"]), "int32")
    iou_labels = {training: lpnet_losses.proposal_iou_labels(outputs[training]["proposal_start"],
                                                             outputs[training]["proposal_end"], gt_start, gt_end)
                  for training in (False, True)}
    ours["iou_labels"] = iou_labels[False]
    regular = adjustor.regular_term(main["proposal_boxes"])
    lengths = ops.cast(main["video_length"], "float32")
    for training, suffix in ((False, ""), (True, TRAINING_SUFFIX)):
        result = outputs[training]
        _, p_x, p_y = adjustor(result["proposal_boxes"], result["video_length"], result["scores"],
                               iou_labels[training], training=training)
        ours["p_x_float" + suffix], ours["p_y_float" + suffix] = p_x[:, None], p_y[:, None]
        ours["p_x" + suffix] = ops.cast(ops.round(p_x), "int32")[:, None]  # round half to even, like tf.rint
        ours["p_y" + suffix] = ops.cast(ops.round(p_y), "int32")[:, None]
        iou = ops.mean(1.0 - adjustor.clamped_iou(p_x, p_y, gt_start, gt_end))
        ours["iou_loss" + suffix] = iou
        # Logged only by the original (no model or task code of ours computes it).
        ours["l1_loss" + suffix] = ops.mean((ops.abs(p_x - gt_start) + ops.abs(p_y - gt_end)) / lengths)
        ours["my_loss" + suffix] = config.iou_weight * iou + regular
    ours["regular"] = regular
    ours["reg_loss_mse"] = lpnet_losses.iou_regression_loss(scores, iou_labels[False], config.low_iou_threshold,
                                                            config.low_iou_weight)
    ours["highlight_loss"] = losses.lpnet_highlight_loss(highlight, batch["highlight_labels"], video_mask)
    ours["kl_loss"] = losses.boundary_kl(start, end, batch["soft_start_labels"], batch["soft_end_labels"], video_mask,
                                         first_sample_only=config.kl_first_sample_only)
    ours["reg_loss_total"] = config.reg_weight * ours["reg_loss_mse"] + ours["highlight_loss"] + ours["kl_loss"]

    # The task's own loss and decoding code, on the two forward passes already computed.
    computed = _ComputedOutputs(model, outputs[False], outputs[True])
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
    return {k: np.asarray(ops.convert_to_numpy(v)) for k, v in ours.items()}, consistency


def lpnet_references(fixture):
    """The fixture plus the references of our task rows derived from it: `p_x__decoded`/`p_y__decoded`, the
    original's rounded selection clamped to [0, L_b − 1] (what `LPNetTask.predict_step` returns; the original's
    own `p_x` is not clamped), and `scores__selected`, the score of the selected (best) proposal."""
    references = dict(fixture)
    last = fixture["video_seq_length"].astype(np.int64) - 1
    references["p_x__decoded"] = np.clip(fixture["p_x"][:, 0], 0, last)
    references["p_y__decoded"] = np.clip(fixture["p_y"][:, 0], 0, last)
    references["scores__selected"] = np.max(fixture["scores"], axis=1)
    return references


def compare(fixture_name, name, ours, reference, reference_key, atol, loss_rtol):
    """A `Row` comparing one of our arrays with the fixture's.

    The rule (index, loss, masked logits or array) is that of `reference_key` up to its first `__`
    (`p_x__is_training` is compared as `p_x`).
    """
    ours = np.asarray(ours)
    reference = np.asarray(reference)
    base_key = reference_key.split("__")[0]
    if ours.shape != reference.shape:
        return Row(fixture_name, name, reference_key, "shape", float("inf"), "same shape", False,
                   f"ours {list(ours.shape)} vs {list(reference.shape)}")
    if base_key in INDICES + LPNET_INDICES:
        diff = float(np.max(np.abs(ours.astype(np.int64) - reference.astype(np.int64)))) if ours.size else 0.0
        return Row(fixture_name, name, reference_key, "index", diff, "equal", diff == 0,
                   "" if diff == 0 else f"ours {ours.tolist()} vs {reference.tolist()}")
    diff64 = np.abs(ours.astype(np.float64) - reference.astype(np.float64))
    if base_key in LOSSES + LPNET_LOSSES:
        diff = float(diff64)
        rel = diff / max(abs(float(reference)), 1e-30)
        return Row(fixture_name, name, reference_key, "loss", diff, f"rel {loss_rtol:g}", rel <= loss_rtol,
                   f"rel {rel:.2e}; ours {float(ours):.7g}, original {float(reference):.7g}")
    if base_key in MASKED_LOGITS:
        valid = reference > -1e29
        padded_ok = bool(np.all(ours[~valid] == PADDED_LOGIT))
        diff = float(np.max(diff64[valid])) if valid.any() else 0.0
        note = f"{int((~valid).sum())} padded" + ("" if padded_ok else ", padded values differ from float32(-1e30)")
        return Row(fixture_name, name, reference_key, "masked logits", diff, f"abs {atol:g}",
                   padded_ok and diff <= atol, note)
    diff = float(np.max(diff64)) if diff64.size else 0.0
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    return Row(fixture_name, name, reference_key, "array", diff, f"abs {atol:g}", diff <= atol,
               f"|original| ≤ {scale:.3g}")


def fixture_family(fixture_dir, model="auto"):
    """The model family of a fixture's checkpoint: `lpnet` when it holds LPNet's proposal variables
    (`proposal_box`, `dynamic_head/...`), `vslnet` otherwise. `model` (`auto`, `vslnet` or `lpnet`) must agree.

    Raises:
        ValueError: `model` names another family than the checkpoint's, or is unknown.
    """
    names = tf1_reader.TF1Checkpoint(fixture_dir).names()
    detected = "lpnet" if any(n == "proposal_box" or n.startswith("dynamic_head/") for n in names) else "vslnet"
    if model not in ("auto",) + MODEL_FAMILIES:
        raise ValueError(f"--model={model!r}; expected one of {('auto',) + MODEL_FAMILIES}")
    if model != "auto" and model != detected:
        raise ValueError(f"--model={model}, but the checkpoint in {fixture_dir} is of the {detected} family")
    return detected


#: Config overrides of the import, per family: the LPNet fixture's is_training pass fed drop_rate 0, so our
#: training-mode forward pass must have no dropout either (drop_rate is a run-time feed in the original).
IMPORT_OVERRIDES = {"vslnet": None, "lpnet": {"drop_rate": 0.0}}


def import_fixture_model(fixture_dir, run_dir=None, in_memory=False, model="auto"):
    """The fixture's checkpoint as our model: imported into `run_dir` (temporary if `None`) and restored from there
    as evaluation would, or, with `in_memory`, the imported model itself (skips the run-directory round trip).
    `model` is the family (`auto`: `fixture_family`).

    Returns:
        `(model, config)`.
    """
    family = fixture_family(fixture_dir, model)
    checkpoint = tf1_reader.TF1Checkpoint(fixture_dir)
    overrides = IMPORT_OVERRIDES[family]
    word_vectors = os.path.join(fixture_dir, "word_vectors.npy")
    word_vectors = word_vectors if os.path.exists(word_vectors) else None
    if in_memory:
        imported = import_tf1.importer_for(family).import_checkpoint(
            checkpoint.path, overrides=overrides, word_vectors=None if word_vectors is None else np.load(word_vectors))
        return imported.model, imported.config
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = run_dir or os.path.join(scratch, "run")
        import_tf1.import_to_run_dir(family, checkpoint.path, run_dir, word_vectors=word_vectors, overrides=overrides,
                                     overwrite=True)
        model, config, _ = import_tf1.load_run(run_dir)
    return model, config


#: Per family: the forward/loss function, our extra rows, the references of the extra rows, and the name of the
#: sublayer path (for the self-check message).
_FAMILIES = {
    "vslnet": (run_vslnet, TASK_ROWS, dict, "vslnet_intermediates no longer follows VSLNet.call"),
    "lpnet": (run_lpnet, LPNET_TASK_ROWS, lpnet_references, "lpnet_intermediates no longer follows LPNet.call"),
}


def check_fixture_dir(fixture_dir, run_dir=None, in_memory=False, atol=1e-4, loss_rtol=1e-4, files=FIXTURE_FILES,
                      model="auto"):
    """Compare our model with every fixture file (see `import_fixture_model` for `run_dir`, `in_memory` and
    `model`).

    Returns:
        list of `Row`.
    """
    family = fixture_family(fixture_dir, model)
    run, task_rows, references_of, drift = _FAMILIES[family]
    keras_model, config = import_fixture_model(fixture_dir, run_dir=run_dir, in_memory=in_memory, model=family)
    rows = []
    for name in files:
        fixture = dict(np.load(os.path.join(fixture_dir, name)))
        ours, consistency = run(keras_model, config, fixture)
        if consistency != 0.0:
            rows.append(Row(name, "sublayer path == model(inputs)", "-", "self-check", consistency, "equal", False,
                            drift))
        for key, reference in fixture.items():
            if key not in INPUT_KEYS:
                if key not in ours:
                    rows.append(Row(name, key, key, "missing", float("inf"), "-", False, "not computed by us"))
                    continue
                rows.append(compare(name, key, ours[key], reference, key, atol, loss_rtol))
        references = references_of(fixture)
        for ours_key, reference_key in task_rows.items():
            rows.append(compare(name, ours_key, ours[ours_key], references[reference_key], reference_key, atol,
                                loss_rtol))
    return rows


def format_rows(rows):
    """Every row, grouped by fixture file."""
    lines = []
    current = None
    for row in rows:
        if row.fixture != current:
            current = row.fixture
            lines.append(f"\n== {current}")
            lines.append(f"{'output':28} {'kind':14} {'max abs diff':>12}  {'tolerance':10} ok   note")
        lines.append(f"{row.name:28} {row.kind:14} {row.max_abs:12.2e}  {row.tolerance:10} "
                     f"{'yes' if row.ok else 'NO ':3}  {row.note}")
    return "\n".join(lines)


def format_summary(rows):
    """One line per output: the largest difference in the batch file and over the single-sample files."""
    order, batch, single, ok, tolerance, kind = [], {}, {}, {}, {}, {}
    for row in rows:
        if row.name not in ok:
            order.append(row.name)
            ok[row.name] = True
        target = batch if row.fixture == FIXTURE_FILES[0] else single
        target[row.name] = max(target.get(row.name, 0.0), row.max_abs)
        ok[row.name] = ok[row.name] and row.ok
        tolerance[row.name], kind[row.name] = row.tolerance, row.kind

    def cell(values, name):
        return f"{values[name]:12.2e}" if name in values else f"{'-':>12}"

    lpnet_only = set(LPNET_SUMMARY_ORDER) - set(SUMMARY_ORDER)
    summary_order = LPNET_SUMMARY_ORDER if lpnet_only.intersection(order) else SUMMARY_ORDER
    rank = {name: i for i, name in enumerate(summary_order)}
    order.sort(key=lambda name: rank.get(name, len(rank)))
    lines = [f"{'output':28} {'kind':14} {'batch':>12} {'singles':>12}  {'tolerance':10} ok"]
    for name in order:
        lines.append(f"{name:28} {kind[name]:14} {cell(batch, name)} {cell(single, name)}  {tolerance[name]:10} "
                     f"{'yes' if ok[name] else 'NO'}")
    failed = [row for row in rows if not row.ok]
    lines.append(f"{len(rows) - len(failed)}/{len(rows)} comparisons within tolerance"
                 + ("" if not failed else "; FAILED: " + ", ".join(f"{r.fixture}:{r.name}" for r in failed)))
    return "\n".join(lines)


def define_flags():
    """This entry point's flags (defined under `__main__` only, so importing defines none)."""
    flags.DEFINE_string("fixture", None, "Fixture folder (model.ckpt, fixture*.npz, word_vectors.npy).",
                        required=True)
    flags.DEFINE_enum("model", "auto", ["auto", *MODEL_FAMILIES], "Model family of the fixture (auto: from the "
                      "checkpoint's variables; LPNet's have proposal_box and dynamic_head/...).")
    flags.DEFINE_string("out", None, "Keep the imported run directory here (default: a temporary one).")
    flags.DEFINE_bool("in_memory", False, "Check the imported model directly, without the run-directory round trip.")
    flags.DEFINE_bool("details", False, "Also print every comparison of every fixture file.")
    flags.DEFINE_float("atol", 1e-4, "Absolute tolerance on arrays (logits, probabilities, intermediates).")
    flags.DEFINE_float("loss_rtol", 1e-4, "Relative tolerance on losses.")


def main(argv):
    del argv  # unused
    fv = flags.FLAGS
    try:
        rows = check_fixture_dir(fv.fixture, run_dir=fv.out, in_memory=fv.in_memory, atol=fv.atol,
                                 loss_rtol=fv.loss_rtol, model=getattr(fv, "model", "auto"))
    except import_tf1.CheckpointTrackingError as error:
        print(f"error: {error}\n(--in_memory checks the imported model without the run directory)", file=sys.stderr)
        sys.exit(2)
    except (import_tf1.NotSupportedError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    if fv.details:
        print(format_rows(rows) + "\n")
    print(format_summary(rows))
    if not all(row.ok for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
