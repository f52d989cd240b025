import os

import pytest

from common.data import dataset, labels, synthetic, tokenization
from common.data.records import MissingFeaturesError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    synthetic.make_synthetic(str(root), preset="tiny", seed=0)
    return root


def _config(root, processed, **kwargs):
    return dataset.DataConfig(
        dataset="charades",
        annotation_dir=str(root),
        feature_path=str(root / "features"),
        glove_path=str(root / "glove.txt"),
        processed_dir=str(processed),
        max_pos_len=32,
        **kwargs,
    )


def test_processed_examples_follow_the_rules(tiny, tmp_path):
    processed = dataset.prepare_dataset(_config(tiny, tmp_path / "p"), progress=False)
    lines = (tiny / "charades_sta_test.txt").read_text().splitlines()
    assert len(processed.splits["test"]) == len(lines) and set(processed.splits) == {"train", "test"}
    example = processed.splits["test"][0]
    vid, start, end = lines[0].split("##")[0].split()
    sentence = lines[0].split("##", 1)[1]
    assert example["vid"] == vid and example["qid"] == "test:0"
    assert example["v_len"] == min(32, example["num_clips"])
    assert (example["start_index"], example["end_index"]) == labels.time_to_index(
        float(start), float(end), example["v_len"], example["duration"]
    )
    assert example["word_ids"] == processed.vocab.word_ids(tokenization.tokenize(sentence))
    assert processed.word_vectors.shape == (processed.vocab.num_words - 2, 300)
    assert processed.meta["feature_dim"] == 32 and processed.meta["counts"]["test"]["queries"] == len(lines)
    # GloVe leaves some synthetic words out: they must map to UNK.
    assert any(1 in ex["word_ids"] for ex in processed.splits["train"])


def test_reused_when_unchanged_and_rebuilt_when_options_change(tiny, tmp_path):
    config = _config(tiny, tmp_path / "p")
    dataset.prepare_dataset(config, progress=False)
    meta_path = tmp_path / "p" / "meta.json"
    stamp = os.path.getmtime(meta_path)
    dataset.prepare_dataset(config, progress=False)
    assert os.path.getmtime(meta_path) == stamp
    config.max_pos_len = 16
    processed = dataset.prepare_dataset(config, progress=False)
    assert processed.meta["max_pos_len"] == 16 and max(ex["v_len"] for ex in processed.splits["train"]) == 16


def test_missing_features_raise_or_are_counted(tiny, tmp_path):
    features = tmp_path / "features"
    features.mkdir()
    kept = sorted((tiny / "features").glob("*.npy"))[1:]
    for path in kept:
        (features / path.name).write_bytes(path.read_bytes())
    missing_vid = sorted((tiny / "features").glob("*.npy"))[0].stem
    config = _config(tiny, tmp_path / "p")
    config.feature_path = str(features)
    with pytest.raises(MissingFeaturesError, match=missing_vid):
        dataset.prepare_dataset(config, progress=False)
    config.skip_missing_videos = True
    processed = dataset.prepare_dataset(config, progress=False)
    counts = processed.meta["counts"]
    skipped = sum(c["skipped_missing_video"] for c in counts.values())
    assert skipped > 0
    total = sum(len((tiny / f"charades_sta_{s}.txt").read_text().splitlines()) for s in ("train", "test"))
    assert sum(c["queries"] for c in counts.values()) + skipped == total
    assert all(ex["vid"] != missing_vid for s in processed.splits.values() for ex in s)
