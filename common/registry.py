"""The model families, looked up by name: `common/` finds a family here and never imports one.

A family (VSLNet, LPNet, ...) is a package that describes itself with a `Family` and calls `register` when it is
imported. The installed families are found through the `nlvl_tf.families` entry points (`setup.py`), loaded on the
first lookup; a family outside the package (a test's toy family, a user's own) registers itself by import.
"""

import dataclasses
from collections.abc import Callable
from importlib import metadata

ENTRY_POINT_GROUP = "nlvl_tf.families"


@dataclasses.dataclass(frozen=True)
class Family:
    """What `common/` and the entry points need to know of a model family.

    Attributes:
        name: the `model_family` recorded in a run's `config.json` (`vslnet`, `lpnet`).
        models: the `--model` names it builds (`vslbase`, `vslnet`, `vslnet_l`).
        config_class: its model config dataclass (with `validate()`).
        task_class: its `common.training.task.Task`, built from a config.
        serving_functions: `(model, vocab, *, max_pos_len, feature_dim) -> ServingFunctions` of a built model.
        initial_config: `(quirks, dataset) -> config`: the default config with the `--quirks` preset applied
            (`dataset`: the `--dataset`, `None` on the synthetic benchmark), before the other flags.
        trainer_quirks: `quirks -> dict` of `TrainerConfig` fields that the preset sets (the originals' trainer
            defects).
        synthetic_defaults: synthetic preset name → config and trainer fields for the built-in benchmark (small
            models that train in minutes on 2 CPU cores; a field a config does not have is ignored).
        tf1_importer: a `common.checkpoint_conversion.tf1_import.TF1Importer` of the original authors' checkpoints,
            or `None` (`experiments.import_tf1`).
        parity: the family's `experiments.check_parity` hooks (`ParityHooks`), or `None`.
        after_training: `run_dir -> None`, what the chief adds to a finished run directory (LPNet: its proposal
            figure), or `None`.
        define_flags: `() -> None`, defining the family's own absl flags on `absl.flags.FLAGS` (LPNet's
            `--num_proposals`, ...), or `None`. A flag given on the command line sets the config field of its name.
        original_quirks_hint: a line `experiments.train` prints when it trains the family with
            `--quirks=original` (what the original quirks cost, and when to choose `fixed`), or `None`.
    """

    name: str
    models: tuple
    config_class: type
    task_class: type
    serving_functions: Callable
    initial_config: Callable
    trainer_quirks: Callable = lambda quirks: {}
    synthetic_defaults: dict = dataclasses.field(default_factory=dict)
    tf1_importer: object = None
    parity: object = None
    after_training: Callable = None
    define_flags: Callable = None
    original_quirks_hint: str = None


_FAMILIES = {}
_entry_points_loaded = False


def register(family):
    """Add `family` (a second registration of the same name replaces the first)."""
    _FAMILIES[family.name] = family
    return family


def _load_entry_points():
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            entry_point.load()


def families():
    """Every registered family, by name."""
    _load_entry_points()
    return dict(_FAMILIES)


def models():
    """Every registered `--model` name, sorted."""
    return sorted(m for family in families().values() for m in family.models)


def get(name):
    """The family registered as `name`."""
    registered = families()
    if name not in registered:
        raise ValueError(f"unknown model family {name!r}; registered: {sorted(registered)}")
    return registered[name]


def for_model(model):
    """The family that builds `--model` `model`."""
    for family in families().values():
        if model in family.models:
            return family
    raise ValueError(f"unknown model {model!r}; registered: {models()}")


def for_config(config):
    """The family whose config class `config` is an instance of."""
    for family in families().values():
        if isinstance(config, family.config_class):
            return family
    raise ValueError(f"no registered family has the config class {type(config).__name__}")


def model_name(config):
    """The `--model` name of a config: its `model` field, or its family's only model."""
    return getattr(config, "model", None) or for_config(config).models[0]
