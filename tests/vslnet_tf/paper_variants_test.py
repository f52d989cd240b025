"""The paper-vs-code options of `VSLNetConfig` (fidelity VSLNet §6 #1, #5, #6, #7, #9, #11).

Each option must change exactly what its row of the spec says, and its default must be the code's behaviour.
"""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.data import dataset, labels, pipeline, synthetic
from common.training import optimizers
from common.training import trainer as trainer_lib
from vslnet_tf.config import VSLNetConfig
from vslnet_tf.model import VSLNet
from vslnet_tf.task import VSLNetTask

# Keras' `convert_to_numpy` on a TF variable triggers a NumPy 2 deprecation notice that is not ours.
NUM_CHARS = 30
SMALL = dict(hidden_dim=16, num_heads=2)


def _model(seed=0, **config):
    keras.utils.set_random_seed(seed)
    vectors = np.random.default_rng(seed).normal(size=(8, 300)).astype(np.float32)
    model = VSLNet(VSLNetConfig(**config), num_words=10, num_chars=NUM_CHARS, feature_dim=1024, word_vectors=vectors)
    model(pipeline.dummy_inputs(1024))
    return model


def _batch(seed=0, batch=3, clips=9, words=5, feature_dim=1024):
    rng = np.random.default_rng(seed)
    lengths = np.array([clips, clips - 3, 4][:batch])
    word_lengths = np.array([words, 3, 2][:batch])
    return {
        "video_features": rng.normal(size=(batch, clips, feature_dim)).astype(np.float32),
        "video_mask": np.arange(clips)[None] < lengths[:, None],
        "word_ids": np.where(np.arange(words)[None] < word_lengths[:, None], rng.integers(1, 10, (batch, words)), 0),
        "char_ids": rng.integers(0, NUM_CHARS, (batch, words, 6)).astype(np.int32),
        "start_index": np.array([1, 0, 2][:batch], np.int32),
        "end_index": np.array([4, 5, 3][:batch], np.int32),
        "highlight_labels": (np.arange(clips)[None] < lengths[:, None]).astype(np.int32),
    }


def _num_params(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def _interaction(model, batch):
    """V^q and Q̃ of `batch` (no dropout), by the model's own layers in the order of `VSLNet.call`."""
    video_mask = batch["video_mask"]
    query_mask = batch["word_ids"] != 0
    query = model.backbone.word_embedding(batch["word_ids"], training=False)
    if model.config.use_char_embedding:
        query = keras.ops.concatenate([query, model.backbone.char_embedding(batch["char_ids"], training=False)], -1)
    query = model.backbone.encoder(model.backbone.query_projection(query), query_mask, training=False)
    video = model.backbone.encoder(model.backbone.video_projection(batch["video_features"]), video_mask, training=False)
    features = model.backbone.interaction(video, query, video_mask, query_mask, training=False)
    return keras.ops.convert_to_numpy(features), keras.ops.convert_to_numpy(query)


@pytest.fixture(scope="module")
def default_model():
    return _model(**SMALL)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow at the −1e30 of padding


# === Defaults ===


def test_defaults_are_the_code():
    config = VSLNetConfig()
    assert (config.label_rule, config.optimizer) == ("iou_argmax", "adam_weight_decay")
    assert not (config.qgh_on_concat or config.paper_predictor_head or config.paper_extension)
    assert config.use_char_embedding and config.extension_length == "code"
    assert VSLNetConfig(paper_extension=True).extension_length == "paper"
    assert dataset.DataConfig().label_rule == "iou_argmax"
    for field, value in (("label_rule", "floor"), ("optimizer", "sgd")):
        with pytest.raises(ValueError, match=field):
            VSLNetConfig(**{field: value}).validate()


@pytest.mark.parametrize(
    "config,expected",
    [
        # The defaults' 779,819 / 670,763 + (n_chars − 1)·50 (fidelity VSLNet §3.14) are checked in model_test.py.
        # #11: no char-CNN (15,100) nor char table; query projection 300·128 instead of 400·128 (−12,800).
        (dict(use_char_embedding=False), 779_819 - 15_100 - 12_800),
        # #7: heads 2·(256 + 1) = 514 instead of 65,792 + 258.
        (dict(paper_predictor_head=True), 779_819 - 65_792 - 258 + 514 + (NUM_CHARS - 1) * 50),
        # #5 (rnn): no Dense(2d→d) (−32,896); highlight 2d + 1 (+128); LSTM_s input 2d (+128·512 = 65,536);
        # heads read 3d (+2·128·128 = 32,768).
        (dict(qgh_on_concat=True), 779_819 - 32_896 + 128 + 65_536 + 32_768 + (NUM_CHARS - 1) * 50),
        # #5 (transformer): the Dense(2d→d) moves after QGH (same size); highlight +128.
        (dict(qgh_on_concat=True, predictor="transformer"), 670_763 + 128 + (NUM_CHARS - 1) * 50),
    ],
)
def test_parameter_counts(config, expected):
    assert _num_params(_model(**config)) == expected


# === #5 qgh_on_concat ===


@pytest.mark.parametrize("predictor", ["rnn", "transformer"])
def test_qgh_on_concat_highlights_the_2d_concat(predictor):
    model = _model(qgh_on_concat=True, predictor=predictor, **SMALL)
    batch = _batch()
    outputs = model(batch, training=False)
    assert not model.query_pooling.use_projection and not hasattr(model.query_pooling, "projection")
    assert tuple(model.highlighting.score.kernel.shape) == (32, 1)
    features, query = _interaction(model, batch)
    # h_Q: attentive pooling of Q̃ with w_p over the valid words (fidelity VSLNet §3.7).
    w_p = model.query_pooling.pooling.pooling_kernel.numpy()
    alpha = np.where(batch["word_ids"] != 0, (query @ w_p)[..., 0], -1e30)
    alpha = np.exp(alpha - alpha.max(1, keepdims=True))
    alpha /= alpha.sum(1, keepdims=True)
    pooled = np.einsum("bm,bmd->bd", alpha, query)
    concat = np.concatenate([features, np.repeat(pooled[:, None], features.shape[1], 1)], -1)  # [V^q; h_Q]
    # S_h = σ(Conv1D([V^q; h_Q])), Ṽ^q = S_h·[V^q; h_Q] (2d).
    z = (concat @ model.highlighting.score.kernel.numpy())[..., 0] + model.highlighting.score.bias.numpy()[0]
    z = np.where(batch["video_mask"], z, np.float32(-1e30))
    np.testing.assert_allclose(outputs["highlight_logits"].numpy(), z, rtol=1e-4, atol=1e-4)
    highlighted = concat * _sigmoid(z)[..., None]
    if predictor == "rnn":
        assert tuple(model.predictor.start_rnn.cell.kernel.shape) == (32, 64)  # the predictor reads 2d
        predictor_input = highlighted
    else:
        predictor_input = model.highlighted_projection(highlighted).numpy()
    start, end = model.predictor(predictor_input.astype(np.float32), batch["video_mask"], training=False)
    valid = batch["video_mask"]
    np.testing.assert_allclose(outputs["start_logits"].numpy()[valid], start.numpy()[valid], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(outputs["end_logits"].numpy()[valid], end.numpy()[valid], rtol=1e-4, atol=1e-4)


def test_default_highlights_the_projected_features(default_model):
    model = default_model
    assert model.query_pooling.use_projection and not hasattr(model, "highlighted_projection")
    assert tuple(model.highlighting.score.kernel.shape) == (16, 1)
    assert tuple(model.predictor.start_rnn.cell.kernel.shape) == (16, 64)


# === #7 paper_predictor_head, #11 use_char_embedding ===


def test_paper_predictor_head_is_linear(default_model):
    model = _model(paper_predictor_head=True, **SMALL)
    assert model.predictor.head == "linear" and not hasattr(model.predictor, "start_hidden")
    assert tuple(model.predictor.start_dense.kernel.shape) == (32, 1)  # W[h; F] + b
    assert default_model.predictor.head == "mlp"


def test_without_char_embedding_the_query_is_glove_only(default_model):
    model = _model(use_char_embedding=False, **SMALL)
    assert not hasattr(model, "char_embedding")
    assert tuple(model.backbone.query_projection.kernel.shape) == (300, 16)
    batch = _batch()
    other = dict(batch, char_ids=np.random.default_rng(5).integers(0, NUM_CHARS, batch["char_ids"].shape))
    np.testing.assert_array_equal(model(batch)["start_logits"].numpy(), model(other)["start_logits"].numpy())
    default = default_model
    assert tuple(default.backbone.query_projection.kernel.shape) == (400, 16)  # 300 GloVe + 100 char-CNN
    assert not np.array_equal(default(batch)["start_logits"].numpy(), default(other)["start_logits"].numpy())


@pytest.mark.parametrize(
    "config",
    [
        dict(qgh_on_concat=True, paper_predictor_head=True, use_char_embedding=False),
        dict(qgh_on_concat=True, predictor="transformer"),
    ],
)
def test_every_variable_of_the_variants_gets_a_gradient(config):
    model = _model(**config, **SMALL)
    task = VSLNetTask(model.config)
    with tf.GradientTape() as tape:
        losses = task.compute_losses(model, _batch(), training=True)
    grads = tape.gradient(losses["total"], model.trainable_variables)
    assert [v.path for v, g in zip(model.trainable_variables, grads) if g is None] == []
    assert len(model.l2_variables()) < len(model.trainable_variables)


# === #9 optimizer ===


def _one_step(config, theta, grad):
    task = VSLNetTask(config)
    optimizer = task.build_optimizer(total_steps=100)
    variable = keras.Variable(np.asarray(theta, np.float32))
    optimizer.build([variable])
    optimizer.apply_gradients([(tf.constant(grad, tf.float32), variable)])
    return optimizer, variable.numpy().astype(np.float64)


def test_paper_optimizer_is_plain_bias_corrected_adam():
    theta, grad = np.array([1.0, -2.0]), np.array([0.5, -0.1])  # global norm < 1: no clipping
    optimizer, updated = _one_step(VSLNetConfig(optimizer="adam"), theta, grad)
    assert isinstance(optimizer, optimizers.TF1Adam)
    assert optimizer.epsilon == 1e-8 and optimizer.global_clipnorm == 1.0
    m, v = 0.1 * grad, 0.001 * grad**2
    lr_t = 1e-4 * np.sqrt(1 - 0.999) / (1 - 0.9)  # bias correction at t = 1; no weight decay
    np.testing.assert_allclose(updated, theta - lr_t * m / (np.sqrt(v) + 1e-8), rtol=1e-6)


def test_default_optimizer_is_the_codes_adam_weight_decay():
    theta, grad = np.array([1.0, -2.0]), np.array([0.5, -0.1])
    optimizer, updated = _one_step(VSLNetConfig(), theta, grad)
    assert isinstance(optimizer, optimizers.AdamWeightDecay)
    m, v = 0.1 * grad, 0.001 * grad**2
    u = m / (np.sqrt(v) + 1e-6) + 0.01 * theta  # no bias correction; decoupled decay
    np.testing.assert_allclose(updated, theta - 1e-4 * u, rtol=1e-6)


@pytest.mark.parametrize("name, decays", [("adam", False), ("adam_weight_decay", True)])
def test_only_the_codes_optimizer_decays_weights(default_model, name, decays):
    # With zero gradients Adam's moments stay 0 and its step is 0: only a weight decay can move a variable.
    model = default_model
    task = VSLNetTask(VSLNetConfig(optimizer=name, **SMALL))
    optimizer = task.build_optimizer(total_steps=10)
    task.prepare_optimizer(optimizer, model)
    variables = model.trainable_variables
    optimizer.build(variables)
    before = [v.numpy().copy() for v in variables]
    optimizer.apply_gradients([(tf.zeros_like(v), v) for v in variables])
    moved = [v.path for v, b in zip(variables, before) if not np.array_equal(v.numpy(), b)]
    if decays:
        assert moved and all("bias" not in path and "gamma" not in path and "beta" not in path for path in moved)
    else:
        assert moved == []


# === #1 label_rule (data, decoding) and #6 paper_extension (pipeline) ===


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    synthetic.make_synthetic(str(root), preset="tiny", seed=0)
    return root


def _data_config(root, processed, **kwargs):
    return dataset.DataConfig(
        dataset="charades",
        annotation_dir=str(root),
        feature_path=str(root / "features"),
        glove_path=str(root / "glove.txt"),
        processed_dir=str(processed),
        max_pos_len=32,
        **kwargs,
    )


def test_label_rule_fingerprint():
    code = dataset.DataConfig()
    assert code.fingerprint()["label_rule"] == "iou_argmax"
    paper = dataclasses.replace(code, label_rule="round")
    assert paper.fingerprint() == dict(code.fingerprint(), label_rule="round")


def test_label_rule_round_builds_the_papers_labels_and_rebuilds_the_folder(tiny, tmp_path):
    code = dataset.prepare_dataset(_data_config(tiny, tmp_path / "p"), progress=False)
    paper = dataset.prepare_dataset(_data_config(tiny, tmp_path / "p", label_rule="round"), progress=False)
    assert code.meta["label_rule"] == "iou_argmax" and paper.meta["label_rule"] == "round"
    ends_moved = 0
    for a, b in zip(code.splits["train"], paper.splits["train"]):
        assert a["qid"] == b["qid"]
        assert (a["start_index"], a["end_index"]) == labels.time_to_index(
            a["start_time"], a["end_time"], a["v_len"], a["duration"]
        )
        assert (b["start_index"], b["end_index"]) == labels.time_to_index(
            b["start_time"], b["end_time"], b["v_len"], b["duration"], rule="round"
        )
        ends_moved += b["end_index"] != a["end_index"]
    # Synthetic moments lie on clip boundaries: the paper's end index is the boundary after the code's last clip.
    assert ends_moved > len(paper.splits["train"]) // 2
    with pytest.raises(ValueError, match="label_rule"):
        VSLNetTask(VSLNetConfig(**SMALL)).build_model(trainer_lib.data_info(paper))


class _Store:
    def __init__(self, lengths):
        self.lengths = lengths

    def get(self, vid):
        return np.zeros((self.lengths[vid], 4), np.float32)


def test_paper_extension_in_the_pipeline():
    examples = [
        dict(vid="a", v_len=10, start_index=2, end_index=7, word_ids=[2], char_ids=[[1, 2]], duration=10.0),
        dict(vid="b", v_len=20, start_index=0, end_index=14, word_ids=[3], char_ids=[[2]], duration=20.0),
    ]
    store = _Store({"a": 10, "b": 20})

    def highlight(**kwargs):
        batch = next(
            iter(
                pipeline.make_dataset(
                    examples, store, batch_size=2, max_pos_len=32, feature_dim=4, training=False, **kwargs
                )
            )
        )
        return batch["highlight_labels"].numpy()

    code, paper = highlight(), highlight(extension_length="paper")
    np.testing.assert_array_equal(code, highlight(extension_length="code"))
    # a: L = 6 -> ext 1 -> [1, 8]; paper L = 5 -> ext 0 -> [2, 7].  b: L = 15 -> 2 -> [0, 16]; paper 14 -> 1 -> [0, 15].
    np.testing.assert_array_equal(np.flatnonzero(code[0]), np.arange(1, 9))
    np.testing.assert_array_equal(np.flatnonzero(paper[0]), np.arange(2, 8))
    np.testing.assert_array_equal(np.flatnonzero(code[1]), np.arange(0, 17))
    np.testing.assert_array_equal(np.flatnonzero(paper[1]), np.arange(0, 16))


def test_trainer_decodes_with_the_datas_rule_and_passes_the_extension(tiny, tmp_path, monkeypatch):
    processed = dataset.prepare_dataset(_data_config(tiny, tmp_path / "p", label_rule="round"), progress=False)
    config = VSLNetConfig(label_rule="round", paper_extension=True, max_pos_len=32, char_dim=8, **SMALL)
    seen = []
    make_dataset = pipeline.make_dataset

    def recording(*args, **kwargs):
        seen.append(kwargs.get("extension_length"))
        return make_dataset(*args, **kwargs)

    monkeypatch.setattr(pipeline, "make_dataset", recording)
    trainer = trainer_lib.Trainer(
        VSLNetTask(config),
        processed,
        trainer_lib.TrainerConfig(epochs=1, verbose=False),
        str(tmp_path / "run"),
        extend=config.extend,
        extension_length=config.extension_length,
    )
    assert trainer.label_rule == "round"
    _, predictions = trainer.evaluate("test")
    assert seen == ["paper"]
    for example in processed.splits["test"]:
        p = predictions[example["qid"]]
        assert (p["start"], p["end"]) == labels.index_to_time(
            p["start_index"], p["end_index"], example["v_len"], example["duration"], rule="round"
        )
