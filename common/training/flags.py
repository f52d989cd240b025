"""The absl flags of the entry points and their translation into config objects (imported by entry points only).

Library code takes config objects and never reads `FLAGS` (STYLE §6). Flag names follow the original scripts
(`max_pos_len`, `highlight_lambda`, `extend`, `drop_rate`, `batch_size`, `init_lr`) plus the ones the issues name.
"""

import dataclasses
import json
import os

from absl import flags

from common import registry
from common.data.dataset import DataConfig
from common.data.vocab import GLOVE_MALFORMED_POLICIES
from common.training.trainer import TrainerConfig

FLAGS = flags.FLAGS


def model_family(model):
    """The `config.json` family name of `--model`."""
    return registry.for_model(model).name


def _registered_model(model):
    if model not in registry.models():
        raise flags.ValidationError(f"must be one of {registry.models()}")
    return True


#: The flags the families defined (`Family.define_flags`); each one given sets the model-config field of its name.
_FAMILY_FLAGS = set()
#: The flags that set the model config's field of their name (as the families' flags do), and the trainer config's.
MODEL_FLAGS = (
    "max_pos_len",
    "hidden_dim",
    "num_heads",
    "char_dim",
    "drop_rate",
    "extend",
    "init_lr",
    "lstm_implementation",
)
TRAINER_FLAGS = ("epochs", "batch_size", "seed", "max_steps", "log_every", "strategy", "jit", "verbose", "dtype_policy")
#: The headings of `experiments.train --help` (`experiments.flag_help`); the families' flags follow under "model".
GROUPS = (
    (
        "data",
        (
            "dataset",
            "data_dir",
            "feature_dir",
            "glove",
            "synthetic_preset",
            "synthetic_dir",
            "processed_dir",
            "feature_layout",
            "feature_dim",
            "glove_malformed",
            "anet_test_split",
            "tacos_org_durations",
            "reversed_moments",
            "skip_missing_videos",
        ),
    ),
    (
        "model",
        (
            "model",
            "quirks",
            "max_pos_len",
            "hidden_dim",
            "num_heads",
            "char_dim",
            "drop_rate",
            "extend",
            "params_override",
            "dtype_policy",
            "lstm_implementation",
        ),
    ),
    (
        "training",
        (
            "run_dir",
            "epochs",
            "batch_size",
            "init_lr",
            "seed",
            "protocol",
            "max_steps",
            "verbose",
            "log_every",
            "jit",
            "deterministic",
        ),
    ),
    ("distribution", ("strategy", "cpu_devices")),
)


def define_flags():
    # A string checked against the registry when it is set (not an enum fixed now), so that a family registered
    # later (a user's own) is a valid --model.
    flags.DEFINE_string("model", "vslnet", f"Model: {', '.join(registry.models())} or another registered family's.")
    flags.register_validator("model", _registered_model)
    flags.DEFINE_string("run_dir", None, "Run directory (config, checkpoints, TensorBoard, metrics, SavedModel).")
    flags.DEFINE_enum(
        "dataset", "charades", ["charades", "activitynet", "tacos_tan", "tacos_org", "jsonl"], "Annotation format."
    )
    flags.DEFINE_string("data_dir", None, "Annotation folder. Without data flags the synthetic benchmark is used.")
    flags.DEFINE_string("feature_dir", None, "Feature folder of {vid}.npy, or an HDF5 file.")
    flags.DEFINE_string("feature_layout", "auto", "auto, npy, hdf5, hdf5_group or hdf5_avi.")
    flags.DEFINE_string("glove", None, "GloVe text file (glove.840B.300d.txt).")
    flags.DEFINE_enum(
        "glove_malformed",
        "error",
        list(GLOVE_MALFORMED_POLICIES),
        "A GloVe line of another width (not a key with spaces): an error naming file:line, or skipped "
        "and counted (what the originals do silently).",
    )
    flags.DEFINE_integer(
        "feature_dim",
        0,
        "The width every video's features must have (e.g. 1024 for I3D); 0: any, the same for every video.",
        lower_bound=0,
    )
    flags.DEFINE_string("processed_dir", None, "Processed-data folder (default: RUN_DIR/data).")
    flags.DEFINE_enum("synthetic_preset", "default", ["tiny", "default", "long"], "Synthetic benchmark preset.")
    flags.DEFINE_string("synthetic_dir", "data/synthetic", "Where synthetic presets are generated (once).")
    flags.DEFINE_enum("anet_test_split", "val_1", ["val_1", "val_2"], "ActivityNet test file.")
    flags.DEFINE_enum("reversed_moments", "error", ["error", "keep", "skip"], "Moments with start > end.")
    flags.DEFINE_string("tacos_org_durations", "", "JSON of TALL video lengths (tacos_org).")
    flags.DEFINE_bool("skip_missing_videos", False, "Skip (and report) queries whose video has no features.")
    flags.DEFINE_integer(
        "max_pos_len", None, "Maximal clips (resampling bound) and position-table size.", lower_bound=1
    )
    flags.DEFINE_integer("hidden_dim", None, "Hidden size d.", lower_bound=1)
    flags.DEFINE_integer("num_heads", None, "Attention heads.", lower_bound=1)
    flags.DEFINE_integer("char_dim", None, "Char embedding size.", lower_bound=1)
    flags.DEFINE_float("drop_rate", None, "Dropout rate.")
    flags.DEFINE_float("extend", None, "Highlight extension alpha.", lower_bound=0.0)
    flags.DEFINE_float("init_lr", None, "Initial learning rate.")
    flags.DEFINE_integer("epochs", None, "Training epochs.", lower_bound=1)
    flags.DEFINE_integer("batch_size", None, "Global batch size.", lower_bound=1)
    flags.DEFINE_integer("seed", None, "Random seed.", lower_bound=0)
    flags.DEFINE_integer(
        "max_steps", None, "Stop after this many updates (smoke runs; 0: train every epoch).", lower_bound=0
    )
    flags.DEFINE_integer(
        "log_every",
        None,
        "Steps between TensorBoard loss scalars, and between two progress lines when the output is not a terminal "
        "(a file, a pipe, a job scheduler's log; a terminal gets the progress bar).",
        lower_bound=1,
    )
    flags.DEFINE_enum(
        "strategy",
        "default",
        ["default", "mirrored", "multi_worker"],
        "tf.distribute strategy: default (one device), mirrored (every GPU of this host, else the "
        "--cpu_devices logical CPUs), multi_worker (the hosts of TF_CONFIG; README 'Scaling out').",
    )
    flags.DEFINE_integer(
        "cpu_devices",
        1,
        "Split the CPU into this many logical devices (replicas of "
        "--strategy=mirrored on a machine without GPUs; for running and testing, not for speed).",
        lower_bound=1,
    )
    flags.DEFINE_bool("jit", False, "Compile the train step with XLA.")
    flags.DEFINE_enum(
        "lstm_implementation",
        None,
        ["auto", "keras", "sequence"],
        "How the LSTMs run: keras (the Keras layer: cuDNN on a GPU), sequence (our per-step loop with "
        "a hand-written gradient, fast on CPU), auto (keras on a GPU in float32, else sequence; "
        "sequence under --jit, which has no cuDNN kernel).",
    )
    flags.DEFINE_bool(
        "deterministic",
        False,
        "Bitwise repeatable GPU runs: TensorFlow's deterministic ops (slower; "
        'LPNet then needs --params_override=\'{"roi_align_implementation": "gather"}\', since '
        "crop_and_resize has no deterministic GPU gradient).",
    )
    flags.DEFINE_enum(
        "dtype_policy",
        "float32",
        ["float32", "mixed_bfloat16"],
        "Keras dtype policy of the model (mixed_bfloat16: bfloat16 compute, float32 variables, losses, "
        "masks and decoding).",
    )
    flags.DEFINE_enum(
        "protocol",
        None,
        ["original", "clean"],
        "original: test-set checkpoint selection as the papers; clean: last epoch / validation. Default: "
        "original, clean with --quirks=fixed.",
    )
    flags.DEFINE_enum("quirks", "original", ["original", "fixed"], "Reproduce or correct the originals' defects.")
    flags.DEFINE_string("params_override", None, "JSON object of model-config fields to override (strict).")
    flags.DEFINE_bool("verbose", True, "Show the training progress and one line per evaluation.")
    flags.register_validator("drop_rate", lambda v: v is None or 0.0 <= v < 1.0, message="must be in [0, 1)")
    flags.register_validator("init_lr", lambda v: v is None or v > 0.0, message="must be > 0")
    for family in registry.families().values():
        if family.define_flags is not None:
            before = set(FLAGS)
            family.define_flags()
            _FAMILY_FLAGS.update(set(FLAGS) - before)


def _model_flags():
    return MODEL_FLAGS + tuple(sorted(_FAMILY_FLAGS))


def help_groups():
    """`GROUPS` with the families' flags under "model" (after `define_flags`)."""
    family_flags = tuple(sorted(_FAMILY_FLAGS))
    return [(heading, names + family_flags if heading == "model" else names) for heading, names in GROUPS]


def _has_field(obj, name):
    return name in {f.name for f in dataclasses.fields(obj)}


def _show(value):
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "empty"
    return str(value)


def _by_model(values):
    """`{model: value}` → `"vslbase, vslnet: 0.2; lpnet: 0.1"`, or the value alone where every model has it."""
    shown = {}
    for model, value in values.items():
        shown.setdefault(_show(value), []).append(model)
    if len(shown) == 1 and len(values) == len(registry.models()):
        return next(iter(shown))
    return "; ".join(f"{', '.join(models)}: {value}" for value, models in shown.items())


def model_defaults(flag_values=FLAGS):
    """flag name → its default as `experiments.train --help` shows it, for the flags whose default is left to the
    model (`None`): the value of each model's config (`Family.initial_config` with the original quirks) or of
    `TrainerConfig`, naming the class, and what the synthetic preset of `--synthetic_preset`'s default sets
    (`Family.synthetic_defaults`), e.g. `vslbase, vslnet, vslnet_l: 0.2; lpnet: 0.1 (VSLNetConfig, LPNetConfig)`."""
    preset = flag_values["synthetic_preset"].default
    trainer = TrainerConfig()
    texts = {}
    for name in _model_flags() + TRAINER_FLAGS:
        if name not in flag_values or flag_values[name].default is not None:
            continue
        values, preset_values, sources = {}, {}, []
        for family in registry.families().values():
            config = family.initial_config("original", None)
            holder = config if _has_field(config, name) else trainer if _has_field(trainer, name) else None
            if holder is None:
                continue
            sources.append(type(holder).__name__)
            for model in family.models:
                values[model] = getattr(holder, name)
                if name in family.synthetic_defaults.get(preset, {}):
                    preset_values[model] = family.synthetic_defaults[preset][name]
        text = f"{_by_model(values)} ({', '.join(dict.fromkeys(sources))})"
        if preset_values:
            text += f"; the synthetic preset '{preset}' (no data flags) sets {_by_model(preset_values)}"
        texts[name] = text
    return texts


def _set(obj, **values):
    """Set the non-`None` values of the fields `obj` has (a flag that a model does not use is ignored for it)."""
    fields = {f.name for f in dataclasses.fields(obj)}
    for key, value in values.items():
        if value is not None and key in fields:
            setattr(obj, key, value)


def uses_synthetic(flag_values):
    return not (flag_values.data_dir or flag_values.feature_dir or flag_values.glove)


def build_configs(flag_values, model_config, data_dir=None):
    """(model_config, DataConfig, TrainerConfig) from flags; explicit flags win over synthetic defaults."""
    fv = flag_values
    trainer = TrainerConfig()
    synthetic = uses_synthetic(fv)
    if synthetic:
        preset = registry.for_model(fv.model).synthetic_defaults[fv.synthetic_preset]
        _set(model_config, **preset)
        _set(trainer, **preset)
    _set(model_config, model=fv.model, **{name: fv[name].value for name in _model_flags() if name in fv})
    if fv.params_override:
        overrides = json.loads(fv.params_override)
        unknown = set(overrides) - {f.name for f in dataclasses.fields(model_config)}
        if unknown:
            raise ValueError(f"--params_override has unknown fields: {sorted(unknown)}")
        _set(model_config, **overrides)
    _set(trainer, **{name: fv[name].value for name in TRAINER_FLAGS})
    trainer.protocol = fv.protocol or ("clean" if fv.quirks == "fixed" else "original")
    _set(trainer, **registry.for_model(fv.model).trainer_quirks(fv.quirks))
    if fv.jit and hasattr(model_config, "roi_align_implementation"):
        # `tf.image.crop_and_resize` has no XLA kernel; the gather implementation computes the same samples.
        model_config.roi_align_implementation = "gather"
    if fv.jit and getattr(model_config, "lstm_implementation", None) == "auto":
        model_config.lstm_implementation = "sequence"  # XLA has no cuDNN kernel.
    if synthetic:
        data = DataConfig(
            dataset="charades",
            annotation_dir=data_dir,
            feature_path=os.path.join(data_dir, "features"),
            glove_path=os.path.join(data_dir, "glove.txt"),
        )
    else:
        missing = [name for name in ("data_dir", "feature_dir", "glove") if not getattr(fv, name)]
        if missing:
            raise ValueError(
                "real data needs --data_dir, --feature_dir and --glove; missing: "
                + ", ".join("--" + m for m in missing)
            )
        data = DataConfig(
            dataset=fv.dataset,
            annotation_dir=fv.data_dir,
            feature_path=fv.feature_dir,
            glove_path=fv.glove,
            feature_layout=fv.feature_layout,
            anet_test_split=fv.anet_test_split,
            tacos_org_durations=fv.tacos_org_durations,
            skip_missing_videos=fv.skip_missing_videos,
            reversed_moments=fv.reversed_moments,
            feature_dim=fv.feature_dim,
            glove_malformed=fv.glove_malformed,
        )
    data.max_pos_len = model_config.max_pos_len
    data.label_rule = getattr(model_config, "label_rule", data.label_rule)
    data.processed_dir = fv.processed_dir or os.path.join(fv.run_dir, "data")
    return model_config.validate(), data, trainer
