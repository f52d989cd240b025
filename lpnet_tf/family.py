"""The LPNet family in the registry of `common.registry`."""

from absl import flags

from common import registry
from lpnet_tf import parity, proposal_plot, tf1_checkpoint
from lpnet_tf.config import LPNetConfig, apply_quirks
from lpnet_tf.serving import LPNetServingFunctions
from lpnet_tf.task import LPNetTask

# The built-in synthetic benchmark (see `vslnet_tf.family`); LPNet trains without dropout there.
SYNTHETIC_DEFAULTS = {
    "tiny": {
        "hidden_dim": 32,
        "num_heads": 4,
        "max_pos_len": 64,
        "num_proposals": 20,
        "roi_length": 8,
        "dynamic_dim": 16,
        "scoring_hidden_dim": 32,
        "drop_rate": 0.0,
        "init_lr": 2e-3,
        "epochs": 10,
        "batch_size": 8,
    },
    "default": {
        "hidden_dim": 64,
        "num_heads": 4,
        "max_pos_len": 128,
        "num_proposals": 30,
        "roi_length": 16,
        "dynamic_dim": 16,
        "scoring_hidden_dim": 64,
        "drop_rate": 0.0,
        "init_lr": 2e-3,
        "epochs": 8,
        "batch_size": 16,
    },
    "long": {
        "hidden_dim": 64,
        "num_heads": 4,
        "max_pos_len": 600,
        "num_proposals": 30,
        "roi_length": 16,
        "dynamic_dim": 16,
        "scoring_hidden_dim": 64,
        "drop_rate": 0.0,
        "init_lr": 2e-3,
        "epochs": 10,
        "batch_size": 16,
    },
}


def define_flags():
    flags.DEFINE_integer(
        "num_proposals", None, "LPNet: learnable proposals K (code 100; paper tables 300).", lower_bound=1
    )
    flags.DEFINE_bool("use_proposal_mhsa", None, "LPNet: self-attention over proposal features (Table 4).")
    flags.DEFINE_bool("use_bal", None, "LPNet: boundary-aware branch (Table 4 'BAL').")
    flags.DEFINE_enum("bal_predictor", None, ["conditioned", "bilstm"], "LPNet: the code's or the paper's predictor.")
    flags.DEFINE_enum("lr_schedule", None, ["staircase", "constant"], "LPNet: learning-rate schedule.")


ORIGINAL_QUIRKS_HINT = (
    "hint: --quirks=original keeps the original LPNet code's defects (fidelity LPNet D1, D4, D10, D11, D13), which "
    "reproducing the paper's numbers needs; on videos of mixed length its RoI crops read the batch's padding and it "
    "learns far less (README 'Training'). --quirks=fixed trains the best model."
)


def initial_config(quirks, dataset=None):
    return apply_quirks(LPNetConfig(), quirks, dataset=dataset)


def trainer_quirks(quirks):
    # The original code drops the last partial training batch (fidelity LPNet D2).
    return {"drop_last_train": quirks == "original"}


FAMILY = registry.register(
    registry.Family(
        name="lpnet",
        models=("lpnet",),
        config_class=LPNetConfig,
        task_class=LPNetTask,
        serving_functions=LPNetServingFunctions,
        initial_config=initial_config,
        trainer_quirks=trainer_quirks,
        synthetic_defaults=SYNTHETIC_DEFAULTS,
        tf1_importer=tf1_checkpoint.IMPORTER,
        define_flags=define_flags,
        parity=parity.HOOKS,
        after_training=lambda run_dir: proposal_plot.plot_run(run_dir, missing_ok=True),
        original_quirks_hint=ORIGINAL_QUIRKS_HINT,
    )
)
