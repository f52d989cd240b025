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
        examples.append(
            {
                "qid": f"q{i}",
                "vid": f"v{i}",
                "duration": 10.0 + i,
                "num_clips": num_clips,
                "v_len": v_len,
                "word_ids": list(range(2, 2 + num_words)),
                "char_ids": [[3] * (1 + (i + j) % 6) for j in range(num_words)],
                "start_index": s,
                "end_index": e,
            }
        )
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
    ds = pipeline.make_dataset(
        examples[:1], store, batch_size=1, max_pos_len=MAX_POS_LEN, feature_dim=4, training=False
    )
    with pytest.raises(Exception, match="feature store changed"):
        list(ds)


class CountingStore:
    """A feature store that counts the videos it reads."""

    def __init__(self, store):
        self.store = store
        self.reads = []

    def get(self, vid):
        self.reads.append(vid)
        return self.store.get(vid)


@pytest.mark.parametrize("training", [True, False])
def test_replica_batches_are_the_global_batch_rows_with_its_padding(data, training):
    examples, store = data
    args = dict(batch_size=5, max_pos_len=MAX_POS_LEN, feature_dim=4, training=training, seed=3, epoch=1)
    whole = [{k: v.numpy() for k, v in b.items()} for b in pipeline.make_dataset(examples, store, **args)]
    assert [len(b["example_index"]) for b in whole] == [5, 5, 1]  # the last batch has no rows for replicas 1, 2
    per_replica = [
        [
            {k: v.numpy() for k, v in b.items()}
            for b in pipeline.make_dataset(examples, store, num_replicas=3, replicas=(r,), **args)
        ]
        for r in range(3)
    ]
    for step, batch in enumerate(whole):
        parts = [per_replica[r][step] for r in range(3)]
        sizes = [len(a) for a in np.array_split(batch["example_index"], 3)]
        own = [p for p, size in zip(parts, sizes) if size]
        for part, size in zip(parts, sizes):
            assert len(part["example_index"]) == max(size, 1)
        for key, value in batch.items():
            for part in parts:
                assert part[key].shape[1:] == value.shape[1:], key  # the global batch's n, m and W everywhere
            np.testing.assert_array_equal(np.concatenate([p[key] for p in own]), value, err_msg=key)
        for part, size in zip(parts, sizes):
            if size == 0:  # a stand-in: the batch's first row, never scored or counted
                assert part["example_index"].tolist() == [-1]
                for key, value in batch.items():
                    if key != "example_index":
                        np.testing.assert_array_equal(part[key], value[:1], err_msg=key)
    assert sum(len(p["example_index"]) == 1 and p["example_index"][0] < 0 for r in per_replica for p in r) == 2


def test_each_pipeline_reads_only_its_replicas_features(data):
    examples, store = data
    args = dict(batch_size=4, max_pos_len=MAX_POS_LEN, feature_dim=4, training=True, seed=5, epoch=0, num_replicas=4)
    global_batches = np.array_split(pipeline.epoch_order(len(examples), 5, 0), [4, 8])
    reads = []
    for worker_replicas in ((0, 1), (2, 3)):  # two workers of two replicas each
        counting = CountingStore(store)
        batches = list(pipeline.make_dataset(examples, counting, replicas=worker_replicas, **args))
        assert len(batches) == 2 * len(global_batches)  # one element per local replica
        own = [i for b in global_batches for r in worker_replicas for i in pipeline.replica_rows(b, 4, r)]
        rows = np.concatenate([b["example_index"].numpy() for b in batches])
        assert sorted(rows[rows >= 0].tolist()) == sorted(own)
        reads.append(len(counting.reads))
        assert set(counting.reads) >= {examples[i]["vid"] for i in own}
    # 11 examples in batches of 4, 4, 3: 6 rows for the first worker, 5 for the second, which also reads the
    # stand-in of replica 3 (no row of the last batch).
    assert reads == [6, 6]
