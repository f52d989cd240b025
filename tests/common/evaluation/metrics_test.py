"""Tests of common/evaluation/metrics.py on hand-computed cases."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from common.evaluation import metrics

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "pred, gt, expected",
    [
        ((2.0, 6.0), (4.0, 8.0), 2.0 / 6.0),  # partial overlap: inter 2, union 6
        ((3.0, 5.0), (0.0, 10.0), 0.2),  # prediction inside the ground truth
        ((0.0, 10.0), (3.0, 5.0), 0.2),  # ground truth inside the prediction
        ((0.0, 2.0), (5.0, 8.0), 0.0),  # disjoint: negative intersection clipped to 0
        ((0.0, 5.0), (5.0, 8.0), 0.0),  # touching at one point
        ((1.5, 4.0), (1.5, 4.0), 1.0),  # identical
        ((3.0, 3.0), (3.0, 3.0), 0.0),  # zero union: defined as 0, never NaN
        ((3.0, 3.0), (0.0, 10.0), 0.0),  # zero-length prediction
        ((6.0, 2.0), (0.0, 10.0), 0.0),  # reversed window
    ],
)
def test_temporal_iou_cases(pred, gt, expected):
    assert float(metrics.temporal_iou(pred, gt)) == pytest.approx(expected, abs=1e-12)


def test_temporal_iou_broadcasts():
    pred = np.array([[[0.0, 5.0], [2.0, 6.0]], [[0.0, 1.0], [9.0, 9.0]]])  # (Q=2, K=2, 2)
    gt = np.array([[0.0, 10.0], [4.0, 8.0]])[:, None]  # (Q=2, 1, 2)
    iou = metrics.temporal_iou(pred, gt)
    assert iou.shape == (2, 2)
    np.testing.assert_allclose(iou, [[0.5, 0.4], [0.0, 0.0]])
    assert not np.isnan(iou).any()


def test_temporal_iou_rejects_bad_shape():
    with pytest.raises(ValueError, match="last axis of size 2"):
        metrics.temporal_iou([1.0, 2.0, 3.0], [0.0, 1.0])


def test_thresholds_are_inclusive():
    # IoUs 0.3, 0.5, 0.7 exactly and 0.29, against the ground truth [0, 10].
    ground_truth = dict.fromkeys("abcd", (0.0, 10.0, 30.0))
    predictions = {"a": (0.0, 3.0), "b": (0.0, 5.0), "c": (0.0, 7.0), "d": (0.0, 2.9)}
    result = metrics.evaluate_predictions(predictions, ground_truth)
    assert result["r1_iou03"] == 75.0
    assert result["r1_iou05"] == 50.0
    assert result["r1_iou07"] == 25.0
    assert result["miou"] == pytest.approx(100 * (0.3 + 0.5 + 0.7 + 0.29) / 4)
    assert result["count"] == 4
    assert list(result) == list(metrics.METRIC_KEYS) + ["count"]


def test_recall_at_5():
    ground_truth = dict.fromkeys("abc", (0.0, 10.0, 60.0))
    far, hit = (20.0, 30.0), (0.0, 8.0)  # IoU 0 and 0.8
    predictions = {
        "a": [far, far, hit],  # hit at rank 3, fewer than 5 predictions: scored on the 3 it has
        "b": [far, far, far, far, far, hit],  # hit at rank 6: outside the top 5
        "c": [hit],  # a single prediction
    }
    result = metrics.evaluate_predictions(predictions, ground_truth)
    assert result["r1_iou07"] == pytest.approx(100 / 3)
    assert result["r5_iou03"] == result["r5_iou05"] == result["r5_iou07"] == pytest.approx(200 / 3)
    assert result["miou"] == pytest.approx(80 / 3)


def test_prediction_forms_are_equivalent():
    ground_truth = {"a": (1.0, 4.0, 30.0)}
    forms = [(0.0, 4.0), [(0.0, 4.0)], [[0.0, 4.0, 0.9]], np.array([[0.0, 4.0], [9.0, 12.0]])]
    results = [metrics.evaluate_predictions({"a": form}, ground_truth) for form in forms]
    assert all(result == results[0] for result in results)
    assert results[0]["miou"] == pytest.approx(75.0)


def test_missing_queries_raise_with_count_and_examples():
    ground_truth = {f"q{i}": (0.0, 1.0, 10.0) for i in range(10)}
    predictions = {"q0": (0.0, 1.0)}
    with pytest.raises(metrics.QueryIdMismatchError, match=r"9 ground-truth queries have no prediction.*'q1'"):
        metrics.evaluate_predictions(predictions, ground_truth)


def test_unknown_queries_raise():
    ground_truth = {"a": (0.0, 1.0, 10.0)}
    with pytest.raises(metrics.QueryIdMismatchError, match=r"1 predicted queries are not in the ground truth.*'z'"):
        metrics.evaluate_predictions({"a": (0.0, 1.0), "z": (0.0, 1.0)}, ground_truth)


def test_query_ids_match_exactly():
    with pytest.raises(metrics.QueryIdMismatchError):
        metrics.evaluate_predictions({17: (0.0, 1.0)}, {"17": (0.0, 1.0, 10.0)})


@pytest.mark.parametrize(
    "predictions, ground_truth, message",
    [
        ({"a": []}, {"a": (0.0, 1.0, 10.0)}, "non-empty"),
        ({"a": (0.0, float("nan"))}, {"a": (0.0, 1.0, 10.0)}, "NaN"),
        ({"a": [(0.0, 1.0), (0.0, 1.0, 2.0, 3.0)]}, {"a": (0.0, 1.0, 10.0)}, "equal-length"),
        ({"a": (0.0, 1.0)}, {"a": (2.0, 1.0, 10.0)}, "start <= end"),
        ({"a": (0.0, 1.0)}, {"a": (0.0, 1.0, 0.0)}, "duration > 0"),
        ({}, {}, "empty"),
    ],
)
def test_invalid_inputs_raise(predictions, ground_truth, message):
    with pytest.raises(ValueError, match=message):
        metrics.evaluate_predictions(predictions, ground_truth)


def test_length_buckets_are_right_closed():
    buckets = metrics.LENGTH_BUCKETS["table5"]
    durations = [0.5, 120.0, 120.01, 240.0, 719.99, 720.0, 720.01, 5000.0]
    labels = [buckets[i].label for i in metrics.assign_length_buckets(durations, buckets)]
    assert labels == ["0-2min", "0-2min", "2-4min", "2-4min", "10-12min", "10-12min", ">12min", ">12min"]
    table7 = metrics.LENGTH_BUCKETS["table7"]
    assert [b.label for b in table7] == ["0-2min", "2-4min", ">4min"]
    assert [table7[i].label for i in metrics.assign_length_buckets([240.0, 240.5], table7)] == ["2-4min", ">4min"]


def test_evaluate_by_length():
    ground_truth = {"short": (0.0, 10.0, 120.0), "mid": (0.0, 10.0, 121.0), "long": (0.0, 10.0, 800.0)}
    predictions = {"short": (0.0, 5.0), "mid": (0.0, 10.0), "long": (50.0, 60.0)}
    result = metrics.evaluate_by_length(predictions, ground_truth)
    assert list(result) == [b.label for b in metrics.LENGTH_BUCKETS["table5"]]
    assert result["0-2min"]["miou"] == 50.0 and result["0-2min"]["count"] == 1
    assert result["2-4min"]["r1_iou07"] == 100.0 and result["2-4min"]["count"] == 1
    assert result[">12min"]["miou"] == 0.0 and result[">12min"]["count"] == 1
    assert result["4-6min"] == {**dict.fromkeys(metrics.METRIC_KEYS), "count": 0}
    assert sum(bucket["count"] for bucket in result.values()) == 3
    with pytest.raises(metrics.QueryIdMismatchError):
        metrics.evaluate_by_length({"short": (0.0, 5.0)}, ground_truth)


def test_bucket_labels_match_paper_tables(shared_dir):
    tables = json.loads((shared_dir / "specs" / "vslnet_paper_tables.json").read_text())
    for name in ("table5", "table6", "table7"):
        labels = list(dict.fromkeys(row["video_length"] for row in tables[name]["rows"]))
        assert labels == [bucket.label for bucket in metrics.LENGTH_BUCKETS[name]]


def test_buckets_reproduce_table5_activitynet_test_counts(shared_dir):
    annotations = json.loads((shared_dir / "real_annotations" / "activitynet" / "val_1.json").read_text())
    durations = [video["duration"] for video in annotations.values() for _ in video["timestamps"]]
    buckets = metrics.LENGTH_BUCKETS["table5"]
    counts = np.bincount(metrics.assign_length_buckets(durations, buckets), minlength=len(buckets))
    tables = json.loads((shared_dir / "specs" / "vslnet_paper_tables.json").read_text())
    expected = [r["annotations"] for r in tables["table5"]["rows"] if (r["dataset"], r["split"]) == ("ANetCap", "test")]
    assert counts.tolist() == expected


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_jsonl_readers(tmp_path):
    predictions = _write_jsonl(
        tmp_path / "p.jsonl", [{"qid": "a", "pred_windows": [[1.0, 2.0, 0.5]]}, {"qid": 3, "pred_windows": [[0, 1]]}]
    )
    truth = _write_jsonl(tmp_path / "g.jsonl", [{"qid": "a", "start": 1.0, "end": 2.0, "duration": 9.0}])
    assert metrics.read_predictions_jsonl(predictions) == {"a": [[1.0, 2.0, 0.5]], 3: [[0, 1]]}
    assert metrics.read_ground_truth_jsonl(truth) == {"a": (1.0, 2.0, 9.0)}
    duplicate = _write_jsonl(tmp_path / "d.jsonl", [{"qid": "a", "pred_windows": []}] * 2)
    with pytest.raises(ValueError, match=r"d\.jsonl:2: query id 'a' appears twice"):
        metrics.read_predictions_jsonl(duplicate)
    missing_field = _write_jsonl(tmp_path / "m.jsonl", [{"qid": "a", "start": 1.0, "end": 2.0}])
    with pytest.raises(ValueError, match=r"m\.jsonl:1: .*duration"):
        metrics.read_ground_truth_jsonl(missing_field)
    (tmp_path / "bad.jsonl").write_text("\n{not json\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not valid JSON"):
        metrics.read_predictions_jsonl(tmp_path / "bad.jsonl")


def test_command_line(tmp_path):
    predictions = _write_jsonl(
        tmp_path / "pred.jsonl",
        [{"qid": "a", "pred_windows": [[0.0, 5.0], [0.0, 10.0]]}, {"qid": "b", "pred_windows": [[0.0, 10.0]]}],
    )
    truth = _write_jsonl(
        tmp_path / "gt.jsonl",
        [
            {"qid": "a", "start": 0.0, "end": 10.0, "duration": 60.0},
            {"qid": "b", "start": 0.0, "end": 10.0, "duration": 300.0},
        ],
    )
    output = tmp_path / "metrics.json"
    command = [
        sys.executable,
        "-m",
        "common.evaluation.metrics",
        f"--predictions={predictions}",
        f"--ground_truth={truth}",
        "--by_length",
        "--length_buckets=table7",
        f"--output={output}",
    ]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    assert ">4min" in completed.stdout and "overall" in completed.stdout
    result = json.loads(output.read_text())
    assert result["overall"]["r1_iou05"] == 100.0 and result["overall"]["r1_iou07"] == 50.0
    assert result["overall"]["r5_iou07"] == 100.0 and result["overall"]["count"] == 2
    assert result["by_length"]["0-2min"]["miou"] == 50.0
    assert result["by_length"][">4min"]["miou"] == 100.0
    assert result["by_length"]["2-4min"]["count"] == 0

    truth_extra = _write_jsonl(tmp_path / "gt2.jsonl", [{"qid": "c", "start": 0.0, "end": 1.0, "duration": 5.0}])
    command[4] = f"--ground_truth={truth_extra}"
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert completed.returncode != 0
    assert "no prediction" in completed.stderr
