import pathlib

import numpy as np
import pytest

from common.checkpoint_conversion import tf1_reader
from lpnet_tf import losses, tf1_checkpoint
from lpnet_tf.config import LPNetConfig, apply_quirks
from lpnet_tf.task import LPNetTask

FIXTURE = pathlib.Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "lpnet_tf1"


@pytest.fixture(scope="module")
def original():
    if not FIXTURE.is_dir():
        pytest.skip(f"{FIXTURE} is absent (it exists only in the development workplace)")
    fixture = np.load(FIXTURE / "fixture.npz")
    # The stored is_training pass ran with drop_rate 0 (the fixture's README).
    imported = tf1_checkpoint.import_checkpoint(
        str(FIXTURE / "model.ckpt"), overrides={"drop_rate": 0.0}, word_vectors=np.load(FIXTURE / "word_vectors.npy")
    )
    model = imported.model
    assert imported.global_step == 3 and imported.config == LPNetConfig(drop_rate=0.0)
    assert imported.data == {"num_words": 52, "num_chars": 30, "feature_dim": 1024, "word_dim": 300, "max_pos_len": 256}
    assert set(imported.report.ignored) == {"global_step", *tf1_checkpoint.DEAD_VARIABLES}
    lengths = fixture["video_seq_length"]
    mask = np.arange(fixture["video_inputs"].shape[1])[None] < lengths[:, None]
    batch = {
        "video_features": fixture["video_inputs"],
        "video_mask": mask,
        "video_length": lengths,
        "word_ids": fixture["word_ids"],
        "char_ids": fixture["char_ids"],
        "start_index": np.argmax(fixture["y1"], 1).astype("int32"),
        "end_index": np.argmax(fixture["y2"], 1).astype("int32"),
        "highlight_labels": fixture["highlight_labels"],
        "soft_start_labels": fixture["y1"],
        "soft_end_labels": fixture["y2"],
    }
    return model, fixture, batch, model(batch, training=False)


def test_forward_matches_the_tf1_original(original):
    _model, fixture, batch, outputs = original
    mask = batch["video_mask"]
    for key in ("highlight_logits", "start_logits", "end_logits"):
        np.testing.assert_allclose(
            np.where(mask, outputs[key], 0), np.where(mask, fixture[key], 0), atol=2e-4, rtol=1e-5, err_msg=key
        )
    np.testing.assert_allclose(outputs["scores"], fixture["scores"], atol=1e-5)
    np.testing.assert_allclose(outputs["proposal_start"], fixture["proposal_start"], rtol=1e-6)
    np.testing.assert_allclose(outputs["proposal_end"], fixture["proposal_end"], rtol=1e-6)
    iou_labels = losses.proposal_iou_labels(
        outputs["proposal_start"], outputs["proposal_end"], batch["start_index"], batch["end_index"]
    )
    np.testing.assert_allclose(iou_labels, fixture["iou_labels"], atol=1e-6)


def test_losses_and_selection_match_the_tf1_original(original):
    model, fixture, batch, outputs = original
    task = LPNetTask(model.config)
    for training, suffix in ((False, ""), (True, "__is_training")):
        result = {k: float(v) for k, v in task.compute_losses(model, batch, training=training).items()}
        assert result["box"] == pytest.approx(float(fixture["my_loss" + suffix]), rel=1e-5)
        assert result["iou"] == pytest.approx(float(fixture["iou_loss" + suffix]), rel=1e-5)
        iou_labels = losses.proposal_iou_labels(
            outputs["proposal_start"], outputs["proposal_end"], batch["start_index"], batch["end_index"]
        )
        _, p_x, p_y = model.adjustor(
            outputs["proposal_boxes"], outputs["video_length"], outputs["scores"], iou_labels, training=training
        )
        np.testing.assert_allclose(p_x, fixture["p_x_float" + suffix][:, 0], rtol=1e-6)
        np.testing.assert_allclose(p_y, fixture["p_y_float" + suffix][:, 0], rtol=1e-6)
        np.testing.assert_array_equal(np.round(p_x), fixture["p_x" + suffix][:, 0])  # unclamped rint, may be < 0
    assert result["main"] == pytest.approx(float(fixture["reg_loss_total"]), rel=1e-5)
    assert result["reg"] == pytest.approx(float(fixture["reg_loss_mse"]), rel=1e-5)
    assert result["highlight"] == pytest.approx(float(fixture["highlight_loss"]), rel=1e-5)
    assert result["kl"] == pytest.approx(float(fixture["kl_loss"]), rel=1e-5)
    assert result["regular"] == pytest.approx(float(fixture["regular"]), rel=1e-5)
    kl = losses.boundary_kl(
        outputs["start_logits"],
        outputs["end_logits"],
        batch["soft_start_labels"],
        batch["soft_end_labels"],
        batch["video_mask"],
    )
    assert float(kl) == pytest.approx(float(fixture["kl_loss"]), rel=1e-5)


def test_prediction_decodes_the_selected_proposal(original):
    model, fixture, batch, _ = original
    out = LPNetTask(model.config).predict_step(model, batch)
    lengths = batch["video_length"]
    np.testing.assert_array_equal(out["start_index"], np.clip(fixture["p_x"][:, 0], 0, lengths - 1))
    np.testing.assert_array_equal(out["end_index"], np.clip(fixture["p_y"][:, 0], 0, lengths - 1))


@pytest.mark.parametrize("index", range(4))
def test_single_samples_match_the_tf1_original(original, index):
    model = original[0]
    fixture = np.load(FIXTURE / f"fixture_single_{index}.npz")
    lengths = fixture["video_seq_length"]
    batch = {
        "video_features": fixture["video_inputs"],
        "video_mask": np.ones(fixture["video_inputs"].shape[:2], bool),
        "video_length": lengths,
        "word_ids": fixture["word_ids"],
        "char_ids": fixture["char_ids"],
        "start_index": np.argmax(fixture["y1"], 1).astype("int32"),
        "end_index": np.argmax(fixture["y2"], 1).astype("int32"),
        "highlight_labels": fixture["highlight_labels"],
        "soft_start_labels": fixture["y1"],
        "soft_end_labels": fixture["y2"],
    }
    outputs = model(batch, training=False)
    for key in ("highlight_logits", "start_logits", "end_logits"):
        np.testing.assert_allclose(outputs[key], fixture[key], atol=2e-4, rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(outputs["scores"], fixture["scores"], atol=1e-5)
    task = LPNetTask(model.config)
    for training, suffix in ((False, ""), (True, "__is_training")):
        result = {k: float(v) for k, v in task.compute_losses(model, batch, training=training).items()}
        assert result["box"] == pytest.approx(float(fixture["my_loss" + suffix]), rel=1e-5)
    assert result["main"] == pytest.approx(float(fixture["reg_loss_total"]), rel=1e-5)
    out = task.predict_step(model, batch)
    np.testing.assert_array_equal(out["start_index"], np.clip(fixture["p_x"][:, 0], 0, lengths - 1))
    np.testing.assert_array_equal(out["end_index"], np.clip(fixture["p_y"][:, 0], 0, lengths - 1))


def test_table_covers_the_original_variable_list(original):
    names = [line.split("\t")[0] for line in (FIXTURE / "variables.txt").read_text().splitlines()]
    table = {entry.tf1_name for entry in tf1_checkpoint.weight_table(LPNetConfig())}
    assert sorted(set(names) - table) == sorted(["global_step", *tf1_checkpoint.DEAD_VARIABLES])
    assert table <= set(names)


def test_export_round_trip(original, tmp_path):
    model = original[0]
    table = tf1_checkpoint.weight_table(model.config)
    arrays = tf1_reader.export_tf1_arrays(table, tf1_reader.keras_weights(model))
    for name in ("proposal_box", "dynamic_head/dense_2/bias", "conditioned_predictor/end_rnn/rnn/lstm_cell/bias"):
        np.testing.assert_allclose(
            arrays[name], tf1_reader.TF1Checkpoint(str(FIXTURE / "model.ckpt")).get(name), atol=1e-6
        )


@pytest.mark.parametrize(
    "changes", [{"use_bal": False}, {"use_highlight": False}, {"use_proposal_mhsa": False}, {"bal_predictor": "bilstm"}]
)
def test_only_the_code_model_has_a_table(changes):
    with pytest.raises(tf1_reader.TF1ImportError):
        tf1_checkpoint.weight_table(LPNetConfig(**changes))


def test_quirk_fields_do_not_change_the_table():
    assert tf1_checkpoint.weight_table(apply_quirks(LPNetConfig(), "fixed")) == tf1_checkpoint.weight_table(
        LPNetConfig()
    )
