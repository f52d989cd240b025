"""A synthetic benchmark in the real Charades-STA formats whose queries can only be answered by grounding them.

Each video is a sequence of clips holding a few non-overlapping *events*, each a (verb, object) pair over a
contiguous span of clips, with background clips between them. A query names one event ("person opens the door.").
Events are drawn so that most events share their verb or their object with another event of the same video, so
a model that ignores the query, or reads only its verb or only its object, cannot find the answer.

Clip features `(n, Dv)`: the first `Dv // 2` dimensions hold the verb's random embedding and the rest the
object's, smoothed over neighbouring clips (a clip straddling a boundary sees both sides, as a real 3D-CNN window
does), plus one background vector per video and Gaussian noise per clip. Background clips carry no event signal.

Files written by `make_synthetic(out_dir, preset, seed)` (the layouts read by the Charades-STA reader):

| file | content |
|---|---|
| `charades_sta_{train,test}.txt` | `VID START END##sentence`, seconds with 1 or 2 decimals, e.g. `K3ZQ8 12.0
31.0##person opens the door.` |
| `charades.json` | `{vid: {"subset": "training" or "testing", "duration": seconds, "actions": []}}` |
| `features/{vid}.npy` | float32 `(num_clips, feature_dim)`; clip `i` covers `[i, i + 1) * clip_seconds` |
| `features/feature_shapes.json` | `{vid: num_clips}` |
| `glove.txt` | GloVe text format, `word v1 ... v300`; a few vocabulary words are left out (`OOV_WORDS`) |
| `dataset.json` | the preset, the seed, the vocabulary and the dataset statistics |
| `baselines.json` | query-blind floors on the test split, in percent (see `query_blind_baselines`) |

Moment times are exact clip boundaries and the duration is `num_clips * clip_seconds`. Everything is a pure
function of `(preset, seed)`: the same seed writes byte-identical files.
"""

import dataclasses
import functools
import json
import math
import os

import numpy as np

from common.evaluation import metrics

# Each verb is a tuple of synonymous (third person, -ing) surface forms; each object a tuple of synonymous names.
VERBS = (
    (("opens", "opening"),),
    (("closes", "closing"), ("shuts", "shutting")),
    (("holds", "holding"),),
    (("takes", "taking"), ("grabs", "grabbing")),
    (("throws", "throwing"),),
    (("washes", "washing"),),
    (("puts down", "putting down"),),
    (("picks up", "picking up"),),
    (("fixes", "fixing"),),
    (("cleans", "cleaning"), ("wipes", "wiping")),
    (("looks at", "looking at"),),
    (("carries", "carrying"),),
    (("moves", "moving"),),
    (("touches", "touching"),),
    (("drops", "dropping"),),
    (("eats", "eating"),),
)
OBJECTS = (
    ("door",),
    ("phone", "cellphone"),
    ("cup", "mug"),
    ("book",),
    ("laptop", "computer"),
    ("towel",),
    ("pillow",),
    ("box",),
    ("bag",),
    ("shoe",),
    ("blanket",),
    ("broom",),
    ("dish", "plate"),
    ("bottle",),
    ("window",),
    ("chair",),
    ("sandwich",),
    ("mirror",),
)
TEMPLATES = (
    "person {verb} the {object}.",
    "a person {verb} a {object}.",
    "the person {verb} the {object}.",
    "person is {verb_ing} the {object}.",
    "a person is {verb_ing} a {object}.",
    "someone {verb} the {object}.",
    "person {verb} the {object} {adverb}.",
)
ADVERBS = ("slowly", "carefully", "again")
OOV_WORDS = ("slowly", "carefully")  # left out of glove.txt so that readers meet <UNK>
EXTRA_GLOVE_WORDS = ("kitchen", "table", "dog", "walks", "sits", ",")  # in glove.txt, never in a query
GLOVE_DIM = 300


@dataclasses.dataclass(frozen=True)
class SyntheticPreset:
    """Size and difficulty of a synthetic dataset.

    Attributes:
        name: preset name.
        num_train_videos, num_test_videos: videos per split (every event gets one query or, with
            `paraphrase_probability`, two).
        min_clips, max_clips: number of clips per video, drawn log-uniformly in `[min_clips, max_clips]`.
        feature_dim: Dv, the feature size; the verb uses the first `Dv // 2` dims, the object the rest.
        min_events, max_events: events per video (capped so that they fit `max_fill`).
        min_event_fraction, max_event_fraction: event length / video length, drawn log-uniformly.
        min_event_clips: shortest event, in clips.
        max_fill: at most this fraction of a video is covered by events; the rest is background.
        num_verbs, num_objects: how many entries of `VERBS` / `OBJECTS` are used.
        share_probability: probability that a new event copies the verb or the object of an earlier event of the
            same video (changing the other), which creates the distractors.
        paraphrase_probability: probability that an event gets a second query with another template.
        noise_std: standard deviation of the per-clip Gaussian noise (the event embeddings have unit variance).
        background_std: standard deviation of the per-video background vector.
        clip_seconds: seconds per clip.
    """

    name: str
    num_train_videos: int
    num_test_videos: int
    min_clips: int
    max_clips: int
    feature_dim: int
    min_events: int
    max_events: int
    min_event_fraction: float
    max_event_fraction: float
    min_event_clips: int
    num_verbs: int
    num_objects: int
    max_fill: float = 0.8
    share_probability: float = 0.85
    paraphrase_probability: float = 0.25
    noise_std: float = 0.8
    background_std: float = 0.5
    clip_seconds: float = 1.0


PRESETS = {
    # ~300 train / ~100 test queries, 16-64 clips: unit and entry-point tests.
    "tiny": SyntheticPreset(
        name="tiny",
        num_train_videos=80,
        num_test_videos=27,
        min_clips=16,
        max_clips=64,
        feature_dim=32,
        min_events=2,
        max_events=4,
        min_event_fraction=0.08,
        max_event_fraction=0.35,
        min_event_clips=2,
        num_verbs=6,
        num_objects=8,
    ),
    # ~3000 train / ~800 test queries, 32-256 clips, so sampling to max_pos_len=128 is exercised.
    "default": SyntheticPreset(
        name="default",
        num_train_videos=540,
        num_test_videos=145,
        min_clips=32,
        max_clips=256,
        feature_dim=96,
        min_events=3,
        max_events=6,
        min_event_fraction=0.05,
        max_event_fraction=0.3,
        min_event_clips=3,
        num_verbs=8,
        num_objects=10,
    ),
    # Long videos (2-13 min) with short moments, for VSLNet-L and max_pos_len 300/600.
    "long": SyntheticPreset(
        name="long",
        num_train_videos=160,
        num_test_videos=50,
        min_clips=128,
        max_clips=800,
        feature_dim=64,
        min_events=4,
        max_events=8,
        min_event_fraction=0.01,
        max_event_fraction=0.08,
        min_event_clips=4,
        num_verbs=16,
        num_objects=18,
    ),
}

# Independent random streams, so that e.g. the GloVe vectors do not shift when the video sampling changes.
_EMBEDDING_STREAM, _VIDEO_STREAM, _GLOVE_STREAM, _BASELINE_STREAM = range(4)


@dataclasses.dataclass(frozen=True)
class SyntheticEvent:
    """One event: indices into the dataset's verbs and objects, over clips `[start_clip, end_clip)`."""

    verb: int
    object: int
    start_clip: int
    end_clip: int


@dataclasses.dataclass(frozen=True, eq=False)
class SyntheticVideo:
    """One video: `features` float32 `(num_clips, feature_dim)`; `split` is `"train"` or `"test"`."""

    vid: str
    split: str
    duration: float
    features: np.ndarray
    events: tuple


@dataclasses.dataclass(frozen=True)
class SyntheticQuery:
    """One annotation line. `qid` is `"{split}:{i}"` with `i` the 0-based line in the split's file."""

    qid: str
    vid: str
    split: str
    start: float
    end: float
    duration: float
    sentence: str
    event_index: int


@dataclasses.dataclass(frozen=True, eq=False)
class SyntheticDataset:
    """A generated dataset in memory.

    Attributes:
        preset, seed: what generated it.
        videos: `SyntheticVideo`s, train first.
        queries: `SyntheticQuery`s in file order, train first.
        verb_embeddings: float32 `(num_verbs, feature_dim // 2)`, the verb part of event features.
        object_embeddings: float32 `(num_objects, feature_dim - feature_dim // 2)`, the object part.
        glove: `{word: float32 (300,)}` written to `glove.txt`.
    """

    preset: SyntheticPreset
    seed: int
    videos: tuple
    queries: tuple
    verb_embeddings: np.ndarray
    object_embeddings: np.ndarray
    glove: dict

    def video(self, vid):
        return self._videos_by_id[vid]

    @functools.cached_property
    def _videos_by_id(self):
        return {video.vid: video for video in self.videos}

    def split_queries(self, split):
        return [query for query in self.queries if query.split == split]


def _format_seconds(seconds):
    """`12.0`, `12.5`, `12.25`: two decimals with a trailing zero dropped, as in the real annotation files."""
    text = f"{seconds:.2f}"
    return text.removesuffix("0")


def _sample_events(rng, preset, num_clips):
    """Distinct (verb, object) pairs placed at uniformly random, non-overlapping spans of the video."""
    budget = int(preset.max_fill * num_clips)
    num_events = min(int(rng.integers(preset.min_events, preset.max_events + 1)), budget // preset.min_event_clips)
    pairs = []
    while len(pairs) < num_events:
        if pairs and rng.random() < preset.share_probability:
            verb, obj = pairs[int(rng.integers(len(pairs)))]
            if rng.random() < 0.5:
                verb = int(rng.integers(preset.num_verbs))
            else:
                obj = int(rng.integers(preset.num_objects))
        else:
            verb, obj = int(rng.integers(preset.num_verbs)), int(rng.integers(preset.num_objects))
        if (verb, obj) not in pairs:
            pairs.append((verb, obj))
    log_fraction = rng.uniform(math.log(preset.min_event_fraction), math.log(preset.max_event_fraction), num_events)
    lengths = np.maximum(preset.min_event_clips, np.round(np.exp(log_fraction) * num_clips)).astype(int)
    while lengths.sum() > budget:
        lengths[np.argmax(lengths)] -= 1
    # Uniform spacings (a Dirichlet-multinomial split of the background) and a random order of the events make
    # the normalized moment positions close to uniform.
    gaps = rng.multinomial(num_clips - lengths.sum(), rng.dirichlet(np.ones(num_events + 1)))
    spans = [None] * num_events
    position = 0
    for slot, event in enumerate(rng.permutation(num_events)):
        position += gaps[slot]
        spans[event] = (int(position), int(position + lengths[event]))
        position += lengths[event]
    return tuple(SyntheticEvent(verb, obj, start, end) for (verb, obj), (start, end) in zip(pairs, spans))


def _features(rng, preset, num_clips, events, verb_embeddings, object_embeddings):
    """float32 `(num_clips, feature_dim)` for one video."""
    half = preset.feature_dim // 2
    signal = np.zeros((num_clips, preset.feature_dim))
    for event in events:
        signal[event.start_clip : event.end_clip, :half] = verb_embeddings[event.verb]
        signal[event.start_clip : event.end_clip, half:] = object_embeddings[event.object]
    padded = np.concatenate([signal[:1], signal, signal[-1:]])
    signal = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    background = preset.background_std * rng.standard_normal(preset.feature_dim)
    noise = preset.noise_std * rng.standard_normal((num_clips, preset.feature_dim))
    return (signal + background + noise).astype(np.float32)


def _sentence(rng, verb, obj, template_index):
    third_person, ing = VERBS[verb][int(rng.integers(len(VERBS[verb])))]
    name = OBJECTS[obj][int(rng.integers(len(OBJECTS[obj])))]
    adverb = ADVERBS[int(rng.integers(len(ADVERBS)))]
    return TEMPLATES[template_index].format(verb=third_person, verb_ing=ing, object=name, adverb=adverb)


def _video_ids(rng, count):
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    ids = []
    seen = set()
    while len(ids) < count:
        vid = "".join(rng.choice(alphabet, 5))
        if vid not in seen:
            seen.add(vid)
            ids.append(vid)
    return ids


def _vocabulary(preset):
    """Sorted words of every sentence the preset can produce (whitespace split, final "." split off)."""
    phrases = [form for verb in VERBS[: preset.num_verbs] for pair in verb for form in pair]
    phrases += [name for obj in OBJECTS[: preset.num_objects] for name in obj]
    phrases += [template.format(verb="", verb_ing="", object="", adverb="") for template in TEMPLATES]
    phrases += list(ADVERBS) + ["."]
    return sorted({word for phrase in phrases for word in phrase.replace(".", " . ").split()})


def _glove(rng, preset):
    """`{word: (300,) float32}`: random vectors (std 0.4, like GloVe's); synonyms get correlated vectors."""
    words = [word for word in _vocabulary(preset) if word not in OOV_WORDS] + sorted(EXTRA_GLOVE_WORDS)
    glove = {word: (0.4 * rng.standard_normal(GLOVE_DIM)).astype(np.float32) for word in words}
    synonym_groups = [[pair[0] for pair in verb] for verb in VERBS[: preset.num_verbs]]
    synonym_groups += [list(obj) for obj in OBJECTS[: preset.num_objects]]
    for group in synonym_groups:
        heads = [word.split()[0] for word in group]
        for word in heads[1:]:
            glove[word] = (0.6 * glove[heads[0]] + 0.8 * glove[word]).astype(np.float32)
    return glove


def generate_synthetic(preset="tiny", seed=0):
    """Generates a dataset in memory (nothing is written).

    Args:
        preset: a `PRESETS` name or a `SyntheticPreset`.
        seed: int; the dataset is a pure function of `(preset, seed)`.

    Returns:
        `SyntheticDataset`.
    """
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown synthetic preset {preset!r}; choose one of {sorted(PRESETS)}")
        preset = PRESETS[preset]
    if preset.num_verbs > len(VERBS) or preset.num_objects > len(OBJECTS):
        raise ValueError(f"preset {preset.name!r} asks for more verbs/objects than {len(VERBS)}/{len(OBJECTS)}")
    embedding_rng = np.random.default_rng([seed, _EMBEDDING_STREAM])
    half = preset.feature_dim // 2
    verb_embeddings = embedding_rng.standard_normal((preset.num_verbs, half)).astype(np.float32)
    object_embeddings = embedding_rng.standard_normal((preset.num_objects, preset.feature_dim - half))
    object_embeddings = object_embeddings.astype(np.float32)

    rng = np.random.default_rng([seed, _VIDEO_STREAM])
    splits = ["train"] * preset.num_train_videos + ["test"] * preset.num_test_videos
    videos, queries = [], []
    line_numbers = {"train": 0, "test": 0}
    for vid, split in zip(_video_ids(rng, len(splits)), splits):
        log_clips = rng.uniform(math.log(preset.min_clips), math.log(preset.max_clips + 1))
        num_clips = min(int(math.exp(log_clips)), preset.max_clips)
        events = _sample_events(rng, preset, num_clips)
        features = _features(rng, preset, num_clips, events, verb_embeddings, object_embeddings)
        duration = round(num_clips * preset.clip_seconds, 2)
        videos.append(SyntheticVideo(vid, split, duration, features, events))
        video_queries = []
        for index, event in enumerate(events):
            num_sentences = 2 if rng.random() < preset.paraphrase_probability else 1
            for template_index in rng.choice(len(TEMPLATES), num_sentences, replace=False):
                sentence = _sentence(rng, event.verb, event.object, int(template_index))
                video_queries.append((index, sentence))
        for order in rng.permutation(len(video_queries)):
            index, sentence = video_queries[order]
            event = events[index]
            queries.append(
                SyntheticQuery(
                    qid=f"{split}:{line_numbers[split]}",
                    vid=vid,
                    split=split,
                    start=round(event.start_clip * preset.clip_seconds, 2),
                    end=round(event.end_clip * preset.clip_seconds, 2),
                    duration=duration,
                    sentence=sentence,
                    event_index=index,
                )
            )
            line_numbers[split] += 1
    glove = _glove(np.random.default_rng([seed, _GLOVE_STREAM]), preset)
    return SyntheticDataset(preset, seed, tuple(videos), tuple(queries), verb_embeddings, object_embeddings, glove)


def has_distractor(dataset, query):
    """True when another event of the query's video shares its verb or its object."""
    events = dataset.video(query.vid).events
    target = events[query.event_index]
    return any(
        i != query.event_index and (event.verb == target.verb or event.object == target.object)
        for i, event in enumerate(events)
    )


def dataset_statistics(dataset):
    """Per split: videos, queries, mean video length (s), mean query length (whitespace tokens), moment length
    mean/std (s), mean normalized moment length, and the percentage of queries with a distractor event."""
    statistics = {}
    for split in ("train", "test"):
        videos = [video for video in dataset.videos if video.split == split]
        queries = dataset.split_queries(split)
        lengths = np.asarray([query.end - query.start for query in queries])
        with_distractor = [has_distractor(dataset, query) for query in queries]
        statistics[split] = {
            "videos": len(videos),
            "queries": len(queries),
            "mean_video_seconds": round(float(np.mean([video.duration for video in videos])), 2),
            "mean_query_words": round(float(np.mean([len(query.sentence.split()) for query in queries])), 2),
            "mean_moment_seconds": round(float(lengths.mean()), 2),
            "std_moment_seconds": round(float(lengths.std()), 2),
            "mean_moment_fraction": round(float(np.mean([(q.end - q.start) / q.duration for q in queries])), 4),
            "queries_with_distractor_percent": round(100.0 * float(np.mean(with_distractor)), 2),
        }
    return statistics


def ground_truth(queries):
    """`{qid: (start, end, duration)}`, the ground-truth input of `common.evaluation.metrics`."""
    return {query.qid: (query.start, query.end, query.duration) for query in queries}


def query_blind_baselines(dataset):
    """Scores two query-blind predictors on the test split (R@1 at IoU 0.3/0.5/0.7 and mIoU, percent).

    - `mean_moment`: every test query gets `[mean_start_fraction, mean_end_fraction] * duration`, the means of
      the normalized train moments.
    - `random_span`: `sorted(uniform(0, 1, 2)) * duration`, from the seed's own random stream.

    Returns:
        `{"mean_moment": {"r1_iou03", "r1_iou05", "r1_iou07", "miou"}, "random_span": {...}}`.
    """
    train = dataset.split_queries("train")
    test = dataset.split_queries("test")
    mean_start = float(np.mean([query.start / query.duration for query in train]))
    mean_end = float(np.mean([query.end / query.duration for query in train]))
    rng = np.random.default_rng([dataset.seed, _BASELINE_STREAM])
    random_fractions = np.sort(rng.uniform(0.0, 1.0, (len(test), 2)), axis=1)
    predictions = {
        "mean_moment": {q.qid: (mean_start * q.duration, mean_end * q.duration) for q in test},
        "random_span": {q.qid: tuple(f * q.duration) for q, f in zip(test, random_fractions)},
    }
    truth = ground_truth(test)
    keys = ("r1_iou03", "r1_iou05", "r1_iou07", "miou")
    results = {}
    for name, prediction in predictions.items():
        scores = metrics.evaluate_predictions(prediction, truth)
        results[name] = {key: round(scores[key], 4) for key in keys}
    return results


def _write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def write_dataset(dataset, out_dir):
    """Writes the annotation, feature and GloVe files of the module docstring (not dataset/baselines.json)."""
    feature_dir = os.path.join(out_dir, "features")
    os.makedirs(feature_dir, exist_ok=True)
    for split in ("train", "test"):
        with open(os.path.join(out_dir, f"charades_sta_{split}.txt"), "w") as f:
            f.writelines(
                f"{q.vid} {_format_seconds(q.start)} {_format_seconds(q.end)}##{q.sentence}\n"
                for q in dataset.split_queries(split)
            )
    subsets = {"train": "training", "test": "testing"}
    _write_json(
        os.path.join(out_dir, "charades.json"),
        {v.vid: {"subset": subsets[v.split], "duration": v.duration, "actions": []} for v in dataset.videos},
    )
    for video in dataset.videos:
        np.save(os.path.join(feature_dir, f"{video.vid}.npy"), video.features)
    _write_json(os.path.join(feature_dir, "feature_shapes.json"), {v.vid: len(v.features) for v in dataset.videos})
    with open(os.path.join(out_dir, "glove.txt"), "w") as f:
        f.writelines(
            word + " " + " ".join(f"{value:.5f}" for value in vector) + "\n" for word, vector in dataset.glove.items()
        )


def make_synthetic(out_dir, preset="tiny", seed=0, overwrite=False):
    """Generates a dataset, writes it to `out_dir` and scores the query-blind baselines.

    Args:
        out_dir: output folder; created if absent.
        preset: a `PRESETS` name (`"tiny"`, `"default"`, `"long"`) or a `SyntheticPreset`.
        seed: int; equal seeds give byte-identical files.
        overwrite: allow a non-empty `out_dir`. Stale `features/*.npy` of videos not in the new dataset are
            then deleted, so the folder holds exactly one dataset.

    Returns:
        The content of `dataset.json` (`preset`, `seed`, `feature_dim`, `clip_seconds`, `preset_config`,
        `vocabulary`, `oov_words`, `statistics`) plus `baselines` (the content of `baselines.json`).

    Raises:
        FileExistsError: `out_dir` is not empty and `overwrite` is False.
    """
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not overwrite:
        raise FileExistsError(f"{out_dir} is not empty; pass overwrite=True (--overwrite) to replace its dataset")
    dataset = generate_synthetic(preset, seed)
    feature_dir = os.path.join(out_dir, "features")
    if os.path.isdir(feature_dir):
        keep = {f"{video.vid}.npy" for video in dataset.videos}
        for name in os.listdir(feature_dir):
            if name.endswith(".npy") and name not in keep:
                os.remove(os.path.join(feature_dir, name))
    write_dataset(dataset, out_dir)
    description = {
        "preset": dataset.preset.name,
        "seed": seed,
        "feature_dim": dataset.preset.feature_dim,
        "clip_seconds": dataset.preset.clip_seconds,
        "preset_config": dataclasses.asdict(dataset.preset),
        "vocabulary": {
            "verbs": [[pair[0] for pair in verb] for verb in VERBS[: dataset.preset.num_verbs]],
            "objects": [list(obj) for obj in OBJECTS[: dataset.preset.num_objects]],
        },
        "oov_words": list(OOV_WORDS),
        "statistics": dataset_statistics(dataset),
    }
    baselines = query_blind_baselines(dataset)
    _write_json(os.path.join(out_dir, "dataset.json"), description)
    _write_json(os.path.join(out_dir, "baselines.json"), baselines)
    return {**description, "baselines": baselines}
