"""LPNet's serving functions: the shared inputs and preprocessing, LPNet's decoding (`common.export.saved_model`)."""

from common.export.saved_model import SERVING_OUTPUTS, TaskServingFunctions, index_to_time

DETAILS_OUTPUTS = SERVING_OUTPUTS + (
    "topk_start_time",
    "topk_end_time",
    "topk_scores",
    "topk_start_index",
    "topk_end_index",
)
PREDICT_IDS_OUTPUTS = ("start_index", "end_index", "score", "topk_start_index", "topk_end_index", "topk_scores")


class LPNetServingFunctions(TaskServingFunctions):
    """`ServingFunctions` of a built `LPNet`: selection by the highest proposal score, and the top k proposals.

    Args:
        model: a built `LPNet`.
        vocab, max_pos_len, feature_dim: as `ServingFunctions`.
    """

    details_outputs = DETAILS_OUTPUTS
    predict_ids_outputs = PREDICT_IDS_OUTPUTS

    def _serve_details(self, video_features, query, duration):
        inputs, length, duration, tokens = self._prepare(video_features, query, duration)
        decoded = self.decode_batch(inputs)
        result = {name: decoded[name][0] for name in PREDICT_IDS_OUTPUTS}
        result["start_time"], result["end_time"] = index_to_time(
            result["start_index"], result["end_index"], length, duration
        )
        result["topk_start_time"], result["topk_end_time"] = index_to_time(
            result["topk_start_index"], result["topk_end_index"], length, duration
        )
        result["tokens"] = tokens
        return {name: result[name] for name in DETAILS_OUTPUTS}
