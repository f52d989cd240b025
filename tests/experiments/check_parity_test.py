"""Tests of `experiments/check_parity.py` (with the families' hooks, `vslnet_tf/parity.py`, `lpnet_tf/parity.py`)
and `experiments/import_tf1.py`: full parity on the VSLNet and LPNet TF1 fixtures (with `../shared`) and on the
committed transformer-predictor fixture, the run directory and a trainer-style restore of it, the family detection,
the comparison rules and the exit statuses."""

import json
import pathlib
import types

import numpy as np
import pytest
import tensorflow as tf

from common.checkpoint_conversion import tf1_reader
from common.training import run_loader
from experiments import check_parity, import_tf1
from lpnet_tf import parity as lpnet_parity
from lpnet_tf.config import LPNetConfig
from tests.vslnet_tf.tf1_checkpoint_test import SMALL_DATA, write_vslnet_checkpoint
from vslnet_tf import parity as vslnet_parity
from vslnet_tf.task import VSLNetTask

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
PER_FILE = 26 + len(vslnet_parity.TASK_ROWS)  # 33 stored keys − 7 inputs, plus the task rows
TRANSFORMER_FIXTURE = REPO_ROOT / "tests" / "fixtures" / "vslnet_tf1_transformer"


def test_parity_on_every_fixture(shared_dir):
    fixture_dir = shared_dir / "fixtures" / "vslnet_tf1"
    rows = check_parity.check_fixture_dir(fixture_dir, in_memory=True)
    failed = [f"{r.fixture}:{r.name} {r.max_abs:.3g} ({r.note})" for r in rows if not r.ok]
    assert not failed, "\n".join(failed)
    assert len(rows) == PER_FILE * len(check_parity.fixture_files(fixture_dir))
    for name in check_parity.fixture_files(fixture_dir):
        compared = {r.name for r in rows if r.fixture == name}
        for key in (
            "start_logits",
            "end_logits",
            "highlight_logits",
            "start_prob",
            "end_prob",
            "highlight_scores",
            "start_index",
            "end_index",
            "localization_loss",
            "highlight_loss",
            "l2_loss",
            "total_loss",
        ):
            assert key in compared


#: Stored keys of the LPNet fixture files minus the 7 inputs (README "Arrays in fixture.npz", "Single-sample files").
LPNET_STORED = {"fixture.npz": 61 - 7, **{f"fixture_single_{i}.npz": 41 - 7 for i in range(4)}}
#: What the issue asks to see for every LPNet file: logits, probabilities, highlight and proposal scores, IoU labels,
#: decoded indices (both selections) and each loss (both passes), plus the task's loss and decoding path.
LPNET_REQUIRED = (
    "start_logits",
    "end_logits",
    "highlight_logits",
    "start_prob",
    "end_prob",
    "highlight_scores",
    "scores",
    "iou_labels",
    "start_index",
    "end_index",
    "p_x",
    "p_y",
    "p_x__is_training",
    "p_y__is_training",
    "reg_loss_mse",
    "iou_loss",
    "l1_loss",
    "regular",
    "my_loss",
    "highlight_loss",
    "kl_loss",
    "reg_loss_total",
    "iou_loss__is_training",
    "l1_loss__is_training",
    "my_loss__is_training",
    *lpnet_parity.TASK_ROWS,
)


def test_lpnet_parity_on_every_fixture(shared_dir):
    fixture_dir = shared_dir / "fixtures" / "lpnet_tf1"
    rows = check_parity.check_fixture_dir(fixture_dir, in_memory=True)
    failed = [f"{r.fixture}:{r.name} {r.max_abs:.3g} ({r.note})" for r in rows if not r.ok]
    assert not failed, "\n".join(failed)
    for name in check_parity.fixture_files(fixture_dir):
        compared = [r for r in rows if r.fixture == name]
        assert len(compared) == LPNET_STORED[name] + len(lpnet_parity.TASK_ROWS), name
        kinds = {r.name: r.kind for r in compared}
        for key in LPNET_REQUIRED:
            assert key in kinds, (name, key)
        assert kinds["p_x__is_training"] == kinds["task.start_index"] == "index"
        assert kinds["my_loss__is_training"] == kinds["task.box (training)"] == "loss"
        assert kinds["start_logits"] == "masked logits"
    batch = {r.name: r for r in rows if r.fixture == "fixture.npz"}
    for key in ("crop_features_first8", "dynamic_conv_features", "head_fused", "proposal_boxes_crop"):
        assert batch[key].kind == "array"
    summary = check_parity.format_summary(rows, lpnet_parity.SUMMARY_ORDER)
    assert summary.splitlines()[-1] == f"{len(rows)}/{len(rows)} comparisons within tolerance"
    assert summary.index("\nscores ") < summary.index("\nreg_loss_mse ") < summary.index("\nhead_fused ")


def test_lpnet_run_directory_parity(shared_dir, tmp_path):
    """The default path: import into a run directory (drop_rate 0 written to its config), restore, compare."""
    rows = check_parity.check_fixture_dir(
        shared_dir / "fixtures" / "lpnet_tf1",
        run_dir=str(tmp_path / "run"),
        files=("fixture_single_3.npz",),
        model="lpnet",
    )
    failed = [f"{r.fixture}:{r.name} {r.max_abs:.3g} ({r.note})" for r in rows if not r.ok]
    assert not failed, "\n".join(failed)
    assert len(rows) == LPNET_STORED["fixture_single_3.npz"] + len(lpnet_parity.TASK_ROWS)
    written = json.loads((tmp_path / "run" / "config.json").read_text())
    assert written["model_family"] == "lpnet" and written["model"]["drop_rate"] == 0.0


def test_transformer_predictor_parity():
    """The committed transformer-predictor fixture (d = 32, 4 heads, which no shape shows: an override): every
    stored key within tolerance, including the predictor's `start_features`/`end_features`."""
    assert check_parity.fixture_family(TRANSFORMER_FIXTURE) == "vslnet"
    rows = check_parity.check_fixture_dir(TRANSFORMER_FIXTURE, in_memory=True, overrides={"num_heads": 4})
    failed = [f"{r.fixture}:{r.name} {r.max_abs:.3g} ({r.note})" for r in rows if not r.ok]
    assert not failed, "\n".join(failed)
    files = check_parity.fixture_files(TRANSFORMER_FIXTURE)
    assert files == ("fixture.npz",) + tuple(f"fixture_single_{i}.npz" for i in range(4))
    assert len(rows) == PER_FILE * len(files)  # the same 33 keys, no self-check row
    by_name = {}
    for row in rows:
        by_name.setdefault(row.name, []).append(row)
    for key in ("start_logits", "end_logits", "highlight_logits"):
        assert {r.kind for r in by_name[key]} == {"masked logits"}
        assert max(r.max_abs for r in by_name[key]) < 1e-4, key
    for key in ("start_features", "end_features", "predictor_input", "vq_trilinear_score"):
        assert max(r.max_abs for r in by_name[key]) < 1e-4, key
    for key in ("start_index", "end_index", "task.start_index", "task.end_index"):
        assert [r.max_abs for r in by_name[key]] == [0.0] * len(files), key
    for key in ("start_rnn_output", "end_rnn_output"):
        assert key not in by_name


def test_fixture_files_sorted_by_index(tmp_path):
    for name in ("fixture.npz", "fixture_single_10.npz", "fixture_single_2.npz", "fixture_single_0.npz"):
        np.savez(tmp_path / name, x=np.zeros(1))
    assert check_parity.fixture_files(tmp_path) == (
        "fixture.npz",
        "fixture_single_0.npz",
        "fixture_single_2.npz",
        "fixture_single_10.npz",
    )


def test_fixture_family(shared_dir):
    fixtures = shared_dir / "fixtures"
    assert check_parity.fixture_family(fixtures / "lpnet_tf1") == "lpnet"
    assert check_parity.fixture_family(fixtures / "vslnet_tf1") == "vslnet"
    assert check_parity.fixture_family(fixtures / "vslnet_tf1", "vslnet") == "vslnet"
    with pytest.raises(ValueError, match="is of the lpnet family"):
        check_parity.fixture_family(fixtures / "lpnet_tf1", "vslnet")
    with pytest.raises(ValueError, match="expected one of"):
        check_parity.fixture_family(fixtures / "lpnet_tf1", "vslnet-l")


def test_lpnet_parity_needs_drop_rate_zero():
    with pytest.raises(ValueError, match="drop_rate 0"):
        lpnet_parity.run(None, LPNetConfig(), {})


def _trainer_style_restore(run_dir, config):
    """The trainer's checkpoint objects (`common/training/trainer.py`) around a freshly built model, restored with
    `CheckpointManager.restore_or_initialize` from `run_dir/checkpoints`."""
    task = VSLNetTask(config)
    model = task.build_model(
        {
            "word_vectors": np.zeros((SMALL_DATA["num_words"] - 2, 300), "float32"),
            "num_chars": SMALL_DATA["num_chars"],
            "feature_dim": SMALL_DATA["feature_dim"],
            "max_pos_len": SMALL_DATA["max_pos_len"],
        }
    )
    optimizer = task.build_optimizer(10)
    task.prepare_optimizer(optimizer, model)
    optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    best_score = tf.Variable(-1.0, dtype=tf.float64, trainable=False, name="best_score")
    weight_ids = {id(v) for v in model.weights}
    rng_states = [v for v in model.variables if id(v) not in weight_ids]
    checkpoint = tf.train.Checkpoint(
        model=model, optimizer=optimizer, step=step, best_score=best_score, rng_states=rng_states
    )
    manager = tf.train.CheckpointManager(checkpoint, str(run_dir / "checkpoints"), max_to_keep=3, step_counter=step)
    restored = manager.restore_or_initialize()
    checkpoint.restore(restored).expect_partial()  # the trainer's `finish` restores this way
    return model, restored, int(step.numpy())


def test_run_directory_and_trainer_restore(tmp_path):
    prefix, original, _config = write_vslnet_checkpoint(str(tmp_path / "tf1"), seed=3)
    run_dir = tmp_path / "run"
    lost = run_loader.untracked_weights(original)
    if lost:
        # Until the layers holding sublayers in Python lists are fixed, the import refuses to write a run directory
        # whose checkpoint would silently lose those weights.
        with pytest.raises(import_tf1.CheckpointTrackingError, match="keras-team/keras#19425"):
            import_tf1.import_to_run_dir("vslnet", prefix, str(run_dir), overrides={"num_heads": 2})
        assert not (run_dir / "config.json").exists()
        pytest.xfail(
            f"tf.train.Checkpoint(model=...) does not reach {len(lost)} weights held in Python lists "
            f"(e.g. {lost[0]}); see common/layers/char_embedding.py and conv_block.py"
        )

    vocab = tmp_path / "vocab.json"
    vocab.write_text(
        json.dumps(
            {"words": ["<PAD>", "<UNK>"] + [f"w{i}" for i in range(7)], "chars": ["<PAD>", "<UNK>"] + list("abcdefgh")}
        )
    )
    imported, config_json = import_tf1.import_to_run_dir(
        "vslnet", prefix, str(run_dir), vocab=str(vocab), overrides={"num_heads": 2}
    )
    written = json.loads((run_dir / "config.json").read_text())
    assert written == config_json
    assert written["model_family"] == "vslnet"
    assert written["model"]["num_heads"] == 2 and written["model"]["hidden_dim"] == 16
    assert {k: written["data"][k] for k in SMALL_DATA} == SMALL_DATA
    assert written["imported_from"] == prefix and written["imported_global_step"] == 7
    np.testing.assert_array_equal(np.load(written["data"]["word_vectors"]), imported.word_vectors)
    assert json.loads(pathlib.Path(written["data"]["vocab"]).read_text())["words"][2] == "w0"
    assert (
        "predictor/start_rnn/lstm_cell/kernel, predictor/start_rnn/lstm_cell/recurrent_kernel"
        in (run_dir / "tf1_import_table.txt").read_text()
    )
    expected = {p: w.numpy() for p, w in tf1_reader.keras_weights(original).items()}

    loaded = run_loader.load_run(str(run_dir))
    model = loaded.model
    assert loaded.config == imported.config
    for path, weight in tf1_reader.keras_weights(model).items():
        np.testing.assert_array_equal(weight.numpy(), expected[path], err_msg=path)

    model, restored, step = _trainer_style_restore(run_dir, imported.config)
    assert restored.endswith("ckpt-0") and step == 0
    for path, weight in tf1_reader.keras_weights(model).items():
        np.testing.assert_array_equal(weight.numpy(), expected[path], err_msg=path)

    with pytest.raises(FileExistsError, match="--overwrite"):
        import_tf1.import_to_run_dir("vslnet", prefix, str(run_dir), overrides={"num_heads": 2})


def test_vocabulary_must_match(tmp_path):
    prefix, _, _ = write_vslnet_checkpoint(str(tmp_path / "tf1"))
    vocab = tmp_path / "my_vocab.json"
    vocab.write_text(json.dumps({"words": ["<PAD>", "<UNK>", "a"], "chars": ["<PAD>", "<UNK>"]}))
    with pytest.raises(
        tf1_reader.TF1ImportError, match="the vocabulary has 3 words and 2 chars, the checkpoint 9 and 10"
    ):
        import_tf1.import_to_run_dir(
            "vslnet", prefix, str(tmp_path / "run"), vocab=str(vocab), overrides={"num_heads": 2}
        )
    assert not (tmp_path / "run").exists()


def test_import_main_lists_the_problems(tmp_path, monkeypatch, capsys):
    prefix, _, _ = write_vslnet_checkpoint(str(tmp_path / "tf1"), drop=("video_conv1d/bias",))
    fake_flags = types.SimpleNamespace(
        model="vslnet",
        checkpoint=prefix,
        out=str(tmp_path / "run"),
        word_vectors=None,
        vocab=None,
        num_heads=2,
        params_override=None,
        overwrite=False,
    )
    monkeypatch.setattr(import_tf1, "flags", types.SimpleNamespace(FLAGS=fake_flags))
    with pytest.raises(SystemExit) as raised:
        import_tf1.main([])
    assert raised.value.code == 1
    assert "missing from the checkpoint (1):\n    video_conv1d/bias [1, 1, 16]" in capsys.readouterr().err


def test_comparison_rules():
    padded = np.float32(-1e30)
    row = check_parity.compare(
        "f",
        "start_logits",
        np.array([1.0, padded], "float32"),
        np.array([1.00005, padded], "float32"),
        "start_logits",
        1e-4,
        1e-4,
        "masked logits",
    )
    assert row.ok and row.max_abs == pytest.approx(5e-5, rel=1e-2)
    row = check_parity.compare(
        "f",
        "start_logits",
        np.array([1.0, 0.0], "float32"),
        np.array([1.0, padded], "float32"),
        "start_logits",
        1e-4,
        1e-4,
        "masked logits",
    )
    assert not row.ok and "padded values differ" in row.note
    assert not check_parity.compare("f", "x", np.ones(3), np.ones(3) + 2e-4, "video_encoded", 1e-4, 1e-4).ok
    assert not check_parity.compare(
        "f", "start_index", np.array([1, 2]), np.array([1, 3]), "start_index", 1, 1, "index"
    ).ok
    assert check_parity.compare("f", "loss", np.float32(10.0005), np.float32(10.0), "loss", 1e-4, 1e-4, "loss").ok
    assert not check_parity.compare("f", "loss", np.float32(10.002), np.float32(10.0), "loss", 1e-4, 1e-4, "loss").ok
    assert not check_parity.compare("f", "x", np.ones((2, 3)), np.ones((2, 4)), "video_encoded", 1, 1).ok


def test_family_comparison_kinds():
    """The rule of a reference key is its family's kind of the key before the first `__`."""
    vslnet, lpnet = vslnet_parity.HOOKS.kinds, lpnet_parity.HOOKS.kinds
    assert vslnet["start_logits"] == lpnet["start_logits"] == "masked logits"
    assert vslnet["start_index"] == lpnet["p_x"] == "index"
    assert vslnet["l2_loss"] == lpnet["my_loss"] == lpnet["highlight_loss"] == "loss"
    assert "scores" not in lpnet and "start_rnn_output" not in vslnet  # arrays
    assert set(lpnet_parity.TASK_ROWS.values()) - set(lpnet) == {
        "iou_loss__is_training",
        "my_loss__is_training",
        "p_x__decoded",
        "p_y__decoded",
        "scores__selected",
        "scores",
    }
    assert vslnet_parity.HOOKS.import_overrides == {} and lpnet_parity.HOOKS.import_overrides == {"drop_rate": 0.0}


def test_parity_main_exit_status(monkeypatch, capsys):
    fake_flags = types.SimpleNamespace(
        fixture="unused",
        model="auto",
        out=None,
        in_memory=True,
        details=True,
        atol=1e-4,
        loss_rtol=1e-4,
        num_heads=4,
        params_override='{"drop_rate": 0.0}',
    )
    monkeypatch.setattr(check_parity, "flags", types.SimpleNamespace(FLAGS=fake_flags))
    monkeypatch.setattr(check_parity, "fixture_family", lambda fixture_dir, model: "vslnet")
    good = check_parity.Row("fixture.npz", "start_logits", "start_logits", "masked logits", 1e-6, "abs 0.0001", True)
    bad = check_parity.Row(
        "fixture_single_0.npz", "end_logits", "end_logits", "masked logits", 0.5, "abs 0.0001", False
    )
    calls = []
    monkeypatch.setattr(check_parity, "check_fixture_dir", lambda *args, **kwargs: calls.append(kwargs) or [good])
    check_parity.main([])
    assert "1/1 comparisons within tolerance" in capsys.readouterr().out
    assert calls[0]["overrides"] == {"drop_rate": 0.0, "num_heads": 4} and calls[0]["model"] == "vslnet"
    monkeypatch.setattr(check_parity, "check_fixture_dir", lambda *args, **kwargs: [good, bad])
    with pytest.raises(SystemExit) as raised:
        check_parity.main([])
    assert raised.value.code == 1
    assert "FAILED: fixture_single_0.npz:end_logits" in capsys.readouterr().out
