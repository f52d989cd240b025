"""The `tf.data` input pipeline: processed examples + lazily read features → padded batches with every label.

Batches follow the originals (fidelity VSLNet §2.6, LPNet §3): word ids, char ids and video features are padded per
batch to the batch maximum (not to `max_pos_len`), so that the original's unmasked convolutions see exactly the
padding they saw. Training order is a pure function of `(seed, epoch)`, so a resumed run sees the same batches;
evaluation runs in file order and yields every example exactly once (never `drop_remainder`).

**Replicas.** Under `tf.distribute` each replica receives its own rows of every global batch, padded to the
*global* batch's shapes: the shapes come from the processed examples (`v_len`, word and char counts), so a
pipeline reads the features of its own rows only, and every replica computes what one device computes on the
whole batch (the unmasked convolutions see the same padding). Replica `r` of `R` gets rows
`np.array_split(range(b), R)[r]` of a batch of `b`. A replica left without rows (a last batch smaller than `R`)
gets a copy of the batch's first row with `example_index` −1 instead: TensorFlow's oneDNN convolutions
mishandle empty batches, and a real row keeps every loss finite. Losses count only rows with `example_index`
≥ 0 (`real_rows`), so that row adds nothing, and predictions skip it.

A batch is a dict:

| key | shape | dtype | meaning |
|---|---|---|---|
| `example_index` | `[B]` | int32 | position of the example in its split (maps back to `qid`); −1: a copy (above) |
| `video_features` | `[B, n, Dv]` | float32 | resampled features, zero-padded to the batch's longest video |
| `video_length` | `[B]` | int32 | `v_len` = min(num_clips, max_pos_len) |
| `video_mask` | `[B, n]` | bool | `True` on real clips |
| `word_ids` | `[B, m]` | int32 | 0 = PAD, 1 = UNK |
| `query_mask` | `[B, m]` | bool | `word_ids != 0` (UNK counts as valid, as in the originals) |
| `char_ids` | `[B, m, W]` | int32 | `W` = longest word in the batch |
| `start_index`, `end_index` | `[B]` | int32 | inclusive ground-truth clip indices (hard labels of VSLNet) |
| `highlight_labels` | `[B, n]` | int32 | QGH targets with the extension rule |
| `duration` | `[B]` | float32 | seconds |
"""

import numpy as np
import tensorflow as tf

from common.data import labels

AUTOTUNE = tf.data.AUTOTUNE


def epoch_order(num_examples, seed, epoch):
    """The training order of one epoch: a permutation that depends only on `(seed, epoch)`."""
    return np.random.default_rng([seed, epoch]).permutation(num_examples).astype(np.int64)


def _ragged_char_ids(examples):
    return tf.ragged.constant([ex["char_ids"] for ex in examples], dtype=tf.int32, ragged_rank=2)


class ExampleFeatures:
    """Reads, checks and resamples the features of one example (runs inside `tf.numpy_function`)."""

    def __init__(self, examples, store, max_pos_len):
        self.examples = examples
        self.store = store
        self.max_pos_len = max_pos_len

    def __call__(self, example_index):
        example = self.examples[int(example_index)]
        features = labels.visual_feature_sampling(self.store.get(example["vid"]), self.max_pos_len)
        if features.shape[0] != example["v_len"]:
            raise ValueError(
                f"video {example['vid']!r} has {features.shape[0]} clips after resampling but the processed "
                f"example says {example['v_len']}: the feature store changed since the data was processed"
            )
        return features.astype(np.float32, copy=False)


class BatchFeatures:
    """The features of a replica's rows `[k, n, Dv]`, zero-padded to the global batch's `n`."""

    def __init__(self, read_example, feature_dim):
        self.read_example = read_example
        self.feature_dim = feature_dim

    def __call__(self, example_indices, padded_length):
        batch = np.zeros((len(example_indices), int(padded_length), self.feature_dim), np.float32)
        for row, index in enumerate(example_indices):
            features = self.read_example(index)
            batch[row, : features.shape[0]] = features
        return batch


def replica_rows(batch_rows, num_replicas, replica):
    """The rows of a global batch (an index array) that `replica` of `num_replicas` computes."""
    return np.array_split(batch_rows, num_replicas)[replica]


def real_rows(batch):
    """`[B]` float32: 1 for the rows that are examples, 0 for the stand-in row of a replica without rows (a batch
    built elsewhere, without `example_index`, holds examples only)."""
    if "example_index" not in batch:
        return tf.ones(tf.shape(batch["start_index"])[:1], tf.float32)
    return tf.cast(batch["example_index"] >= 0, tf.float32)


def make_dataset(
    examples,
    store,
    *,
    batch_size,
    max_pos_len,
    feature_dim,
    training,
    seed=0,
    epoch=0,
    drop_remainder=False,
    extend=0.1,
    extension_length="code",
    skip_batches=0,
    num_replicas=1,
    replicas=(0,),
    label_fn=None,
):
    """Batches of one split, for the replicas one input pipeline feeds.

    Args:
        examples: the processed examples of the split (`ProcessedDataset.splits[split]`), in file order.
        store: the feature store (`common.data.features`).
        batch_size: global batch size.
        max_pos_len: resampling bound (must equal the one the examples were processed with).
        feature_dim: `Dv`, for static shapes.
        training: shuffle by `epoch_order(seed, epoch)`; otherwise file order.
        drop_remainder: drop the last partial batch (LPNet's training does; evaluation never should).
        extend: highlight extension ratio α.
        extension_length: `"code"` (L = a_e − a_s + 1, default) or `"paper"` (L = a_e − a_s, fidelity VSLNet §6 #6):
            the length that α multiplies (`labels.highlight_extension`).
        skip_batches: global batches to skip at the start (resuming in the middle of an epoch).
        num_replicas: replicas that share each global batch (`num_replicas_in_sync`).
        replicas: the replicas this pipeline feeds, in the order `tf.distribute` hands out its elements (the
            local replicas of one worker).
        label_fn: optional `batch -> batch` in the graph, adding the labels only one model needs (the task's
            `build_labels`, e.g. LPNet's soft boundary labels).

    Returns:
        a `tf.data.Dataset` of batch dicts (see the module docstring): for each global batch, one per replica
        of `replicas`, holding that replica's rows. With the defaults, the global batches themselves.
    """
    if not examples:
        raise ValueError("no examples to batch")
    if drop_remainder and not training:
        raise ValueError("evaluation must see every example: drop_remainder is for training only")
    order = epoch_order(len(examples), seed, epoch) if training else np.arange(len(examples), dtype=np.int64)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if drop_remainder and batches and len(batches[-1]) < batch_size:
        batches.pop()
    batches = batches[skip_batches:]
    clips = np.asarray([ex["v_len"] for ex in examples], np.int32)
    words = np.asarray([len(ex["word_ids"]) for ex in examples], np.int32)
    chars = np.asarray([max((len(c) for c in ex["char_ids"]), default=0) for ex in examples], np.int32)
    rows, shapes, stand_ins = [], [], []
    for batch in batches:
        shape = (clips[batch].max(), words[batch].max(), chars[batch].max())
        for replica in replicas:
            own = replica_rows(batch, num_replicas, replica)
            stand_ins.append(len(own) == 0)
            rows.append(own if len(own) else batch[:1])
            shapes.append(shape)
    bounds = np.asarray(
        [
            labels.highlight_bounds(ex["start_index"], ex["end_index"], ex["v_len"], extend, extension_length)
            for ex in examples
        ],
        dtype=np.int32,
    )
    static = {
        "video_length": tf.constant(clips),
        "start_index": tf.constant([ex["start_index"] for ex in examples], tf.int32),
        "end_index": tf.constant([ex["end_index"] for ex in examples], tf.int32),
        "highlight_start": tf.constant(bounds[:, 0]),
        "highlight_end": tf.constant(bounds[:, 1]),
        "duration": tf.constant([ex["duration"] for ex in examples], tf.float32),
    }
    word_ids = tf.ragged.constant([ex["word_ids"] for ex in examples], dtype=tf.int32)
    char_ids = _ragged_char_ids(examples)
    read_features = BatchFeatures(ExampleFeatures(examples, store, max_pos_len), feature_dim)

    def load(element):
        index = element["rows"]
        batch = {key: tf.gather(value, index) for key, value in static.items()}
        num_rows = tf.shape(index)[0]
        num_clips, num_words, num_chars = tf.unstack(element["shape"])
        batch["word_ids"] = tf.gather(word_ids, index).to_tensor(shape=tf.stack([num_rows, num_words]))
        batch["char_ids"] = tf.gather(char_ids, index).to_tensor(shape=tf.stack([num_rows, num_words, num_chars]))
        features = tf.numpy_function(read_features, [index, num_clips], tf.float32, stateful=False)
        batch["video_features"] = tf.ensure_shape(features, [None, None, feature_dim])
        batch["example_index"] = tf.where(element["stand_in"], -1, tf.cast(index, tf.int32))
        return add_batch_labels(batch)

    def add_batch_labels(batch):
        padded_length = tf.shape(batch["video_features"])[1]
        positions = tf.range(padded_length)[None, :]
        batch["video_mask"] = positions < batch["video_length"][:, None]
        batch["query_mask"] = tf.not_equal(batch["word_ids"], 0)
        low = batch.pop("highlight_start")[:, None]
        high = batch.pop("highlight_end")[:, None]
        batch["highlight_labels"] = tf.cast((positions >= low) & (positions <= high), tf.int32)
        return label_fn(batch) if label_fn is not None else batch

    dataset = tf.data.Dataset.from_tensor_slices(
        {
            "rows": tf.RaggedTensor.from_row_lengths(
                np.concatenate(rows or [np.zeros(0, np.int64)]), np.asarray([len(r) for r in rows], np.int64)
            ),
            "shape": tf.constant(np.asarray(shapes, np.int32).reshape(-1, 3)),
            "stand_in": tf.constant(stand_ins, tf.bool),
        }
    )
    dataset = dataset.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset.prefetch(AUTOTUNE)


def num_batches(num_examples, batch_size, drop_remainder=False):
    """Batches per epoch: `ceil(N / B)`, or `floor(N / B)` when the last partial batch is dropped."""
    return num_examples // batch_size if drop_remainder else -(-num_examples // batch_size)


def dummy_inputs(feature_dim, batch=1, clips=4, words=3, chars=4):
    """A tiny all-valid batch of the model inputs (`video_features`, `video_mask`, `word_ids`, `char_ids`) that
    builds every weight of a model."""
    return {
        "video_features": tf.zeros((batch, clips, feature_dim)),
        "video_mask": tf.ones((batch, clips), dtype=tf.bool),
        "word_ids": tf.ones((batch, words), dtype=tf.int32),
        "char_ids": tf.ones((batch, words, chars), dtype=tf.int32),
    }
