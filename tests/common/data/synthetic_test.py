"""Tests of common/data/synthetic.py: determinism, the Charades-STA formats, distractors and grounding signal."""

import itertools
import json
import re

import numpy as np
import pytest

from common.data import synthetic
from common.evaluation import metrics

LINE = re.compile(r"^\S+ \d+(\.\d+)? \d+(\.\d+)?##.+$")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    return out, synthetic.make_synthetic(str(out), "tiny", seed=0)


@pytest.fixture(scope="module")
def tiny():
    return synthetic.generate_synthetic("tiny", seed=0)


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files(tiny_dir, tmp_path):
    out, _ = tiny_dir
    synthetic.make_synthetic(str(tmp_path / "again"), "tiny", seed=0)
    assert _tree(out) == _tree(tmp_path / "again")


def test_different_seed_gives_different_files(tiny_dir, tmp_path):
    out, _ = tiny_dir
    synthetic.make_synthetic(str(tmp_path / "other"), "tiny", seed=1)
    first, second = _tree(out), _tree(tmp_path / "other")
    for name in ("charades_sta_train.txt", "charades_sta_test.txt", "glove.txt", "charades.json"):
        assert first[name] != second[name]


def test_annotation_files_parse(tiny_dir):
    out, summary = tiny_dir
    videos = json.loads((out / "charades.json").read_text())
    subsets = {"train": "training", "test": "testing"}
    counts = {}
    for split in ("train", "test"):
        lines = (out / f"charades_sta_{split}.txt").read_text().splitlines()
        counts[split] = len(lines)
        for line in lines:
            assert LINE.match(line), line
            head, sentence = line.split("##")
            vid, start, end = head.split(" ")
            assert videos[vid]["subset"] == subsets[split]
            assert 0.0 <= float(start) < float(end) <= videos[vid]["duration"]
            assert sentence.endswith(".") and sentence == sentence.lower()
    assert counts == {split: summary["statistics"][split]["queries"] for split in counts}
    assert all(video["duration"] > 0 and video["actions"] == [] for video in videos.values())


def test_features_agree_with_shapes_and_description(tiny_dir, tiny):
    out, summary = tiny_dir
    shapes = json.loads((out / "features" / "feature_shapes.json").read_text())
    videos = json.loads((out / "charades.json").read_text())
    description = json.loads((out / "dataset.json").read_text())
    assert set(shapes) == set(videos) == {p.stem for p in (out / "features").glob("*.npy")}
    assert description["feature_dim"] == summary["feature_dim"] == synthetic.PRESETS["tiny"].feature_dim
    assert description["preset"] == "tiny" and description["seed"] == 0
    for video in tiny.videos:
        array = np.load(out / "features" / f"{video.vid}.npy")
        assert array.dtype == np.float32 and array.shape == (shapes[video.vid], description["feature_dim"])
        np.testing.assert_array_equal(array, video.features)
        assert videos[video.vid]["duration"] == pytest.approx(len(array) * description["clip_seconds"])
    stats = description["statistics"]
    assert stats["train"]["videos"] + stats["test"]["videos"] == len(shapes)


def test_moment_times_are_clip_boundaries(tiny):
    seconds = tiny.preset.clip_seconds
    for query in tiny.queries:
        event = tiny.video(query.vid).events[query.event_index]
        assert (query.start, query.end) == (event.start_clip * seconds, event.end_clip * seconds)


def test_events_are_distinct_and_disjoint(tiny):
    for video in tiny.videos:
        pairs = [(event.verb, event.object) for event in video.events]
        assert len(set(pairs)) == len(pairs) >= 2
        spans = sorted((event.start_clip, event.end_clip) for event in video.events)
        assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
        assert spans[0][0] >= 0 and spans[-1][1] <= len(video.features)


def test_glove_file(tiny_dir):
    out, _ = tiny_dir
    glove = {}
    for line in (out / "glove.txt").read_text().splitlines():
        tokens = line.split(" ")
        assert len(tokens) == synthetic.GLOVE_DIM + 1
        glove[tokens[0]] = np.asarray(tokens[1:], dtype=np.float32)
    words = set()
    for split in ("train", "test"):
        for line in (out / f"charades_sta_{split}.txt").read_text().splitlines():
            words.update(line.split("##")[1].replace(".", " . ").split())
    assert not set(synthetic.OOV_WORDS) & set(glove)
    assert words - set(glove) <= set(synthetic.OOV_WORDS)
    assert words & set(synthetic.OOV_WORDS), "some query should exercise <UNK>"
    assert set(synthetic.EXTRA_GLOVE_WORDS) <= set(glove)


def test_most_queries_have_a_distractor(tiny):
    with_distractor = [synthetic.has_distractor(tiny, query) for query in tiny.queries]
    assert np.mean(with_distractor) > 0.8


def test_baselines_file(tiny_dir):
    out, summary = tiny_dir
    baselines = json.loads((out / "baselines.json").read_text())
    assert baselines == summary["baselines"]
    assert set(baselines) == {"mean_moment", "random_span"}
    for scores in baselines.values():
        assert set(scores) == {"r1_iou03", "r1_iou05", "r1_iou07", "miou"}
        assert all(0.0 <= value <= 100.0 for value in scores.values())


def test_moment_positions_and_lengths_vary(tiny):
    starts = np.asarray([q.start / q.duration for q in tiny.queries])
    lengths = np.asarray([(q.end - q.start) / q.duration for q in tiny.queries])
    assert starts.std() > 0.2  # a uniform [0, 1) start has std 0.29
    assert lengths.std() / lengths.mean() > 0.3


def _best_span(scores):
    """Clips `[start, end)` maximizing the sum of `scores - max/2` (maximum subarray)."""
    shifted = scores - 0.5 * scores.max()
    best, span, running, start = -np.inf, (0, 1), 0.0, 0
    for t, value in enumerate(shifted):
        running, start = (value, t) if running <= 0 else (running + value, start)
        if running > best:
            best, span = running, (start, t + 1)
    return span


def _match(dataset, query_embedding):
    """R@1/mIoU of a matcher: cosine similarity of each clip with `query_embedding(query)` `(feature_dim,)`."""
    predictions = {}
    for query in dataset.split_queries("test"):
        features = dataset.video(query.vid).features
        embedding = query_embedding(query)
        scores = features @ embedding / (np.linalg.norm(features, axis=1) * np.linalg.norm(embedding))
        start, end = _best_span(scores)
        predictions[query.qid] = (start * dataset.preset.clip_seconds, end * dataset.preset.clip_seconds)
    return metrics.evaluate_predictions(predictions, synthetic.ground_truth(dataset.split_queries("test")))


def test_features_carry_the_grounding_signal(tiny):
    def embedding(query, use_verb=True, use_object=True):
        event = tiny.video(query.vid).events[query.event_index]
        verb = tiny.verb_embeddings[event.verb] * use_verb
        return np.concatenate([verb, tiny.object_embeddings[event.object] * use_object])

    blind_embedding = np.concatenate([tiny.verb_embeddings.mean(0), tiny.object_embeddings.mean(0)])
    oracle = _match(tiny, embedding)
    verb_only = _match(tiny, lambda q: embedding(q, use_object=False))
    object_only = _match(tiny, lambda q: embedding(q, use_verb=False))
    blind = _match(tiny, lambda q: blind_embedding)
    floor = max(scores["r1_iou05"] for scores in synthetic.query_blind_baselines(tiny).values())

    assert oracle["r1_iou05"] > floor + 50
    # Distractors: reading half of the query loses a large part of the answers.
    assert oracle["r1_iou05"] > max(verb_only["r1_iou05"], object_only["r1_iou05"]) + 15
    # Without the query, finding events only gives a guess among a video's few events.
    assert blind["r1_iou05"] < floor + 20
    assert oracle["miou"] > blind["miou"] + 40


@pytest.mark.parametrize(
    "name, min_queries, max_queries, longest_at_least",
    [
        ("tiny", (250, 80), (350, 130), 60),
        ("default", (2700, 700), (3300, 900), 200),
        ("long", (900, 300), (1500, 450), 600),
    ],
)
def test_preset_sizes(name, min_queries, max_queries, longest_at_least):
    dataset = synthetic.generate_synthetic(name, seed=0)
    for split, low, high in zip(("train", "test"), min_queries, max_queries):
        assert low <= len(dataset.split_queries(split)) <= high
    clips = [len(video.features) for video in dataset.videos]
    preset = synthetic.PRESETS[name]
    assert preset.min_clips <= min(clips) and max(clips) <= preset.max_clips
    assert max(clips) >= longest_at_least
    assert dataset.videos[0].features.shape[1] == preset.feature_dim


def test_non_empty_folder_needs_overwrite(tmp_path):
    out = tmp_path / "data"
    synthetic.make_synthetic(str(out), "tiny", seed=0)
    with pytest.raises(FileExistsError, match="not empty"):
        synthetic.make_synthetic(str(out), "tiny", seed=1)
    synthetic.make_synthetic(str(out), "tiny", seed=1, overwrite=True)
    shapes = json.loads((out / "features" / "feature_shapes.json").read_text())
    assert {p.stem for p in (out / "features").glob("*.npy")} == set(shapes)  # stale videos removed


def test_unknown_preset_raises():
    with pytest.raises(ValueError, match="unknown synthetic preset 'huge'"):
        synthetic.generate_synthetic("huge")
