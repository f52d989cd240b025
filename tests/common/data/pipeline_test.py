import numpy as np
import pytest

from common.data import features, labels, pipeline

MAX_POS_LEN = 16


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("feats")
    rng = np.random.default_rng(0)
    examples = []
    for i in range(11):
        num_clips = int(rng.integers(3, 40))
        np.save(folder / f"v{i}.npy", rng.normal(size=(num_clips, 4)).astype(np.float32))
        v_len = min(num_clips, MAX_POS_LEN)
        s = int(rng.integers(0, v_len))
        e = int(rng.integers(s, v_len))
        num_words = 1 + i % 5
        examples.append({
            "qid": f"q{i}", "vid": f"v{i}", "duration": 10.0 + i, "num_clips": num_clips, "v_len": v_len,
            "word_ids": list(range(2, 2 + num_words)),
            "char_ids": [[3] * (1 + (i + j) % 6) for j in range(num_words)],
            "start_index": s, "end_index": e,
        })
    return examples, features.open_feature_store(str(folder))


def _batches(data, **kwargs):
    examples, store = data
    args = dict(batch_size=4, max_pos_len=MAX_POS_LEN, feature_dim=4, training=False)
    args.update(kwargs)
    return [{k: v.numpy() for k, v in b.items()} for b in pipeline.make_dataset(examples, store, **args)]


def test_evaluation_sees_every_example_once_in_file_order(data):
    batches = _batches(data)
    assert [len(b["example_index"]) for b in batches] == [4, 4, 3]
    np.testing.assert_array_equal(np.concatenate([b["example_index"] for b in batches]), np.arange(11))


def test_padding_masks_and_labels_per_batch(data):
    examples, store = data
    for batch in _batches(data):
        rows = [examples[i] for i in batch["example_index"]]
        n = max(ex["v_len"] for ex in rows)
        m = max(len(ex["word_ids"]) for ex in rows)
        w = max(len(c) for ex in rows for c in ex["char_ids"])
        assert batch["video_features"].shape == (len(rows), n, 4)  # padded to the batch max, not max_pos_len
        assert batch["word_ids"].shape == (len(rows), m) and batch["char_ids"].shape == (len(rows), m, w)
        for b, ex in enumerate(rows):
            v_len = ex["v_len"]
            expected = labels.visual_feature_sampling(store.get(ex["vid"]), MAX_POS_LEN)
            np.testing.assert_array_equal(batch["video_features"][b, :v_len], expected)
            assert not batch["video_features"][b, v_len:].any()
            np.testing.assert_array_equal(batch["video_mask"][b], np.arange(n) < v_len)
            np.testing.assert_array_equal(batch["query_mask"][b], np.arange(m) < len(ex["word_ids"]))
            np.testing.assert_array_equal(
                batch["highlight_labels"][b], labels.highlight_labels(ex["start_index"], ex["end_index"], v_len, n)
            )
            np.testing.assert_array_equal(batch["soft_start_labels"][b],
                                          labels.soft_boundary_labels(ex["start_index"], n))
            np.testing.assert_array_equal(batch["soft_end_labels"][b], labels.soft_boundary_labels(ex["end_index"], n))
            assert batch["start_index"][b] == ex["start_index"] and batch["duration"][b] == np.float32(ex["duration"])


def test_training_order_is_a_function_of_seed_and_epoch(data):
    order = lambda **kw: np.concatenate([b["example_index"] for b in _batches(data, training=True, **kw)])
    first = order(seed=1, epoch=0)
    assert sorted(first) == list(range(11))
    np.testing.assert_array_equal(first, order(seed=1, epoch=0))
    assert not np.array_equal(first, order(seed=1, epoch=1))
    assert not np.array_equal(first, order(seed=2, epoch=0))


def test_resume_skips_batches(data):
    full = _batches(data, training=True, seed=3, epoch=2)
    resumed = _batches(data, training=True, seed=3, epoch=2, skip_batches=1)
    assert len(resumed) == len(full) - 1
    for a, b in zip(full[1:], resumed):
        np.testing.assert_array_equal(a["video_features"], b["video_features"])


def test_drop_remainder_only_for_training(data):
    assert [len(b["example_index"]) for b in _batches(data, training=True, drop_remainder=True)] == [4, 4]
    with pytest.raises(ValueError, match="every example"):
        _batches(data, drop_remainder=True)


def test_num_batches():
    assert pipeline.num_batches(11, 4) == 3 and pipeline.num_batches(11, 4, drop_remainder=True) == 2


def test_changed_store_is_reported(data, tmp_path):
    examples, _ = data
    np.save(tmp_path / "v0.npy", np.ones((2, 4), np.float32))
    store = features.open_feature_store(str(tmp_path))
    ds = pipeline.make_dataset(examples[:1], store, batch_size=1, max_pos_len=MAX_POS_LEN, feature_dim=4,
                               training=False)
    with pytest.raises(Exception, match="feature store changed"):
        list(ds)
