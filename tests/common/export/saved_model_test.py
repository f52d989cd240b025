"""Tests for `common.export`: in-graph tokenizer agreement, in-graph resampling, SavedModel round trip, `load_run`.

The tokenizer agreement over the real annotation files (`test_tokenizer_agreement_on_real_annotations`) is marked
slow; run it with `--run_slow`. It prints the agreement per dataset.
"""

import dataclasses
import glob
import json
import os
import pathlib
import random

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.data import labels
from common.data import vocab as vocab_lib
from common.data.tokenization import tokenize
from common.export import saved_model
from common.export.text_graph import graph_tokenize
from common.layers.span_decoding import span_decode
from common.training import run_loader
from tests.test_case import reload_saved_model_in_fresh_process
from vslnet_tf.config import VSLNetConfig
from vslnet_tf.task import VSLNetTask

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
FEATURE_DIM = 10
MAX_POS_LEN = 16
WORDS = [
    "a",
    "person",
    "man",
    "woman",
    "opens",
    "the",
    "door",
    ".",
    "then",
    "he",
    "sits",
    "down",
    "'s",
    "cup",
    "holding",
    "ca",
    "n't",
    ",",
    "mr.",
    "?",
]
TINY_CONFIG = {"hidden_dim": 16, "num_heads": 2, "max_pos_len": MAX_POS_LEN, "char_dim": 8, "word_dim": 12}


# ==== Helpers shared with tests/experiments/predict_test.py =============================================


def make_vocab():
    chars = sorted({c for w in WORDS for c in w})
    return vocab_lib.Vocabulary([vocab_lib.PAD, vocab_lib.UNK] + WORDS, [vocab_lib.PAD, vocab_lib.UNK] + chars)


def make_run_dir(root, model="vslnet", seed=0, feature_dim=FEATURE_DIM, **changes):
    """A run directory as the trainer writes it, with a tiny random model (on features of `feature_dim`) saved in
    `RUN/checkpoints` (`changes`: config fields besides `TINY_CONFIG`).

    Returns:
        `(run_dir, model, vocab)`.
    """
    root = pathlib.Path(root)
    processed = root / "data"
    processed.mkdir(parents=True)
    vocab = make_vocab()
    vocab.save(str(processed))
    vectors = np.random.default_rng(seed).normal(size=(vocab.num_words - 2, TINY_CONFIG["word_dim"]))
    np.save(processed / "word_vectors.npy", vectors.astype(np.float32))
    meta = {
        "feature_dim": feature_dim,
        "max_pos_len": MAX_POS_LEN,
        "num_words": vocab.num_words,
        "num_chars": vocab.num_chars,
    }
    (processed / "meta.json").write_text(json.dumps(meta))
    config = VSLNetConfig(model=model, **dict(TINY_CONFIG, **changes))
    (root / "config.json").write_text(
        json.dumps(
            {"model_family": "vslnet", "model": dataclasses.asdict(config), "data": {"processed_dir": str(processed)}}
        )
    )
    keras.utils.set_random_seed(seed)
    info = {
        "feature_dim": feature_dim,
        "word_vectors": vectors.astype(np.float32),
        "num_chars": vocab.num_chars,
        "max_pos_len": MAX_POS_LEN,
    }
    net = VSLNetTask(config).build_model(info)
    tf.train.Checkpoint(model=net).save(str(root / "checkpoints" / "ckpt"))
    return root, net, vocab


def python_predict(model, vocab, features, query, duration):
    """The prediction by the Python path: `tokenize`, `Vocabulary`, `visual_feature_sampling`, eager model."""
    tokens = tokenize(query)[:MAX_POS_LEN]
    chars = vocab.char_ids(tokens)
    width = max(len(c) for c in chars)
    char_ids = np.array([[c + [0] * (width - len(c)) for c in chars]], np.int32)
    sampled = labels.visual_feature_sampling(features, MAX_POS_LEN)
    outputs = model(
        {
            "video_features": sampled[None],
            "video_mask": np.ones([1, len(sampled)], bool),
            "word_ids": np.array([vocab.word_ids(tokens)], np.int32),
            "char_ids": char_ids,
        },
        training=False,
    )
    start_probs = tf.nn.softmax(outputs["start_logits"]).numpy()
    end_probs = tf.nn.softmax(outputs["end_logits"]).numpy()
    start, end, score = (x.numpy()[0] for x in span_decode(start_probs, end_probs))
    start_time, end_time = labels.index_to_time(int(start), int(end), len(sampled), duration)
    return {
        "tokens": tokens,
        "start_index": start,
        "end_index": end,
        "score": score,
        "start_probs": start_probs[0],
        "end_probs": end_probs[0],
        "start_time": start_time,
        "end_time": end_time,
    }


def serving_cases():
    rng = np.random.default_rng(3)

    def feats(n):
        return rng.normal(size=(n, FEATURE_DIM)).astype(np.float32)

    return [
        (feats(23), "A person opens the door. Then he sits down.", 30.0),
        (feats(5), "The man's holding a cup, he can't sit!", 7.5),
        (feats(16), "Mr. Smith sits?", 16.0),
        (feats(40), "a woman " * 12 + "opens the door", 61.3),  # 27 tokens: truncated to max_pos_len
        (feats(1), "xyzzy", 2.0),  # unknown word, one clip
    ]


# ==== Fixtures ============================================================================================


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run_dir(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def functions(run):
    _, model, vocab = run
    return saved_model.ServingFunctions(model, vocab, max_pos_len=MAX_POS_LEN, feature_dim=FEATURE_DIM)


# ==== In-graph tokenizer ==================================================================================

TRICKY_SENTENCES = [
    # Starting and ending quotes, `` and ''.
    '"Hello," she says.',
    "He says 'hi' and ``bye''.",
    "“Curly” ‘quotes’ «guillemets» „low“.",
    "'tis the season",
    "the dogs' bowl",
    "'hello there",
    "rock'n'roll 'n' stuff",
    "He said ''yes'' (twice).",
    # Punctuation: , ; : @ # $ % & ... ? ! * and dashes.
    "a, b; c: d @ e # f $ g % h & i",
    "3,000 people: 2:30 pm, ok",
    "wait... what?! really!!",
    "x*y*z",
    "a--b -- c---d",
    "en–dash em—dash figure‒dash bar―",
    "ends with a colon:",
    "ends with a comma,",
    "$5.50 and 50% off",
    "e-mail a@b.com #tag",
    # Final period, brackets.
    "the man (in red) jumps.",
    "[the] {man} <jumps>.",
    "He jumps (high).",
    "He jumps.)",
    'Sentence."',
    "end.'",
    # Contractions.
    "I can't, you won't, they're, we've, she'll, he'd, I'm, it's.",
    "I cannot go, gonna gotta wanna gimme lemme.",
    "d'ye more'n 'twas 'tis",
    "wanna.",
    "cannot cannot",
    "CANNOT Gonna",
    "y'all don't",
    # Punkt sentence splitting.
    "Person opens the door. Then he sits down.",
    "Mr. Smith walks in. He sits.",
    "It's ok. he leaves.",
    "They're at st. louis at 5 p.m. on wed.",
    "The u.s. team wins. They cheer.",
    "The dog runs 2. then it sits.",
    "He walks 2. administrators watch.",
    "J. smith sits. a. he.",
    "a woman talks to the camera.the woman dances.",
    "Who is it? it's me!",
    'He says "hi." She nods.',
    "He says (hi.) She nods.",
    "e.g. this. i.e. that. etc. ok.",
    "Step 1. cut. Step 2. fry.",
    "He waits . . . then leaves.",
    "one. . two",
    "It is 3.5. no, 4.",
    "A.  Two spaces.   Three.",
    "line one.\nline two.",
    "tab.\tseparated. sentences.",
    # Unicode: lower-casing, non-ASCII letters and spaces.
    "ÉMILE PLAYS THE PIANO.",
    "the jalapeño ñandú café",
    "İstanbul ſtreet",
    "a\u00a0non-breaking\u2009space.",
    "",
    "   ",
]


def _graph_tokens(sentences):
    return [[t.decode("utf-8") for t in row] for row in graph_tokenize(tf.constant(sentences)).to_list()]


def _agreement(sentences):
    got = _graph_tokens(sentences)
    disagree = [(s, tokenize(s), g) for s, g in zip(sentences, got) if tokenize(s) != g]
    return 1.0 - len(disagree) / max(len(sentences), 1), disagree


def test_graph_tokenize_agrees_on_tricky_sentences():
    _, disagree = _agreement(TRICKY_SENTENCES)
    assert not disagree, disagree[:5]


def _fuzz_sentences(count, seed):
    pieces = [
        "a",
        "man",
        "mr",
        "st",
        "u.s",
        "j",
        "2",
        "3.5",
        "administrators",
        "cannot",
        "gonna",
        "wanna",
        "'tis",
        "can't",
        "he's",
        "dogs'",
        "ok",
        "é",
        "ſ",
        "_",
        ".",
        ".",
        "?",
        "!",
        ",",
        ";",
        ":",
        "'",
        "''",
        '"',
        "``",
        "(",
        ")",
        "[",
        "]",
        "-",
        "--",
        "...",
        ". . .",
        "…",
        "–",
        "*",
        "@",
        "#",
        "$",
        "%",
        "&",
        "‘",
        "’",
        "“",
        "”",
        "«",
        "»",
        ".)",
        '."',
        ".'",
        "?!",
    ]
    spaces = [" ", " ", " ", "  ", "\n", "\t", "\u00a0", ""]
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) + rng.choice(spaces) for _ in range(rng.randint(1, 12))) for _ in range(count)]


def test_graph_tokenize_agrees_on_random_strings():
    _, disagree = _agreement(_fuzz_sentences(2000, seed=0))
    assert not disagree, disagree[:5]


def real_queries(shared_dir):
    """Every query of `shared/real_annotations`: Charades txt (after `##`), ActivityNet and TACoS `sentences`."""
    root = pathlib.Path(shared_dir) / "real_annotations"
    queries = {}
    charades = sorted(glob.glob(str(root / "charades" / "*.txt")))
    if charades:
        lines = [line for path in charades for line in pathlib.Path(path).read_text(encoding="utf-8").split("\n")]
        queries["charades"] = [line.split("##", 1)[1] for line in lines if "##" in line]
    for name, folder in (("activitynet", "activitynet"), ("tacos", "tacos*")):
        files = sorted(glob.glob(str(root / folder / "*.json")))
        if files:
            videos = [v for path in files for v in json.loads(pathlib.Path(path).read_text(encoding="utf-8")).values()]
            queries[name] = [s for video in videos for s in video["sentences"]]
    return queries


@pytest.mark.slow
def test_tokenizer_agreement_on_real_annotations(shared_dir):
    queries = real_queries(shared_dir)
    if not queries:
        pytest.skip(f"no annotation files under {shared_dir}/real_annotations")
    report = {}
    for name, sentences in queries.items():
        rate, disagree = _agreement(sentences)
        report[name] = (len(sentences), rate, disagree[:3])
    print(
        "\nin-graph tokenizer agreement with tokenize(): "
        + ", ".join(f"{name} {100 * rate:.3f}% of {count}" for name, (count, rate, _) in report.items())
    )
    assert all(rate == 1.0 for _, rate, _ in report.values()), report


# ==== In-graph resampling and time conversion ============================================================


@pytest.mark.parametrize(
    "num_clips, max_len", [(5, 2), (7, 2), (3, 16), (16, 16), (17, 16), (40, 16), (100, 7), (5, 4), (1, 16), (129, 128)]
)
def test_resample_features_equals_visual_feature_sampling(num_clips, max_len):
    features = np.random.default_rng(num_clips).normal(size=(num_clips, 6)).astype(np.float32)
    expected = labels.visual_feature_sampling(features, max_len)
    got = saved_model.resample_features(tf.constant(features), max_len).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_index_to_time_equals_labels():
    for start, end, units, duration in [(0, 0, 1, 2.0), (3, 7, 16, 30.17), (0, 15, 16, 123.4), (5, 5, 11, 7.3)]:
        got = saved_model.index_to_time(tf.constant(start), tf.constant(end), tf.constant(units), tf.constant(duration))
        assert tuple(float(x) for x in got) == labels.index_to_time(start, end, units, duration)
        got = saved_model.index_to_time(
            tf.constant(start), tf.constant(end), tf.constant(units), tf.constant(duration), rule="round"
        )
        assert tuple(float(x) for x in got) == labels.index_to_time(start, end, units, duration, rule="round")


def test_serving_decodes_with_the_models_label_rule(run):
    _, model, vocab = run
    features, query, duration = serving_cases()[0]
    times = {}
    for rule in ("iou_argmax", "round"):
        model.config.label_rule = rule
        try:
            got = saved_model.serving_functions(model, vocab, max_pos_len=MAX_POS_LEN, feature_dim=FEATURE_DIM).serve(
                features, query, duration
            )
        finally:
            model.config.label_rule = "iou_argmax"
        units = min(len(features), MAX_POS_LEN)
        times[rule] = (float(got["start_time"]), float(got["end_time"]))
        assert times[rule] == labels.index_to_time(
            int(got["start_index"]), int(got["end_index"]), units, duration, rule=rule
        )
    assert times["round"][1] < times["iou_argmax"][1]


# ==== Serving functions =================================================================================


def test_query_preprocessor_matches_vocabulary(functions, run):
    _, _, vocab = run
    queries = ["The man's holding a cup, he can't sit!", "xyzzy ÉCLAIR.", "a woman " * 10]
    outputs = functions.preprocessor(tf.constant(queries))
    for row, query in enumerate(queries):
        tokens = tokenize(query)[:MAX_POS_LEN]
        assert [t.decode() for t in outputs["tokens"][row].numpy()] == tokens
        np.testing.assert_array_equal(outputs["word_ids"][row, : len(tokens)], vocab.word_ids(tokens))
        for i, chars in enumerate(vocab.char_ids(tokens)):
            np.testing.assert_array_equal(outputs["char_ids"][row, i, : len(chars)], chars)
            assert not outputs["char_ids"][row, i, len(chars) :].numpy().any()


def test_serving_function_agrees_with_the_python_path(functions, run):
    _, model, vocab = run
    for features, query, duration in serving_cases():
        got = {k: v.numpy() for k, v in functions.serve_details(features, query, duration).items()}
        expected = python_predict(model, vocab, features, query, duration)
        assert [t.decode() for t in got["tokens"]] == expected["tokens"]
        assert (got["start_index"], got["end_index"]) == (expected["start_index"], expected["end_index"])
        np.testing.assert_allclose(got["start_probs"], expected["start_probs"], atol=1e-5)
        np.testing.assert_allclose(got["end_probs"], expected["end_probs"], atol=1e-5)
        np.testing.assert_allclose(got["score"], expected["score"], atol=1e-5)
        assert (float(got["start_time"]), float(got["end_time"])) == (expected["start_time"], expected["end_time"])
        assert got["highlight_probs"].shape == (min(len(features), MAX_POS_LEN),)


@pytest.mark.parametrize(
    "features, query, duration, message",
    [
        (np.full([4, FEATURE_DIM], np.nan, np.float32), "a man", 3.0, "NaN"),
        (np.zeros([0, FEATURE_DIM], np.float32), "a man", 3.0, "no clips"),
        (np.zeros([4, FEATURE_DIM], np.float32), "  ", 3.0, "no tokens"),
        (np.zeros([4, FEATURE_DIM], np.float32), "a man", 0.0, "duration"),
    ],
)
def test_serving_function_rejects_bad_inputs(functions, features, query, duration, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        functions.serve(features, query, duration)


def test_vslbase_decodes_zero_highlighting(tmp_path):
    _, model, _ = make_run_dir(tmp_path, model="vslbase")
    batch = _ids_batch()
    decoded = saved_model._decode(model, batch)  # the decoding both signatures run
    assert not np.asarray(decoded["highlight_probs"]).any()
    assert decoded["highlight_probs"].shape == batch["video_mask"].shape
    outputs = model(batch, training=False)
    start, end, _ = span_decode(tf.nn.softmax(outputs["start_logits"]), tf.nn.softmax(outputs["end_logits"]))
    np.testing.assert_array_equal(decoded["start_index"], start)
    np.testing.assert_array_equal(decoded["end_index"], end)


# ==== load_run and the SavedModel round trip =============================================================


def _ids_batch():
    rng = np.random.default_rng(5)
    lengths, words = [12, 7, 3], [6, 2, 4]
    mask = np.arange(12)[None, :] < np.array(lengths)[:, None]
    features = (rng.normal(size=(3, 12, FEATURE_DIM)) * mask[..., None]).astype(np.float32)
    word_ids = rng.integers(1, len(WORDS) + 2, size=(3, 6)) * (np.arange(6)[None, :] < np.array(words)[:, None])
    char_ids = rng.integers(1, 8, size=(3, 6, 5)) * (word_ids[..., None] > 0)
    return {
        "video_features": features,
        "video_mask": mask,
        "word_ids": word_ids.astype(np.int32),
        "char_ids": char_ids.astype(np.int32),
    }


def test_checkpoints_hold_every_weight(run, tmp_path):
    # Keras 3 hides sublayers kept only in Python lists from tf.train.Checkpoint; the layers assign them to attributes.
    assert run_loader.untracked_weights(run[1]) == []
    assert run_loader.untracked_weights(make_run_dir(tmp_path, model="vslbase")[1]) == []


def test_load_run_restores_the_checkpoint(run):
    run_dir, model, vocab = run
    loaded = run_loader.load_run(str(run_dir))
    assert loaded.checkpoint.endswith("checkpoints/ckpt-1") and loaded.vocab == vocab
    assert (loaded.max_pos_len, loaded.feature_dim, loaded.config.model) == (MAX_POS_LEN, FEATURE_DIM, "vslnet")
    batch = _ids_batch()
    for key in ("start_logits", "end_logits", "highlight_logits"):
        np.testing.assert_array_equal(loaded.model(batch, training=False)[key], model(batch, training=False)[key])


def test_load_run_prefers_the_best_checkpoint(tmp_path):
    run_dir, model, _ = make_run_dir(tmp_path)
    for weight in model.trainable_weights:
        weight.assign(weight + 0.5)
    tf.train.Checkpoint(model=model).save(str(run_dir / "best" / "ckpt"))
    loaded = run_loader.load_run(str(run_dir))
    assert "best" in loaded.checkpoint
    for got, expected in zip(loaded.model.weights, model.weights):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_load_run_reads_the_runs_own_data_folder_before_the_working_directorys(tmp_path, monkeypatch):
    run_dir, model, vocab = make_run_dir(tmp_path / "run")
    config = json.loads((run_dir / "config.json").read_text())
    config["data"]["processed_dir"] = "data"  # relative to the run, as run directories written by hand record it
    (run_dir / "config.json").write_text(json.dumps(config))
    (tmp_path / "data" / "synthetic").mkdir(parents=True)  # what the README's command leaves in the repository
    monkeypatch.chdir(tmp_path)
    assert run_loader.load_run(str(run_dir)).vocab == vocab
    assert run_loader.resolve_run_path("data/synthetic", str(run_dir)) == "data/synthetic"


def test_load_run_refuses_weights_a_checkpoint_cannot_hold(run, monkeypatch):
    run_dir, _, _ = run
    monkeypatch.setattr(run_loader, "untracked_weights", lambda model: ["vslnet/char_embeddings/conv_0/kernel"])
    with pytest.raises(ValueError, match="does not track 1 of the model's weights"):
        run_loader.load_run(str(run_dir))


def test_saved_model_round_trip_in_a_fresh_process(run, functions, tmp_path):
    _, model, vocab = run
    out_dir = tmp_path / "exported"
    saved_model.export_saved_model(model, vocab, str(out_dir), max_pos_len=MAX_POS_LEN, feature_dim=FEATURE_DIM)
    assert (out_dir / "saved_model.pb").exists() and json.loads((out_dir / "nlvl_export.json").read_text())[
        "max_pos_len"
    ] == MAX_POS_LEN
    cases = serving_cases()
    reloaded = reload_saved_model_in_fresh_process(out_dir, cases, _ids_batch(), tmp_path)
    for i, (features, query, duration) in enumerate(cases):
        expected = {k: v.numpy() for k, v in functions.serve_details(features, query, duration).items()}
        assert set(expected) == set(saved_model.DETAILS_OUTPUTS)
        for key in ("start_index", "end_index", "tokens"):
            np.testing.assert_array_equal(reloaded[f"{key}_{i}"], expected[key])
        for key in ("start_time", "end_time", "score", "start_probs", "end_probs", "highlight_probs"):
            np.testing.assert_allclose(reloaded[f"{key}_{i}"], expected[key], rtol=0, atol=1e-5)
        for key in saved_model.SERVING_OUTPUTS:  # serving_default: the same answer, without the curves
            np.testing.assert_array_equal(reloaded[f"default_{key}_{i}"], reloaded[f"{key}_{i}"])
        for key in ("start_index", "end_index"):  # serving_queries: the same answer for both copies of the query
            np.testing.assert_array_equal(reloaded[f"queries_{key}_{i}"], [expected[key]] * 2)
        for key in ("start_time", "end_time", "score"):
            np.testing.assert_allclose(reloaded[f"queries_{key}_{i}"], [expected[key]] * 2, rtol=0, atol=1e-5)
    assert not {f"default_{key}_0" for key in ("start_probs", "end_probs", "highlight_probs")} & set(reloaded)
    expected = {k: v.numpy() for k, v in functions.predict_ids(**_ids_batch()).items()}
    assert set(expected) == set(saved_model.PREDICT_IDS_OUTPUTS)
    np.testing.assert_array_equal(reloaded["ids_start_index"], expected["start_index"])
    np.testing.assert_array_equal(reloaded["ids_end_index"], expected["end_index"])
    for key in ("score", "start_probs", "end_probs"):
        np.testing.assert_allclose(reloaded[f"ids_{key}"], expected[key], rtol=0, atol=1e-5)


def test_export_run_needs_a_vocabulary(tmp_path):
    run_dir, _, _ = make_run_dir(tmp_path)
    config = json.loads((run_dir / "config.json").read_text())
    config["data"].update(feature_dim=FEATURE_DIM, max_pos_len=MAX_POS_LEN, num_chars=make_vocab().num_chars)
    (run_dir / "config.json").write_text(json.dumps(config))
    os.remove(run_dir / "data" / "vocab.json")  # an imported TF1 run without --vocab
    with pytest.raises(ValueError, match="vocab.json"):
        run_loader.load_run(str(run_dir), require_vocab=True)
    with pytest.raises(ValueError, match="vocab.json"):
        saved_model.export_run(str(run_dir), str(tmp_path / "out"))
