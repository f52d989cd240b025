import dataclasses

import pytest

from common.layers.lstm_sequence import LSTM_IMPLEMENTATIONS
from lpnet_tf.config import FIXED_QUIRKS, LPNetConfig, apply_quirks


def test_defaults_are_the_code_constants():
    config = LPNetConfig()
    assert (config.hidden_dim, config.num_heads, config.char_dim, config.drop_rate, config.max_pos_len) == (
        256,
        8,
        50,
        0.1,
        256,
    )
    assert (
        config.num_proposals,
        config.roi_length,
        config.proposal_heads,
        config.dynamic_dim,
        config.scoring_hidden_dim,
    ) == (100, 16, 4, 64, 256)
    assert (config.reg_weight, config.iou_weight, config.init_lr, config.lr_schedule) == (100.0, 5.0, 1e-4, "staircase")
    assert config.use_proposal_mhsa and config.use_bal and config.use_highlight
    assert config.bal_predictor == "conditioned"


def test_quirk_presets_switch_every_option():
    quirk_fields = set(FIXED_QUIRKS)
    assert quirk_fields == {
        "kl_first_sample_only",
        "roi_frame",
        "masked_conv",
        "adam_double_count",
        "anet_double_global_step",
        "gt_end_exclusive",
        "clamp_half_length",
    }
    original = apply_quirks(LPNetConfig(), "original", dataset="activitynet")
    fixed = apply_quirks(original, "fixed")
    for name in quirk_fields:
        assert getattr(original, name) != getattr(fixed, name), name
        assert getattr(fixed, name) == FIXED_QUIRKS[name]
    # Going back restores the original behaviour; the ActivityNet global step depends on the dataset.
    assert apply_quirks(fixed, "original", dataset="activitynet") == original
    assert not apply_quirks(fixed, "original", dataset="charades").anet_double_global_step
    assert apply_quirks(LPNetConfig(), "original") == LPNetConfig()  # the defaults are the original
    # Nothing else changes.
    others = [f.name for f in dataclasses.fields(LPNetConfig) if f.name not in quirk_fields]
    assert all(getattr(original, n) == getattr(fixed, n) for n in others)
    with pytest.raises(ValueError):
        apply_quirks(LPNetConfig(), "paper")


@pytest.mark.parametrize(
    "changes",
    [
        {"lr_schedule": "cosine"},
        {"roi_frame": "batch"},
        {"roi_align_implementation": "xla"},
        {"lstm_implementation": "cudnn"},
        {"bal_predictor": "lstm"},
        {"hidden_dim": 30},
        {"roi_length": 1},
        {"num_proposals": 0},
    ],
)
def test_validate_rejects(changes):
    with pytest.raises(ValueError):
        LPNetConfig(**changes).validate()


def test_every_lstm_implementation_validates_and_others_do_not():
    assert LPNetConfig().lstm_implementation == "auto"
    for name in LSTM_IMPLEMENTATIONS:
        LPNetConfig(lstm_implementation=name).validate()
    with pytest.raises(ValueError, match="lstm_implementation"):
        LPNetConfig(lstm_implementation="cudnn").validate()
