"""Train a model: `python -m experiments.train --model=vslnet --run_dir=runs/x [--data_dir ... --feature_dir ... --glove ...]`.

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

from absl import app
from absl import flags
from absl import logging

from common.data import dataset as dataset_lib
from common.data import synthetic
from common.export import saved_model
from common.training import flags as flags_lib
from common.training.trainer import Trainer
from experiments import plot_proposals
from lpnet_tf import config as lpnet_config
from lpnet_tf.task import LPNetTask
from vslnet_tf import config as vslnet_config
from vslnet_tf.task import VSLNetTask

FLAGS = flags.FLAGS


def synthetic_data_dir(flag_values):
    """The synthetic preset's folder, generated (deterministically, seed 0) if absent."""
    folder = os.path.abspath(os.path.join(flag_values.synthetic_dir, flag_values.synthetic_preset))
    if not os.path.exists(os.path.join(folder, "dataset.json")):
        print(f"generating the synthetic '{flag_values.synthetic_preset}' benchmark in {folder}", file=sys.stderr)
        synthetic.make_synthetic(folder, preset=flag_values.synthetic_preset, seed=0)
    return folder


def initial_model_config(flag_values):
    """The model family's config with the `--quirks` preset applied (before the other flags)."""
    if flags_lib.model_family(flag_values.model) == "lpnet":
        dataset = None if flags_lib.uses_synthetic(flag_values) else flag_values.dataset
        return lpnet_config.apply_quirks(lpnet_config.LPNetConfig(), flag_values.quirks, dataset=dataset)
    return vslnet_config.apply_quirks(vslnet_config.VSLNetConfig(), flag_values.quirks)


def build_task(family, model_config):
    return LPNetTask(model_config) if family == "lpnet" else VSLNetTask(model_config)


def run(flag_values):
    """Train as the flags say and return the metrics dict."""
    if not flag_values.run_dir:
        raise app.UsageError("--run_dir is required")
    os.makedirs(flag_values.run_dir, exist_ok=True)
    data_dir = synthetic_data_dir(flag_values) if flags_lib.uses_synthetic(flag_values) else None
    family = flags_lib.model_family(flag_values.model)
    model_config, data_config, trainer_config = flags_lib.build_configs(
        flag_values, initial_model_config(flag_values), data_dir)
    config = {
        "model_family": family,
        "flags": {name: flag_values[name].value for name in flag_values if name in _OUR_FLAGS},
        "model": dataclasses.asdict(model_config),
        "data": dataclasses.asdict(data_config),
        "data_dir": os.path.abspath(data_config.annotation_dir),
        "trainer": dataclasses.asdict(trainer_config),
    }
    with open(os.path.join(flag_values.run_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    processed = dataset_lib.prepare_dataset(data_config)
    trainer = Trainer(build_task(family, model_config), processed, trainer_config, flag_values.run_dir,
                      extend=model_config.extend,
                      extension_length=getattr(model_config, "extension_length", "code"))
    result = trainer.train()
    print(format_comparison(result, data_dir))
    if flag_values.export:
        export_dir = os.path.join(flag_values.run_dir, "saved_model")
        saved_model.export_run(flag_values.run_dir, export_dir)
        print(f"SavedModel of the selected checkpoint: {export_dir}")
    if family == "lpnet":
        plot_proposals.plot_run(flag_values.run_dir, missing_ok=True)
    return result


def format_comparison(result, synthetic_dir=None):
    """The run's test metrics, and on the synthetic benchmark the query-blind baselines beside them."""
    keys = ("r1_iou03", "r1_iou05", "r1_iou07", "miou")
    rows = [(f"ours ({result['protocol']} protocol)", result)]
    if "strategies" in result:  # VSLNet-L: the main row is Pm; every strategy of the same checkpoint follows
        rows = [(f"ours {name} ({result['protocol']} protocol)", scores)
                for name, scores in result["strategies"].items()]
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
    run(FLAGS)


def define_flags():
    before = set(FLAGS)
    flags_lib.define_flags()
    flags.DEFINE_bool("export", True, "Export the selected checkpoint as a SavedModel into RUN_DIR/saved_model.")
    _OUR_FLAGS.update(set(FLAGS) - before)


if __name__ == "__main__":
    define_flags()
    app.run(main)
