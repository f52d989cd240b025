"""Annotations + text + features → a processed dataset folder that runs reuse and that records how it was made.

A processed folder holds `vocab.json`, `word_vectors.npy` (the filtered GloVe rows, so GloVe is read only once),
`{split}.jsonl` (one example per query: ids, clip indices, times) and `meta.json` (the options it was built with
and the counts). Unlike the originals' pickle, which is reused even after the rules changed (spec vslnet §2.7),
a folder built with other options is rebuilt.

Features stay in their store; they are read batch by batch by `common.data.pipeline`.
"""

import dataclasses
import json
import os
import sys

import numpy as np

from common.data import annotations
from common.data import features as features_lib
from common.data import labels
from common.data import tokenization
from common.data import vocab as vocab_lib
from common.data.records import MissingFeaturesError

SPLIT_ORDER = ("train", "val", "test")
# Bump when a rule that changes processed examples changes, so that old folders are rebuilt.
PROCESSING_VERSION = 1


@dataclasses.dataclass
class DataConfig:
    """Where the data lives and how it is processed.

    Attributes:
        dataset: `charades`, `activitynet`, `tacos_tan`, `tacos_org` or `jsonl`.
        annotation_dir: folder of the annotation files.
        feature_path: `.npy` folder or HDF5 file.
        glove_path: GloVe text file (`word v1 ... v300` lines).
        processed_dir: where the processed folder is written (and reused).
        feature_layout: `auto`, `npy`, `hdf5`, `hdf5_group` or `hdf5_avi` (see `common.data.features`).
        max_pos_len: maximal number of clips after resampling, and of query tokens.
        word_dim: GloVe vector size.
        anet_test_split: ActivityNet file used as test: `val_1` (VSLNet, the papers) or `val_2` (LPNet's code).
        tacos_org_durations: JSON file of TALL video lengths (see `common.data.annotations`).
        skip_missing_videos: skip (counted and reported) queries whose video has no features, instead of raising.
        reversed_moments: `error`, `keep` (the originals: ActivityNet train has two moments with start > end) or
            `skip` (counted); see `common.data.annotations`.
        label_rule: seconds → clip indices of the ground truth (spec vslnet §6 #1): `iou_argmax` (the code,
            default) or `round` (the paper's `a = Round(τ/T·n)`); see `common.data.labels.time_to_index`. It is
            recorded in `meta.json` (`label_rule`), and the trainer converts predictions back to seconds with the
            matching inverse (`labels.index_to_time(..., rule=...)`). Part of the fingerprint only when it is not
            the default, so folders built before the option existed stay valid.
    """

    dataset: str = "charades"
    annotation_dir: str = ""
    feature_path: str = ""
    glove_path: str = ""
    processed_dir: str = ""
    feature_layout: str = "auto"
    max_pos_len: int = 128
    word_dim: int = 300
    anet_test_split: str = "val_1"
    tacos_org_durations: str = ""
    skip_missing_videos: bool = False
    reversed_moments: str = "error"
    label_rule: str = "iou_argmax"

    def fingerprint(self):
        keys = ("dataset", "annotation_dir", "feature_path", "glove_path", "feature_layout", "max_pos_len",
                "word_dim", "anet_test_split", "tacos_org_durations", "skip_missing_videos", "reversed_moments")
        fp = {k: getattr(self, k) for k in keys}
        for k in ("annotation_dir", "feature_path", "glove_path", "tacos_org_durations"):
            fp[k] = os.path.abspath(fp[k]) if fp[k] else ""
        if self.label_rule != "iou_argmax":
            fp["label_rule"] = self.label_rule
        fp["processing_version"] = PROCESSING_VERSION
        return fp


@dataclasses.dataclass
class ProcessedDataset:
    """A processed folder in memory: examples (no features), vocabulary, vectors and its meta data."""

    folder: str
    vocab: vocab_lib.Vocabulary
    word_vectors: np.ndarray
    splits: dict
    meta: dict

    @property
    def feature_dim(self):
        return self.meta["feature_dim"]

    def open_features(self):
        return features_lib.open_feature_store(self.meta["feature_path"], self.meta["feature_layout"])


def _log(message):
    sys.stderr.write(message + "\n")


def make_example(record, tokens, vocab, num_clips, max_pos_len, label_rule="iou_argmax"):
    """One processed example (a JSON-ready dict) of a record; clip indices by `label_rule` (default: the code's
    IoU-argmax; `round`: the paper's, spec vslnet §6 #1)."""
    tokens = tokens[:max_pos_len]
    v_len = min(num_clips, max_pos_len)
    start_index, end_index = labels.time_to_index(record.start, record.end, v_len, record.duration,
                                                  rule=label_rule)
    return {
        "qid": record.qid,
        "vid": record.vid,
        "duration": record.duration,
        "start_time": record.start,
        "end_time": record.end,
        "sentence": record.sentence,
        "word_ids": vocab.word_ids(tokens),
        "char_ids": vocab.char_ids(tokens),
        "num_clips": num_clips,
        "v_len": v_len,
        "start_index": int(start_index),
        "end_index": int(end_index),
    }


def is_current(config):
    """Whether `config.processed_dir` holds a processed folder built with `config`'s options."""
    meta_path = os.path.join(config.processed_dir, "meta.json")
    if not os.path.exists(meta_path):
        return False
    with open(meta_path) as f:
        return json.load(f).get("fingerprint") == config.fingerprint()


def prepare_dataset(config, progress=True):
    """Build (or reuse) the processed folder of `config` and return it as a `ProcessedDataset`.

    Raises:
        MissingFeaturesError: a query's video has no features and `skip_missing_videos` is off. The message
            names the video, the annotation line and how many queries are affected.
    """
    if config.label_rule not in labels.LABEL_RULES:
        raise ValueError(f"label_rule must be one of {labels.LABEL_RULES}, got {config.label_rule!r}")
    folder = config.processed_dir
    meta_path = os.path.join(folder, "meta.json")
    if is_current(config):
        return load_processed(folder)
    if os.path.exists(meta_path):
        _log(f"{folder} was built with other options; rebuilding it")

    annotation_set = annotations.read_annotations(
        config.dataset, config.annotation_dir, anet_test_split=config.anet_test_split,
        tacos_org_durations=config.tacos_org_durations or None, reversed_moments=config.reversed_moments,
    )
    store = features_lib.open_feature_store(config.feature_path, config.feature_layout)
    split_names = [s for s in SPLIT_ORDER if s in annotation_set.splits]
    tokenized = {s: [tokenization.tokenize(r.sentence) for r in annotation_set.splits[s]] for s in split_names}

    missing = {}
    for split in split_names:
        for record in annotation_set.splits[split]:
            if record.vid not in store:
                missing.setdefault(split, []).append(record)
    if missing and not config.skip_missing_videos:
        first = next(iter(missing.values()))[0]
        count = sum(len(v) for v in missing.values())
        raise MissingFeaturesError(
            f"{count} queries refer to videos without features in {config.feature_path}; first: video "
            f"{first.vid!r} ({first.source}). Add the features, or pass skip_missing_videos to skip them "
            "(counted and reported)."
        )

    vocab, vectors = vocab_lib.build_vocabulary(
        [t for s in split_names for t in tokenized[s]], config.glove_path, dim=config.word_dim, progress=progress
    )
    os.makedirs(folder, exist_ok=True)
    counts = {}
    num_clips_cache = {}
    for split in split_names:
        kept = 0
        with open(os.path.join(folder, f"{split}.jsonl"), "w") as f:
            for record, tokens in zip(annotation_set.splits[split], tokenized[split]):
                if record.vid not in store:
                    continue
                if record.vid not in num_clips_cache:
                    num_clips_cache[record.vid] = store.num_clips(record.vid)
                example = make_example(record, tokens, vocab, num_clips_cache[record.vid], config.max_pos_len,
                                       label_rule=config.label_rule)
                f.write(json.dumps(example) + "\n")
                kept += 1
        counts[split] = {"queries": kept, "skipped_missing_video": len(missing.get(split, []))}
        if missing.get(split):
            _log(f"{split}: skipped {len(missing[split])} queries whose video has no features "
                 f"(first: {missing[split][0].vid!r})")
    vocab.save(folder)
    np.save(os.path.join(folder, "word_vectors.npy"), vectors)
    meta = {
        "fingerprint": config.fingerprint(),
        "dataset": config.dataset,
        "feature_path": os.path.abspath(config.feature_path),
        "feature_layout": config.feature_layout,
        "feature_dim": store.feature_dim(),
        "max_pos_len": config.max_pos_len,
        "label_rule": config.label_rule,
        "num_words": vocab.num_words,
        "num_chars": vocab.num_chars,
        "counts": counts,
        "annotation_report": {s: dataclasses.asdict(r) for s, r in annotation_set.report.items()},
    }
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=2)
    if progress:
        _log(f"processed {config.dataset} into {folder}: " + ", ".join(
            f"{s} {c['queries']}" for s, c in counts.items()) + f"; {vocab.num_words} words, {vocab.num_chars} chars")
    return load_processed(folder)


def load_processed(folder):
    """Read a processed folder written by `prepare_dataset`."""
    with open(os.path.join(folder, "meta.json")) as f:
        meta = json.load(f)
    splits = {}
    for split in SPLIT_ORDER:
        path = os.path.join(folder, f"{split}.jsonl")
        if os.path.exists(path):
            with open(path) as f:
                splits[split] = [json.loads(line) for line in f]
    return ProcessedDataset(
        folder=folder,
        vocab=vocab_lib.Vocabulary.load(folder),
        word_vectors=np.load(os.path.join(folder, "word_vectors.npy")),
        splits=splits,
        meta=meta,
    )
