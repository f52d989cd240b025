"""The parts of the TF1 parity check (`experiments/check_parity.py`) that every family's hooks share: the hooks'
interface (`ParityHooks`, registered as `Family.parity`), the fixtures' input convention, the boundary branch that
VSLNet and LPNet's branch A compute with the same layers, and the stand-in model for a task's loss path.
"""

import dataclasses
from collections.abc import Callable

import numpy as np
from keras import ops

from common.layers.masking import sequence_mask


@dataclasses.dataclass(frozen=True)
class ParityHooks:
    """A family's part of the parity check.

    Attributes:
        detect: `variable names -> bool`: the TF1 checkpoint is of this family.
        import_overrides: config fields the import must set for the fixture (on top of the user's).
        run: `(model, config, fixture) -> (ours, consistency)`: our value (numpy) of every fixture key and of
            every `extra_rows` key, and the largest difference between the intermediates path and `model(inputs)`
            (`self_check`; anything but 0 fails the check).
        extra_rows: our extra rows (e.g. the task's loss path) → the reference key each is compared with.
        references: `fixture -> dict`: the fixture plus the references of `extra_rows` derived from it.
        kinds: fixture key → comparison rule (`index`, `loss` or `masked logits`; any other key is an `array`).
            A reference key `<key>__<variant>` follows the rule of `<key>`.
        summary_order: the rows of the summary, in order (unlisted rows come last).
    """

    detect: Callable
    import_overrides: dict
    run: Callable
    extra_rows: dict
    references: Callable
    kinds: dict
    summary_order: tuple


#: The trunk's stages (`VideoQueryBackbone(..., return_intermediates=True)`) that the fixtures store by the same name.
BACKBONE_INTERMEDIATES = (
    "char_features",
    "query_embedding",
    "video_projection",
    "query_projection",
    "video_encoded",
    "query_encoded",
)
#: The fixtures' names of the predictor's start/end features, per predictor (README "Arrays in fixture.npz").
PREDICTOR_FEATURES = {"rnn": ("start_rnn_output", "end_rnn_output"), "transformer": ("start_features", "end_features")}
#: The boundary branch's intermediates before the predictor's features, in forward order.
BOUNDARY_INTERMEDIATES = BACKBONE_INTERMEDIATES + (
    "vq_trilinear_score",
    "vq_attention_output",
    "query_pooled",
    "cq_concat_output",
    "predictor_input",
)
MASKED_LOGITS = ("start_logits", "end_logits", "highlight_logits")
INDICES = ("start_index", "end_index")


def model_inputs(fixture):
    """The model's input dict from a fixture's stored (padded) inputs."""
    video = fixture["video_inputs"]
    return {
        "video_features": ops.convert_to_tensor(video),
        "video_mask": sequence_mask(fixture["video_seq_length"], video.shape[1]),
        "word_ids": ops.convert_to_tensor(fixture["word_ids"].astype(np.int32)),
        "char_ids": ops.convert_to_tensor(fixture["char_ids"].astype(np.int32)),
    }


def boundary_intermediates(model, inputs, feature_keys, training=False):
    """The boundary branch's intermediates, from the layers' own return options in the order of `VSLNet.localize`
    (LPNet's branch A is the same): the trunk's stages, the pooled query, the highlighted features and the
    predictor's start/end features, stored under `feature_keys` (the fixture's names for them).

    Returns:
        `(out, trunk)`: dict name → tensor (the fixture's intermediates and the branch's logits), and the trunk's
        outputs (`features`, `query`, the masks).
    """
    trunk = model.backbone(inputs, training=training, return_intermediates=True)
    out = {key: trunk[key] for key in BACKBONE_INTERMEDIATES}
    out["vq_trilinear_score"] = trunk["similarity"]
    out["vq_attention_output"] = trunk["features"]
    out["cq_concat_output"], out["query_pooled"] = model.query_pooling(
        trunk["features"], trunk["query"], trunk["query_mask"], return_pooled=True
    )
    out["highlight_logits"], out["predictor_input"] = model.highlighting(out["cq_concat_output"], trunk["video_mask"])
    start_key, end_key = feature_keys
    out["start_logits"], out["end_logits"], out[start_key], out[end_key] = model.predictor(
        out["predictor_input"], trunk["video_mask"], training=training, return_features=True
    )
    return out, trunk


def self_check(outputs, intermediates, keys):
    """The largest difference between `model(inputs)`'s `keys` and the same tensors of the intermediates path (0
    unless that path no longer follows the model's `call`)."""
    return max(
        float(np.max(np.abs(ops.convert_to_numpy(outputs[k]) - ops.convert_to_numpy(intermediates[k])))) for k in keys
    )


class ComputedOutputs:
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
