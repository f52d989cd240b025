"""What a run directory is (`config.json`), and the check that a training run may write into one.

`config.json` records the model family, the resolved model, data and trainer configs, and `data_sources`, a
digest of the data's contents (`dataset.source_fingerprint`). A run may write into a directory that holds no run
(new, empty, or other files), or a run with the same record: it resumes that run. Only the keys of `RESUMABLE_KEYS` may
differ then: how long to train, how to run it, where the processed data lives. Anything else is refused before
the directory is touched, naming every key that differs.
"""

import json
import os

# Keys (dotted paths into `config.json`) that may change when a run is resumed.
RESUMABLE_KEYS = (
    "trainer.epochs",  # train longer (the learning-rate schedule then spans the new length)
    "trainer.max_steps",
    "trainer.verbose",
    "trainer.log_every",  # how often the progress is written
    "trainer.strategy",  # the same global batch on other devices
    "trainer.jit",
    "model.lstm_implementation",  # the same LSTM computed by another kernel
    "model.roi_align_implementation",  # the same RoIAlign samples (`--jit` picks `gather`)
    "data.processed_dir",
)


# What a run writes besides `config.json`; a folder holding any of them without a `config.json` is a damaged run.
RUN_OUTPUTS = (
    "checkpoints",
    "best",
    "tensorboard",
    "eval_history.jsonl",
    "metrics.json",
    "saved_model",
    "test_predictions.jsonl",
)


class RunDirectoryError(ValueError):
    """A run directory that this run must not write into; the message says why."""


def flatten(config, prefix=""):
    """`{"a": {"b": 1}}` → `{"a.b": 1}` (lists stay values)."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def read_config(run_dir):
    """The `config.json` of `run_dir`, or `None` if it has none."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def check_run_directory(run_dir, config, data_change=None):
    """Raise `RunDirectoryError` unless a run with `config` may write into `run_dir`.

    Args:
        run_dir: the run directory (need not exist).
        config: the `config.json` this run would write.
        data_change: optional callable giving a sentence on how the data changed, used when `data_sources`
            differs.
    """
    if not os.path.isdir(run_dir):
        return
    recorded = read_config(run_dir)
    if recorded is None:
        found = sorted(set(os.listdir(run_dir)) & set(RUN_OUTPUTS))
        if found:
            raise RunDirectoryError(
                f"--run_dir {run_dir} holds what a run writes ({', '.join(found)}) but no config.json, so nothing "
                "says which run it is; pass a new or empty one"
            )
        return
    old = flatten(recorded)
    new = flatten(json.loads(json.dumps(config)))
    if "data_sources" not in old:  # a run recorded before its data was fingerprinted
        new.pop("data_sources", None)
    keys = sorted(
        k
        for k in (set(old) | set(new)) - set(RESUMABLE_KEYS)
        if not k.startswith("flags.") and old.get(k) != new.get(k)
    )
    if not keys:
        return
    differences = [f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in keys if k != "data_sources"]
    if "data_sources" in keys:
        change = data_change() if data_change else None
        differences.append("the data changed since the run started" + (f" ({change})" if change else ""))
    what = "a run of another model" if "model_family" in keys or "model.model" in keys else "another run"
    raise RunDirectoryError(
        f"--run_dir {run_dir} holds {what}, which this one would overwrite: "
        + "; ".join(differences)
        + ". Pass a new --run_dir; a run resumes only with the same settings (what may change: README "
        "'Resuming a run')"
    )
