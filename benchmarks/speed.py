"""Training and inference throughput (samples/s) of VSLNet and LPNet on random inputs.

    python benchmarks/speed.py --model={vslnet,lpnet} --shape=charades [--json] [--steps=20] [--warmup=5] [--jit]
        [--strategy={default,mirrored}] [--cpu_devices=N]

What is timed:
- **train**: the trainer's own step (`common.training.trainer.make_train_step`, which `Trainer` uses): one
  `tf.function` with an input signature whose batch and time dimensions are `None`, running the task's
  `compute_losses` under one `GradientTape`, differentiating each of its `gradient_groups` (LPNet: `main` → all
  but the boxes, `box` → the boxes) and applying them in one optimizer step built by `task.build_optimizer` +
  `task.prepare_optimizer`, exactly as a training run builds them (VSLNet: `AdamWeightDecay`, clip norm 1.0;
  LPNet: `TF1Adam` with the original's double-counted β-powers).
- **inference**: the task's `predict_step` (forward pass without dropout + decoding) in a `tf.function` with the
  same kind of input signature.

Each step is timed on its own after `--warmup` untimed steps (the first one traces and compiles); the score is
`batch_size / median step time`. The "other load" column is the CPU (in cores) that other processes used while
the steps were timed (from `/proc/stat`); above ~0.2 the times are inflated and a warning is printed.

Models: VSLNet with the rnn predictor, d = 128, 8 heads, char_dim 50, drop_rate 0.2; LPNet with every
`LPNetConfig` default (the original code: d = 256, K = 100 proposals, 16 RoI samples, drop_rate 0.1, quirks
`original`). The word table holds 1,298 frozen random 300-d vectors (1,300 ids with PAD and UNK) and the char
vocabulary has 40 symbols. Shapes (`--model`, `--shape`):

| model | shape | batch | clips n | max_pos_len | video features | words m | chars per word |
|---|---|---|---|---|---|---|---|
| vslnet | `charades` | 16 | 128 | 128 | 1024 | 10 | 3-9 (mean 6) |
| vslnet | `anet` | 16 | 300 | 300 | 1024 | 15 | 3-9 (mean 6) |
| lpnet | `charades` | 32 | 128 | 256 | 1024 | 10 | 3-9 (mean 6) |

Valid lengths are drawn per sample (videos: at least half of n; queries: at least half of m) and every batch is
padded to n clips and m words, as the pipeline pads to the longest sample. For our speed against the original TF1
code and the PyTorch port, run `benchmarks/compare.py`: it times them side by side with this script in one run
(this machine kind varies by 2× between sessions, so a rate from another day compares with nothing).

`--dtype_policy=mixed_bfloat16` builds the model under that Keras policy (as `experiments.train --dtype_policy`).
`--jit` compiles both steps with XLA (`TrainerConfig.jit` does the same for training; LPNet then needs
`roi_align_implementation="gather"`, which this script sets). `--intra_op_threads` and
`--inter_op_threads` set TensorFlow's thread pools (0 = TensorFlow's default). With `--json` the last line is
`{"train_samples_per_s": ..., "infer_samples_per_s": ...}`. `--profile_dir=DIR` also writes a
`tf.profiler.experimental` trace of a few training steps (viewable with TensorBoard's profile plugin / xprof).

**Multi-replica** (`--strategy=mirrored`, `common.training.distribute.get_strategy`): the model, optimizer and step
are built in the strategy's scope and the same global batch (the batch size of the table) is split over the
replicas as a training run splits it: replica `r` of `R` computes rows `pipeline.replica_rows(range(B), R, r)`,
padded to the global batch's clips, words and chars, fed through `distribute.distribute_batches` (iterated
before timing, so the batches are already on their devices). *train* is then the same `make_train_step` under
the strategy (every replica's gradients all-reduced, one update), *infer* the trainer's `make_predict_fn`
(`predict_step` on every replica and the gather of their predictions, as evaluation runs it; it is never
XLA-compiled, so `--jit` applies to training only). The header line names the strategy and the replicas.
`--cpu_devices=N` splits the CPU into N logical devices first thing in `main` (`distribute.split_cpu`); without
GPUs `mirrored` uses them as its replicas. They share the same cores, so on a CPU machine a rate below the
single-device one (scaling below 1) is expected: this checks the multi-replica step, it does not speed it up.
The same command on a GPU machine (`--strategy=mirrored`, `--cpu_devices` then unused) runs one replica per GPU.
"""

import json
import os
import statistics
import sys
import time

# `python benchmarks/speed.py` puts `benchmarks/` first on the path: put this checkout's root before it, so that its
# packages are imported rather than those of another installed copy.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import tensorflow as tf
from absl import app, flags

from common.data import labels, pipeline
from common.training import distribute
from common.training import trainer as trainer_lib
from lpnet_tf import labels as lpnet_labels
from lpnet_tf.config import LPNetConfig
from lpnet_tf.task import LPNetTask
from vslnet_tf.config import VSLNetConfig
from vslnet_tf.task import VSLNetTask

#: Input shape per `--model` and `--shape`.
SHAPES = {
    "vslnet": {
        "charades": {"batch_size": 16, "num_clips": 128, "num_words": 10, "max_pos_len": 128},
        "anet": {"batch_size": 16, "num_clips": 300, "num_words": 15, "max_pos_len": 300},
    },
    "lpnet": {
        "charades": {"batch_size": 32, "num_clips": 128, "num_words": 10, "max_pos_len": 256},
    },
}
FEATURE_DIM = 1024
NUM_WORDS = 1300  # word ids including PAD (0) and UNK (1)
NUM_CHARS = 40  # char ids including PAD and UNK
WORD_DIM = 300
CHARS_PER_WORD = (3, 9)  # inclusive range of word lengths in chars (mean 6)
NUM_BATCHES = 4  # distinct random batches, cycled through the timed steps
PREDICT_KEYS = ("video_features", "video_mask", "word_ids", "char_ids")

FLAGS = flags.FLAGS
STRATEGIES = ("default", "mirrored")


def define_flags():
    """The flags of `main` (defined only when run as a script, so that tests can import this module)."""
    flags.DEFINE_enum("model", "vslnet", ["vslnet", "lpnet"], "Model family to benchmark (module docstring).")
    flags.DEFINE_enum("shape", "charades", ["charades", "anet"], "Input shape preset (module docstring).")
    flags.DEFINE_integer("steps", 20, "Timed steps per measurement (each timed individually; the median is used).")
    flags.DEFINE_integer("warmup", 5, "Untimed steps before timing (the first traces and compiles).")
    flags.DEFINE_bool("jit", False, "Compile the train and inference steps with XLA (`jit_compile=True`).")
    flags.DEFINE_enum(
        "dtype_policy",
        "float32",
        list(trainer_lib.DTYPE_POLICIES),
        "Keras dtype policy of the model, as `--dtype_policy` of experiments.train.",
    )
    flags.DEFINE_integer("intra_op_threads", 0, "TensorFlow intra-op threads (0: TensorFlow's default).")
    flags.DEFINE_integer("inter_op_threads", 0, "TensorFlow inter-op threads (0: TensorFlow's default).")
    flags.DEFINE_enum(
        "strategy",
        "default",
        list(STRATEGIES),
        "`default`: one device; `mirrored`: the global batch split over every GPU, else over the "
        "`--cpu_devices` logical CPUs (`common.training.distribute.get_strategy`).",
    )
    flags.DEFINE_integer(
        "cpu_devices",
        1,
        "Split the CPU into this many logical devices (replicas of "
        "`--strategy=mirrored` on a machine without GPUs; they share the same cores).",
    )
    flags.DEFINE_integer("seed", 0, "Seed of the random inputs, weights and dropout.")
    flags.DEFINE_bool("json", False, "Print a JSON line with both rates last.")
    flags.DEFINE_string("profile_dir", None, "If set, write a profiler trace of `--steps` training steps here.")


# === Inputs ===


def random_batch(rng, batch_size, num_clips, num_words):
    """A batch of the pipeline's training keys, padded to `num_clips` clips and `num_words` words (numpy)."""
    video_length = rng.integers(max(1, num_clips // 2), num_clips + 1, size=batch_size)
    video_length[0] = num_clips  # the batch's longest video sets the padded length
    query_length = rng.integers(max(1, num_words // 2), num_words + 1, size=batch_size)
    query_length[0] = num_words
    word_lengths = rng.integers(CHARS_PER_WORD[0], CHARS_PER_WORD[1] + 1, size=(batch_size, num_words))
    width = int(word_lengths.max())  # chars are padded to the batch's longest word
    clips = np.arange(num_clips)
    words = np.arange(num_words)
    video_mask = clips[None, :] < video_length[:, None]
    query_mask = words[None, :] < query_length[:, None]
    word_ids = np.where(query_mask, rng.integers(1, NUM_WORDS, size=(batch_size, num_words)), 0)
    char_valid = query_mask[:, :, None] & (np.arange(width)[None, None, :] < word_lengths[:, :, None])
    char_ids = np.where(char_valid, rng.integers(1, NUM_CHARS, size=(batch_size, num_words, width)), 0)
    start_index = np.array([rng.integers(0, length) for length in video_length])
    end_index = np.array([rng.integers(s, length) for s, length in zip(start_index, video_length)])
    highlight = np.stack(
        [labels.highlight_labels(s, e, length, num_clips) for s, e, length in zip(start_index, end_index, video_length)]
    )
    features = rng.standard_normal((batch_size, num_clips, FEATURE_DIM), dtype=np.float32) * video_mask[..., None]
    return {
        "video_features": features,
        "video_mask": video_mask,
        "word_ids": word_ids.astype(np.int32),
        "char_ids": char_ids.astype(np.int32),
        "start_index": start_index.astype(np.int32),
        "end_index": end_index.astype(np.int32),
        "highlight_labels": highlight.astype(np.int32),
        "soft_start_labels": np.stack([lpnet_labels.soft_boundary_labels(i, num_clips) for i in start_index]),
        "soft_end_labels": np.stack([lpnet_labels.soft_boundary_labels(i, num_clips) for i in end_index]),
    }


def batch_signature(batch):
    """`tf.TensorSpec`s of `batch` with every dimension unknown but the feature size, as the dataset gives."""
    signature = {key: tf.TensorSpec([None] * value.ndim, tf.as_dtype(value.dtype)) for key, value in batch.items()}
    signature["video_features"] = tf.TensorSpec([None, None, FEATURE_DIM], tf.float32)
    return signature


def replica_batches(batch, num_replicas, replicas):
    """The rows of the global `batch` that each replica id of `replicas` computes, as the pipeline splits them.

    Replica `r` gets rows `pipeline.replica_rows(range(B), num_replicas, r)`; every other dimension keeps the
    global batch's padded length (clips, words, chars), as `pipeline.make_dataset` pads each replica's rows.

    Returns:
        a list of batch dicts (numpy), one per id of `replicas`, in that order.
    """
    rows = np.arange(len(batch["video_features"]))
    return [
        {key: value[pipeline.replica_rows(rows, num_replicas, replica)] for key, value in batch.items()}
        for replica in replicas
    ]


def distribute_random_batches(strategy, batches, signature):
    """`batches` (global, numpy) split over the replicas of `strategy` through `distribute.distribute_batches`,
    the trainer's input path, and iterated once, so that timing sees batches already on their devices.

    Returns:
        `(distributed_batches, element_spec)`: one distributed value per global batch, and the spec that the
        trainer builds its steps from.
    """

    def make_dataset(num_replicas, replicas):
        def generate():
            for batch in batches:
                yield from replica_batches(batch, num_replicas, replicas)

        return tf.data.Dataset.from_generator(generate, output_signature=signature)

    dist = distribute.distribute_batches(strategy, make_dataset)
    return list(dist), dist.element_spec


# === Steps ===


def _vslnet_task(shape):
    config = VSLNetConfig(
        model="vslnet",
        predictor="rnn",
        hidden_dim=128,
        num_heads=8,
        char_dim=50,
        drop_rate=0.2,
        max_pos_len=shape["max_pos_len"],
    )
    return VSLNetTask(config)


def _lpnet_task(shape):
    config = LPNetConfig(
        hidden_dim=256,
        num_proposals=100,
        max_pos_len=shape["max_pos_len"],
        roi_align_implementation="gather" if FLAGS.jit else "crop_and_resize",
    )
    return LPNetTask(config)


#: `--model` → builder of its task for a shape preset (the settings of the module docstring).
TASKS = {"vslnet": _vslnet_task, "lpnet": _lpnet_task}


def build_steps(model_name, shape, jit, strategy):
    """The task, model and optimizer of `model_name` under `strategy`; the trainer's train step and an inference
    step.

    Under the default strategy the inference step is `task.predict_step` in a `tf.function` and the batches are
    tensors; under a multi-replica one, it is the trainer's `make_predict_fn` (every replica's predictions
    gathered) and each global batch is split over the replicas by `distribute_random_batches`.

    Returns:
        `((train_step, train_batches), (predict_step, predict_batches))`: each step takes one (distributed) batch;
        the batches are `NUM_BATCHES` random global batches, holding the keys each step reads.
    """
    rng = np.random.default_rng(FLAGS.seed)
    task = TASKS[model_name](shape)
    data_info = {
        "feature_dim": FEATURE_DIM,
        "word_vectors": rng.standard_normal((NUM_WORDS - 2, WORD_DIM), dtype=np.float32),
        "num_chars": NUM_CHARS,
        "max_pos_len": shape["max_pos_len"],
    }
    batches = [
        random_batch(rng, shape["batch_size"], shape["num_clips"], shape["num_words"]) for _ in range(NUM_BATCHES)
    ]
    signature = batch_signature(batches[0])
    predict_signature = {k: v for k, v in signature.items() if k in PREDICT_KEYS}
    predict_batches = [{k: v for k, v in b.items() if k in predict_signature} for b in batches]

    trainer_lib.set_seed(FLAGS.seed)
    with strategy.scope(), trainer_lib.dtype_policy_scope(FLAGS.dtype_policy):
        model = task.build_model(data_info)
        optimizer = task.build_optimizer(total_steps=100_000)
        task.prepare_optimizer(optimizer, model)
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")

    if FLAGS.strategy == "default":
        train_step = trainer_lib.make_train_step(task, model, optimizer, strategy, step, signature, jit=jit)
        predict_step = tf.function(
            lambda batch: task.predict_step(model, batch),
            input_signature=[predict_signature],
            jit_compile=jit or None,
        )
        tensors = [{k: tf.constant(v) for k, v in b.items()} for b in batches]
        predict_tensors = [{k: v for k, v in b.items() if k in predict_signature} for b in tensors]
        return (train_step, tensors), (predict_step, predict_tensors)

    train_batches, train_spec = distribute_random_batches(strategy, batches, signature)
    train_step = trainer_lib.make_train_step(task, model, optimizer, strategy, step, train_spec, jit=jit)
    # `make_predict_fn` returns each row's `example_index` with its predictions, as evaluation reads them.
    predict_signature["example_index"] = tf.TensorSpec([None], tf.int32)
    for batch in predict_batches:
        batch["example_index"] = np.arange(shape["batch_size"], dtype=np.int32)
    predict_batches, predict_spec = distribute_random_batches(strategy, predict_batches, predict_signature)
    predict_fn = trainer_lib.make_predict_fn(task, model, strategy)
    return (train_step, train_batches), (lambda batch: predict_fn(batch, predict_spec), predict_batches)


# === Timing ===


def _machine_busy_seconds():
    """CPU seconds all processes have used (Linux `/proc/stat`), or `None` where it cannot be read."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def time_steps(step_fn, batches, warmup, steps):
    """Wall times of `steps` calls after `warmup` calls (each waits for its outputs), and the load of others.

    Returns:
        `(times, other_load)`: per-step seconds, and the CPU cores that other processes kept busy on average while
        the timed steps ran (`None` off Linux). A load well above 0 means the times are inflated.
    """
    times = []
    for i in range(warmup + steps):
        if i == warmup:
            busy, own, wall = _machine_busy_seconds(), time.process_time(), time.perf_counter()
        batch = batches[i % len(batches)]
        started = time.perf_counter()
        outputs = step_fn(batch)
        tf.nest.map_structure(lambda t: t.numpy(), outputs)  # results on the host: the step has finished
        if i >= warmup:
            times.append(time.perf_counter() - started)
    other_load = None
    if busy is not None:
        others = _machine_busy_seconds() - busy - (time.process_time() - own)
        other_load = max(0.0, others) / (time.perf_counter() - wall)
    return times, other_load


def profile_steps(step_fn, batches, logdir, steps):
    """Writes a `tf.profiler` trace of `steps` calls of `step_fn` (one step marker each) under `logdir`."""
    tf.profiler.experimental.start(logdir)
    try:
        for i in range(steps):
            with tf.profiler.experimental.Trace("train", step_num=i, _r=1):
                tf.nest.map_structure(lambda t: t.numpy(), step_fn(batches[i % len(batches)]))
    finally:
        tf.profiler.experimental.stop()


def describe_strategy(strategy, batch_size):
    """`strategy default, 1 replica` or e.g. `strategy mirrored, 2 replicas on CPU (rows 8+8)`."""
    num = strategy.num_replicas_in_sync
    text = f"strategy {FLAGS.strategy}, {num} replica{'s' if num != 1 else ''}"
    if FLAGS.strategy == "default":
        return text
    kinds = sorted({tf.DeviceSpec.from_string(d).device_type for d in strategy.extended.worker_devices})
    rows = "+".join(str(len(r)) for r in np.array_split(np.arange(batch_size), num))
    return f"{text} on {'/'.join(kinds)} (rows {rows})"


def report(shape_name, shape, results, strategy):
    """The human table: per-step times and samples/s."""
    print(
        f"{FLAGS.model} | shape {shape_name}: batch {shape['batch_size']}, {shape['num_clips']} clips x "
        f"{FEATURE_DIM}, {shape['num_words']} words | {describe_strategy(strategy, shape['batch_size'])} | "
        f"jit={FLAGS.jit} | {FLAGS.dtype_policy} | intra/inter-op threads "
        f"{FLAGS.intra_op_threads or 'default'}/{FLAGS.inter_op_threads or 'default'}"
    )
    print(f"{'':6s} {'median ms':>10s} {'min ms':>8s} {'max ms':>8s} {'samples/s':>10s} {'other load':>10s}")
    for kind in ("train", "infer"):
        times, other_load = results[kind]
        rate = shape["batch_size"] / statistics.median(times)
        load = "n/a" if other_load is None else f"{other_load:.2f} cores"
        print(
            f"{kind:6s} {1e3 * statistics.median(times):10.1f} {1e3 * min(times):8.1f} {1e3 * max(times):8.1f} "
            f"{rate:10.1f} {load:>10s}"
        )
    if any(load is not None and load > 0.2 for _, load in results.values()):
        print("warning: other processes kept the CPU busy while timing; these rates are too low.")


def main(argv):
    del argv
    if FLAGS.cpu_devices < 1:
        raise app.UsageError("--cpu_devices must be at least 1.")
    if FLAGS.cpu_devices > 1 and FLAGS.strategy == "default":
        raise app.UsageError("--cpu_devices only makes replicas for --strategy=mirrored.")
    distribute.split_cpu(FLAGS.cpu_devices)  # before any op initializes TensorFlow's devices
    if FLAGS.steps < 1 or FLAGS.warmup < 1:
        raise app.UsageError("--steps and --warmup must be at least 1 (the first step traces).")
    if FLAGS.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.intra_op_threads)
    if FLAGS.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.inter_op_threads)
    if FLAGS.shape not in SHAPES[FLAGS.model]:
        raise app.UsageError(
            f"--model={FLAGS.model} has the shapes {', '.join(SHAPES[FLAGS.model])}; got --shape={FLAGS.shape}."
        )
    shape = SHAPES[FLAGS.model][FLAGS.shape]
    strategy = distribute.get_strategy(FLAGS.strategy)
    (train_step, train_batches), (predict_step, predict_batches) = build_steps(FLAGS.model, shape, FLAGS.jit, strategy)
    results = {
        "train": time_steps(train_step, train_batches, FLAGS.warmup, FLAGS.steps),
        "infer": time_steps(predict_step, predict_batches, FLAGS.warmup, FLAGS.steps),
    }
    if FLAGS.profile_dir:
        profile_steps(train_step, train_batches, FLAGS.profile_dir, FLAGS.steps)
    report(FLAGS.shape, shape, results, strategy)
    if FLAGS.json:
        print(
            json.dumps(
                {
                    f"{kind}_samples_per_s": round(shape["batch_size"] / statistics.median(results[kind][0]), 2)
                    for kind in ("train", "infer")
                }
            )
        )


if __name__ == "__main__":
    define_flags()
    app.run(main)
