"""The VSLNet family (VSLBase, VSLNet, VSLNet-L) in the registry of `common.registry`."""

from absl import flags

from common import registry
from vslnet_tf import parity, serving, tf1_checkpoint
from vslnet_tf.config import MODELS, VSLNetConfig, apply_quirks
from vslnet_tf.task import VSLNetTask

# The built-in synthetic benchmark: small models and a higher learning rate so that the README's main command
# trains in minutes on 2 CPU cores. Explicit flags override them.
SYNTHETIC_DEFAULTS = {
    "tiny": {"hidden_dim": 32, "num_heads": 4, "max_pos_len": 64, "epochs": 30, "init_lr": 2e-3, "scales": (16, 32)},
    "default": {"hidden_dim": 64, "num_heads": 4, "max_pos_len": 128, "epochs": 8, "init_lr": 3e-3, "scales": (32, 64)},
    "long": {
        "hidden_dim": 64,
        "num_heads": 4,
        "max_pos_len": 600,
        "epochs": 10,
        "init_lr": 1e-3,
        "scales": (100, 120, 150, 200),
    },
}


def define_flags():
    flags.DEFINE_enum("predictor", None, ["rnn", "transformer"], "VSLNet: span predictor.")
    flags.DEFINE_enum("encoder", None, ["cmf", "bilstm"], "VSLNet: feature encoder (paper Table 8).")
    flags.DEFINE_enum("interaction", None, ["cqa", "cat"], "VSLNet: video-query interaction (paper Table 8).")
    flags.DEFINE_float("highlight_lambda", None, "VSLNet: QGH loss weight.", lower_bound=0.0)
    flags.DEFINE_list(
        "scales",
        None,
        "VSLNet-L: clip lengths l, each dividing --max_pos_len (empty: the paper's "
        "60,75,100,150 for n=300 and 100,120,150,200 for n=600).",
    )
    flags.register_validator(
        "scales",
        lambda v: v is None or all(s.isdigit() and int(s) > 0 for s in v),
        message="must be positive integers (clip lengths l, e.g. 100,120,150,200)",
    )
    flags.DEFINE_float("npm_lambda", None, "VSLNet-L: weight of the Nil Prediction loss.", lower_bound=0.0)
    flags.DEFINE_enum("multiscale_loss", None, ["mean", "sum"], "VSLNet-L: how the per-scale losses combine.")


def initial_config(quirks, dataset=None):
    del dataset  # VSLNet's quirks do not depend on the dataset
    return apply_quirks(VSLNetConfig(), quirks)


FAMILY = registry.register(
    registry.Family(
        name="vslnet",
        models=tuple(MODELS),
        config_class=VSLNetConfig,
        task_class=VSLNetTask,
        serving_functions=serving.serving_functions,
        initial_config=initial_config,
        synthetic_defaults=SYNTHETIC_DEFAULTS,
        tf1_importer=tf1_checkpoint.IMPORTER,
        define_flags=define_flags,
        parity=parity.HOOKS,
    )
)
