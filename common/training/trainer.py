"""The one training loop of both model families: `tf.function` steps under a `tf.distribute` strategy.

What the loop guarantees:
- **Order.** Epoch `e` sees `pipeline.epoch_order(seed, e)`; a run resumed from a checkpoint at step `t` continues
  with epoch `t // nb`, skipping its first `t % nb` batches, so it sees exactly the batches it would have seen.
- **Routing.** The task's `gradient_groups` are differentiated in one tape and applied in one optimizer step.
- **Selection protocols** (every result is labelled with its protocol):
  - `original`: the originals' schedule. The TEST split is evaluated when `step % (nb // 2) == 0` or
    `step % nb == 0` (1-based steps, fidelity VSLNet §4.4) and the checkpoint with the best test R@1 IoU 0.7
    (strict `>`) is kept. This selects on the test set; it is what the papers report.
  - `clean`: a fixed number of epochs. Evaluation happens at each epoch end; the reported test scores are those
    of the last epoch, or, where the dataset has a validation split, of the epoch with the best validation
    R@1 IoU 0.7.
- **Evaluation** scores every query of a split (the originals drop some) and raises if one has no prediction.
- **Distribution.** Every replica computes its rows of each global batch, padded to the global batch's shapes
  (`pipeline.make_dataset`), and each input pipeline reads only its replicas' features. Under `multi_worker`
  only the chief writes the run directory (`distribute` module docstring); every worker evaluates (the
  predictions are gathered from all replicas) and resumes from the chief's latest checkpoint.
"""

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time

import keras
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from common.data import labels, pipeline
from common.evaluation import metrics as metrics_lib
from common.progress import Progress
from common.training import checkpoint_layout, distribute

PROTOCOLS = ("original", "clean")
DTYPE_POLICIES = ("float32", "mixed_bfloat16")
# TensorFlow 2.21 no longer installs the `tensorboard` package that `tf.summary.scalar` needs; writing the scalar
# plugin's summary directly keeps TensorBoard scalars without that dependency.
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
    data_class=summary_pb2.DATA_CLASS_SCALAR,
).SerializeToString()
SELECTION_KEY = "r1_iou07"


@dataclasses.dataclass
class TrainerConfig:
    """Loop settings.

    Attributes:
        epochs: training epochs.
        batch_size: global batch size.
        seed: seeds Python, NumPy, TF and Keras, the data order and dropout.
        strategy: `default`, `mirrored` or `multi_worker`.
        jit: compile the train step with XLA.
        drop_last_train: drop the last partial training batch (LPNet's original code does).
        protocol: `original` or `clean` (module docstring).
        max_steps: stop after this many updates (0: epochs × batches per epoch). For smoke runs.
        log_every: steps between TensorBoard loss scalars, and between two progress lines where the progress goes
            to a file or a pipe (`common.progress`).
        keep_checkpoints: how many recent checkpoints to keep for resuming.
        verbose: show the progress of each epoch (a bar on a terminal, else a line every `log_every` steps) and
            one line per evaluation.
        dtype_policy: `float32`, or `mixed_bfloat16` (computations in bfloat16; variables, losses, logits,
            masks, boxes and decoding in float32). `mixed_float16` is not offered: the originals' mask value −1e30
            does not exist in float16, and a different constant would change their numerics.
    """

    epochs: int = 100
    batch_size: int = 16
    seed: int = 12345
    strategy: str = "default"
    jit: bool = False
    drop_last_train: bool = False
    protocol: str = "original"
    max_steps: int = 0
    log_every: int = 20
    keep_checkpoints: int = 3
    verbose: bool = True
    dtype_policy: str = "float32"

    def validate(self):
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; expected one of {PROTOCOLS}")
        if self.strategy not in distribute.STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; expected one of {distribute.STRATEGIES}")
        if self.dtype_policy not in DTYPE_POLICIES:
            raise ValueError(f"unknown dtype_policy {self.dtype_policy!r}; expected one of {DTYPE_POLICIES}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")


def write_scalar(tag, value, step):
    """A TensorBoard scalar at `step` in the default summary writer."""
    tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=_SCALAR_METADATA)


@contextlib.contextmanager
def dtype_policy_scope(name):
    """Layers built inside take the Keras dtype policy `name`; the global policy is restored on exit."""
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def set_seed(seed):
    keras.utils.set_random_seed(seed)


def data_info(processed):
    return {
        "feature_dim": processed.feature_dim,
        "word_vectors": processed.word_vectors,
        "num_chars": processed.vocab.num_chars,
        "max_pos_len": processed.meta["max_pos_len"],
        "label_rule": processed_label_rule(processed),
    }


def processed_label_rule(processed):
    """The seconds ↔ index rule the processed folder was built with (`meta.json`; folders from before the option
    used the code's `iou_argmax`)."""
    return processed.meta.get("label_rule", "iou_argmax")


def prediction_keys(prediction_strategies):
    """The outputs of `predict_step` that `predict_split` reads (only these leave the device: VSLNet-L also returns
    `[B, S, n]` probabilities)."""
    keys = ["example_index", "start_index", "end_index", "score"]
    keys += [f"{name}_{key}" for name in prediction_strategies[1:] for key in ("start_index", "end_index")]
    return keys


def make_predict_fn(task, model, strategy):
    """Runs `task.predict_step` on a distributed batch and returns the `prediction_keys` of every replica's rows,
    concatenated in replica order. One `tf.function` trace per batch structure, with `None` batch and time
    dimensions (padding per batch would otherwise retrace for every new length); the gather across replicas is
    inside it for the same reason."""
    traced = {}
    keys = prediction_keys(task.prediction_strategies)

    def replica_predict(batch):
        outputs = dict(task.predict_step(model, batch), example_index=batch["example_index"])
        return {key: outputs[key] for key in keys}

    def predict_batch(batch):
        outputs = strategy.run(replica_predict, args=(batch,))
        if strategy.num_replicas_in_sync == 1:
            return outputs
        return {key: strategy.gather(value, axis=0) for key, value in outputs.items()}

    def predict(batch, element_spec):
        key = str(element_spec)
        if key not in traced:
            traced[key] = tf.function(predict_batch, input_signature=[element_spec])
        return traced[key](batch)

    return predict


def predict_split(
    predict_fn,
    examples,
    store,
    *,
    batch_size,
    max_pos_len,
    feature_dim,
    extend,
    strategy=None,
    extension_length="code",
    label_rule="iou_argmax",
    prediction_strategies=(None,),
    progress_label=None,
):
    """Predictions for every example of a split, in file order.

    Args:
        predict_fn: from `make_predict_fn`.
        progress_label: show the progress over the batches under this label (`common.progress`; an evaluation
            that takes over a second), or nothing (`None`).
        prediction_strategies: the task's `prediction_strategies`; each alternative answer `name` (after the
            first) is read from `{name}_start_index` / `{name}_end_index` into `p["strategies"][name]`.
        extension_length: as `pipeline.make_dataset` (highlight labels only; predictions do not depend on it).
        label_rule: the processed folder's rule; indices are converted by `labels.index_to_time(..., rule=...)`.

    Returns:
        dict qid → `{"start": s, "end": e, "score": p, "start_index": i, "end_index": j}` (seconds, from the
        predicted indices by `labels.index_to_time` with `label_rule` and the example's `v_len` and duration),
        plus `"strategies": {name: {"start", "end", "start_index", "end_index"}}` for alternative answers.
    """
    strategy = strategy or tf.distribute.get_strategy()
    predictions = {}
    dist = distribute.distribute_batches(
        strategy,
        lambda **replicas: pipeline.make_dataset(
            examples,
            store,
            batch_size=batch_size,
            max_pos_len=max_pos_len,
            feature_dim=feature_dim,
            training=False,
            extend=extend,
            extension_length=extension_length,
            **replicas,
        ),
    )
    predicting = Progress(
        pipeline.num_batches(len(examples), batch_size, False),
        progress_label,
        unit="batch",
        units="batches",
        delay=1.0,
        enabled=progress_label is not None,
    )
    for done, batch in enumerate(dist, start=1):
        outputs = {k: v.numpy() for k, v in predict_fn(batch, dist.element_spec).items()}
        predicting.update(done)
        for row, index in enumerate(outputs["example_index"]):
            if index < 0:  # the stand-in row of a replica without rows (`pipeline` module docstring)
                continue
            example = examples[int(index)]
            s_idx, e_idx = int(outputs["start_index"][row]), int(outputs["end_index"][row])
            start, end = labels.index_to_time(s_idx, e_idx, example["v_len"], example["duration"], rule=label_rule)
            prediction = {
                "start": start,
                "end": end,
                "score": float(outputs["score"][row]),
                "start_index": s_idx,
                "end_index": e_idx,
            }
            for name in prediction_strategies[1:]:
                alt_s = int(outputs[f"{name}_start_index"][row])
                alt_e = int(outputs[f"{name}_end_index"][row])
                alt_start, alt_end = labels.index_to_time(
                    alt_s, alt_e, example["v_len"], example["duration"], rule=label_rule
                )
                prediction.setdefault("strategies", {})[name] = {
                    "start": alt_start,
                    "end": alt_end,
                    "start_index": alt_s,
                    "end_index": alt_e,
                }
            predictions[example["qid"]] = prediction
    predicting.finish()
    return predictions


def strategy_moments(predictions, name=None):
    """qid → (start, end) seconds of the answer `name` (`None` or the main strategy's name: the main answer)."""

    def moment(p):
        alternative = p.get("strategies", {}).get(name) if name is not None else None
        chosen = alternative or p
        return chosen["start"], chosen["end"]

    return {qid: moment(p) for qid, p in predictions.items()}


def score_predictions(predictions, examples, prediction_strategies=(None,)):
    """Metrics (percent) of `predictions` against the examples' clamped ground truth; every query must be scored.

    With several `prediction_strategies` the main answer's metrics are at the top level and every strategy's
    (the main one included) under `"strategies"`.
    """
    ground_truth = {ex["qid"]: (ex["start_time"], ex["end_time"], ex["duration"]) for ex in examples}
    result = metrics_lib.evaluate_predictions(strategy_moments(predictions), ground_truth)
    if len(prediction_strategies) > 1:
        result["strategies"] = {prediction_strategies[0]: dict(result)}
        for name in prediction_strategies[1:]:
            result["strategies"][name] = metrics_lib.evaluate_predictions(
                strategy_moments(predictions, name), ground_truth
            )
    return result


def write_predictions(path, predictions, name=None):
    """`qid, pred_windows [[start, end, score]]` JSON lines of the answer `name` (main answer: `None`)."""
    moments = strategy_moments(predictions, name)
    with open(path, "w") as f:
        for qid, p in predictions.items():
            start, end = moments[qid]
            f.write(json.dumps({"qid": qid, "pred_windows": [[start, end, p["score"]]]}) + "\n")


def apply_routed_gradients(task, model, optimizer, batch):
    """One replica's update: `task.compute_losses` under one tape, each of `task.gradient_groups` differentiated
    for its own variables, all gradients applied in one optimizer step. Returns the losses dict."""
    groups = task.gradient_groups(model)
    with tf.GradientTape(persistent=len(groups) > 1) as tape:
        losses = task.compute_losses(model, batch, training=True)
    grads_and_vars = []
    for name, variables in groups:
        grads = tape.gradient(losses[name], variables)
        grads_and_vars.extend((g, v) for g, v in zip(grads, variables) if g is not None)
    optimizer.apply_gradients(grads_and_vars)
    return losses


def make_train_step(task, model, optimizer, strategy, step, element_spec, jit=False):
    """The training step of the loop: a `tf.function` over one (distributed) batch of `element_spec` that runs
    `apply_routed_gradients` on every replica, increments `step` and returns the losses summed over replicas
    (each replica's entry is its share of the global-batch value, so the sum is the global loss).

    Built inside `strategy.scope()` with the model and optimizer of that scope; `benchmarks/speed.py` times this
    very function.
    """

    def train_step(batch):
        losses = strategy.run(lambda b: apply_routed_gradients(task, model, optimizer, b), args=(batch,))
        step.assign_add(1)
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in losses.items()}

    return tf.function(train_step, input_signature=[element_spec], jit_compile=jit or None)


class Trainer:
    """Trains `task` on a processed dataset into `run_dir` (checkpoints, TensorBoard events, metrics).

    Args:
        task: a `common.training.task.Task`.
        processed: a `common.data.dataset.ProcessedDataset`.
        config: `TrainerConfig`.
        run_dir: the run directory.
        extend: highlight extension α used to build the labels.
        extension_length: `"code"` (L = a_e − a_s + 1) or `"paper"` (L = a_e − a_s): the length α multiplies
            (fidelity VSLNet §6 #6; `pipeline.make_dataset`).
        strategy: the `tf.distribute` strategy (default: `distribute.get_strategy(config.strategy)`). A
            `multi_worker` strategy must be created first thing in the program, so entry points pass theirs.

    Predicted indices are converted to seconds with the inverse of the processed folder's `label_rule`.
    """

    def __init__(self, task, processed, config, run_dir, extend=0.1, extension_length="code", strategy=None):
        config.validate()
        self.task = task
        self.processed = processed
        self.config = config
        self.run_dir = run_dir
        self.extend = extend
        self.extension_length = extension_length
        self.label_rule = processed_label_rule(processed)
        self.strategy = strategy or distribute.get_strategy(config.strategy)
        self.is_chief = distribute.is_chief(self.strategy)
        # Checkpoints of a worker other than the chief: every worker must take part in a save, only the chief's
        # are kept.
        checkpoint_root = run_dir if self.is_chief else tempfile.mkdtemp(prefix="nlvl-worker-checkpoints-")
        self._worker_checkpoint_root = None if self.is_chief else checkpoint_root
        self.store = processed.open_features()
        self.train_examples = processed.splits["train"]
        self.batches_per_epoch = pipeline.num_batches(
            len(self.train_examples), config.batch_size, config.drop_last_train
        )
        self.total_steps = self.batches_per_epoch * config.epochs
        if config.max_steps:
            self.total_steps = min(self.total_steps, config.max_steps)
        set_seed(config.seed)
        with self.strategy.scope(), dtype_policy_scope(config.dtype_policy):
            self.model = task.build_model(data_info(processed))
            self.optimizer = task.build_optimizer(self.batches_per_epoch * config.epochs)
            task.prepare_optimizer(self.optimizer, self.model)
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self.best_score = tf.Variable(-1.0, dtype=tf.float64, trainable=False, name="best_score")
        # Keras keeps dropout RNG states outside `weights` and `tf.train.Checkpoint` skips them; they are saved
        # explicitly so that a resumed run draws the same dropout masks as an uninterrupted one.
        weight_ids = {id(v) for v in self.model.weights}
        rng_states = [v for v in self.model.variables if id(v) not in weight_ids]
        self._checkpointed = {
            "optimizer": self.optimizer,
            "step": self.step,
            "best_score": self.best_score,
            "rng_states": rng_states,
        }
        self.checkpoint = tf.train.Checkpoint(model=self.model, **self._checkpointed)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint,
            os.path.join(checkpoint_root, "checkpoints"),
            max_to_keep=config.keep_checkpoints,
            step_counter=self.step,
        )
        self.best_manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(checkpoint_root, "best"), max_to_keep=1, step_counter=self.step
        )
        self.writer = (
            tf.summary.create_file_writer(os.path.join(run_dir, "tensorboard"))
            if self.is_chief
            else tf.summary.create_noop_writer()
        )
        self._train_step = None
        self._predict_fn = make_predict_fn(task, self.model, self.strategy)

    # === Steps ===

    def _replica_step(self, batch):
        return apply_routed_gradients(self.task, self.model, self.optimizer, batch)

    def _build_train_step(self, element_spec):
        return make_train_step(
            self.task, self.model, self.optimizer, self.strategy, self.step, element_spec, jit=self.config.jit
        )

    # === Evaluation ===

    def evaluate(self, split):
        predictions = predict_split(
            self._predict_fn,
            self.processed.splits[split],
            self.store,
            batch_size=self.config.batch_size,
            max_pos_len=self.processed.meta["max_pos_len"],
            feature_dim=self.processed.feature_dim,
            extend=self.extend,
            strategy=self.strategy,
            extension_length=self.extension_length,
            label_rule=self.label_rule,
            prediction_strategies=self.task.prediction_strategies,
        )
        return (
            score_predictions(predictions, self.processed.splits[split], self.task.prediction_strategies),
            predictions,
        )

    def _should_evaluate(self, step):
        nb = self.batches_per_epoch
        if self.config.protocol == "original":
            half = max(1, nb // 2)
            return step % half == 0 or step % nb == 0 or step == self.total_steps
        return step % nb == 0 or step == self.total_steps

    def _selection_split(self):
        if self.config.protocol == "original":
            return "test"
        return "val" if "val" in self.processed.splits else None

    # === Loop ===

    def _restore(self):
        """Restores the chief's latest checkpoint, if any, on every worker; returns its path or `None`."""
        path = tf.train.latest_checkpoint(os.path.join(self.run_dir, "checkpoints"))
        if path:
            checkpoint_layout.restore(path, self.model, **self._checkpointed)
        step = int(self.step.numpy())
        if not distribute.same_on_every_worker(self.strategy, step):
            raise RuntimeError(
                f"this worker resumed at step {step} but another worker did not: a resumed multi-worker run needs "
                f"its run directory ({self.run_dir}) on a file system that every worker reads"
            )
        return path

    def train(self):
        """Train (resuming from the latest checkpoint if any) and return the final metrics dict."""
        restored = self._restore()
        verbose = self.config.verbose and self.is_chief
        if restored and verbose:
            print(f"resumed from {restored} at step {int(self.step.numpy())}", file=sys.stderr)
        history_path = os.path.join(self.run_dir, "eval_history.jsonl")
        step = int(self.step.numpy())
        nb = self.batches_per_epoch
        while step < self.total_steps:
            epoch, skip = divmod(step, nb)
            dist = distribute.distribute_batches(
                self.strategy,
                lambda **replicas: pipeline.make_dataset(
                    self.train_examples,
                    self.store,
                    batch_size=self.config.batch_size,
                    max_pos_len=self.processed.meta["max_pos_len"],
                    feature_dim=self.processed.feature_dim,
                    training=True,
                    seed=self.config.seed,
                    epoch=epoch,
                    drop_remainder=self.config.drop_last_train,
                    extend=self.extend,
                    extension_length=self.extension_length,
                    skip_batches=skip,
                    label_fn=self.task.build_labels,
                    **replicas,
                ),
            )
            if self._train_step is None:
                self._train_step = self._build_train_step(dist.element_spec)
            progress = Progress(
                nb,
                f"epoch {epoch + 1}/{self.config.epochs}",
                unit="batch",
                units="batches",
                every=self.config.log_every,
                enabled=verbose,
            )
            if skip:
                progress.update(skip)
            started = time.time()
            for batch in dist:
                losses = self._train_step(batch)
                step += 1
                values = {k: float(v) for k, v in losses.items()}
                progress.update(step - epoch * nb, values)
                if step % self.config.log_every == 0:
                    with self.writer.as_default(step=step):
                        for k, v in values.items():
                            write_scalar(f"loss/{k}", v, step)
                        write_scalar("learning_rate", float(self._learning_rate()), step)
                if self._should_evaluate(step):
                    self._evaluate_and_select(step, epoch, history_path, progress)
                if step >= self.total_steps:
                    break
            progress.finish()
            with self.writer.as_default(step=step):
                write_scalar("epoch_seconds", time.time() - started, step)
        return self.finish()

    def _learning_rate(self):
        lr = self.optimizer.learning_rate
        return lr(self.optimizer.iterations) if callable(lr) else lr

    def _evaluate_and_select(self, step, epoch, history_path, progress):
        record = {"step": step, "epoch": epoch + 1}
        for split in ("val", "test"):
            if split in self.processed.splits:
                record[split], _ = self.evaluate(split)
        with self.writer.as_default(step=step):
            for split in ("val", "test"):
                metrics = record.get(split, {})
                for k, v in metrics.items():
                    if k not in ("count", "strategies"):
                        write_scalar(f"{split}/{k}", v, step)
                for name, values in metrics.get("strategies", {}).items():
                    for k, v in values.items():
                        if k != "count":
                            write_scalar(f"{split}/{name}/{k}", v, step)
        selection = self._selection_split()
        improved = False
        if selection is not None:
            score = record[selection][SELECTION_KEY]
            if score > self.best_score.numpy():
                self.best_score.assign(score)
                self.best_manager.save(checkpoint_number=step)
                improved = True
        self.manager.save(checkpoint_number=step)
        record["selected"] = improved
        if not self.is_chief:
            return
        with open(history_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        test = record.get("test", {})
        progress.message(
            f"step {step} (epoch {epoch + 1}): test "
            + " ".join(f"{k}={test[k]:.2f}" for k in ("r1_iou03", "r1_iou05", "r1_iou07", "miou") if k in test)
            + (" [best]" if improved else "")
        )

    def finish(self):
        """Write `metrics.json` for the protocol's selected checkpoint (the chief) and restore it into the model;
        a worker other than the chief removes its checkpoints."""
        try:
            return self._finish()
        finally:
            if self._worker_checkpoint_root:
                shutil.rmtree(self._worker_checkpoint_root, ignore_errors=True)

    def _finish(self):
        last_test, last_predictions = self.evaluate("test")
        selection = self._selection_split()
        selected_path = self.best_manager.latest_checkpoint if selection is not None else None
        if selected_path:
            self.checkpoint.restore(selected_path).expect_partial()
            selected_test, predictions = self.evaluate("test")
        else:
            selected_test, predictions = last_test, last_predictions
        result = dict(selected_test)
        result.update(
            {
                "protocol": self.config.protocol,
                "selection": {
                    "original": "best test R@1 IoU 0.7 (the originals' test-set selection)",
                    "clean": "best validation R@1 IoU 0.7" if selection else "last epoch",
                }[self.config.protocol],
                "selected_checkpoint": selected_path or self.manager.latest_checkpoint,
                "last_epoch_test": last_test,
                "steps": int(self.step.numpy()),
            }
        )
        if not self.is_chief:
            return result
        with open(os.path.join(self.run_dir, "metrics.json"), "w") as f:
            json.dump(result, f, indent=2)
        write_predictions(os.path.join(self.run_dir, "test_predictions.jsonl"), predictions)
        for name in self.task.prediction_strategies[1:]:
            write_predictions(os.path.join(self.run_dir, f"test_predictions_{name}.jsonl"), predictions, name)
        return result
