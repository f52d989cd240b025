import numpy as np
import pytest
import tensorflow as tf

from common.data.pipeline import dummy_inputs
from tests.test_case import TestCase
from vslnet_tf.config import VSLNetConfig, apply_quirks
from vslnet_tf.model import VSLNet
from vslnet_tf.task import VSLNetTask

NUM_CHARS = 30


def _model(seed=0, **config):
    tf.keras.utils.set_random_seed(seed)
    vectors = np.random.default_rng(seed).normal(size=(8, 300)).astype(np.float32)
    model = VSLNet(VSLNetConfig(**config), num_words=10, num_chars=NUM_CHARS, feature_dim=1024, word_vectors=vectors)
    model(dummy_inputs(1024))
    return model, vectors


def _batch(rng, batch=3, clips=9, words=5, feature_dim=1024):
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


@pytest.mark.parametrize("predictor,expected", [("rnn", 779_819), ("transformer", 670_763)])
def test_parameter_count_matches_the_original(predictor, expected):
    model, _ = _model(predictor=predictor)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    assert trainable == expected + (NUM_CHARS - 1) * 50


def test_word_vectors_are_in_the_built_model():
    model, vectors = _model()
    np.testing.assert_array_equal(model.backbone.word_embedding.word_table.numpy(), vectors)


def test_checkpoint_round_trip_restores_every_weight(tmp_path):
    model, _ = _model(seed=1, hidden_dim=16, num_heads=2)
    other, _ = _model(seed=2, hidden_dim=16, num_heads=2)
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    tf.train.Checkpoint(model=other).restore(path).assert_existing_objects_matched()
    assert len(model.weights) == len(other.weights)
    for a, b in zip(model.weights, other.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_vslbase_has_no_highlighting():
    model, _ = _model(model="vslbase", hidden_dim=16, num_heads=2)
    outputs = model(_batch(np.random.default_rng(0)))
    assert set(outputs) == {"start_logits", "end_logits"}
    assert not hasattr(model, "highlighting")


def test_every_trainable_variable_gets_a_gradient_and_padding_is_masked():
    model, _ = _model(hidden_dim=16, num_heads=2)
    task = VSLNetTask(model.config)
    batch = _batch(np.random.default_rng(0))
    with tf.GradientTape() as tape:
        losses = task.compute_losses(model, batch, training=True)
    grads = tape.gradient(losses["total"], model.trainable_variables)
    missing = [v.path for v, g in zip(model.trainable_variables, grads) if g is None]
    assert missing == []
    logits = model(batch)["start_logits"].numpy()
    assert np.all(logits[~batch["video_mask"]] == np.float32(-1e30))
    assert set(losses) == {"span", "highlight", "l2", "total"}
    np.testing.assert_allclose(
        float(losses["total"]),
        float(losses["span"]) + 5.0 * float(losses["highlight"]) + float(losses["l2"]),
        rtol=1e-6,
    )


def test_quirk_presets():
    assert not apply_quirks(VSLNetConfig(), "original").masked_conv
    assert apply_quirks(VSLNetConfig(), "fixed").masked_conv
    with pytest.raises(ValueError):
        apply_quirks(VSLNetConfig(), "other")


def test_paper_variants_change_what_they_should():
    rng = np.random.default_rng(0)
    batch = _batch(rng)
    model, _ = _model(hidden_dim=16, num_heads=2)
    code = VSLNetTask(model.config).compute_losses(model, batch, training=False)
    for field, value in (("paper_span_loss", True), ("highlight_positive_weight", 1.0)):
        task = VSLNetTask(VSLNetConfig(**dict(vars(model.config), **{field: value})))
        paper = task.compute_losses(model, batch, training=False)
        if field == "paper_span_loss":
            np.testing.assert_allclose(float(paper["span"]), 0.5 * float(code["span"]), rtol=1e-6)
        else:
            assert float(paper["highlight"]) < float(code["highlight"])  # all labels here are positive
    with_bias, _ = _model(hidden_dim=16, num_heads=2, cqa_output_bias=True)
    assert len(with_bias.trainable_variables) == len(model.trainable_variables) + 1


class LSTMImplementationTest(TestCase):
    def test_keras_and_sequence_give_the_same_outputs_and_gradients(self):
        # With the bilstm encoder (called on the video and the query) and the rnn predictor: every LSTM of VSLNet.
        models = []
        for implementation in ("sequence", "keras"):
            model, _ = _model(encoder="bilstm", hidden_dim=16, num_heads=2, lstm_implementation=implementation)
            self.assertEqual(
                (model.backbone.encoder.lstm_implementation, model.predictor.lstm_implementation),
                (implementation, implementation),
            )
            models.append(model)
        models[1].set_weights(models[0].get_weights())
        batch = _batch(np.random.default_rng(0))
        inputs = {key: batch[key] for key in ("video_features", "video_mask", "word_ids", "char_ids")}
        self.assert_same_outputs_and_gradients(
            *[(lambda x, model=model: model(x), model.trainable_variables) for model in models], inputs
        )
