"""Moment-retrieval metrics of VSLNet and LPNet: R@n at IoU θ and mIoU, overall and per video length (numpy only).

Definitions (VSLNet `util/runner_utils.py`, LPNet `utils/runner_utils.py`; specs vslnet.md §4.4, lpnet.md §11):

- **Temporal IoU** on seconds, for a predicted window `[s_p, e_p]` and a ground-truth window `[s_g, e_g]`:
  `IoU = max(0, (min(e_p, e_g) - max(s_p, s_g)) / (max(e_p, e_g) - min(s_p, s_g)))`.
  When the union `max(e_p, e_g) - min(s_p, s_g)` is 0 (both windows are the same single point) the IoU is 0,
  as in the label code's `max(union, 1e-12)` (vslnet.md §2.5); no case divides by zero or yields NaN. A reversed
  window (`s > e`) always gets IoU 0, because its intersection is negative.
- **R@n, IoU=θ** = 100 · fraction of queries for which at least one of the first `n` predicted windows has
  **IoU >= θ** (">=", as the original code; the VSLNet paper writes "larger than"). Comparisons are in float64
  with no tolerance, as the originals. A query with fewer than `n` predictions is scored on those it has.
  n ∈ {1, 5}, θ ∈ {0.3, 0.5, 0.7}.
- **mIoU** = 100 · mean IoU of the first (top-1) predicted window.

All values are percentages. Every ground-truth query must have a prediction and every prediction must have a
ground truth: query ids are matched by exact equality of the Python values (no conversion, so `17` and `"17"`
differ), like moment_detr's `eval_submission(match_number=True)`, and a mismatch raises `QueryIdMismatchError`.

**Per-video-length buckets** (VSLNet Tables 5-7) are right-closed, `(lo, hi]` in minutes, as moment_detr's
`(min_l, max_l]`; the first bucket is `(0, 2]` and the last is open-ended (`>12min` is `(12, inf)`). On the real
annotations this reproduces every ActivityNet Captions and TACoS_tan count of Table 5, while `[lo, hi)` moves the
videos of exactly 120.0 s (6 train / 4 test ANet videos) into the wrong bucket.

Standalone use (the model is not built; only the two JSON-lines files are read):

    python -m common.evaluation.metrics --predictions=PRED.jsonl --ground_truth=GT.jsonl [--by_length]
        [--length_buckets=table5|table7] [--output=metrics.json]

| file | field | type | meaning |
|---|---|---|---|
| predictions | `qid` | str or int | query id, matched exactly against the ground truth |
| predictions | `pred_windows` | list of `[start, end]` or `[start, end, score]` | seconds, best first; a score is
ignored |
| ground truth | `qid` | str or int | query id, unique in the file |
| ground truth | `start`, `end` | float | moment in seconds (already clamped to `[0, duration]`) |
| ground truth | `duration` | float | video duration in seconds, > 0 (used for the length buckets) |

Example lines: `{"qid": "test:0", "pred_windows": [[2.0, 9.5], [0.0, 4.1, 0.3]]}` and
`{"qid": "test:0", "start": 1.9, "end": 9.0, "duration": 30.2}`.
"""

import dataclasses
import itertools
import json
import math

import numpy as np
from absl import app, flags

IOU_THRESHOLDS = (0.3, 0.5, 0.7)
RANKS = (1, 5)
METRIC_KEYS = ("r1_iou03", "r1_iou05", "r1_iou07", "miou", "r5_iou03", "r5_iou05", "r5_iou07")


class QueryIdMismatchError(ValueError):
    """The predictions and the ground truth do not cover the same query ids."""


@dataclasses.dataclass(frozen=True)
class LengthBucket:
    """A video-length bucket `(low_seconds, high_seconds]`, labelled as in the VSLNet tables (e.g. `"2-4min"`)."""

    label: str
    low_seconds: float
    high_seconds: float


def _minute_buckets(edges_minutes):
    edges = (0,) + tuple(edges_minutes)
    buckets = [LengthBucket(f"{lo}-{hi}min", 60.0 * lo, 60.0 * hi) for lo, hi in itertools.pairwise(edges)]
    return tuple(buckets) + (LengthBucket(f">{edges[-1]}min", 60.0 * edges[-1], math.inf),)


# Table 5 (statistics of TACoS_org, TACoS_tan and ANetCap) and Table 6 (TACoS) share seven buckets; Table 7
# (ANetCap mIoU) merges everything above 4 minutes.
LENGTH_BUCKETS = {
    "table5": _minute_buckets((2, 4, 6, 8, 10, 12)),
    "table6": _minute_buckets((2, 4, 6, 8, 10, 12)),
    "table7": _minute_buckets((2, 4)),
}


def temporal_iou(pred, gt):
    """Temporal IoU of windows in seconds, broadcasting over leading axes (formula in the module docstring).

    Args:
        pred: float array-like `(..., 2)`, predicted `[start, end]`.
        gt: float array-like `(..., 2)`, ground-truth `[start, end]`, broadcastable against `pred`.

    Returns:
        float64 array of the broadcast leading shape, in `[0, 1]`; 0 where the union is 0.

    Example:
    >>> float(temporal_iou([2.0, 6.0], [4.0, 8.0]))
    0.3333333333333333
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape[-1:] != (2,) or gt.shape[-1:] != (2,):
        raise ValueError(f"windows must have a last axis of size 2; got {pred.shape} and {gt.shape}")
    inter = np.minimum(pred[..., 1], gt[..., 1]) - np.maximum(pred[..., 0], gt[..., 0])
    union = np.maximum(pred[..., 1], gt[..., 1]) - np.minimum(pred[..., 0], gt[..., 0])
    positive = union > 0
    iou = np.where(positive, inter / np.where(positive, union, 1.0), 0.0)
    return np.maximum(iou, 0.0)


def _as_windows(qid, windows):
    """One query's predictions as float64 `(K, 2)`, K >= 1; a single `(start, end)` becomes K = 1."""
    try:
        array = np.asarray(windows, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"predictions of query {qid!r} are not a list of equal-length windows: {windows!r}") from None
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] not in (2, 3):
        raise ValueError(
            f"predictions of query {qid!r} must be (start, end) or a non-empty list of [start, end(, score)]; "
            f"got shape {array.shape}"
        )
    if not np.all(np.isfinite(array[:, :2])):
        raise ValueError(f"predictions of query {qid!r} hold NaN/Inf: {array[:, :2].tolist()}")
    return array[:, :2]


def _check_qids(predictions, ground_truth):
    missing = [qid for qid in ground_truth if qid not in predictions]
    unknown = [qid for qid in predictions if qid not in ground_truth]
    problems = []
    if missing:
        problems.append(f"{len(missing)} ground-truth queries have no prediction (e.g. {missing[:5]})")
    if unknown:
        problems.append(f"{len(unknown)} predicted queries are not in the ground truth (e.g. {unknown[:5]})")
    if problems:
        raise QueryIdMismatchError(
            "; ".join(problems) + f"; {len(ground_truth)} ground-truth and {len(predictions)} predicted queries"
        )


def _ground_truth_array(ground_truth, qids):
    """`(Q, 3)` float64 `[start, end, duration]` in `qids` order, validated."""
    array = np.asarray([tuple(ground_truth[qid]) for qid in qids], dtype=np.float64).reshape(len(qids), -1)
    if array.shape[1] != 3:
        raise ValueError(f"ground truth must be (start, end, duration) per query; got {array.shape[1]} values")
    bad = ~np.isfinite(array).all(axis=1) | (array[:, 2] <= 0) | (array[:, 0] > array[:, 1])
    if bad.any():
        qid = qids[int(np.argmax(bad))]
        raise ValueError(
            f"{int(bad.sum())} ground-truth entries are invalid (need finite start <= end and duration > 0), "
            f"e.g. {qid!r}: {tuple(ground_truth[qid])}"
        )
    return array


def _scores(iou, valid):
    """Metric dict from IoUs `(Q, K)` (rank order) and the mask `(Q, K)` of real predictions."""
    iou = np.where(valid, iou, -1.0)  # padded ranks can never reach a threshold
    metrics = {}
    for n in RANKS:
        for threshold in IOU_THRESHOLDS:
            hits = (iou[:, :n] >= threshold).any(axis=1)
            metrics[f"r{n}_iou{round(threshold * 10):02d}"] = 100.0 * float(hits.mean())
        if n == 1:
            metrics["miou"] = 100.0 * float(iou[:, 0].mean())
    return {key: metrics[key] for key in METRIC_KEYS}


def _iou_table(predictions, ground_truth):
    """IoUs `(Q, K)`, validity mask `(Q, K)` and ground truth `(Q, 3)`, queries in ground-truth order."""
    _check_qids(predictions, ground_truth)
    qids = list(ground_truth)
    if not qids:
        raise ValueError("the ground truth is empty; there is nothing to evaluate")
    gt = _ground_truth_array(ground_truth, qids)
    windows = [_as_windows(qid, predictions[qid]) for qid in qids]
    max_k = min(max(len(w) for w in windows), max(RANKS))
    padded = np.zeros((len(qids), max_k, 2))
    valid = np.zeros((len(qids), max_k), dtype=bool)
    for row, w in enumerate(windows):
        k = min(len(w), max_k)
        padded[row, :k] = w[:k]
        valid[row, :k] = True
    return temporal_iou(padded, gt[:, None, :2]), valid, gt


def evaluate_predictions(predictions, ground_truth):
    """Scores ranked predictions against the ground truth (definitions in the module docstring).

    Args:
        predictions: mapping qid → one `(start, end)` or a ranked, non-empty sequence of `(start, end)` or
            `(start, end, score)` windows in seconds, best first. Only the first 5 are used.
        ground_truth: mapping qid → `(start, end, duration)` in seconds.

    Returns:
        dict with the percentages `r1_iou03`, `r1_iou05`, `r1_iou07`, `miou`, `r5_iou03`, `r5_iou05`, `r5_iou07`
        (floats) and `count`, the number of queries scored (int; always `len(ground_truth)`).

    Raises:
        QueryIdMismatchError: a ground-truth query has no prediction, or a predicted query has no ground truth.
        ValueError: empty input, malformed or non-finite windows, or ground truth with start > end or duration <= 0.

    Example:
    >>> evaluate_predictions({"a": (0.0, 5.0)}, {"a": (0.0, 10.0, 30.0)})["r1_iou05"]
    100.0
    """
    iou, valid, _ = _iou_table(predictions, ground_truth)
    return {**_scores(iou, valid), "count": int(iou.shape[0])}


def assign_length_buckets(durations, buckets):
    """Index of the `(low, high]` bucket holding each duration.

    Args:
        durations: float array-like `(Q,)`, seconds, > 0.
        buckets: consecutive `LengthBucket`s covering `(0, inf)`, e.g. `LENGTH_BUCKETS["table5"]`.

    Returns:
        int64 array `(Q,)` of indices into `buckets`.
    """
    upper = np.asarray([bucket.high_seconds for bucket in buckets[:-1]], dtype=np.float64)
    return np.searchsorted(upper, np.asarray(durations, dtype=np.float64), side="left")


def evaluate_by_length(predictions, ground_truth, buckets=LENGTH_BUCKETS["table5"]):
    """`evaluate_predictions` per video-length bucket (right-closed `(lo, hi]`, see the module docstring).

    Args:
        predictions, ground_truth: as in `evaluate_predictions`; the duration of the ground truth picks the bucket.
        buckets: a tuple of `LengthBucket`s, e.g. `LENGTH_BUCKETS["table5"]` (7 buckets) or `["table7"]` (3).

    Returns:
        dict label → metric dict with `count`, in bucket order. An empty bucket has `count` 0 and every
        metric `None` (JSON `null`).

    Raises:
        As `evaluate_predictions`; the id check covers all queries, not each bucket.
    """
    iou, valid, gt = _iou_table(predictions, ground_truth)
    index = assign_length_buckets(gt[:, 2], buckets)
    results = {}
    for position, bucket in enumerate(buckets):
        rows = index == position
        metrics = _scores(iou[rows], valid[rows]) if rows.any() else dict.fromkeys(METRIC_KEYS)
        results[bucket.label] = {**metrics, "count": int(rows.sum())}
    return results


def _read_jsonl(path, required):
    """`{qid: record}` from a JSON-lines file; errors name `path:line`."""
    records = {}
    with open(path) as f:
        for line_number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{where}: not valid JSON ({error})") from None
            if not isinstance(record, dict) or any(key not in record for key in required):
                raise ValueError(f"{where}: each line must be an object with the fields {list(required)}")
            if record["qid"] in records:
                raise ValueError(f"{where}: query id {record['qid']!r} appears twice")
            records[record["qid"]] = record
    return records


def read_predictions_jsonl(path):
    """Reads `{"qid", "pred_windows"}` lines into `{qid: [[start, end(, score)], ...]}` (best first)."""
    return {qid: record["pred_windows"] for qid, record in _read_jsonl(path, ("qid", "pred_windows")).items()}


def read_ground_truth_jsonl(path):
    """Reads `{"qid", "start", "end", "duration"}` lines into `{qid: (start, end, duration)}`."""
    records = _read_jsonl(path, ("qid", "start", "end", "duration"))
    return {qid: (r["start"], r["end"], r["duration"]) for qid, r in records.items()}


def format_table(rows):
    """A fixed-width text table of `{row_label: metric dict with count}`; `None` values print as `-`."""
    header = f"{'':>10} {'count':>7} " + " ".join(f"{key:>9}" for key in METRIC_KEYS)
    lines = [header]
    for label, metrics in rows.items():
        values = " ".join("        -" if metrics[key] is None else f"{metrics[key]:9.2f}" for key in METRIC_KEYS)
        lines.append(f"{label:>10} {metrics['count']:>7d} {values}")
    return "\n".join(lines)


def define_flags():
    """Flags of the standalone evaluator; defined only when this module runs as `__main__`."""
    flags.DEFINE_string("predictions", None, "JSON-lines file of {qid, pred_windows}.", required=True)
    flags.DEFINE_string("ground_truth", None, "JSON-lines file of {qid, start, end, duration}.", required=True)
    flags.DEFINE_bool("by_length", False, "Also report the metrics per video-length bucket.")
    flags.DEFINE_enum("length_buckets", "table5", sorted(LENGTH_BUCKETS), "Buckets of VSLNet Table 5/6 or 7.")
    flags.DEFINE_string("output", None, "Optional JSON file to write the metrics to.")


def main(argv):
    del argv  # unused
    config = flags.FLAGS
    predictions = read_predictions_jsonl(config.predictions)
    ground_truth = read_ground_truth_jsonl(config.ground_truth)
    results = {"overall": evaluate_predictions(predictions, ground_truth)}
    if config.by_length:
        results["by_length"] = evaluate_by_length(predictions, ground_truth, LENGTH_BUCKETS[config.length_buckets])
    print(format_table({"overall": results["overall"], **results.get("by_length", {})}))
    if config.output:
        with open(config.output, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    define_flags()
    app.run(main)
