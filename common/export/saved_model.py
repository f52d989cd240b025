"""SavedModel export of a trained model (VSLBase, VSLNet, VSLNet-L, LPNet): raw video features and a raw sentence in,
a moment in seconds out.

The SavedModel (`keras.export.ExportArchive`, STYLE §5) bundles the model with its preprocessing and decoding, all
as TensorFlow ops, so serving needs neither this package nor NLTK:

- preprocessing: `resample_features` (the bucket averaging of `labels.visual_feature_sampling`) and
  `QueryPreprocessor` (the in-graph tokenizer `common.export.text_graph.graph_tokenize`, then word / char ids from
  `tf.lookup.StaticHashTable`s of the vocabulary, UNK = 1);
- decoding: softmax, `span_decode` (the original's banded outer-product argmax) and the float32 `index_to_time`
  rule `start = float32(s)·T/N`, `end = float32(e + 1)·T/N` with `N` the resampled length (a model trained with
  the paper's `label_rule="round"` decodes with its inverse, `end = float32(e)·T/N`).

Signatures (every model has the first three, with the same inputs; a client written for one model serves any):

- `serving_default`: inputs `video_features` `[T, Dv]` float32 (one video, any `T >= 1`), `query` scalar string,
  `duration` scalar float32 (seconds); outputs `SERVING_OUTPUTS`, the same for every model: `start_time`,
  `end_time`, `score` float32 scalars, `start_index`, `end_index` int32 scalars (indices into the `T' =
  min(T, max_pos_len)` resampled clips) and `tokens` `[m]` string (the query's tokens). `score` is the model's
  confidence in its answer: VSLNet's P_span, LPNet's predicted IoU of the chosen proposal, VSLNet-L's P_span of the
  Pm scale.
- `serving_details`: the same inputs; `SERVING_OUTPUTS` and what the model's decoding shows besides (its
  `details_outputs`).
- `predict_ids`: inputs `video_features` `[B, n, Dv]` float32, `video_mask` `[B, n]` bool, `word_ids` `[B, m]`
  int32, `char_ids` `[B, m, W]` int32; outputs `start_index`, `end_index` `[B]` int32, `score` `[B]`, and the
  model's own (`predict_ids_outputs`).
- `serving_queries`: many sentences about one video in one call: inputs `video_features` `[T, Dv]`, `queries`
  `[N]` string (`N >= 1`), `duration`; outputs `QUERIES_OUTPUTS`: `start_time`, `end_time`, `score` `[N]` float32,
  `start_index`, `end_index` `[N]` int32. The N queries run as one batch of `predict_ids`, padded to the longest
  query and word as an evaluation batch is, which costs far less per query than N calls (`benchmarks/README.md`).
  A query alone gets `serving_default`'s answer; in a batch its answer can move slightly, because the original
  models read the padding (the char CNN's padded word width, unmasked convolutions), as their evaluation did.

VSLBase / VSLNet: `serving_details` adds `start_probs`, `end_probs`, `highlight_probs` `[T']` float32 (highlight
zeros for VSLBase); `predict_ids` adds `start_probs`, `end_probs` `[B, n]`.

LPNet (`lpnet_tf.serving.LPNetServingFunctions`) has the same preprocessing; its decoding is
`LPNetTask.predict_step` (selection by the highest proposal score, then fidelity LPNet §10: indices
`round_half_even((c ∓ h)·F)` clamped to `[0, F − 1]`, `start = p_x·D/F`, `end = (p_y + 1)·D/F`, the same
`index_to_time`). `serving_details` adds `topk_start_time`, `topk_end_time`, `topk_scores` `[k]` float32 and
`topk_start_index`, `topk_end_index` `[k]` int32 (the `k = min(predict_top_k, K)` best proposals, best first; entry
0 is the chosen one); `predict_ids` adds `topk_start_index`, `topk_end_index` `[B, k]` int32, `topk_scores`
`[B, k]` float32.

VSLNet-L (`vslnet_tf.serving.VSLNetLServingFunctions`, fidelity VSLNet §5.5) has the same preprocessing, decodes
every scale with `span_decode` and answers with its Pm strategy (the most confident scale) in `serving_default`
and `serving_details`. A fourth signature, `serving_with_strategy`, takes a fourth input `strategy` (scalar string
`pm` or `u`; `""` means `pm`) and returns what `serving_details` returns for that strategy. `serving_details` adds
`scale_start_time`, `scale_end_time`, `scale_span_prob` `[S]` (each scale's candidate) and `start_probs`,
`end_probs`, `highlight_probs` `[S, T']`; `predict_ids` returns `start_index`, `end_index`, `score` (Pm) and
`u_start_index`, `u_end_index` `[B]`, `scale_start_index`, `scale_end_index`, `scale_span_prob` `[B, S]`.

`serving_default` accepts features of any shape and fails (InvalidArgumentError, in the graph, so that a serving
client sees the message) on features that are not `[clips, Dv]` (the message gives the shape expected and got), on
NaN/Inf, on zero clips, on a duration that is not positive or finite or above `MAX_DURATION_SECONDS`, and on a
query without tokens.

    reloaded = tf.saved_model.load(out_dir)
    moment = reloaded.signatures["serving_default"](video_features=feats, query=tf.constant("a man opens a door."),
                                                   duration=tf.constant(30.0))
"""

import json
import os

import keras
import tensorflow as tf
from keras import ops

from common import registry
from common.data import vocab as vocab_lib
from common.data.records import MAX_DURATION_SECONDS
from common.export.text_graph import graph_tokenize
from common.layers.span_decoding import span_decode
from common.training import run_loader

#: The outputs of every model's `serving_default`.
SERVING_OUTPUTS = ("start_time", "end_time", "score", "start_index", "end_index", "tokens")
DETAILS_OUTPUTS = SERVING_OUTPUTS + ("start_probs", "end_probs", "highlight_probs")
PREDICT_IDS_OUTPUTS = ("start_index", "end_index", "score", "start_probs", "end_probs")
#: The outputs of every model's `serving_queries`.
QUERIES_OUTPUTS = ("start_time", "end_time", "score", "start_index", "end_index")


# ==== Preprocessing =====================================================================================


def resample_features(features, max_len):
    """`labels.visual_feature_sampling` in TensorFlow ops: bucket-average `[C, D]` features to `min(C, max_len)` rows.

    Boundaries `idx_i = round_half_even(i / max_len · C)` (float64, as NumPy) clipped to `C − 1`; row `i` is the mean
    of rows `[idx_i, idx_{i+1})`, or row `idx_i` when that range is empty. Unchanged when `C <= max_len`.

    Args:
        features: float tensor `[C, D]`.
        max_len: Python int, the resampling bound (`max_pos_len`).

    Returns:
        tensor `[min(C, max_len), D]` of the input dtype.
    """
    features = tf.convert_to_tensor(features)
    num_clips = tf.shape(features)[0]

    def sample():
        grid = tf.range(max_len + 1, dtype=tf.float64) / float(max_len) * tf.cast(num_clips, tf.float64)
        bounds = tf.minimum(tf.cast(tf.round(grid), tf.int32), num_clips - 1)  # tf.round: half to even
        starts, ends = bounds[:-1], bounds[1:]
        rows = tf.range(bounds[-1])  # the last original row never enters a bucket (as in the original)
        bucket = tf.searchsorted(ends, rows, side="right")
        sums = tf.math.unsorted_segment_sum(features[: bounds[-1]], bucket, max_len)
        counts = ends - starts
        means = sums / tf.cast(tf.maximum(counts, 1), features.dtype)[:, None]
        return tf.where(counts[:, None] > 0, means, tf.gather(features, starts))

    return tf.cond(num_clips > max_len, sample, lambda: features)


def index_to_time(start_index, end_index, num_units, duration, rule="iou_argmax"):
    """`labels.index_to_time` in float32 TensorFlow ops: `(float32(s)·T/N, float32(e + 1)·T/N)` with the code's
    rule, `(float32(s)·T/N, float32(e)·T/N)` with the paper's `round` rule (fidelity VSLNet §6 #1)."""
    duration = tf.cast(duration, tf.float32)
    num_units = tf.cast(num_units, tf.float32)
    start = tf.cast(start_index, tf.float32) * duration / num_units
    end = tf.cast(end_index + (1 if rule == "iou_argmax" else 0), tf.float32) * duration / num_units
    return start, end


class QueryPreprocessor(tf.Module):
    """Raw sentences → word ids and char ids, as `common.data.dataset.make_example` builds them, in TF ops.

    Args:
        vocab: the run's `Vocabulary`.
        max_len: keep the first `max_len` tokens (`max_pos_len`, as the processed examples).

    Call arguments:
        queries: `tf.string` `[N]`.

    Returns:
        dict with `word_ids` `[N, m]` int32 (0-padded), `char_ids` `[N, m, W]` int32 (0-padded, `W` the longest
        token) and `tokens` (`tf.RaggedTensor` `[N, (m)]` of strings).
    """

    def __init__(self, vocab, max_len, name=None):
        super().__init__(name=name)
        self.max_len = int(max_len)
        self.word_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(vocab.words), tf.range(len(vocab.words), dtype=tf.int32)),
            default_value=vocab_lib.UNK_ID,
        )
        self.char_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(vocab.chars), tf.range(len(vocab.chars), dtype=tf.int32)),
            default_value=vocab_lib.UNK_ID,
        )

    def __call__(self, queries):
        tokens = graph_tokenize(queries)[:, : self.max_len]
        word_ids = tf.ragged.map_flat_values(self.word_table.lookup, tokens).to_tensor(vocab_lib.PAD_ID)
        chars = tf.strings.unicode_split(tokens, "UTF-8")
        char_ids = tf.ragged.map_flat_values(self.char_table.lookup, chars).to_tensor(vocab_lib.PAD_ID)
        return {"word_ids": word_ids, "char_ids": char_ids, "tokens": tokens}


# ==== Serving functions =================================================================================


def _decode(model, inputs):
    """Model → probabilities → top-1 span, as `VSLNetTask.predict_step`, keeping the probabilities."""
    outputs = model(inputs, training=False)
    start_probs = ops.softmax(outputs["start_logits"], axis=-1)
    end_probs = ops.softmax(outputs["end_logits"], axis=-1)
    start_index, end_index, score = span_decode(start_probs, end_probs)
    if "highlight_logits" in outputs:
        highlight_probs = ops.sigmoid(outputs["highlight_logits"])
    else:
        highlight_probs = ops.zeros_like(start_probs)
    return {
        "start_index": start_index,
        "end_index": end_index,
        "score": score,
        "start_probs": start_probs,
        "end_probs": end_probs,
        "highlight_probs": highlight_probs,
    }


def serving_signature():
    """`video_features` of any shape (checked in the graph, so that a client gets a clear message), `query`,
    `duration`."""
    return [
        tf.TensorSpec(None, tf.float32, name="video_features"),
        tf.TensorSpec([], tf.string, name="query"),
        tf.TensorSpec([], tf.float32, name="duration"),
    ]


def queries_signature():
    """`serving_signature` with `queries` `[N]` in place of one `query`."""
    return [
        tf.TensorSpec(None, tf.float32, name="video_features"),
        tf.TensorSpec([None], tf.string, name="queries"),
        tf.TensorSpec([], tf.float32, name="duration"),
    ]


def model_inputs_signature(feature_dim):
    """The batched model inputs, name → `tf.TensorSpec`."""
    return {
        "video_features": tf.TensorSpec([None, None, feature_dim], tf.float32, name="video_features"),
        "video_mask": tf.TensorSpec([None, None], tf.bool, name="video_mask"),
        "word_ids": tf.TensorSpec([None, None], tf.int32, name="word_ids"),
        "char_ids": tf.TensorSpec([None, None, None], tf.int32, name="char_ids"),
    }


def predict_ids_signature(feature_dim):
    return list(model_inputs_signature(feature_dim).values())


class ServingFunctions:
    """The endpoint functions of the SavedModel (`endpoints`), also usable in memory: `serve` (`serving_default`),
    `serve_details` (`serving_details`, what `experiments.predict` shows), `serve_queries` (`serving_queries`) and
    `predict_ids`.

    Args:
        model: a built `VSLNet`.
        vocab: its `Vocabulary`.
        max_pos_len: resampling bound and query length bound.
        feature_dim: `Dv`.
    """

    def __init__(self, model, vocab, *, max_pos_len, feature_dim):
        self.model = model
        self.max_pos_len = int(max_pos_len)
        self.feature_dim = int(feature_dim)
        # VSLNet trained with the paper's `round` labels decodes with its inverse; LPNet has one rule (fidelity LPNet
        # §10).
        self.label_rule = getattr(model.config, "label_rule", "iou_argmax")
        self.preprocessor = QueryPreprocessor(vocab, max_pos_len, name="query_preprocessor")
        # No AutoGraph (no Python control flow on tensors here), as `ExportArchive` traces its endpoints.
        # Every endpoint decodes through this one function, so that the SavedModel holds the model's graph once.
        self.decode_batch = tf.function(
            self.decode, input_signature=[model_inputs_signature(feature_dim)], autograph=False
        )
        self.serve = tf.function(self._serve, input_signature=serving_signature(), autograph=False)
        self.serve_details = tf.function(self._serve_details, input_signature=serving_signature(), autograph=False)
        self.serve_queries = tf.function(self._serve_queries, input_signature=queries_signature(), autograph=False)
        self.predict_ids = tf.function(
            self._predict_ids, input_signature=predict_ids_signature(feature_dim), autograph=False
        )

    details_outputs = DETAILS_OUTPUTS
    predict_ids_outputs = PREDICT_IDS_OUTPUTS

    def endpoints(self):
        """signature name → `(tf.function, output names)`, as `export_saved_model` writes them."""
        return {
            "serving_default": (self.serve, SERVING_OUTPUTS),
            "serving_details": (self.serve_details, self.details_outputs),
            "serving_queries": (self.serve_queries, QUERIES_OUTPUTS),
            "predict_ids": (self.predict_ids, self.predict_ids_outputs),
        }

    def _prepare(self, video_features, query, duration):
        """Checked, resampled and tokenized serving inputs: `(model inputs of batch 1, length T', duration, tokens)`."""
        inputs, length, duration, tokens = self._prepare_queries(video_features, tf.reshape(query, [1]), duration)
        return inputs, length, duration, tokens[0]

    def _prepare_queries(self, video_features, queries, duration):
        """`_prepare` for `queries` `[N]` about one video: model inputs of batch N (the video repeated), `T'`,
        duration and the tokens `[N, (m)]`."""
        expected = f"video_features must be [clips, {self.feature_dim}] float32; got shape"
        shape = tf.shape(video_features)
        rank_check = tf.debugging.Assert(tf.equal(tf.size(shape), 2), [expected, shape])
        with tf.control_dependencies([rank_check]):
            checks = [
                tf.debugging.Assert(tf.equal(shape[-1], self.feature_dim), [expected, shape]),
                tf.debugging.Assert(shape[0] > 0, ["video_features has no clips; got shape", shape]),
                tf.debugging.Assert(
                    tf.logical_and(duration > 0.0, duration <= MAX_DURATION_SECONDS),
                    [f"duration must be positive, finite and at most {MAX_DURATION_SECONDS:g} seconds; got", duration],
                ),
                tf.debugging.Assert(tf.size(queries) > 0, ["queries is empty"]),
            ]
        with tf.control_dependencies(checks):
            video_features = tf.ensure_shape(video_features, [None, self.feature_dim])
            video_features = tf.debugging.assert_all_finite(video_features, "video_features contains NaN or Inf")
            duration = tf.identity(duration)
        features = resample_features(video_features, self.max_pos_len)
        query_inputs = self.preprocessor(queries)
        tokens = query_inputs["tokens"]
        checks = [tf.debugging.assert_positive(tokens.row_lengths(), message="the query has no tokens")]
        length = tf.shape(features)[0]
        with tf.control_dependencies(checks):
            word_ids = tf.identity(query_inputs["word_ids"])
        num_queries = tf.shape(word_ids)[0]
        inputs = {
            "video_features": tf.tile(features[None], [num_queries, 1, 1]),
            "video_mask": tf.ones([num_queries, length], tf.bool),
            "word_ids": word_ids,
            "char_ids": query_inputs["char_ids"],
        }
        return inputs, length, duration, tokens

    def decode(self, inputs):
        """The model's batched decoding (`_decode`: `VSLNetTask.predict_step` keeping the probabilities)."""
        return _decode(self.model, inputs)

    def _serve(self, video_features, query, duration):
        # `serving_details` without the curves: the families override `_serve_details` only.
        details = self.serve_details(video_features, query, duration)
        return {name: details[name] for name in SERVING_OUTPUTS}

    def _serve_details(self, video_features, query, duration):
        inputs, length, duration, tokens = self._prepare(video_features, query, duration)
        decoded = self.decode_batch(inputs)
        start_index, end_index = decoded["start_index"][0], decoded["end_index"][0]
        start_time, end_time = index_to_time(start_index, end_index, length, duration, self.label_rule)
        return {
            "start_time": start_time,
            "end_time": end_time,
            "score": decoded["score"][0],
            "start_index": start_index,
            "end_index": end_index,
            "start_probs": decoded["start_probs"][0],
            "end_probs": decoded["end_probs"][0],
            "highlight_probs": decoded["highlight_probs"][0],
            "tokens": tokens,
        }

    def _serve_queries(self, video_features, queries, duration):
        inputs, length, duration, _ = self._prepare_queries(video_features, queries, duration)
        decoded = self.decode_batch(inputs)
        start_time, end_time = index_to_time(
            decoded["start_index"], decoded["end_index"], length, duration, self.label_rule
        )
        result = dict(decoded, start_time=start_time, end_time=end_time)
        return {name: result[name] for name in QUERIES_OUTPUTS}

    def _predict_ids(self, video_features, video_mask, word_ids, char_ids):
        decoded = self.decode_batch(
            {"video_features": video_features, "video_mask": video_mask, "word_ids": word_ids, "char_ids": char_ids}
        )
        return {name: decoded[name] for name in self.predict_ids_outputs}


class TaskServingFunctions(ServingFunctions):
    """`ServingFunctions` whose decoding is the task's own `predict_step` (the task of the model's family)."""

    def __init__(self, model, vocab, *, max_pos_len, feature_dim):
        self.task = registry.for_config(model.config).task_class(model.config)
        super().__init__(model, vocab, max_pos_len=max_pos_len, feature_dim=feature_dim)

    def decode(self, inputs):
        return self.task.predict_step(self.model, inputs)


def serving_functions(model, vocab, *, max_pos_len, feature_dim):
    """The serving functions of a built model, as its family makes them (`Family.serving_functions`)."""
    family = registry.for_config(model.config)
    return family.serving_functions(model, vocab, max_pos_len=max_pos_len, feature_dim=feature_dim)


def export_saved_model(model, vocab, out_dir, *, max_pos_len, feature_dim, verbose=False):
    """Write a SavedModel with the signatures of the model's serving functions (module docstring).

    Args:
        model: a built `VSLNet` (VSLNet or VSLBase) or `LPNet` with its trained weights.
        vocab: the `Vocabulary` the model was trained with.
        out_dir: output folder.
        max_pos_len: the resampling bound of the processed data (`meta.json`).
        feature_dim: `Dv`.
        verbose: print Keras' list of endpoints.

    Returns:
        `out_dir`.
    """
    functions = serving_functions(model, vocab, max_pos_len=max_pos_len, feature_dim=feature_dim)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(functions.preprocessor)
    endpoints = functions.endpoints()
    for name, (function, _) in endpoints.items():
        function.get_concrete_function()  # traced with its input signature, as `add_endpoint` takes it
        archive.add_endpoint(name, function)
    archive.write_out(out_dir, verbose=verbose)
    with open(os.path.join(out_dir, "nlvl_export.json"), "w") as f:
        json.dump(
            {
                "max_pos_len": int(max_pos_len),
                "feature_dim": int(feature_dim),
                "model": registry.model_name(model.config),
                "signatures": {name: list(outputs) for name, (_, outputs) in endpoints.items()},
            },
            f,
            indent=2,
        )
    return out_dir


def export_run(run_dir, out_dir, checkpoint=None, verbose=False):
    """`load_run` + `export_saved_model`. Returns the `LoadedRun`."""
    run = run_loader.load_run(run_dir, checkpoint=checkpoint, require_vocab=True, portable=True)
    export_saved_model(
        run.model, run.vocab, out_dir, max_pos_len=run.max_pos_len, feature_dim=run.feature_dim, verbose=verbose
    )
    return run
