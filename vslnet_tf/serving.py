"""VSLNet's serving functions: VSLNet and VSLBase decode with the shared span decoding, VSLNet-L adds the choice of
its multi-scale strategy (`common.export.saved_model`): Pm in `serving_default` and `serving_details`, Pm or U in
its own `serving_with_strategy`."""

import tensorflow as tf

from common.export.saved_model import (
    SERVING_OUTPUTS,
    ServingFunctions,
    TaskServingFunctions,
    index_to_time,
    serving_signature,
)
from vslnet_tf.model_l import VSLNetL

L_DETAILS_OUTPUTS = SERVING_OUTPUTS + (
    "scale_start_time",
    "scale_end_time",
    "scale_span_prob",
    "start_probs",
    "end_probs",
    "highlight_probs",
)
L_PREDICT_IDS_OUTPUTS = (
    "start_index",
    "end_index",
    "score",
    "u_start_index",
    "u_end_index",
    "scale_start_index",
    "scale_end_index",
    "scale_span_prob",
)


def strategy_signature():
    """`serving_signature` and `strategy` (scalar string)."""
    return serving_signature() + [tf.TensorSpec([], tf.string, name="strategy")]


class VSLNetLServingFunctions(TaskServingFunctions):
    """`ServingFunctions` of a built `VSLNetL`: `serving_default` and `serving_details` answer with Pm; the
    `serving_with_strategy` signature (`serve_with_strategy` in memory) also takes `strategy` (`pm`, `u`; `""` =
    pm).

    Args:
        model: a built `VSLNetL`.
        vocab, max_pos_len, feature_dim: as `ServingFunctions`.
    """

    details_outputs = L_DETAILS_OUTPUTS
    predict_ids_outputs = L_PREDICT_IDS_OUTPUTS

    def __init__(self, model, vocab, *, max_pos_len, feature_dim):
        super().__init__(model, vocab, max_pos_len=max_pos_len, feature_dim=feature_dim)
        self.serve_with_strategy = tf.function(
            self._serve_with_strategy, input_signature=strategy_signature(), autograph=False
        )

    def endpoints(self):
        return dict(super().endpoints(), serving_with_strategy=(self.serve_with_strategy, self.details_outputs))

    def _serve_details(self, video_features, query, duration):
        return self.serve_with_strategy(video_features, query, duration, tf.constant("pm"))

    def _serve_with_strategy(self, video_features, query, duration, strategy):
        inputs, length, duration, tokens = self._prepare(video_features, query, duration)
        known = tf.reduce_any(tf.equal(strategy, ["", "pm", "u"]))
        with tf.control_dependencies([tf.debugging.Assert(known, ["strategy must be 'pm' or 'u', got", strategy])]):
            use_union = tf.equal(strategy, "u")
        decoded = self.decode_batch(inputs)
        start_index = tf.where(use_union, decoded["u_start_index"][0], decoded["start_index"][0])
        end_index = tf.where(use_union, decoded["u_end_index"][0], decoded["end_index"][0])
        result = {
            "start_index": start_index,
            "end_index": end_index,
            "score": decoded["score"][0],
            "scale_span_prob": decoded["scale_span_prob"][0],
            "start_probs": decoded["start_probs"][0],
            "end_probs": decoded["end_probs"][0],
            "highlight_probs": decoded["highlight_probs"][0],
            "tokens": tokens,
        }
        result["start_time"], result["end_time"] = index_to_time(
            start_index, end_index, length, duration, self.label_rule
        )
        result["scale_start_time"], result["scale_end_time"] = index_to_time(
            decoded["scale_start_index"][0], decoded["scale_end_index"][0], length, duration, self.label_rule
        )
        return result


def serving_functions(model, vocab, *, max_pos_len, feature_dim):
    """`VSLNetLServingFunctions` for a `VSLNetL`, else `ServingFunctions` (VSLNet, VSLBase)."""
    cls = VSLNetLServingFunctions if isinstance(model, VSLNetL) else ServingFunctions
    return cls(model, vocab, max_pos_len=max_pos_len, feature_dim=feature_dim)
