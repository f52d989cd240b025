"""VSLNet's serving functions: VSLNet and VSLBase decode with the shared span decoding, VSLNet-L adds the choice of
its multi-scale strategy (`common.export.saved_model`)."""

import tensorflow as tf

from common.export.saved_model import ServingFunctions, TaskServingFunctions, index_to_time, serving_signature
from vslnet_tf.model_l import VSLNetL

L_SERVING_OUTPUTS = (
    "start_time",
    "end_time",
    "score",
    "start_index",
    "end_index",
    "scale_start_time",
    "scale_end_time",
    "scale_span_prob",
    "start_probs",
    "end_probs",
    "highlight_probs",
    "tokens",
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


class VSLNetLServingFunctions(TaskServingFunctions):
    """`ServingFunctions` of a built `VSLNetL`: the raw-query signature also takes `strategy` (`pm`, `u`; `""` = pm).

    Args:
        model: a built `VSLNetL`.
        vocab, max_pos_len, feature_dim: as `ServingFunctions`.
    """

    serving_outputs = L_SERVING_OUTPUTS
    predict_ids_outputs = L_PREDICT_IDS_OUTPUTS

    def serving_input_signature(self):
        return serving_signature() + [tf.TensorSpec([], tf.string, name="strategy")]

    def _serve(self, video_features, query, duration, strategy):
        inputs, length, duration, tokens = self._prepare(video_features, query, duration)
        known = tf.reduce_any(tf.equal(strategy, ["", "pm", "u"]))
        with tf.control_dependencies([tf.debugging.Assert(known, ["strategy must be 'pm' or 'u', got", strategy])]):
            use_union = tf.equal(strategy, "u")
        decoded = self.decode(inputs)
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
