"""LPNet SavedModel export: `load_run` of an LPNet run directory, in-memory serving against the Python path, and
the exported SavedModel reloaded in a fresh process."""

import dataclasses
import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.data import labels
from common.data.tokenization import tokenize
from common.export import saved_model
from common.training import run_loader
from lpnet_tf import serving
from lpnet_tf.config import LPNetConfig
from lpnet_tf.model import LPNet
from lpnet_tf.task import LPNetTask
from tests.common.export.saved_model_test import FEATURE_DIM, MAX_POS_LEN, make_vocab, serving_cases
from tests.test_case import reload_saved_model_in_fresh_process

pytestmark = [
    # The one-clip, one-token case softmaxes over axes of size 1 (Keras warns).
    pytest.mark.filterwarnings("ignore:You are using a softmax over axis:UserWarning"),
]

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = {
    "hidden_dim": 16,
    "num_heads": 2,
    "proposal_heads": 2,
    "char_dim": 8,
    "word_dim": 12,
    "max_pos_len": MAX_POS_LEN,
    "num_proposals": 5,
    "roi_length": 4,
    "dynamic_dim": 8,
    "scoring_hidden_dim": 16,
    "predict_top_k": 3,
}


def make_lpnet_run_dir(root, seed=0, **changes):
    """A run directory as `experiments.train` writes it for LPNet, with a tiny random model in `RUN/checkpoints`.

    Returns:
        `(run_dir, model, vocab)`.
    """
    root = pathlib.Path(root)
    processed = root / "data"
    processed.mkdir(parents=True)
    vocab = make_vocab()
    vocab.save(str(processed))
    vectors = np.random.default_rng(seed).normal(size=(vocab.num_words - 2, TINY["word_dim"])).astype(np.float32)
    np.save(processed / "word_vectors.npy", vectors)
    meta = {
        "feature_dim": FEATURE_DIM,
        "max_pos_len": MAX_POS_LEN,
        "num_words": vocab.num_words,
        "num_chars": vocab.num_chars,
    }
    (processed / "meta.json").write_text(json.dumps(meta))
    config = LPNetConfig(**dict(TINY, **changes))
    (root / "config.json").write_text(
        json.dumps(
            {"model_family": "lpnet", "model": dataclasses.asdict(config), "data": {"processed_dir": str(processed)}}
        )
    )
    keras.utils.set_random_seed(seed)
    info = {
        "feature_dim": FEATURE_DIM,
        "word_vectors": vectors,
        "num_chars": vocab.num_chars,
        "max_pos_len": MAX_POS_LEN,
    }
    net = LPNetTask(config).build_model(info)
    # Spread the boxes so that different proposals win on different inputs.
    net.proposal_box.assign(np.array([[0.1, 0.05], [0.3, 0.2], [0.5, 0.1], [0.7, 0.25], [0.9, 0.08]], np.float32))
    tf.train.Checkpoint(model=net).save(str(root / "checkpoints" / "ckpt"))
    return root, net, vocab


def python_predict(model, vocab, features, query, duration):
    """The prediction by the Python path: `tokenize`, `Vocabulary`, `visual_feature_sampling`, eager predict_step,
    fidelity LPNet §10 times in NumPy float32."""
    tokens = tokenize(query)[:MAX_POS_LEN]
    chars = vocab.char_ids(tokens)
    width = max(len(c) for c in chars)
    char_ids = np.array([[c + [0] * (width - len(c)) for c in chars]], np.int32)
    sampled = labels.visual_feature_sampling(features, MAX_POS_LEN)
    batch = {
        "video_features": sampled[None].astype(np.float32),
        "video_mask": np.ones([1, len(sampled)], bool),
        "word_ids": np.array([vocab.word_ids(tokens)], np.int32),
        "char_ids": char_ids,
    }
    out = {k: v.numpy()[0] for k, v in LPNetTask(model.config).predict_step(model, batch).items()}
    num = np.float32(len(sampled))
    out["start_time"] = np.float32(out["start_index"]) * np.float32(duration) / num
    out["end_time"] = np.float32(out["end_index"] + 1) * np.float32(duration) / num
    out["tokens"] = tokens
    return out


def ids_batch():
    rng = np.random.default_rng(5)
    lengths = np.array([12, 7, 16])
    mask = np.arange(16)[None] < lengths[:, None]
    features = (rng.normal(size=(3, 16, FEATURE_DIM)) * mask[..., None]).astype(np.float32)
    word_ids = np.array([[2, 3, 4, 5, 0, 0], [6, 7, 8, 0, 0, 0], [9, 10, 11, 12, 13, 1]], np.int32)
    char_ids = rng.integers(1, 8, size=(3, 6, 5)) * (word_ids[..., None] > 0)
    return {"video_features": features, "video_mask": mask, "word_ids": word_ids, "char_ids": char_ids.astype(np.int32)}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_lpnet_run_dir(tmp_path_factory.mktemp("lpnet_run"))


@pytest.fixture(scope="module")
def functions(run):
    _, model, vocab = run
    return saved_model.serving_functions(model, vocab, max_pos_len=MAX_POS_LEN, feature_dim=FEATURE_DIM)


def test_load_run_rebuilds_an_lpnet_run(run):
    run_dir, model, vocab = run
    loaded = run_loader.load_run(str(run_dir), require_vocab=True)
    assert isinstance(loaded.model, LPNet) and isinstance(loaded.config, LPNetConfig)
    assert isinstance(loaded.task, LPNetTask) and loaded.family == "lpnet" and loaded.model_name == "lpnet"
    assert loaded.vocab == vocab and (loaded.max_pos_len, loaded.feature_dim) == (MAX_POS_LEN, FEATURE_DIM)
    assert run_loader.untracked_weights(model) == []
    for got, expected in zip(loaded.model.weights, model.weights):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
    batch = ids_batch()
    np.testing.assert_array_equal(loaded.model(batch, training=False)["scores"], model(batch, training=False)["scores"])


def test_load_run_refuses_unknown_families(run, tmp_path):
    run_dir, _, _ = run
    config = json.loads((run_dir / "config.json").read_text())
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps(dict(config, model_family="tmlga")))
    with pytest.raises(ValueError, match="'tmlga'"):
        run_loader.load_run(str(other))


def test_serving_function_agrees_with_the_python_path(functions, run):
    _, model, vocab = run
    assert isinstance(functions, serving.LPNetServingFunctions)
    winners = set()
    for features, query, duration in serving_cases():
        got = {k: v.numpy() for k, v in functions.serve_details(features, query, duration).items()}
        assert set(got) == set(serving.DETAILS_OUTPUTS)
        expected = python_predict(model, vocab, features, query, duration)
        assert [t.decode() for t in got["tokens"]] == expected["tokens"]
        for key in ("start_index", "end_index", "topk_start_index", "topk_end_index"):
            np.testing.assert_array_equal(got[key], expected[key])
        for key in ("score", "topk_scores", "start_time", "end_time"):
            np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=1e-5)
        num = min(len(features), MAX_POS_LEN)
        assert got["start_time"].dtype == np.float32 and got["start_index"].dtype == np.int32
        assert 0 <= got["start_index"] < num and 0 <= got["end_index"] < num
        # fidelity LPNet §10 and the top-k: entry 0 is the chosen proposal.
        np.testing.assert_allclose(got["end_time"], (got["end_index"] + 1) * duration / num, rtol=1e-6)
        assert got["topk_scores"].shape == (3,) and got["topk_scores"][0] == got["score"]
        np.testing.assert_allclose(got["topk_start_time"], got["topk_start_index"] * duration / num, rtol=1e-6)
        np.testing.assert_allclose(got["topk_end_time"], (got["topk_end_index"] + 1) * duration / num, rtol=1e-6)
        assert got["topk_start_time"][0] == got["start_time"] and got["topk_end_time"][0] == got["end_time"]
        winners.add((int(got["start_index"]), int(got["end_index"]), num))
    assert len(winners) > 1


@pytest.mark.parametrize(
    "features, query, duration, message",
    [
        (np.zeros((0, FEATURE_DIM), np.float32), "a man", 10.0, "no clips"),
        (np.full((4, FEATURE_DIM), np.nan, np.float32), "a man", 10.0, "NaN or Inf"),
        (np.zeros((4, FEATURE_DIM), np.float32), "a man", 0.0, "duration must be positive"),
        (np.zeros((4, FEATURE_DIM), np.float32), "   ", 10.0, "no tokens"),
    ],
)
def test_serving_function_rejects_bad_inputs(functions, features, query, duration, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        functions.serve(features, query, duration)


@pytest.mark.slow  # ≈ 40 s; LPNet export through train: tests/experiments/train_test.py
def test_export_run_round_trip_in_a_fresh_process(run, functions, tmp_path):
    run_dir, model, _ = run
    out_dir = tmp_path / "exported"
    loaded = saved_model.export_run(str(run_dir), str(out_dir))
    assert loaded.family == "lpnet" and (out_dir / "saved_model.pb").exists()
    info = json.loads((out_dir / "nlvl_export.json").read_text())
    assert info["model"] == "lpnet" and info["signatures"]["serving_details"] == list(serving.DETAILS_OUTPUTS)
    assert info["signatures"]["serving_default"] == list(saved_model.SERVING_OUTPUTS)
    cases = serving_cases()
    reloaded = reload_saved_model_in_fresh_process(out_dir, cases, ids_batch(), tmp_path)
    for i, (features, query, duration) in enumerate(cases):
        expected = {k: v.numpy() for k, v in functions.serve_details(features, query, duration).items()}
        for key in saved_model.SERVING_OUTPUTS:
            np.testing.assert_array_equal(reloaded[f"default_{key}_{i}"], reloaded[f"{key}_{i}"])
        for key in ("start_index", "end_index", "topk_start_index", "topk_end_index", "tokens"):
            np.testing.assert_array_equal(reloaded[f"{key}_{i}"], expected[key])
        for key in ("start_time", "end_time", "score", "topk_start_time", "topk_end_time", "topk_scores"):
            np.testing.assert_allclose(reloaded[f"{key}_{i}"], expected[key], rtol=0, atol=1e-5)
    # predict_ids against the in-memory model's predict_step.
    expected = {k: v.numpy() for k, v in LPNetTask(model.config).predict_step(model, ids_batch()).items()}
    assert set(expected) == set(serving.PREDICT_IDS_OUTPUTS)
    for key in ("start_index", "end_index", "topk_start_index", "topk_end_index"):
        np.testing.assert_array_equal(reloaded[f"ids_{key}"], expected[key])
    for key in ("score", "topk_scores"):
        np.testing.assert_allclose(reloaded[f"ids_{key}"], expected[key], rtol=0, atol=1e-5)
