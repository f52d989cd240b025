"""Tests for `common.data.annotations`, on small files written by each test."""

import json

import pytest

from common.data.annotations import SplitReport, read_annotations
from common.data.records import AnnotationError


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _write_json(path, data):
    return _write(path, json.dumps(data))


# ----------------------------------------------------------------------------------------------- Charades-STA


def _charades(tmp_path, train_lines, test_lines=("T1 1.0 2.0##a man sits.",), durations=None):
    durations = {"V1": {"duration": 30.0}, "V2": {"duration": 10.0}, "T1": {"duration": 20.0}} | (durations or {})
    _write_json(tmp_path / "charades.json", durations)
    _write(tmp_path / "charades_sta_train.txt", "\n".join(train_lines) + "\n")
    _write(tmp_path / "charades_sta_test.txt", "\n".join(test_lines) + "\n")
    return read_annotations("charades", tmp_path)


def test_charades_records_in_file_order(tmp_path):
    annotation_set = _charades(
        tmp_path,
        ["V1 0.0 6.9##A person is putting a book on a shelf.", "", "V2 -0.5 12.0##Person opens the door."],
    )
    assert list(annotation_set.splits) == ["train", "test"]
    first, second = annotation_set.splits["train"]
    assert (first.qid, first.vid, first.duration, first.start, first.end) == ("train:0", "V1", 30.0, 0.0, 6.9)
    assert first.sentence == "A person is putting a book on a shelf."
    assert first.source.endswith("charades_sta_train.txt:1")
    # The blank line 2 is skipped, as the originals do; qids count queries, sources count lines.
    assert (second.qid, second.source.rsplit(":", 1)[1]) == ("train:1", "3")
    assert (second.raw_start, second.raw_end, second.start, second.end) == (-0.5, 12.0, 0.0, 10.0)
    assert annotation_set.report == {
        "train": SplitReport(start_clamped=1, end_clamped=1),
        "test": SplitReport(),
    }
    assert annotation_set.splits["test"][0].qid == "test:0"


@pytest.mark.parametrize(
    "line, message",
    [
        ("V1 0.0 6.9 a man sits.", "expected 'VID START END##sentence'"),
        ("V1 0.0##a man sits.", "expected 'VID START END##sentence'"),
        ("V1 zero 6.9##a man sits.", "start 'zero' is not a number"),
        ("V1 0.0 nan##a man sits.", "end 'nan' is not finite"),
        ("V1 0.0 inf##a man sits.", "end 'inf' is not finite"),
        ("V1 -3.0 -1.0##a man sits.", "negative end time"),
        ("V1 7.0 6.9##a man sits.", "start 7.0 > end 6.9"),
        ("V2 11.0 12.0##a man sits.", "start 11.0 is after the end of the video"),
        ("V1 0.0 6.9##   ", "empty sentence"),
        ("V9 0.0 6.9##a man sits.", "video 'V9' is not in"),
        ("V3 0.0 6.9##a man sits.", "has no 'duration' for video 'V3'"),
        ("V4 0.0 6.9##a man sits.", "duration 0.0; it must be > 0"),
    ],
)
def test_charades_bad_line_names_file_and_line(tmp_path, line, message):
    durations = {"V3": {"subset": "training"}, "V4": {"duration": 0.0}}
    with pytest.raises(AnnotationError) as error:
        _charades(tmp_path, ["V1 0.0 6.9##a good line.", line], durations=durations)
    assert "charades_sta_train.txt:2: " in str(error.value)
    assert message in str(error.value)


def test_charades_bad_duration_value_names_video(tmp_path):
    with pytest.raises(AnnotationError, match=r"charades\.json:V1: duration 'long' is not a number"):
        _charades(tmp_path, ["V1 0.0 6.9##a man sits."], durations={"V1": {"duration": "long"}})


@pytest.mark.parametrize(
    "policy, expected_kept, report",
    [
        ("keep", ["train:0", "train:1", "train:2"], SplitReport(end_clamped=1, reversed_kept=2)),
        ("skip", ["train:1"], SplitReport(reversed_skipped=2)),
    ],
)
def test_reversed_moments_policy(tmp_path, policy, expected_kept, report):
    _write_json(tmp_path / "charades.json", {"V1": {"duration": 10.0}})
    _write(tmp_path / "charades_sta_train.txt", "V1 5.0 4.0##a.\nV1 1.0 2.0##b.\nV1 11.0 12.0##c.\n")
    _write(tmp_path / "charades_sta_test.txt", "V1 1.0 2.0##d.\n")
    annotation_set = read_annotations("charades", tmp_path, reversed_moments=policy)
    assert [record.qid for record in annotation_set.splits["train"]] == expected_kept
    assert annotation_set.report["train"] == report


# ------------------------------------------------------------------------------------------ ActivityNet Captions


def _activitynet_files(tmp_path, train=None):
    _write_json(
        tmp_path / "train.json",
        train
        or {
            "v_a": {"duration": 50.0, "timestamps": [[0.28, 55.15], [10, 20]], "sentences": ["One.", "  Two."]},
            "v_b": {"duration": 9.5, "timestamps": [[-0.2, 4.0]], "sentences": ["Three."]},
        },
    )
    _write_json(tmp_path / "val_1.json", {"v_c": {"duration": 20, "timestamps": [[1, 2]], "sentences": ["Four."]}})
    _write_json(tmp_path / "val_2.json", {"v_d": {"duration": 30, "timestamps": [[3, 4]], "sentences": ["Five."]}})


def test_activitynet_records_and_clamping(tmp_path):
    _activitynet_files(tmp_path)
    annotation_set = read_annotations("activitynet", tmp_path)
    assert list(annotation_set.splits) == ["train", "val", "test"]
    train = annotation_set.splits["train"]
    assert [(r.qid, r.vid, r.sentence) for r in train] == [
        ("train:0", "v_a", "One."),
        ("train:1", "v_a", "  Two."),
        ("train:2", "v_b", "Three."),
    ]
    assert (train[0].start, train[0].end, train[0].raw_end) == (0.28, 50.0, 55.15)
    assert (train[2].start, train[2].raw_start) == (0.0, -0.2)
    assert train[0].source.endswith("train.json:v_a")
    assert annotation_set.report["train"] == SplitReport(start_clamped=1, end_clamped=1)


@pytest.mark.parametrize("test_split, test_vid, val_vid", [("val_1", "v_c", "v_d"), ("val_2", "v_d", "v_c")])
def test_activitynet_test_split(tmp_path, test_split, test_vid, val_vid):
    _activitynet_files(tmp_path)
    annotation_set = read_annotations("activitynet", tmp_path, anet_test_split=test_split)
    assert [r.vid for r in annotation_set.splits["test"]] == [test_vid]
    assert [r.vid for r in annotation_set.splits["val"]] == [val_vid]


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"duration": 5, "timestamps": [[0, 1], [1, 2]], "sentences": ["a."]}, "2 timestamps but 1 sentences"),
        ({"timestamps": [[0, 1]], "sentences": ["a."]}, "missing 'duration'"),
        ({"duration": 5, "timestamps": [[0, 1, 2]], "sentences": ["a."]}, "timestamp 0: expected a [start, end] pair"),
        ({"duration": 5, "timestamps": [[0, None]], "sentences": ["a."]}, "timestamp 0: end None is not a number"),
        ({"duration": float("nan"), "timestamps": [[0, 1]], "sentences": ["a."]}, "duration nan is not finite"),
        ({"duration": -5, "timestamps": [[0, 1]], "sentences": ["a."]}, "duration -5.0; it must be > 0"),
        ({"duration": 5, "timestamps": [[3, 1]], "sentences": ["a."]}, "timestamp 0: reversed moment: start 3.0"),
        ({"duration": 5, "timestamps": [[0, 1]], "sentences": [""]}, "timestamp 0: empty sentence"),
        ({"duration": 5, "timestamps": [[0, 1]], "sentences": [7]}, "the sentence is a int, not a string"),
        ([1, 2], "expected a JSON object, got a list"),
    ],
)
def test_activitynet_bad_entry_names_file_and_video(tmp_path, entry, message):
    _activitynet_files(tmp_path, train={"v_ok": {"duration": 5, "timestamps": [[0, 1]], "sentences": ["a."]},
                                        "v_bad": entry})  # fmt: skip
    with pytest.raises(AnnotationError) as error:
        read_annotations("activitynet", tmp_path)
    assert "train.json:v_bad" in str(error.value)
    assert message in str(error.value)


def test_invalid_json_names_file_and_line(tmp_path):
    _activitynet_files(tmp_path)
    _write(tmp_path / "val_1.json", '{"v_c":\n  {"duration": 20,,}}')
    with pytest.raises(AnnotationError, match=r"val_1\.json:2: not valid JSON"):
        read_annotations("activitynet", tmp_path)


# ------------------------------------------------------------------------------------------------ TACoS 2D-TAN


def test_tacos_tan_strips_avi_and_converts_frames(tmp_path):
    entry = {"timestamps": [[147, 294], [0, 5000]], "sentences": ["He cuts.", "He eats."], "fps": 29.4,
             "num_frames": 2940}  # fmt: skip
    _write_json(tmp_path / "train.json", {"s30-d52.avi": entry})
    _write_json(tmp_path / "val.json", {"s13-d21": dict(entry, timestamps=[[0, 29.4]], sentences=["x."])})
    _write_json(tmp_path / "test.json", {"s13-d25.avi": dict(entry, timestamps=[[0, 29.4]], sentences=["y."])})
    annotation_set = read_annotations("tacos_tan", tmp_path)
    first, second = annotation_set.splits["train"]
    assert first.vid == "s30-d52"
    assert annotation_set.splits["val"][0].vid == "s13-d21"
    assert first.duration == pytest.approx(100.0)
    assert (first.start, first.end) == (pytest.approx(5.0), pytest.approx(10.0))
    assert (second.raw_end, second.end) == (pytest.approx(5000 / 29.4), pytest.approx(100.0))
    assert annotation_set.report["train"] == SplitReport(end_clamped=1)
    assert first.source.endswith("train.json:s30-d52.avi")


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"timestamps": [[0, 1]], "sentences": ["a."], "num_frames": 10}, "missing 'fps'"),
        ({"timestamps": [[0, 1]], "sentences": ["a."], "fps": 0, "num_frames": 10}, "fps 0.0 must be > 0"),
        ({"timestamps": [[0, 1]], "sentences": ["a."], "fps": 25.0, "num_frames": 0}, "it must be > 0"),
    ],
)
def test_tacos_tan_bad_video_names_file_and_video(tmp_path, entry, message):
    good = {"timestamps": [[0, 1]], "sentences": ["a."], "fps": 25.0, "num_frames": 10}
    _write_json(tmp_path / "train.json", {"s1.avi": good})
    _write_json(tmp_path / "val.json", {"s2.avi": good, "s3.avi": entry})
    _write_json(tmp_path / "test.json", {"s4.avi": good})
    with pytest.raises(AnnotationError) as error:
        read_annotations("tacos_tan", tmp_path)
    assert "val.json:s3.avi" in str(error.value)
    assert message in str(error.value)


# -------------------------------------------------------------------------------------------- TACoS TALL ("org")


def _tacos_org_files(tmp_path, train_lines):
    _write(tmp_path / "TACoS_train_samples.txt", "\n".join(train_lines) + "\n")
    _write(tmp_path / "TACoS_val_samples.txt", "s13-d25.avi_0_294:He waits.#\n")
    _write(tmp_path / "TACoS_test_samples.txt", "s13-d28.avi_0_294:He eats.#\n")


def test_tacos_org_one_record_per_sentence(tmp_path):
    _tacos_org_files(tmp_path, ["s13-d21.avi_294_588:The person takes out a knife.#He washes it.#"])
    frames = _write_json(
        tmp_path / "frames.json", {"s13-d21.avi": {"num_frames": 2940}, "s13-d25": {"num_frames": 294}}
    )
    seconds = _write_json(tmp_path / "seconds.json", {"s13-d28": {"duration": 12.5}})
    annotation_set = read_annotations("tacos_org", tmp_path, tacos_org_durations=[frames, seconds])
    first, second = annotation_set.splits["train"]
    assert [first.sentence, second.sentence] == ["The person takes out a knife.", "He washes it."]
    assert [first.qid, second.qid] == ["train:0", "train:1"]
    assert first.vid == "s13-d21"
    assert (first.start, first.end, first.duration) == (pytest.approx(10.0), pytest.approx(20.0), pytest.approx(100.0))
    assert first.source.endswith("TACoS_train_samples.txt:1")
    assert annotation_set.splits["val"][0].end == pytest.approx(10.0)
    assert annotation_set.splits["test"][0].duration == 12.5


def test_tacos_org_accepts_2dtan_files_as_durations(tmp_path):
    _tacos_org_files(tmp_path, ["s13-d21.avi_0_294:He cuts."])
    tan_entry = {"timestamps": [], "sentences": [], "fps": 29.4, "num_frames": 588}
    tan = _write_json(tmp_path / "train.json", {f"{vid}.avi": tan_entry for vid in ("s13-d21", "s13-d25", "s13-d28")})
    annotation_set = read_annotations("tacos_org", tmp_path, tacos_org_durations=tan)
    assert annotation_set.splits["train"][0].duration == pytest.approx(20.0)


def test_tacos_org_requires_durations(tmp_path):
    _tacos_org_files(tmp_path, ["s13-d21.avi_0_294:He cuts."])
    with pytest.raises(ValueError, match="tacos_org_durations"):
        read_annotations("tacos_org", tmp_path)


@pytest.mark.parametrize(
    "line, message",
    [
        ("s13-d21.avi_0_294 He cuts.", "expected 'VID.avi_STARTFRAME_ENDFRAME:sent1#sent2#'"),
        ("s13-d21.avi_294:He cuts.", "expected 'VID.avi_STARTFRAME_ENDFRAME:sent1#sent2#'"),
        ("s13-d21.avi_0_2.5:He cuts.", "frame numbers must be integers"),
        ("s99.avi_0_294:He cuts.", "video 's99' has no entry in tacos_org_durations"),
        ("s13-d21.avi_0_294:He cuts.##He eats.", "empty sentence"),
        ("s13-d21.avi_300_294:He cuts.", "reversed moment"),
    ],
)
def test_tacos_org_bad_line_names_file_and_line(tmp_path, line, message):
    _tacos_org_files(tmp_path, ["s13-d21.avi_0_294:He cuts.#", line])
    durations = _write_json(tmp_path / "d.json", {v: {"duration": 60.0} for v in ("s13-d21", "s13-d25", "s13-d28")})
    with pytest.raises(AnnotationError) as error:
        read_annotations("tacos_org", tmp_path, tacos_org_durations=durations)
    assert "TACoS_train_samples.txt:2: " in str(error.value)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "durations, message",
    [
        ({"s13-d21": 60.0}, "s13-d21: expected an object with 'duration' (seconds) or 'num_frames'"),
        ({"s13-d21": {"num_frames": 10, "fps": 0}}, "s13-d21: fps 0.0 must be > 0"),
        ({"s13-d21": {"duration": 60.0}, "s13-d21.avi": {"duration": 61.0}}, "contradicts 60.0"),
    ],
)
def test_tacos_org_bad_durations_file(tmp_path, durations, message):
    _tacos_org_files(tmp_path, ["s13-d21.avi_0_294:He cuts."])
    path = _write_json(tmp_path / "durations.json", durations)
    with pytest.raises(AnnotationError) as error:
        read_annotations("tacos_org", tmp_path, tacos_org_durations=path)
    assert "durations.json:" in str(error.value)
    assert message in str(error.value)


# ------------------------------------------------------------------------------------------------- JSON lines


def _jsonl(path, entries):
    return _write(path, "".join(json.dumps(entry) + "\n" for entry in entries))


def test_jsonl_windows_become_records(tmp_path):
    _jsonl(
        tmp_path / "train.jsonl",
        [
            {"qid": "q1", "vid": "v1", "duration": 40.0, "query": "A man runs.", "windows": [[-1.0, 5.0]]},
            {"qid": 7, "vid": "v1", "duration": 40.0, "query": "He stops.", "windows": [[5, 9], [30, 45]]},
        ],
    )
    _jsonl(tmp_path / "test.jsonl", [{"qid": "t1", "vid": "v2", "duration": 9, "query": "x.", "windows": [[1, 2]]}])
    annotation_set = read_annotations("jsonl", tmp_path)
    assert list(annotation_set.splits) == ["train", "test"]
    train = annotation_set.splits["train"]
    assert [r.qid for r in train] == ["q1", "7#0", "7#1"]
    assert [(r.start, r.end) for r in train] == [(0.0, 5.0), (5.0, 9.0), (30.0, 40.0)]
    assert train[2].source.endswith("train.jsonl:2")
    assert annotation_set.report["train"] == SplitReport(start_clamped=1, end_clamped=1)


@pytest.mark.parametrize(
    "entry, message",
    [
        ("{not json", "not valid JSON"),
        ({"qid": "b", "vid": "v1", "duration": 40.0, "query": "x."}, "missing 'windows'"),
        ({"qid": "b", "vid": "v1", "duration": 40.0, "query": "x.", "windows": []}, "'windows' must be a non-empty"),
        ({"qid": "a", "vid": "v1", "duration": 40.0, "query": "x.", "windows": [[0, 1]]}, "qid 'a' already used at"),
        ({"qid": "b", "vid": "v1", "duration": 41.0, "query": "x.", "windows": [[0, 1]]}, "has duration 41.0 here"),
        ({"qid": "b", "vid": "v1", "duration": 40.0, "query": "x.", "windows": [[0, -1]]}, "window 0: negative end"),
        ({"qid": None, "vid": "v1", "duration": 40.0, "query": "x.", "windows": [[0, 1]]}, "qid must be a string"),
    ],
)
def test_jsonl_bad_line_names_file_and_line(tmp_path, entry, message):
    good = {"qid": "a", "vid": "v1", "duration": 40.0, "query": "x.", "windows": [[0, 1]]}
    line = entry if isinstance(entry, str) else json.dumps(entry)
    _write(tmp_path / "val.jsonl", json.dumps(good) + "\n" + line + "\n")
    with pytest.raises(AnnotationError) as error:
        read_annotations("jsonl", tmp_path)
    assert "val.jsonl:2: " in str(error.value)
    assert message in str(error.value)


def test_jsonl_without_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.jsonl"):
        read_annotations("jsonl", tmp_path)


# ---------------------------------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "dataset, kwargs, message",
    [
        ("youcook", {}, "dataset must be one of"),
        ("charades", {"reversed_moments": "swap"}, "reversed_moments must be one of"),
        ("activitynet", {"anet_test_split": "test"}, "anet_test_split must be 'val_1' or 'val_2'"),
    ],
)
def test_invalid_arguments(tmp_path, dataset, kwargs, message):
    with pytest.raises(ValueError, match=message):
        read_annotations(dataset, tmp_path, **kwargs)
