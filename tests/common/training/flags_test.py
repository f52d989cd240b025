import re

import pytest
from absl import flags

from common.training import flags as flags_lib
from common.training.trainer import TrainerConfig
from experiments import train
from lpnet_tf.config import LPNetConfig
from lpnet_tf.family import SYNTHETIC_DEFAULTS as LPNET_PRESETS
from vslnet_tf.config import VSLNetConfig
from vslnet_tf.family import SYNTHETIC_DEFAULTS as VSLNET_PRESETS

FLAGS = flags.FLAGS


@pytest.fixture(scope="module", autouse=True)
def defined_flags():
    if "run_dir" not in FLAGS:
        train.define_flags()


def test_every_train_flag_has_one_heading():
    grouped = [name for _, names in train.help_groups() for name in names]
    assert sorted(grouped) == sorted(train._OUR_FLAGS)


def test_model_dependent_defaults_come_from_the_configs_and_the_synthetic_preset():
    defaults = flags_lib.model_defaults()
    drop_rate = defaults["drop_rate"]
    assert f"vslbase, vslnet, vslnet_l: {VSLNetConfig().drop_rate}" in drop_rate
    assert (
        f"lpnet: {LPNetConfig().drop_rate}" in drop_rate and "VSLNetConfig" in drop_rate and "LPNetConfig" in drop_rate
    )
    assert drop_rate.endswith(
        f"the synthetic preset 'default' (no data flags) sets lpnet: {LPNET_PRESETS['default']['drop_rate']}"
    )
    # A family registered by another test (tests/toy_family) may set other values: the models are named then.
    assert re.fullmatch(
        rf"{TrainerConfig().epochs} \(TrainerConfig\); the synthetic preset 'default' \(no data flags\) sets "
        rf"(\w+(, \w+)*: )?{VSLNET_PRESETS['default']['epochs']}",
        defaults["epochs"],
    ), defaults["epochs"]
    assert defaults["num_proposals"].startswith(f"lpnet: {LPNetConfig().num_proposals} (LPNetConfig)")
    assert defaults["predictor"] == "vslbase, vslnet, vslnet_l: rnn (VSLNetConfig)"  # LPNet has no such field
    assert "export" not in defaults and "dataset" not in defaults  # flags with a default of their own
