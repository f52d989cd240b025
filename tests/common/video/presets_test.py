"""The preset of a run directory's `config.json` (as `experiments.train` and `experiments.import_tf1` write it)."""

import pytest

from common.video.presets import PRESETS, get_preset, preset_for_run

REAL = {"data_dir": "ann", "feature_dir": "feats", "glove": "glove.txt"}


@pytest.mark.parametrize(
    "dataset, preset",
    [("charades", "charades"), ("activitynet", "activitynet"), ("tacos_tan", "tacos"), ("tacos_org", "tacos")],
)
def test_datasets_map_to_their_script(dataset, preset):
    assert preset_for_run({"flags": REAL, "data": {"dataset": dataset}})[0] == preset


def test_runs_without_a_natural_preset():
    synthetic = {"flags": {"data_dir": None, "feature_dir": None, "glove": None}, "data": {"dataset": "charades"}}
    assert preset_for_run(synthetic) == (
        None,
        "the run was trained on the synthetic benchmark, whose features come from no video",
    )
    assert preset_for_run({"flags": REAL, "data": {"dataset": "jsonl"}})[0] is None
    assert "records no dataset" in preset_for_run({"data": {"processed_dir": "x"}})[1]  # an imported checkpoint


def test_the_presets_are_the_scripts_settings():
    assert [(p.fps, p.window, p.short_side, p.chunk_frames) for p in PRESETS.values()] == [
        (24, 24, 226, None),
        (None, 16, 224, 10000),
        (None, 16, 224, 10000),
    ]
    with pytest.raises(ValueError, match="unknown extraction preset 'kinetics'"):
        get_preset("kinetics")
