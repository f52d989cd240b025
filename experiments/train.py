"""Train a model: `python -m experiments.train --model=vslnet --run_dir=runs/x [--data_dir ... --feature_dir ... --glove
...]`.

Without data flags it trains on the built-in synthetic benchmark (`--synthetic_preset`, generated once under
`--synthetic_dir`). The run directory receives `config.json` (every flag and the resolved data folder), the processed
data (vocabulary, filtered GloVe rows), checkpoints (training resumes from the latest), TensorBoard events,
`metrics.json` (test metrics in percent: `r1_iou03`, `r1_iou05`, `r1_iou07`, `miou`, labelled with the protocol)
and the SavedModel of the selected checkpoint (`saved_model/`, see `experiments.export`).
"""

import dataclasses
import json
import os
import sys
import tempfile

import tensorflow as tf
from absl import app, flags, logging

from common import registry
from common.data import dataset as dataset_lib
from common.data import synthetic
from common.export import saved_model
from common.training import distribute, run_directory
from common.training import flags as flags_lib
from common.training.trainer import Trainer
from experiments import flag_help

FLAGS = flags.FLAGS


def synthetic_data_dir(flag_values, strategy=None, scratch=None):
    """The synthetic preset's folder, generated (deterministically, seed 0) if absent.

    Under `multi_worker` the chief generates it and the other workers wait; a worker that does not see the chief's
    folder generates the same data under `scratch` (a folder it removes).
    """
    folder = os.path.abspath(os.path.join(flag_values.synthetic_dir, flag_values.synthetic_preset))
    chief = strategy is None or distribute.is_chief(strategy)
    if strategy is not None and not chief:
        distribute.barrier(strategy)
        if not os.path.exists(os.path.join(folder, "dataset.json")):
            folder = os.path.join(scratch, flag_values.synthetic_preset)
    if not os.path.exists(os.path.join(folder, "dataset.json")):
        print(f"generating the synthetic '{flag_values.synthetic_preset}' benchmark in {folder}", file=sys.stderr)
        synthetic.make_synthetic(folder, preset=flag_values.synthetic_preset, seed=0)
    if strategy is not None and chief:
        distribute.barrier(strategy)
    return folder


def initial_model_config(flag_values):
    """The model family's config with the `--quirks` preset applied (before the other flags)."""
    dataset = None if flags_lib.uses_synthetic(flag_values) else flag_values.dataset
    return registry.for_model(flag_values.model).initial_config(flag_values.quirks, dataset)


def prepare_data_on_chief(data_config, strategy, scratch):
    """The processed dataset, written by the chief; the other workers wait for it and read it where they see the
    chief's folder, else process the same data under `scratch` (a folder they remove)."""
    if distribute.is_chief(strategy):
        processed = dataset_lib.prepare_dataset(data_config)
        distribute.barrier(strategy)
        return processed
    distribute.barrier(strategy)
    if dataset_lib.is_current(data_config):
        return dataset_lib.load_processed(data_config.processed_dir)
    local = dataclasses.replace(data_config, processed_dir=os.path.join(scratch, "data"))
    return dataset_lib.prepare_dataset(local, progress=False)


def run(flag_values, strategy=None):
    """Train as the flags say and return the metrics dict (`strategy`: the one of `--strategy` if not given).

    Nothing is written into the run directory before the checks have passed: the run directory holds nothing or
    the same run (`run_directory.check_run_directory`), and the data is processed and validated (into a folder
    renamed into place when complete).
    """
    if not flag_values.run_dir:
        raise app.UsageError("--run_dir is required")
    strategy = strategy or distribute.get_strategy(flag_values.strategy)
    if distribute.is_chief(strategy):
        return _run(flag_values, strategy, None)
    with tempfile.TemporaryDirectory(prefix="nlvl-worker-") as scratch:
        return _run(flag_values, strategy, scratch)


def _run(flag_values, strategy, scratch):
    chief = scratch is None
    data_dir = synthetic_data_dir(flag_values, strategy, scratch) if flags_lib.uses_synthetic(flag_values) else None
    family = flags_lib.model_family(flag_values.model)
    model_config, data_config, trainer_config = flags_lib.build_configs(
        flag_values, initial_model_config(flag_values), data_dir
    )
    config = {
        "model_family": family,
        "flags": {name: flag_values[name].value for name in flag_values if name in _OUR_FLAGS},
        "model": dataclasses.asdict(model_config),
        "data": dataclasses.asdict(data_config),
        "data_dir": os.path.abspath(data_config.annotation_dir),
        "trainer": dataclasses.asdict(trainer_config),
        "data_sources": dataset_lib.source_digest(data_config),
    }
    if chief:
        run_directory.check_run_directory(
            flag_values.run_dir, config, data_change=lambda: dataset_lib.stale_reason(data_config)
        )
        hint = registry.get(family).original_quirks_hint
        if flag_values.quirks == "original" and hint:
            print(hint, file=sys.stderr)
    processed = prepare_data_on_chief(data_config, strategy, scratch)
    if chief:
        os.makedirs(flag_values.run_dir, exist_ok=True)
        with open(os.path.join(flag_values.run_dir, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
    task = registry.get(family).task_class(model_config)
    trainer = Trainer(
        task,
        processed,
        trainer_config,
        flag_values.run_dir,
        extend=model_config.extend,
        extension_length=getattr(model_config, "extension_length", "code"),
        strategy=strategy,
    )
    result = trainer.train()
    if chief:
        print(format_comparison(result, data_dir))
        if flag_values.export:
            export_dir = os.path.join(flag_values.run_dir, "saved_model")
            saved_model.export_run(flag_values.run_dir, export_dir)
            print(f"SavedModel of the selected checkpoint: {export_dir}")
        if registry.get(family).after_training is not None:
            registry.get(family).after_training(flag_values.run_dir)
    # The workers leave together: one that exits early is reported as a crashed task by the others.
    distribute.barrier(strategy)
    return result


def format_comparison(result, synthetic_dir=None):
    """The run's test metrics, and on the synthetic benchmark the query-blind baselines beside them."""
    keys = ("r1_iou03", "r1_iou05", "r1_iou07", "miou")
    rows = [(f"ours ({result['protocol']} protocol)", result)]
    if "strategies" in result:  # VSLNet-L: the main row is Pm; every strategy of the same checkpoint follows
        rows = [
            (f"ours {name} ({result['protocol']} protocol)", scores) for name, scores in result["strategies"].items()
        ]
    if synthetic_dir:
        with open(os.path.join(synthetic_dir, "baselines.json")) as f:
            rows += [(f"baseline: {name}", scores) for name, scores in json.load(f).items()]
    lines = [f"{'test split':34}" + "".join(f"{k:>10}" for k in keys)]
    lines += [f"{name:34}" + "".join(f"{scores[k]:10.2f}" for k in keys) for name, scores in rows]
    return "\n".join(lines)


_OUR_FLAGS = set()


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    distribute.split_cpu(FLAGS.cpu_devices)
    if FLAGS.deterministic:
        tf.config.experimental.enable_op_determinism()
    run(FLAGS)


def define_flags():
    before = set(FLAGS)
    flags_lib.define_flags()
    flags.DEFINE_bool("export", True, "Export the selected checkpoint as a SavedModel into RUN_DIR/saved_model.")
    _OUR_FLAGS.update(set(FLAGS) - before)


def help_groups():
    """The headings of `--help` (after `define_flags`)."""
    return flags_lib.help_groups() + [("export", ("export",))]


if __name__ == "__main__":
    define_flags()
    flag_help.run(main, help_groups(), defaults=flags_lib.model_defaults)
