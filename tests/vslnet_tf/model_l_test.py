"""VSLNet-L: config, the model's masks and gradients, learning on the tiny synthetic preset, SavedModel round trip."""

import json

import numpy as np
import pytest
import tensorflow as tf

from common.data import dataset, synthetic
from common.export import saved_model
from common.training.trainer import Trainer, TrainerConfig
from experiments import compare_by_length
from tests.test_case import reload_saved_model_in_fresh_process
from vslnet_tf.config import VSLNetConfig
from vslnet_tf.model_l import VSLNetL
from vslnet_tf.task import VSLNetTask

TINY = dict(model="vslnet_l", hidden_dim=16, num_heads=2, char_dim=8, max_pos_len=64, scales=(16, 32))


def _data_info(feature_dim=8, num_words=12):
    rng = np.random.default_rng(0)
    return {
        "feature_dim": feature_dim,
        "word_vectors": rng.standard_normal((num_words - 2, 300)).astype("float32"),
        "num_chars": 10,
        "max_pos_len": 64,
    }


def _batch(lengths, total, feature_dim=8, seed=0):
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths)
    mask = np.arange(total)[None] < lengths[:, None]
    return {
        "video_features": (rng.standard_normal((len(lengths), total, feature_dim)) * mask[..., None]).astype("float32"),
        "video_mask": mask,
        "word_ids": np.array([[2, 3, 4], [5, 6, 0], [7, 0, 0]][: len(lengths)], "int32"),
        "char_ids": np.ones((len(lengths), 3, 4), "int32"),
        "start_index": np.minimum(np.array([3, 0, 30][: len(lengths)]), lengths - 1).astype("int32"),
        "end_index": np.minimum(np.array([10, 5, 36][: len(lengths)]), lengths - 1).astype("int32"),
        "highlight_labels": np.zeros((len(lengths), total), "int32"),
    }


def test_config_scales():
    assert VSLNetConfig(model="vslnet_l", max_pos_len=300).validate().scales == [60, 75, 100, 150]
    assert VSLNetConfig(model="vslnet_l", max_pos_len=600).validate().scales == [100, 120, 150, 200]
    with pytest.raises(ValueError, match="explicit scales"):
        VSLNetConfig(model="vslnet_l", max_pos_len=128).validate()
    with pytest.raises(ValueError, match="do not divide"):
        VSLNetConfig(model="vslnet_l", max_pos_len=600, scales=(100, 70)).validate()
    with pytest.raises(ValueError, match="cmf encoder"):
        VSLNetConfig(model="vslnet_l", max_pos_len=600, encoder="bilstm").validate()


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"split_padding": "batch_max", "npm_own_encoder": False, "npm_ffn": "mlp"},
        {"clip_positions": "global", "multiscale_loss": "sum", "scales": (32,)},
    ],
)
def test_outputs_masks_and_every_variable_gets_a_gradient(overrides):
    config = VSLNetConfig(**{**TINY, **overrides}).validate()
    task = VSLNetTask(config)
    model = task.build_model(_data_info())
    assert isinstance(model, VSLNetL)
    batch = _batch([50, 20, 37], total=50)  # T = 50 < n = 64, not divisible by 16 or 32
    outputs = model(batch, training=False)
    num_scales = len(config.scales)
    assert tuple(outputs["start_logits"].shape) == (3, num_scales, 50)
    for i, (num_clips, _) in enumerate(model.scales):
        valid = outputs["clip_valid"][i].numpy()
        weights = outputs["nil_weights"][i].numpy()
        assert valid.shape == (3, num_clips)
        np.testing.assert_array_equal(weights[~valid], 0.0)  # all-padding clips carry nothing
        np.testing.assert_allclose(weights.max(axis=1), 1.0, rtol=1e-6)  # normalized by the best valid clip
        assert np.all(outputs["start_logits"].numpy()[:, i][~batch["video_mask"]] < -1e29)
    if overrides.get("split_padding", "exact_n") == "exact_n" and 16 in config.scales:
        # sample 1 (20 clips) with l = 16: clips 0 and 1 hold video, clips 2 and 3 are padding
        np.testing.assert_array_equal(outputs["clip_valid"][0].numpy()[1], [True, True, False, False])
    with tf.GradientTape() as tape:
        losses = task.compute_losses(model, batch, training=True)
    grads = tape.gradient(losses["total"], model.trainable_variables)
    missing = [v.path for v, g in zip(model.trainable_variables, grads) if g is None]
    assert not missing
    assert set(losses) == {"span", "highlight", "npm", "l2", "total"}
    expected = losses["span"] + 5.0 * losses["highlight"] + 1.0 * losses["npm"] + losses["l2"]
    np.testing.assert_allclose(losses["total"].numpy(), expected.numpy(), rtol=1e-6)


def test_nil_loss_ignores_all_padding_clips():
    task = VSLNetTask(VSLNetConfig(**TINY).validate())
    batch = _batch([64, 10], total=64)
    logits = np.zeros((2, 4), "float32")
    valid = np.array([[True] * 4, [True, False, False, False]])
    base = float(task.nil_loss(logits, valid, batch, 4, 16))
    changed = logits.copy()
    changed[1, 1:] = 30.0  # confident "holds the moment" on clips that are only padding
    assert float(task.nil_loss(changed, valid, batch, 4, 16)) == pytest.approx(base)
    # 5 scored clips, all at logit 0: each BCE is log 2 and positives weigh 1 (the paper's f_CE)
    assert base == pytest.approx(np.log(2.0), rel=1e-6)


def test_multiscale_loss_mean_is_the_mean_of_single_scale_losses():
    batch = _batch([50, 20, 37], total=50)
    config = VSLNetConfig(**TINY, l2_mode="none", drop_rate=0.0).validate()
    task = VSLNetTask(config)
    model = task.build_model(_data_info())
    outputs = model(batch, training=False)
    both = task.compute_losses(model, batch, training=False)
    per_scale = []
    for i, (num_clips, clip_length) in enumerate(model.scales):
        single = {k: outputs[k][:, i] for k in ("start_logits", "end_logits", "highlight_logits")}
        span, highlight = task._span_and_highlight(single, batch)
        npm = task.nil_loss(outputs["nil_logits"][i], outputs["clip_valid"][i], batch, num_clips, clip_length)
        per_scale.append(float(span + 5.0 * highlight + npm))
    assert float(both["total"]) == pytest.approx(np.mean(per_scale), rel=1e-5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    synthetic.make_synthetic(str(root), preset="tiny", seed=0)
    data = dataset.DataConfig(
        dataset="charades",
        annotation_dir=str(root),
        feature_path=str(root / "features"),
        glove_path=str(root / "glove.txt"),
        processed_dir=str(root / "processed"),
        max_pos_len=64,
    )
    processed = dataset.prepare_dataset(data, progress=False)
    run_dir = root / "run"
    config = VSLNetConfig(model="vslnet_l", hidden_dim=32, num_heads=4, max_pos_len=64, scales=(16, 32), init_lr=2e-3)
    trainer = Trainer(
        VSLNetTask(config),
        processed,
        TrainerConfig(epochs=10, batch_size=16, seed=1, protocol="clean", verbose=False),
        str(run_dir),
    )
    result = trainer.train()
    return root, run_dir, trainer, result


@pytest.mark.slow  # ≈ 45 s of training; VSLNet-L's 2-step runs: tests/experiments/reproduce_test.py
def test_vslnet_l_learns_on_the_tiny_preset(trained):
    root, run_dir, _, result = trained
    baselines = json.loads((root / "baselines.json").read_text())
    assert result["r1_iou05"] > 1.5 * max(b["r1_iou05"] for b in baselines.values()), (result, baselines)
    assert result["miou"] > max(b["miou"] for b in baselines.values()) + 10, (result, baselines)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["strategies"]) == {"pm", "u"}
    assert metrics["strategies"]["pm"]["r1_iou07"] == metrics["r1_iou07"]
    u_lines = (run_dir / "test_predictions_u.jsonl").read_text().splitlines()
    assert len(u_lines) == metrics["count"] == len((run_dir / "test_predictions.jsonl").read_text().splitlines())


@pytest.mark.slow  # ≈ 60 s; VSLNet-L serving in memory: tests/experiments/predict_test.py
def test_saved_model_round_trip_with_both_strategies(trained, tmp_path):
    _, _, trainer, _ = trained
    out_dir = tmp_path / "saved_model"
    processed = trainer.processed
    saved_model.export_saved_model(
        trainer.model, processed.vocab, str(out_dir), max_pos_len=64, feature_dim=processed.feature_dim
    )
    functions = saved_model.serving_functions(
        trainer.model, processed.vocab, max_pos_len=64, feature_dim=processed.feature_dim
    )
    example = trainer.processed.splits["test"][0]
    features = trainer.store.get(example["vid"]).astype("float32")
    cases = [
        (features, "a person opens the door", 12.5, "pm"),
        (features, "a person opens the door", 12.5, "u"),
        (features, "someone closes a box", 30.0, ""),
    ]
    rng = np.random.default_rng(3)
    ids_batch = {
        "video_features": rng.standard_normal((2, 40, processed.feature_dim)).astype("float32"),
        "video_mask": np.arange(40)[None] < np.array([[40], [25]]),
        "word_ids": np.array([[2, 3, 4], [5, 0, 0]], "int32"),
        "char_ids": np.ones((2, 3, 2), "int32"),
    }
    reloaded = reload_saved_model_in_fresh_process(out_dir, cases, ids_batch, tmp_path)
    for i, (feats, query, duration, strategy) in enumerate(cases):
        expected = functions.serve_with_strategy(
            tf.constant(feats), tf.constant(query), tf.constant(duration), tf.constant(strategy)
        )
        for key in ("start_time", "end_time", "score", "scale_start_time", "scale_span_prob", "start_probs"):
            np.testing.assert_allclose(reloaded[f"{key}_{i}"], expected[key].numpy(), rtol=1e-5, atol=1e-6)
        # serving_default has no strategy input and answers with Pm (case 1 is case 0 with U).
        pm_case = 0 if strategy == "u" else i
        for key in ("start_time", "end_time", "score"):
            assert reloaded[f"default_{key}_{i}"] == pytest.approx(reloaded[f"{key}_{pm_case}"])
    expected_ids = functions.predict_ids(
        *(tf.constant(ids_batch[k]) for k in ("video_features", "video_mask", "word_ids", "char_ids"))
    )
    for key in ("start_index", "end_index", "u_start_index", "u_end_index", "scale_start_index"):
        np.testing.assert_array_equal(reloaded[f"ids_{key}"], expected_ids[key].numpy())
    # U's answer is the hull of two scale candidates; Pm's is one of them
    pm = (float(reloaded["start_time_0"]), float(reloaded["end_time_0"]))
    scale_moments = list(zip(reloaded["scale_start_time_0"].tolist(), reloaded["scale_end_time_0"].tolist()))
    assert any(np.allclose(pm, m) for m in scale_moments)
    u = (float(reloaded["start_time_1"]), float(reloaded["end_time_1"]))
    assert u[0] == pytest.approx(min(s for s, _ in scale_moments)) and u[1] == pytest.approx(
        max(e for _, e in scale_moments)
    )  # two scales: U is the hull of both


@pytest.mark.slow  # needs the trained fixture (≈ 50 s)
def test_compare_by_length_puts_both_strategies_side_by_side(trained):
    root, run_dir, _, result = trained
    (run_dir / "config.json").write_text(
        json.dumps({"model": {"model": "vslnet_l"}, "data": {"processed_dir": str(root / "processed")}})
    )
    results = compare_by_length.compare([str(run_dir)], compare_by_length.metrics_lib.LENGTH_BUCKETS["table7"])
    assert list(results) == ["vslnet_l-pm (run)", "vslnet_l-u (run)"]
    pm, u = results["vslnet_l-pm (run)"], results["vslnet_l-u (run)"]
    assert pm["all"]["miou"] == pytest.approx(result["miou"])
    assert u["all"]["miou"] == pytest.approx(result["strategies"]["u"]["miou"])
    assert sum(b["count"] for label, b in pm.items() if label != "all") == result["count"]
    assert "0-2min" in compare_by_length.format_comparison(results, "miou")
