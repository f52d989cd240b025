"""VSLNet's hooks of the TF1 parity check (`experiments/check_parity.py`, `Family.parity`): what to run on a fixture
(`shared/fixtures/vslnet_tf1`, rnn predictor; `tests/fixtures/vslnet_tf1_transformer`) and how to compare each key.

The pieces every family's hooks share are in `common.checkpoint_conversion.parity`.

- outputs: `start_logits`, `end_logits`, `highlight_logits` (valid clips; padded clips must hold exactly
  float32(−1e30)), `start_prob`, `end_prob`, `highlight_scores`, and `start_index`, `end_index` (must be equal);
- losses: `localization_loss`, `highlight_loss`, `l2_loss`, `loss`, `total_loss`. The fixtures' L2 is the
  original's TF2 branch (Keras `l2`: 3e-7·Σw², README "L2 term"), so ours is computed with
  `l2_penalty(..., semantics="keras")`; the `task.*` rows check the training loss path (`VSLNetTask.compute_losses`,
  whose L2 has the TF1 `/2` semantics, fidelity VSLNet §7.3) against the same numbers;
- intermediates (`char_features` … the predictor's start/end features, `start_rnn_output`/`end_rnn_output` or
  `start_features`/`end_features`), from the layers' own return options in the order of `VSLNet.call`; the check
  asserts that this path gives the model's logits bit for bit.
"""

import numpy as np
from keras import ops

from common import losses
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
from vslnet_tf.task import VSLNetTask

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
#: Rows of the summary: outputs, losses, the task's path, then the intermediates in forward order.
SUMMARY_ORDER = (
    MASKED_LOGITS
    + ("start_prob", "end_prob", "highlight_scores")
    + INDICES
    + LOSSES
    + tuple(TASK_ROWS)
    + BOUNDARY_INTERMEDIATES
    + tuple(key for keys in PREDICTOR_FEATURES.values() for key in keys)
)


def run(model, config, fixture):
    """Our value of every fixture output, loss and intermediate, plus the task rows (`TASK_ROWS`).

    Returns:
        `(ours, consistency)`: dict name → numpy array, and the largest difference between the intermediates path
        and `model(inputs)` (`self_check`).
    """
    # The fixtures' graph: query pooling and highlighting on d-wide features, straight into the predictor.
    if config.model != "vslnet" or config.qgh_on_concat:
        raise ValueError(
            "the VSLNet fixtures are vslnet models with QueryPooling and highlighting on d-wide "
            "features (qgh_on_concat off)"
        )
    inputs = model_inputs(fixture)
    outputs = model(inputs, training=False)
    ours, _ = boundary_intermediates(model, inputs, PREDICTOR_FEATURES[config.predictor])
    consistency = self_check(outputs, ours, MASKED_LOGITS)
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
    computed = ComputedOutputs(model, outputs)  # the task's own loss/decoding code, without a second forward pass
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
    return {k: np.asarray(v) for k, v in ours.items()}, consistency  # convert_to_numpy warns on variables (NumPy 2)


def detect(names):
    """A VSLNet checkpoint: the conditioned predictor without LPNet's proposals (`proposal_box`)."""
    return any(n.startswith("conditioned_predictor/") for n in names) and "proposal_box" not in names


HOOKS = ParityHooks(
    detect=detect,
    import_overrides={},
    run=run,
    extra_rows=TASK_ROWS,
    references=dict,
    kinds={
        **dict.fromkeys(MASKED_LOGITS, "masked logits"),
        **dict.fromkeys(INDICES, "index"),
        **dict.fromkeys(LOSSES, "loss"),
    },
    summary_order=SUMMARY_ORDER,
)
