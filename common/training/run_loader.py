"""Rebuilding the trained model of a run directory (written by `experiments.train` or `experiments.import_tf1`):
its config, data sizes, vocabulary and selected checkpoint, for evaluation, prediction and export."""

import dataclasses
import json
import os

import keras
import numpy as np
import tensorflow as tf

from common import registry
from common.data import dataset as dataset_lib
from common.data import vocab as vocab_lib
from common.training import checkpoint_layout
from common.training import trainer as trainer_lib


@dataclasses.dataclass
class LoadedRun:
    """A trained model rebuilt from a run directory.

    Attributes:
        model: the `VSLNet` or `LPNet` with the selected checkpoint restored.
        config: its `VSLNetConfig` or `LPNetConfig`.
        vocab: the `Vocabulary` (`None` for an imported TF1 run without a word list).
        max_pos_len: resampling bound of the processed data.
        feature_dim: `Dv`.
        checkpoint: the restored checkpoint path.
        run_config: the parsed `config.json`.
        family: `vslnet` (VSLNet / VSLBase) or `lpnet`.
        task: the family's `Task` (`VSLNetTask` / `LPNetTask`) of `config`, e.g. for its `predict_step`.
    """

    model: keras.Model
    config: object
    vocab: object
    max_pos_len: int
    feature_dim: int
    checkpoint: str
    run_config: dict
    family: str = "vslnet"
    task: object = None

    @property
    def model_name(self):
        """`vslnet`, `vslbase` or `lpnet`."""
        return registry.model_name(self.config)


def resolve_run_path(path, run_dir):
    """`path` as recorded in a run's `config.json`: absolute, relative to the run, or to the working directory.

    The run's own folder wins: the working directory of a repository where the README's command ran holds a
    `data/` too (the synthetic benchmark), which is not the `data` of a run that records `"processed_dir": "data"`.
    """
    if os.path.isabs(path) or not os.path.exists(os.path.join(run_dir, path)):
        return path
    return os.path.join(run_dir, path)


def select_checkpoint(run_dir):
    """`RUN/best/ckpt-*` if present (the trainer's selected checkpoint), else the latest `RUN/checkpoints/ckpt-*`."""
    for sub in ("best", "checkpoints"):
        path = tf.train.latest_checkpoint(os.path.join(run_dir, sub))
        if path:
            return path
    raise FileNotFoundError(f"no checkpoint in {run_dir}/best or {run_dir}/checkpoints")


def _data_info(run_config, run_dir):
    """`(data_info, vocab)` of a run: from the processed folder (`meta.json`, `vocab.json`, `word_vectors.npy`), or,
    for an imported TF1 run (whose data folder has no `meta.json` and maybe no `vocab.json`), from the sizes that
    `config.json` records (then `vocab` is `None`)."""
    data = run_config.get("data", {})
    if not data.get("processed_dir"):
        raise ValueError(f"{run_dir}/config.json has no data.processed_dir")
    folder = resolve_run_path(data["processed_dir"], run_dir)
    if os.path.exists(os.path.join(folder, "meta.json")) and os.path.exists(os.path.join(folder, "vocab.json")):
        with open(os.path.join(folder, "meta.json")) as f:
            meta = json.load(f)
        processed = dataset_lib.ProcessedDataset(  # examples are not needed: no split is read
            folder=folder,
            vocab=vocab_lib.Vocabulary.load(folder),
            word_vectors=np.load(os.path.join(folder, "word_vectors.npy")),
            splits={},
            meta=meta,
        )
        return trainer_lib.data_info(processed), processed.vocab
    missing = [k for k in ("feature_dim", "max_pos_len", "num_chars") if k not in data]
    if missing:
        raise FileNotFoundError(f"{folder} has no meta.json/vocab.json and config.json's data lacks {missing}")
    vectors_path = resolve_run_path(data.get("word_vectors") or os.path.join(folder, "word_vectors.npy"), run_dir)
    vocab = vocab_lib.Vocabulary.load(folder) if os.path.exists(os.path.join(folder, "vocab.json")) else None
    info = {
        "feature_dim": data["feature_dim"],
        "word_vectors": np.load(vectors_path),
        "num_chars": data["num_chars"],
        "max_pos_len": data["max_pos_len"],
    }
    return info, vocab


def untracked_weights(model):
    """Paths of the weights of `model` that `tf.train.Checkpoint(model=model)` does not reach.

    Such weights are neither saved nor restored by the trainer's checkpoints. With Keras 3, sublayers kept only in a
    Python list are invisible to `tf.train.Checkpoint` (assigning each one to an attribute makes it visible).
    """
    root = tf.train.Checkpoint(model=model)
    reachable = {id(x) for x in tf.train.TrackableView(root).descendants()}
    return [w.path for w in model.weights if id(w) not in reachable]


def load_run(run_dir, checkpoint=None, require_vocab=False, portable=False):
    """Rebuild the model of a run directory and restore its selected weights.

    Contract (written by `experiments.train` and `experiments.import_tf1`): `RUN/config.json` holds
    `{"model_family": "vslnet" | "lpnet", "model": {VSLNetConfig or LPNetConfig fields}, "data": {"processed_dir":
    ...}, ...}` (no `model_family`: `vslnet`); the processed
    folder holds `vocab.json`, `word_vectors.npy` and `meta.json` (`feature_dim`, `max_pos_len`); the weights are a
    `tf.train.Checkpoint(model=..., ...)` (`select_checkpoint`).

    Args:
        run_dir: the run directory.
        checkpoint: optional checkpoint path overriding `select_checkpoint(run_dir)`.
        require_vocab: fail (before building the model) when the run has no `vocab.json`.
        portable: build what runs on every device: an `auto` LSTM implementation becomes `sequence`, since a
            graph traced with cuDNN's LSTM has no CPU kernel (for exports).

    Returns:
        `LoadedRun`.

    Raises:
        ValueError: unsupported model family, inconsistent sizes, or model weights that a `tf.train.Checkpoint`
            cannot hold (`untracked_weights`).
        FileNotFoundError: missing config, processed data or checkpoint.
    """
    with open(os.path.join(run_dir, "config.json")) as f:
        run_config = json.load(f)
    family = run_config.get("model_family", "vslnet")
    if family not in registry.families():
        raise ValueError(f"{run_dir} is a {family!r} run; supported model families: {sorted(registry.families())}")
    config = registry.get(family).config_class(**run_config["model"]).validate()
    if portable and getattr(config, "lstm_implementation", None) == "auto":
        config.lstm_implementation = "sequence"
    info, vocab = _data_info(run_config, run_dir)
    if require_vocab and vocab is None:
        raise ValueError(
            f"{run_dir} has no vocab.json: reading a raw query needs the word list the model was "
            "trained with (for an imported TF1 checkpoint, re-import it with --vocab)"
        )
    if info["max_pos_len"] > config.max_pos_len:
        raise ValueError(
            f"the data was resampled to {info['max_pos_len']} clips but the model's position tables "
            f"hold {config.max_pos_len}"
        )
    task = registry.get(family).task_class(config)
    model = task.build_model(info)
    missing = untracked_weights(model)
    if missing:
        raise ValueError(
            f"tf.train.Checkpoint does not track {len(missing)} of the model's weights ({', '.join(missing[:3])}, ...),"
            " so no checkpoint holds them and a restored model would keep their random initial values. Sublayers "
            "kept only in Python lists are invisible to tf.train.Checkpoint with Keras 3; the layers must assign each "
            "one to an attribute."
        )
    checkpoint = checkpoint or select_checkpoint(run_dir)
    status = checkpoint_layout.restore(checkpoint, model).expect_partial()
    status.assert_existing_objects_matched()
    return LoadedRun(
        model=model,
        config=config,
        vocab=vocab,
        max_pos_len=int(info["max_pos_len"]),
        feature_dim=int(info["feature_dim"]),
        checkpoint=checkpoint,
        run_config=run_config,
        family=family,
        task=task,
    )
