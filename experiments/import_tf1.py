"""Import an original TF1 checkpoint into a run directory of ours.

    python -m experiments.import_tf1 --model={vslnet,lpnet} --checkpoint=PATH --out=RUN_DIR \
        [--word_vectors=word_vectors.npy] [--vocab=vocab.json] [--num_heads=8] [--params_override='{...}']

The checkpoint is read with `tf.train.load_checkpoint` (no TF1 graph code); every original variable is mapped to
our weights by the model's explicit table (`vslnet_tf/tf1_checkpoint.py`), and the import refuses, listing the
names, when a variable is missing, unexpected or of the wrong shape. The hyper-parameters the shapes determine
(d, Dv, char_dim, n_chars, max_pos_len, conv layers, predictor) are inferred; the others (`num_heads`, which no
shape shows, and the training settings) keep the original's defaults unless `--num_heads`/`--params_override`
say otherwise.

The run directory (usable by evaluation, export and training resume, like a run of `experiments.train`):
- `config.json`: `{"model_family": ..., "model": {config fields}, "data": {...}, "imported_from": PATH,
  "imported_global_step": N, "import": {...}}`, where `data` holds `num_words`, `num_chars`, `feature_dim`,
  `word_dim`, `max_pos_len`, `processed_dir` (= `RUN_DIR/data`), `word_vectors` and `vocab` (absolute paths; `vocab`
  is `null` unless `--vocab` was given: an original checkpoint carries no word list, only the vector table);
- `data/word_vectors.npy`: the checkpoint's frozen word table (ids ≥ 2), and `data/vocab.json` with `--vocab`;
- `checkpoints/ckpt-0`: `tf.train.Checkpoint(model=model)` saved by a `tf.train.CheckpointManager`. The trainer's
  `restore_or_initialize` restores the model from it; its step, optimizer and RNG states start fresh (the
  original's Adam slots are not imported). The import refuses (`CheckpointTrackingError`, nothing written) when
  such a checkpoint would not reach every weight of the model (`untracked_weights`);
- `tf1_import_table.txt`: the table that was applied, one `TF1 name  conversion  our weight(s)` row per variable.

A model family plugs in through its registry entry (`common.registry.Family.tf1_importer`, a
`common.checkpoint_conversion.tf1_import.TF1Importer`): `vslnet_tf/tf1_checkpoint.py` and
`lpnet_tf/tf1_checkpoint.py`.
"""

import dataclasses
import json
import os
import sys

import numpy as np
import tensorflow as tf
from absl import flags

from common import registry
from common.checkpoint_conversion import tf1_reader
from common.data import vocab as vocab_lib
from common.training import run_loader
from experiments import flag_help


class NotSupportedError(RuntimeError):
    """The model family has no TF1 import yet."""


class CheckpointTrackingError(RuntimeError):
    """`tf.train.Checkpoint(model=model)` would not save some of the model's weights."""


def family_for(model_family):
    """The registered family `model_family`, which must have a TF1 import (`Family.tf1_importer`)."""
    if model_family not in registry.families():
        raise ValueError(f"unknown model family {model_family!r}; expected one of {sorted(registry.families())}")
    family = registry.get(model_family)
    if family.tf1_importer is None:
        raise NotSupportedError(
            f"--model={model_family} is not yet supported: its family registers no TF1 import "
            "(`Family.tf1_importer`, an explicit variable table)"
        )
    return family


def check_checkpoint_tracking(model):
    """Raise `CheckpointTrackingError` listing the weights a `tf.train.Checkpoint` of `model` would lose."""
    lost = run_loader.untracked_weights(model)
    if lost:
        raise CheckpointTrackingError(
            f"tf.train.Checkpoint(model=...) would silently leave out {len(lost)} weights of {model.name}, so the "
            "run directory would lose them: " + ", ".join(lost) + ". Keras 3 does not checkpoint layers held only in "
            "a Python list (keras-team/keras#19425); the layers owning them must also assign each such sublayer to "
            'an attribute (e.g. `setattr(self, f"conv_{i}", conv)`). (The trainer\'s own checkpoints keep them only '
            "because its optimizer tracks the trainable variables by position.)"
        )


def _resolve_vocab_file(path):
    return os.path.join(path, "vocab.json") if os.path.isdir(path) else path


def import_to_run_dir(model_family, checkpoint, out, word_vectors=None, vocab=None, overrides=None, overwrite=False):
    """Import `checkpoint` and write the run directory `out` (module docstring).

    Args:
        model_family: `vslnet` (or `lpnet`, once it has a table).
        checkpoint: TF1 checkpoint prefix or folder.
        out: the run directory.
        word_vectors: optional `.npy` path of the frozen word vectors; must equal the checkpoint's word table.
        vocab: optional `vocab.json` (ours, `{"words": [...], "chars": [...]}`) or its folder; its sizes must match.
        overrides: optional dict of config fields (see the family's `infer_config`).
        overwrite: replace an existing `out/checkpoints`.

    Raises:
        NotSupportedError: the family has no import yet.
        TF1ImportError: the checkpoint does not match the family's table (every problem listed).
        CheckpointTrackingError: `tf.train.Checkpoint(model=model)` would not save every weight (nothing written).

    Returns:
        `(imported, config_dict)`: the family's import result and the `config.json` content.
    """
    family = family_for(model_family)
    importer = family.tf1_importer
    checkpoint_dir = os.path.join(out, "checkpoints")
    if tf.train.latest_checkpoint(checkpoint_dir) and not overwrite:
        raise FileExistsError(f"{checkpoint_dir} already holds a checkpoint; pass --overwrite to replace it")
    vectors = None if word_vectors is None else np.load(word_vectors)
    imported = importer.import_checkpoint(checkpoint, overrides=overrides, word_vectors=vectors)
    vocabulary = None
    if vocab is not None:
        with open(_resolve_vocab_file(vocab)) as f:
            words_and_chars = json.load(f)
        vocabulary = vocab_lib.Vocabulary(words_and_chars["words"], words_and_chars["chars"])
        if (vocabulary.num_words, vocabulary.num_chars) != (imported.data["num_words"], imported.data["num_chars"]):
            raise tf1_reader.TF1ImportError(
                f"the vocabulary has {vocabulary.num_words} words and {vocabulary.num_chars} chars, the checkpoint "
                f"{imported.data['num_words']} and {imported.data['num_chars']} (PAD and UNK included)"
            )
    check_checkpoint_tracking(imported.model)

    out = os.path.abspath(out)
    data_dir = os.path.join(out, "data")
    os.makedirs(data_dir, exist_ok=True)
    vectors_path = os.path.join(data_dir, "word_vectors.npy")
    np.save(vectors_path, imported.word_vectors)
    vocab_path = None
    if vocabulary is not None:
        vocabulary.save(data_dir)
        vocab_path = os.path.join(data_dir, "vocab.json")
    if overwrite and os.path.isdir(checkpoint_dir):
        for name in os.listdir(checkpoint_dir):
            if name == "checkpoint" or name.startswith("ckpt-"):
                os.remove(os.path.join(checkpoint_dir, name))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=imported.model), checkpoint_dir, max_to_keep=1)
    saved = manager.save(checkpoint_number=0)
    with open(os.path.join(out, "tf1_import_table.txt"), "w") as f:
        f.write(tf1_reader.format_table(importer.weight_table(imported.config)) + "\n")
    config = {
        "model_family": family.name,
        "model": dataclasses.asdict(imported.config),
        "data": {**imported.data, "processed_dir": data_dir, "word_vectors": vectors_path, "vocab": vocab_path},
        "imported_from": os.path.abspath(imported.report.checkpoint),
        "imported_global_step": imported.global_step,
        "import": {
            "checkpoint": saved,
            "assigned_variables": len(imported.report.assigned),
            "ignored_variables": len(imported.report.ignored),
            "table": os.path.join(out, "tf1_import_table.txt"),
        },
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return imported, config


def format_import(imported, config):
    """A short human-readable account of an import."""
    model_config = config["model"]
    keys = (
        "model",
        "hidden_dim",
        "num_heads",
        "word_dim",
        "char_dim",
        "max_pos_len",
        "kernel_size",
        "num_conv_layers",
        "predictor",
    )
    lines = [
        f"imported {config['imported_from']} (global_step {config['imported_global_step']})",
        "  " + imported.report.summary(),
        "  config: " + ", ".join(f"{k}={model_config[k]}" for k in keys if k in model_config),
        "  data: " + ", ".join(f"{k}={config['data'][k]}" for k in ("num_words", "num_chars", "feature_dim")),
        f"  checkpoint: {config['import']['checkpoint']}",
    ]
    if config["data"]["vocab"] is None:
        lines.append(
            "  no --vocab: the run has the word vector table but no word list; evaluation needs a "
            "processed dataset whose vocabulary has the same ids"
        )
    return "\n".join(lines)


def define_flags():
    """This entry point's flags (defined under `__main__` only, so importing defines none)."""
    flags.DEFINE_string(
        "model",
        None,
        "Model family of the checkpoint (a registered family with a TF1 import: vslnet, lpnet).",
        required=True,
    )
    flags.DEFINE_string("checkpoint", None, "TF1 checkpoint prefix (FOLDER/model.ckpt) or folder.", required=True)
    flags.DEFINE_string("out", None, "Run directory to write.", required=True)
    flags.DEFINE_string(
        "word_vectors", None, "Optional .npy of the frozen word vectors; must equal the checkpoint's word table."
    )
    flags.DEFINE_string("vocab", None, "Optional vocab.json (ours) of the same vocabulary, copied into the run.")
    flags.DEFINE_integer("num_heads", None, "Attention heads (no variable shape shows them; default 8).")
    flags.DEFINE_string(
        "params_override",
        None,
        "JSON object of config fields to set; fields the checkpoint's shapes determine must agree with them.",
    )
    flags.DEFINE_bool("overwrite", False, "Replace an existing checkpoint in --out.")


#: The headings of `--help` (`experiments.flag_help`).
HELP_GROUPS = (
    ("checkpoint", ("model", "checkpoint", "num_heads", "params_override", "word_vectors", "vocab")),
    ("output", ("out", "overwrite")),
)


def main(argv):
    del argv  # unused
    fv = flags.FLAGS
    overrides = json.loads(fv.params_override) if fv.params_override else {}
    if fv.num_heads is not None:
        overrides["num_heads"] = fv.num_heads
    try:
        imported, config = import_to_run_dir(
            fv.model,
            fv.checkpoint,
            fv.out,
            word_vectors=fv.word_vectors,
            vocab=fv.vocab,
            overrides=overrides,
            overwrite=fv.overwrite,
        )
    except (NotSupportedError, CheckpointTrackingError, ValueError, OSError) as error:  # TF1ImportError: ValueError
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    print(format_import(imported, config))


if __name__ == "__main__":
    define_flags()
    flag_help.run(main, HELP_GROUPS)
