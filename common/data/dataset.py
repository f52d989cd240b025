"""Annotations + text + features → a processed dataset folder that runs reuse and that records how it was made.

A processed folder holds `vocab.json`, `word_vectors.npy` (the filtered GloVe rows, so GloVe is read only once),
`{split}.jsonl` (one example per query: ids, clip indices, times), `meta.json` (the options it was built with,
the counts, the GloVe coverage) and `sources.json` (what identifies its inputs: a SHA-256 of every annotation file,
the GloVe file's size and modification time, the feature store's file names, sizes and modification times).
Unlike the originals' pickle, which is reused even after the rules or the files changed (fidelity VSLNet §2.7), a
folder built with other options or from inputs that changed since is rebuilt, and the reason is printed.

Building checks everything before training can start: annotations (`common.data.annotations`), GloVe (width of
every line, coverage; `common.data.vocab`), every video's features (`features.validate_videos`) and that no split
is empty. A folder is written to a temporary sibling and renamed into place when complete, so a failed build
leaves an existing folder as it was.

Features stay in their store; they are read batch by batch by `common.data.pipeline`.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tempfile

import numpy as np

from common.data import annotations, labels, tokenization
from common.data import features as features_lib
from common.data import vocab as vocab_lib
from common.data.records import MissingFeaturesError
from common.progress import Progress

SPLIT_ORDER = ("train", "val", "test")
# Bump when a rule that changes processed examples changes, so that old folders are rebuilt.
PROCESSING_VERSION = 2


class EmptySplitError(ValueError):
    """A split without a query to train or score on; the message names its annotation file."""


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
        label_rule: seconds → clip indices of the ground truth (fidelity VSLNet §6 #1): `iou_argmax` (the code,
            default) or `round` (the paper's `a = Round(τ/T·n)`); see `common.data.labels.time_to_index`. It is
            recorded in `meta.json` (`label_rule`), and the trainer converts predictions back to seconds with the
            matching inverse (`labels.index_to_time(..., rule=...)`).
        feature_dim: the width every video's features must have; 0: any width, the same for every video.
        glove_malformed: a GloVe line of another width is an `error` (default) or a counted `skip` (the
            originals skip such lines silently; see `vocab.read_glove`).
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
    feature_dim: int = 0
    glove_malformed: str = "error"

    def fingerprint(self):
        """The options a processed folder is built with (its inputs' contents: `source_fingerprint`)."""
        keys = (
            "dataset",
            "annotation_dir",
            "feature_path",
            "glove_path",
            "feature_layout",
            "max_pos_len",
            "word_dim",
            "anet_test_split",
            "tacos_org_durations",
            "skip_missing_videos",
            "reversed_moments",
            "label_rule",
            "feature_dim",
            "glove_malformed",
        )
        fp = {k: getattr(self, k) for k in keys}
        for k in ("annotation_dir", "feature_path", "glove_path", "tacos_org_durations"):
            fp[k] = os.path.abspath(fp[k]) if fp[k] else ""
        fp["processing_version"] = PROCESSING_VERSION
        return fp

    def annotation_files(self):
        return annotations.annotation_files(
            self.dataset,
            self.annotation_dir,
            anet_test_split=self.anet_test_split,
            tacos_org_durations=self.tacos_org_durations or None,
        )


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
    IoU-argmax; `round`: the paper's, fidelity VSLNet §6 #1)."""
    tokens = tokens[:max_pos_len]
    v_len = min(num_clips, max_pos_len)
    start_index, end_index = labels.time_to_index(record.start, record.end, v_len, record.duration, rule=label_rule)
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


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_fingerprint(config):
    """What identifies the inputs of `config` (read in well under a second for a real dataset): the SHA-256 of
    every annotation file, the GloVe file's size and modification time (5.6 GB is too much to hash on every
    run) and the feature store's `features.store_fingerprint`. A missing input is left out (the build names it)."""
    fp = {"annotations": {}, "glove": None, "features": None}
    for path in config.annotation_files():
        if os.path.isfile(path):
            fp["annotations"][os.path.abspath(path)] = _sha256(path)
    if os.path.isfile(config.glove_path):
        stat = os.stat(config.glove_path)
        fp["glove"] = [stat.st_size, stat.st_mtime_ns]
    if os.path.exists(config.feature_path):
        fp["features"] = features_lib.store_fingerprint(config.feature_path)
    return fp


def source_digest(config):
    """A SHA-256 of `source_fingerprint(config)`: what a run directory records of its data."""
    return hashlib.sha256(json.dumps(source_fingerprint(config), sort_keys=True).encode()).hexdigest()


def _describe_source_change(old, new):
    reasons = []
    for path in sorted(set(old["annotations"]) | set(new["annotations"])):
        if old["annotations"].get(path) != new["annotations"].get(path):
            reasons.append(f"annotation file {path} changed")
    if old["glove"] != new["glove"]:
        reasons.append("the GloVe file changed (size or modification time)")
    if (old["features"] is None) != (new["features"] is None):
        reasons.append("the feature store changed")
    elif old["features"] is not None:
        change = features_lib.describe_store_change(old["features"], new["features"])
        if change:
            reasons.append(f"the feature store changed: {change}")
    return "; ".join(reasons)


def stale_reason(config, sources=None):
    """Why `config.processed_dir` cannot be reused for `config` (`None` if it can): no folder, other options, or
    inputs that changed since it was built (`sources`: `source_fingerprint(config)` if the caller has it)."""
    meta_path = os.path.join(config.processed_dir, "meta.json")
    sources_path = os.path.join(config.processed_dir, "sources.json")
    if not os.path.exists(meta_path):
        return "no processed folder yet"
    with open(meta_path) as f:
        built_with = json.load(f).get("fingerprint", {})
    options = config.fingerprint()
    if built_with != options:
        keys = sorted(k for k in set(built_with) | set(options) if built_with.get(k) != options.get(k))
        return "it was built with other options: " + ", ".join(
            f"{k} {built_with.get(k)!r} -> {options.get(k)!r}" for k in keys
        )
    if not os.path.exists(sources_path):
        return "it does not record its inputs"
    with open(sources_path) as f:
        return _describe_source_change(json.load(f), sources or source_fingerprint(config)) or None


def is_current(config):
    """Whether `config.processed_dir` holds a processed folder built with `config`'s options from its inputs as
    they are now."""
    return stale_reason(config) is None


def _read_records(config):
    annotation_set = annotations.read_annotations(
        config.dataset,
        config.annotation_dir,
        anet_test_split=config.anet_test_split,
        tacos_org_durations=config.tacos_org_durations or None,
        reversed_moments=config.reversed_moments,
    )
    files = annotations.split_files(config.dataset, config.annotation_dir, anet_test_split=config.anet_test_split)
    for split, records in annotation_set.splits.items():
        if not records:
            raise EmptySplitError(f"{files[split]}: the {split} split has no query")
    return annotation_set, files


def _tokenize(annotation_set, split_names, progress):
    """split → the token lists of its sentences."""
    records = [(split, record) for split in split_names for record in annotation_set.splits[split]]
    tokenizing = Progress(
        len(records), "tokenizing the queries", unit="query", units="queries", delay=1.0, enabled=progress
    )
    tokenized = {split: [] for split in split_names}
    for done, (split, record) in enumerate(records, start=1):
        tokenized[split].append(tokenization.tokenize(record.sentence))
        tokenizing.update(done)
    tokenizing.finish()
    return tokenized


def prepare_dataset(config, progress=True):
    """Build (or reuse) the processed folder of `config` and return it as a `ProcessedDataset`.

    `progress` shows the progress of the long steps (tokenizing, checking the features, reading GloVe) and a
    summary of the result.

    Raises:
        MissingFeaturesError: a query's video has no features and `skip_missing_videos` is off. The message
            names the video, the annotation line and how many queries are affected.
        AnnotationError, GloveError, FeatureError, EmptySplitError, EncodingError: a bad input, named.
    """
    if config.label_rule not in labels.LABEL_RULES:
        raise ValueError(f"label_rule must be one of {labels.LABEL_RULES}, got {config.label_rule!r}")
    folder = config.processed_dir
    sources = source_fingerprint(config)
    reason = stale_reason(config, sources)
    if reason is None:
        return load_processed(folder)
    if os.path.exists(os.path.join(folder, "meta.json")):
        _log(f"rebuilding {folder}: {reason}")
    elif os.path.isdir(folder) and os.listdir(folder):
        raise FileExistsError(
            f"processed folder {folder} holds files but no meta.json: it is not a processed folder; "
            "pass an empty or new folder"
        )

    annotation_set, files = _read_records(config)
    store = features_lib.open_feature_store(config.feature_path, config.feature_layout)
    split_names = [s for s in SPLIT_ORDER if s in annotation_set.splits]
    tokenized = _tokenize(annotation_set, split_names, progress)

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
    for split in split_names:
        if len(missing.get(split, [])) == len(annotation_set.splits[split]):
            raise EmptySplitError(
                f"{files[split]}: every query of the {split} split was skipped (no video of it "
                f"has features in {config.feature_path})"
            )

    vids = [r.vid for s in split_names for r in annotation_set.splits[s] if r.vid in store]
    num_clips, feature_dim = features_lib.validate_videos(store, vids, config.feature_dim, progress=progress)
    vocab, vectors, glove_report = vocab_lib.build_vocabulary(
        [t for s in split_names for t in tokenized[s]],
        config.glove_path,
        dim=config.word_dim,
        progress=progress,
        malformed=config.glove_malformed,
    )

    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    building = tempfile.mkdtemp(prefix=os.path.basename(folder) + ".building-", dir=parent)
    try:
        counts = {}
        for split in split_names:
            kept = 0
            with open(os.path.join(building, f"{split}.jsonl"), "w") as f:
                for record, tokens in zip(annotation_set.splits[split], tokenized[split]):
                    if record.vid not in store:
                        continue
                    example = make_example(
                        record, tokens, vocab, num_clips[record.vid], config.max_pos_len, label_rule=config.label_rule
                    )
                    f.write(json.dumps(example) + "\n")
                    kept += 1
            counts[split] = {"queries": kept, "skipped_missing_video": len(missing.get(split, []))}
            if missing.get(split):
                _log(
                    f"{split}: skipped {len(missing[split])} queries whose video has no features "
                    f"(first: {missing[split][0].vid!r})"
                )
        vocab.save(building)
        np.save(os.path.join(building, "word_vectors.npy"), vectors)
        meta = {
            "fingerprint": config.fingerprint(),
            "dataset": config.dataset,
            "feature_path": os.path.abspath(config.feature_path),
            "feature_layout": config.feature_layout,
            "feature_dim": feature_dim,
            "max_pos_len": config.max_pos_len,
            "label_rule": config.label_rule,
            "num_words": vocab.num_words,
            "num_chars": vocab.num_chars,
            "counts": counts,
            "videos_validated": len(num_clips),
            "glove": glove_report,
            "annotation_report": {s: dataclasses.asdict(r) for s, r in annotation_set.report.items()},
        }
        with open(os.path.join(building, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2)
        with open(os.path.join(building, "sources.json"), "w") as f:
            json.dump(sources, f)
        if os.path.exists(folder):
            shutil.rmtree(folder)
        os.replace(building, folder)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    if progress:
        _log(
            f"processed {config.dataset} into {folder}: "
            + ", ".join(f"{s} {c['queries']}" for s, c in counts.items())
            + f"; {vocab.num_words} words, {vocab.num_chars} chars"
        )
        _log(_coverage_line(config.glove_path, glove_report))
    return load_processed(folder)


def _coverage_line(glove_path, report):
    line = (
        f"GloVe ({os.path.basename(glove_path)}) covers {report['words_in_glove']} of the "
        f"{report['query_words']} query words ({100.0 * report['tokens_in_glove'] / max(report['tokens'], 1):.1f}%"
        " of tokens; the others are <UNK>)"
    )
    if report["malformed"]:
        line += f"; skipped {report['malformed']} malformed lines (first: {report['first_malformed']})"
    return line


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
