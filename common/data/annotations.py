"""Annotation readers: Charades-STA, ActivityNet Captions, TACoS (2D-TAN and TALL) and JSON lines → `QueryRecord`s.

One entry point, `read_annotations(dataset, annotation_dir, ...)`, returns an `AnnotationSet`: the records of each
split in file order (the originals evaluate in file order), plus a per-split `SplitReport` of what was clamped,
kept or dropped. Formats, with one raw line each, are in the docstrings of the `_read_*` functions below
(fidelity VSLNet §2.1, fidelity LPNet §2.1).

Moments, in every format:
- Times are converted to seconds first (TACoS: frame / fps), then clamped as the originals do:
  `start = max(0, raw_start)`, `end = min(raw_end, duration)`. Each clamp is counted per split.
- A negative start is therefore accepted (clamped to 0 and counted). A negative end, a duration that is not
  > 0, and any non-finite number (NaN, inf) are errors.
- A *reversed* moment has `raw_start > raw_end`, or `start > end` after clamping (it starts after the video
  ends). The originals keep such records silently; ActivityNet's `train.json` has two (`v_0bosp4-pyTM`,
  `v_rhOtqArO-3Y`). `reversed_moments` says what to do: `"error"` (default), `"keep"` (as the originals, counted)
  or `"skip"` (dropped, counted).
- `start == end` (a zero-length moment; ActivityNet's `train.json` has two) is accepted.

Query ids are `"{split}:{k}"`, k = 0-based position of the query in its split's file (a skipped query keeps its
number, so ids do not move), except for JSON lines, which keep the user's `qid`. Every error is an
`AnnotationError` whose message starts with `path:line` or `path:video_id`.
"""

import dataclasses
import json
import math
import os
import pathlib

from common.data import text_files
from common.data.records import AnnotationError, QueryRecord

DATASETS = ("charades", "activitynet", "tacos_tan", "tacos_org", "jsonl")
REVERSED_MOMENT_POLICIES = ("error", "keep", "skip")
# TALL's TACoS frame numbers are at 29.4 fps; the authors' converter (`statistic/stat_tacos.py`) uses it for
# both the annotation frames and the frame count of each video.
TACOS_ORG_FPS = 29.4
_SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class SplitReport:
    """What a reader changed in one split.

    Attributes:
        start_clamped: records whose start was negative and became 0.
        end_clamped: records whose end exceeded the video duration and became the duration.
        reversed_kept: reversed moments kept (`reversed_moments="keep"`); included in the records.
        reversed_skipped: reversed moments dropped (`reversed_moments="skip"`); not in the records.
    """

    start_clamped: int = 0
    end_clamped: int = 0
    reversed_kept: int = 0
    reversed_skipped: int = 0


@dataclasses.dataclass(frozen=True)
class AnnotationSet:
    """The records of a dataset, by split, in file order.

    Attributes:
        dataset: one of `DATASETS`.
        splits: split name (`"train"`, `"val"`, `"test"`) → records in file order. Only the splits the dataset
            has: Charades-STA has no `"val"`; JSON lines has the splits whose file exists.
        report: split name → `SplitReport`, same keys as `splits`.
    """

    dataset: str
    splits: dict[str, list[QueryRecord]]
    report: dict[str, SplitReport]


class _SplitBuilder:
    """Validates, clamps and collects the moments of one split, counting what it changes."""

    def __init__(self, split, reversed_moments):
        self.split = split
        self.reversed_moments = reversed_moments
        self.records = []
        self.num_read = 0
        self.counts = {"start_clamped": 0, "end_clamped": 0, "reversed_kept": 0, "reversed_skipped": 0}

    def next_qid(self):
        return f"{self.split}:{self.num_read}"

    def add(self, *, where, qid, vid, duration, raw_start, raw_end, sentence, source):
        """`where` prefixes error messages (`path:line`, or `path:vid: timestamp k`)."""
        self.num_read += 1
        if not isinstance(sentence, str):
            raise AnnotationError(f"{where}: the sentence is a {type(sentence).__name__}, not a string")
        if not sentence.strip():
            raise AnnotationError(f"{where}: empty sentence")
        if duration <= 0:
            raise AnnotationError(f"{where}: video {vid!r} has duration {duration}; it must be > 0")
        if raw_end < 0:
            raise AnnotationError(f"{where}: negative end time {raw_end}")
        start = max(0.0, raw_start)
        end = min(raw_end, duration)
        if raw_start > raw_end or start > end:
            problem = (
                f"start {raw_start} > end {raw_end}"
                if raw_start > raw_end
                else f"start {raw_start} is after the end of the video ({duration} s)"
            )
            if self.reversed_moments == "error":
                raise AnnotationError(
                    f"{where}: reversed moment: {problem}; pass reversed_moments='keep' to keep it as the original "
                    "code does, or 'skip' to drop it"
                )
            if self.reversed_moments == "skip":
                self.counts["reversed_skipped"] += 1
                return
            self.counts["reversed_kept"] += 1
        record = QueryRecord(
            qid=qid,
            vid=vid,
            duration=duration,
            start=start,
            end=end,
            sentence=sentence,
            split=self.split,
            raw_start=raw_start,
            raw_end=raw_end,
            source=source,
        )
        self.counts["start_clamped"] += record.start_clamped
        self.counts["end_clamped"] += record.end_clamped
        self.records.append(record)

    def report(self):
        return SplitReport(**self.counts)


def _number(value, where, what):
    """Converts a JSON number or numeric string to a finite float, or raises naming `where`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise AnnotationError(f"{where}: {what} {value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise AnnotationError(f"{where}: {what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise AnnotationError(f"{where}: {what} {value!r} is not finite")
    return number


def _load_json(path):
    try:
        return json.loads(text_files.read_text(path))
    except json.JSONDecodeError as e:
        raise AnnotationError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from None
    except text_files.EncodingError as e:
        raise AnnotationError(str(e)) from None


def _load_json_object(path):
    data = _load_json(path)
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected a JSON object keyed by video id, got a {type(data).__name__}")
    return data


def _lines(path):
    """Yields `(line_number, line)` for the non-blank lines, which is what the originals read."""
    try:
        for line_number, line, _ in text_files.iter_lines(path):
            line = line.rstrip("\r\n")
            if line.strip():
                yield line_number, line
    except text_files.EncodingError as e:
        raise AnnotationError(str(e)) from None


def _field(entry, key, where):
    if not isinstance(entry, dict):
        raise AnnotationError(f"{where}: expected a JSON object, got a {type(entry).__name__}")
    if key not in entry:
        raise AnnotationError(f"{where}: missing {key!r}")
    return entry[key]


def _moment(timestamp, where):
    if not isinstance(timestamp, (list, tuple)) or len(timestamp) != 2:
        raise AnnotationError(f"{where}: expected a [start, end] pair, got {timestamp!r}")
    return _number(timestamp[0], where, "start"), _number(timestamp[1], where, "end")


def _paired_timestamps(entry, where):
    timestamps = _field(entry, "timestamps", where)
    sentences = _field(entry, "sentences", where)
    if not isinstance(timestamps, list) or not isinstance(sentences, list):
        raise AnnotationError(f"{where}: 'timestamps' and 'sentences' must be lists")
    if len(timestamps) != len(sentences):
        raise AnnotationError(f"{where}: {len(timestamps)} timestamps but {len(sentences)} sentences")
    return zip(timestamps, sentences)


def split_files(dataset, annotation_dir, *, anet_test_split="val_1"):
    """The annotation file of each split the dataset has, `{split: pathlib.Path}` (JSON lines: the files that exist).

    ActivityNet's test split is `anet_test_split` (`"val_1"` or `"val_2"`) and the other file its val split.
    """
    directory = pathlib.Path(annotation_dir)
    if dataset == "charades":
        names = {"train": "charades_sta_train.txt", "test": "charades_sta_test.txt"}
    elif dataset == "activitynet":
        if anet_test_split not in ("val_1", "val_2"):
            raise ValueError(f"anet_test_split must be 'val_1' or 'val_2', got {anet_test_split!r}")
        other = "val_2" if anet_test_split == "val_1" else "val_1"
        names = {"train": "train.json", "val": f"{other}.json", "test": f"{anet_test_split}.json"}
    elif dataset == "tacos_tan":
        names = {split: f"{split}.json" for split in _SPLITS}
    elif dataset == "tacos_org":
        names = {split: f"TACoS_{split}_samples.txt" for split in _SPLITS}
    elif dataset == "jsonl":
        names = {split: f"{split}.jsonl" for split in _SPLITS if (directory / f"{split}.jsonl").is_file()}
    else:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    return {split: directory / name for split, name in names.items()}


def annotation_files(dataset, annotation_dir, *, anet_test_split="val_1", tacos_org_durations=None):
    """Every file `read_annotations` reads for these arguments (the split files, `charades.json`, the TACoS
    durations), sorted: what identifies the annotations of a processed folder."""
    files = list(split_files(dataset, annotation_dir, anet_test_split=anet_test_split).values())
    if dataset == "charades":
        files.append(pathlib.Path(annotation_dir) / "charades.json")
    if dataset == "tacos_org" and tacos_org_durations:
        paths = [tacos_org_durations] if isinstance(tacos_org_durations, (str, os.PathLike)) else tacos_org_durations
        files.extend(pathlib.Path(p) for p in paths)
    return sorted(str(f) for f in files)


def _read_charades(annotation_dir, reversed_moments):
    """Charades-STA: `charades_sta_{train,test}.txt` with durations from `charades.json`; no val split.

    One query per line, times in seconds:
        AO8RW 0.0 6.9##a person is putting a book on a shelf.
    `charades.json` maps the video id to an object with the duration in seconds:
        {"AO8RW": {"subset": "testing", "duration": 23.67, "actions": [...]}, ...}
    """
    durations_path = annotation_dir / "charades.json"
    videos = _load_json_object(durations_path)
    splits = {}
    for split, path in split_files("charades", annotation_dir).items():
        builder = _SplitBuilder(split, reversed_moments)
        for line_number, line in _lines(path):
            where = f"{path}:{line_number}"
            header, separator, sentence = line.partition("##")
            fields = header.split()
            if not separator or len(fields) != 3:
                raise AnnotationError(f"{where}: expected 'VID START END##sentence', got {line!r}")
            vid, start, end = fields
            if vid not in videos:
                raise AnnotationError(f"{where}: video {vid!r} is not in {durations_path}")
            if not isinstance(videos[vid], dict) or "duration" not in videos[vid]:
                raise AnnotationError(f"{where}: {durations_path} has no 'duration' for video {vid!r}")
            builder.add(
                where=where,
                qid=builder.next_qid(),
                vid=vid,
                duration=_number(videos[vid]["duration"], f"{durations_path}:{vid}", "duration"),
                raw_start=_number(start, where, "start"),
                raw_end=_number(end, where, "end"),
                sentence=sentence,
                source=where,
            )
        splits[split] = builder
    return splits


def _read_activitynet(annotation_dir, reversed_moments, test_split):
    """ActivityNet Captions: `train.json`, `val_1.json`, `val_2.json`; times in seconds.

    `test_split` names the test file: `"val_1"` (VSLNet and the paper) or `"val_2"` (LPNet's run script); the
    other one is the `"val"` split. One video per key:
        {"v_uqiMw7tQ1Cc": {"duration": 55.15, "timestamps": [[0.28, 55.15], [13.79, 54.32]],
                           "sentences": ["A weight lifting tutorial is given.", "  The coach helps the guy ..."]}}
    """
    splits = {}
    for split, path in split_files("activitynet", annotation_dir, anet_test_split=test_split).items():
        builder = _SplitBuilder(split, reversed_moments)
        for vid, entry in _load_json_object(path).items():
            where = f"{path}:{vid}"
            duration = _number(_field(entry, "duration", where), where, "duration")
            for k, (timestamp, sentence) in enumerate(_paired_timestamps(entry, where)):
                raw_start, raw_end = _moment(timestamp, f"{where}: timestamp {k}")
                builder.add(
                    where=f"{where}: timestamp {k}",
                    qid=builder.next_qid(),
                    vid=vid,
                    duration=duration,
                    raw_start=raw_start,
                    raw_end=raw_end,
                    sentence=sentence,
                    source=where,
                )
        splits[split] = builder
    return splits


def _read_tacos_tan(annotation_dir, reversed_moments):
    """TACoS, 2D-TAN version: `{train,val,test}.json`; times in frames.

    One video per key; `.avi` is stripped from the id, duration = num_frames / fps, times = frame / fps:
        {"s30-d52.avi": {"timestamps": [[141, 354], ...], "sentences": ["The person gets out a cutting board.",
                         ...], "fps": 29.4, "num_frames": 7650}}
    """
    splits = {}
    for split, path in split_files("tacos_tan", annotation_dir).items():
        builder = _SplitBuilder(split, reversed_moments)
        for key, entry in _load_json_object(path).items():
            where = f"{path}:{key}"
            fps = _number(_field(entry, "fps", where), where, "fps")
            num_frames = _number(_field(entry, "num_frames", where), where, "num_frames")
            if fps <= 0:
                raise AnnotationError(f"{where}: fps {fps} must be > 0")
            for k, (timestamp, sentence) in enumerate(_paired_timestamps(entry, where)):
                start_frame, end_frame = _moment(timestamp, f"{where}: timestamp {k}")
                builder.add(
                    where=f"{where}: timestamp {k}",
                    qid=builder.next_qid(),
                    vid=key.removesuffix(".avi"),
                    duration=num_frames / fps,
                    raw_start=start_frame / fps,
                    raw_end=end_frame / fps,
                    sentence=sentence,
                    source=where,
                )
        splits[split] = builder
    return splits


def _read_tacos_org_durations(paths):
    """Reads `tacos_org_durations`: video id (`.avi` optional) → duration in seconds.

    Each file is a JSON object keyed by video id whose values give either the duration in seconds or the frame
    count (at `fps`, default 29.4, TALL's frame rate):
        {"s13-d21": {"duration": 180.3}}   or   {"s13-d21.avi": {"num_frames": 5301, "fps": 29.4}}
    so the 2D-TAN `{train,val,test}.json` files can be passed as they are. Several files are merged; a video
    given two different durations is an error.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    durations, origins = {}, {}
    for path in paths:
        for key, entry in _load_json_object(path).items():
            where = f"{path}:{key}"
            if isinstance(entry, dict) and "duration" in entry:
                duration = _number(entry["duration"], where, "duration")
            elif isinstance(entry, dict) and "num_frames" in entry:
                fps = _number(entry.get("fps", TACOS_ORG_FPS), where, "fps")
                if fps <= 0:
                    raise AnnotationError(f"{where}: fps {fps} must be > 0")
                duration = _number(entry["num_frames"], where, "num_frames") / fps
            else:
                raise AnnotationError(
                    f"{where}: expected an object with 'duration' (seconds) or 'num_frames' (frames), got {entry!r}"
                )
            vid = key.removesuffix(".avi")
            if vid in durations and durations[vid] != duration:
                raise AnnotationError(f"{where}: duration {duration} contradicts {durations[vid]} from {origins[vid]}")
            durations[vid], origins[vid] = duration, where
    return durations


def _read_tacos_org(annotation_dir, reversed_moments, durations_paths):
    """TACoS, TALL ("org") version: `TACoS_{train,val,test}_samples.txt`; times in frames at 29.4 fps.

    One moment per line, with one or more `#`-separated sentences (a trailing `#` is ignored); each sentence is
    one record, as in the authors' converter `statistic/stat_tacos.py`:
        s13-d21.avi_252_452:The person takes out a knife.#He washes the knife.#
    The files do not give video lengths: `durations_paths` does (see `_read_tacos_org_durations`).
    """
    if durations_paths is None:
        raise ValueError(
            "dataset 'tacos_org' needs tacos_org_durations: a JSON file (or list of files) mapping each video id "
            "to {'duration': seconds} or {'num_frames': frames at 29.4 fps}; the 2D-TAN TACoS "
            "{train,val,test}.json files work as they are"
        )
    durations = _read_tacos_org_durations(durations_paths)
    splits = {}
    for split, path in split_files("tacos_org", annotation_dir).items():
        builder = _SplitBuilder(split, reversed_moments)
        for line_number, line in _lines(path):
            where = f"{path}:{line_number}"
            moment, separator, text = line.strip().partition(":")
            parts = moment.rsplit("_", 2)
            if not separator or len(parts) != 3:
                raise AnnotationError(f"{where}: expected 'VID.avi_STARTFRAME_ENDFRAME:sent1#sent2#', got {line!r}")
            name, start_frame, end_frame = parts
            try:
                start_frame, end_frame = int(start_frame), int(end_frame)
            except ValueError:
                raise AnnotationError(f"{where}: frame numbers must be integers, got {moment!r}") from None
            vid = name.removesuffix(".avi")
            if vid not in durations:
                raise AnnotationError(f"{where}: video {vid!r} has no entry in tacos_org_durations")
            for sentence in text.removesuffix("#").split("#"):
                builder.add(
                    where=where,
                    qid=builder.next_qid(),
                    vid=vid,
                    duration=durations[vid],
                    raw_start=start_frame / TACOS_ORG_FPS,
                    raw_end=end_frame / TACOS_ORG_FPS,
                    sentence=sentence,
                    source=where,
                )
        splits[split] = builder
    return splits


def _read_jsonl(annotation_dir, reversed_moments):
    """JSON lines for users' own data: `{train,val,test}.jsonl`, the files that exist (at least one).

    One query per line, times in seconds:
        {"qid": "q17", "vid": "video_3", "duration": 42.5, "query": "a man opens the door.", "windows": [[3.0, 9.5]]}
    A query with one window keeps its `qid`; a query with several becomes one record per window, with ids
    `"{qid}#0"`, `"{qid}#1"`, ... Record ids must be unique across all splits, and a video must have the same
    duration on every line.
    """
    paths = split_files("jsonl", annotation_dir)
    if not paths:
        candidates = (annotation_dir / f"{split}.jsonl" for split in _SPLITS)
        raise FileNotFoundError(f"none of {', '.join(str(p) for p in candidates)} exists")
    qid_sources, video_durations = {}, {}
    splits = {}
    for split, path in paths.items():
        builder = _SplitBuilder(split, reversed_moments)
        for line_number, line in _lines(path):
            where = f"{path}:{line_number}"
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as e:
                raise AnnotationError(f"{where}: not valid JSON: {e.msg}") from None
            qid, vid, duration, query, windows = (
                _field(entry, key, where) for key in ("qid", "vid", "duration", "query", "windows")
            )
            if isinstance(qid, bool) or not isinstance(qid, (str, int)):
                raise AnnotationError(f"{where}: qid must be a string or an integer, got {qid!r}")
            duration = _number(duration, where, "duration")
            vid = str(vid)
            if video_durations.setdefault(vid, (duration, where))[0] != duration:
                raise AnnotationError(
                    f"{where}: video {vid!r} has duration {duration} here but {video_durations[vid][0]} at "
                    f"{video_durations[vid][1]}"
                )
            if not isinstance(windows, list) or not windows:
                raise AnnotationError(f"{where}: 'windows' must be a non-empty list of [start, end] pairs")
            for k, window in enumerate(windows):
                record_qid = str(qid) if len(windows) == 1 else f"{qid}#{k}"
                if record_qid in qid_sources:
                    raise AnnotationError(f"{where}: qid {record_qid!r} already used at {qid_sources[record_qid]}")
                qid_sources[record_qid] = where
                raw_start, raw_end = _moment(window, f"{where}: window {k}")
                builder.add(
                    where=f"{where}: window {k}",
                    qid=record_qid,
                    vid=vid,
                    duration=duration,
                    raw_start=raw_start,
                    raw_end=raw_end,
                    sentence=query,
                    source=where,
                )
        splits[split] = builder
    return splits


def read_annotations(
    dataset, annotation_dir, *, anet_test_split="val_1", tacos_org_durations=None, reversed_moments="error"
):
    """Reads the annotation files of one dataset into `QueryRecord`s, split by split, in file order.

    Args:
        dataset: `"charades"`, `"activitynet"`, `"tacos_tan"`, `"tacos_org"` or `"jsonl"`.
        annotation_dir: folder holding the dataset's files, under their original names.
        anet_test_split: ActivityNet file used as the test split: `"val_1"` (VSLNet, the paper) or `"val_2"`
            (LPNet's run script). The other file becomes the `"val"` split.
        tacos_org_durations: `tacos_org` only, and required there: path (or list of paths) of JSON files mapping
            each video id to `{"duration": seconds}` or `{"num_frames": frames[, "fps": 29.4]}`.
        reversed_moments: `"error"`, `"keep"` (the originals' behaviour) or `"skip"`; see the module docstring.

    Returns:
        `AnnotationSet`.

    Raises:
        AnnotationError: a malformed file; the message starts with `path:line` or `path:video_id`.
        ValueError: an invalid argument.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if reversed_moments not in REVERSED_MOMENT_POLICIES:
        raise ValueError(f"reversed_moments must be one of {REVERSED_MOMENT_POLICIES}, got {reversed_moments!r}")
    annotation_dir = pathlib.Path(annotation_dir)
    if dataset == "charades":
        builders = _read_charades(annotation_dir, reversed_moments)
    elif dataset == "activitynet":
        builders = _read_activitynet(annotation_dir, reversed_moments, anet_test_split)
    elif dataset == "tacos_tan":
        builders = _read_tacos_tan(annotation_dir, reversed_moments)
    elif dataset == "tacos_org":
        builders = _read_tacos_org(annotation_dir, reversed_moments, tacos_org_durations)
    else:
        builders = _read_jsonl(annotation_dir, reversed_moments)
    ordered = [split for split in _SPLITS if split in builders]
    return AnnotationSet(
        dataset=dataset,
        splits={split: builders[split].records for split in ordered},
        report={split: builders[split].report() for split in ordered},
    )
