"""Latency of an exported SavedModel: loading it, its first call and warm calls, one query at a time and batched.

    python benchmarks/serving_latency.py --model={vslnet,lpnet} [--shape=charades] [--calls=30] [--json]

Builds the model of `benchmarks/speed.py` (same settings and shapes, random weights), exports it with
`common.export.saved_model.export_saved_model` and then, in a fresh Python process (nothing cached, as a serving
process starts), times:
- **load**: `tf.saved_model.load` of the folder;
- **first call** of `serving_default` (the raw query string; it runs the in-graph tokenizer and resampling), which
  includes TensorFlow's one-time graph setup;
- **warm call** of `serving_default`, median of `--calls` (a video of the shape's clip count, a 9-word query);
- **serving_queries per query**: the raw-string signature with the shape's batch of queries about one video
  (the 9-word query and shorter ones, so the batch is padded), median time divided by the batch;
- **predict_ids per query**: the batched token-id signature on the shape's batch, median time divided by the batch.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
from absl import app, flags

from benchmarks import speed
from common.data.vocab import PAD, UNK, Vocabulary
from common.export.saved_model import export_saved_model

FLAGS = flags.FLAGS
QUERY = "a person opens the door and walks into the room."

_TIMING = r"""
import json, statistics, sys, time
import numpy as np
import tensorflow as tf
folder, clips, feature_dim, batch, calls = sys.argv[1], *map(int, sys.argv[2:6])
query = sys.argv[6]


def call_s(signature, args):
    started = time.perf_counter()
    {k: v.numpy() for k, v in signature(**args).items()}
    return time.perf_counter() - started


def warm_median_s(signature, args, warmup=3):
    for _ in range(warmup):
        call_s(signature, args)
    return statistics.median(call_s(signature, args) for _ in range(calls))


started = time.perf_counter()
loaded = tf.saved_model.load(folder)
load_s = time.perf_counter() - started
rng = np.random.default_rng(0)
features = tf.constant(rng.standard_normal((clips, feature_dim), dtype=np.float32))
args = dict(video_features=features, query=tf.constant(query), duration=tf.constant(30.0))
first_s = call_s(loaded.signatures["serving_default"], args)
warm_s = warm_median_s(loaded.signatures["serving_default"], args, warmup=0)
queries = tf.constant([" ".join(query.split()[: 3 + i % 7]) for i in range(batch)])
queries_args = dict(video_features=features, queries=queries, duration=tf.constant(30.0))
queries_s = warm_median_s(loaded.signatures["serving_queries"], queries_args)
batch_args = dict(
    video_features=tf.constant(rng.standard_normal((batch, clips, feature_dim), dtype=np.float32)),
    video_mask=tf.ones([batch, clips], tf.bool),
    word_ids=tf.constant(rng.integers(2, 100, size=(batch, 10)), tf.int32),
    char_ids=tf.constant(rng.integers(2, 30, size=(batch, 10, 6)), tf.int32),
)
batched_s = warm_median_s(loaded.signatures["predict_ids"], batch_args)
print(json.dumps({"load_s": load_s, "first_call_s": first_s, "warm_call_ms": 1e3 * warm_s,
                  "serving_queries_ms_per_query": 1e3 * queries_s / batch,
                  "predict_ids_ms_per_query": 1e3 * batched_s / batch}))
"""


def define_flags():
    """`benchmarks/speed.py`'s flags (`--model`, `--shape`, `--json`, ...) and `--calls`."""
    speed.define_flags()
    flags.DEFINE_integer("calls", 30, "Timed warm calls of each signature.")


def export(folder, shape):
    """The model of `benchmarks/speed.py` for `shape`, with random weights and a small vocabulary, exported."""
    rng = np.random.default_rng(0)
    task = speed.TASKS[FLAGS.model](shape)
    words = [PAD, UNK] + sorted(set(QUERY.rstrip(".").split())) + [f"word{i}" for i in range(speed.NUM_WORDS - 12)]
    chars = [PAD, UNK] + sorted(set("abcdefghijklmnopqrstuvwxyz0123456789."))
    info = {
        "feature_dim": speed.FEATURE_DIM,
        "word_vectors": rng.standard_normal((len(words) - 2, speed.WORD_DIM), dtype=np.float32),
        "num_chars": len(chars),
        "max_pos_len": shape["max_pos_len"],
    }
    model = task.build_model(info)
    export_saved_model(
        model, Vocabulary(words, chars), folder, max_pos_len=shape["max_pos_len"], feature_dim=speed.FEATURE_DIM
    )


def main(argv):
    del argv
    shapes = speed.SHAPES[FLAGS.model]
    if FLAGS.shape not in shapes:
        raise app.UsageError(f"--model={FLAGS.model} has the shapes {', '.join(shapes)}")
    shape = shapes[FLAGS.shape]
    with tempfile.TemporaryDirectory(prefix="nlvl-latency-") as folder:
        started = time.perf_counter()
        export(folder, shape)
        export_s = time.perf_counter() - started
        args = [folder, shape["num_clips"], speed.FEATURE_DIM, shape["batch_size"], FLAGS.calls, QUERY]
        result = subprocess.run(
            [sys.executable, "-c", _TIMING, *map(str, args)], capture_output=True, text=True, check=True
        )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        f"{FLAGS.model} {FLAGS.shape} ({shape['num_clips']} clips): export {export_s:.1f} s | load "
        f"{measured['load_s']:.2f} s | first call {measured['first_call_s']:.2f} s | warm call "
        f"{measured['warm_call_ms']:.1f} ms | serving_queries {measured['serving_queries_ms_per_query']:.2f} ms per "
        f"query | predict_ids {measured['predict_ids_ms_per_query']:.2f} ms per query "
        f"(batch {shape['batch_size']})"
    )
    if FLAGS.json:
        print(json.dumps({k: round(v, 4) for k, v in measured.items()}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
