"""Dataset statistics, the columns of VSLNet's Table 1, per split and overall.

    python -m experiments.data_stats --dataset=charades --annotation_dir=data/charades [--json]
    python -m experiments.data_stats --dataset=activitynet --annotation_dir=data/activitynet \
        --reversed_moments=keep --overall_splits=train,test

Definitions, chosen so that the numbers are those of the authors' scripts (`statistic/stat_*.py` of the VSLNet
repository, commit bf63659):
- videos: distinct video ids; queries: records.
- mean video length (s): over distinct videos, each counted once (not once per query).
- mean query length (tokens): over queries, tokens from `common.data.tokenization.tokenize`.
- moment length (s): `end - start` per query, on the raw annotation times (what Table 1 reports) and on the
  clamped times the models train on; std is the population std (`numpy.std`, ddof=0).
- vocabulary: distinct tokens (tokens are lower-cased).
- overall: the union of `overall_splits` (default: every split read). Table 1 pools train+test for ActivityNet
  (`val_2` is not part of it) and train+val+test for TACoS.
"""

import json

import numpy as np
from absl import flags

from common.data import annotations
from common.data.tokenization import tokenize
from experiments import flag_help

_COLUMNS = (
    ("videos", "videos", "{:d}"),
    ("queries", "queries", "{:d}"),
    ("mean_video_length_s", "video s", "{:.2f}"),
    ("mean_query_length_tokens", "query tok", "{:.2f}"),
    ("mean_moment_length_s", "moment s", "{:.2f}"),
    ("std_moment_length_s", "std s", "{:.2f}"),
    ("mean_moment_length_s_clamped", "moment s clamped", "{:.2f}"),
    ("std_moment_length_s_clamped", "std s clamped", "{:.2f}"),
    ("vocabulary_size", "vocab", "{:d}"),
    ("start_clamped", "start clamped", "{:d}"),
    ("end_clamped", "end clamped", "{:d}"),
)


def _group_statistics(records, tokens, reports):
    durations = {record.vid: record.duration for record in records}
    raw_lengths = np.array([record.raw_end - record.raw_start for record in records], dtype=np.float64)
    clamped_lengths = np.array([record.end - record.start for record in records], dtype=np.float64)
    query_lengths = [len(tokens[record.qid]) for record in records]
    return {
        "videos": len(durations),
        "queries": len(records),
        "mean_video_length_s": float(np.mean(list(durations.values()))),
        "mean_query_length_tokens": float(np.mean(query_lengths)),
        "mean_moment_length_s": float(np.mean(raw_lengths)),
        "std_moment_length_s": float(np.std(raw_lengths)),
        "mean_moment_length_s_clamped": float(np.mean(clamped_lengths)),
        "std_moment_length_s_clamped": float(np.std(clamped_lengths)),
        "vocabulary_size": len({token for record in records for token in tokens[record.qid]}),
        "start_clamped": sum(report.start_clamped for report in reports),
        "end_clamped": sum(report.end_clamped for report in reports),
    }


def compute_statistics(annotation_set, overall_splits=None):
    """Computes Table 1's columns for each split and for the union of `overall_splits`.

    Args:
        annotation_set: `common.data.annotations.AnnotationSet`; no split may be empty.
        overall_splits: splits pooled into `"overall"`. Defaults to all splits of `annotation_set`.

    Returns:
        `{"dataset": str, "splits": {split: stats}, "overall": stats, "overall_splits": [split, ...]}`, where
        `stats` maps each key of the module docstring's definitions (`videos`, `queries`, `mean_video_length_s`,
        `mean_query_length_tokens`, `mean_moment_length_s`, `std_moment_length_s`,
        `mean_moment_length_s_clamped`, `std_moment_length_s_clamped`, `vocabulary_size`, `start_clamped`,
        `end_clamped`) to a number.
    """
    overall_splits = list(annotation_set.splits if overall_splits is None else overall_splits)
    unknown = [split for split in overall_splits if split not in annotation_set.splits]
    if unknown or not overall_splits:
        raise ValueError(f"overall_splits {overall_splits} must be a non-empty subset of {list(annotation_set.splits)}")
    empty = [split for split, records in annotation_set.splits.items() if not records]
    if empty:
        raise ValueError(f"split(s) {empty} of {annotation_set.dataset} have no query")
    tokens = {record.qid: tokenize(record.sentence) for records in annotation_set.splits.values() for record in records}
    return {
        "dataset": annotation_set.dataset,
        "splits": {
            split: _group_statistics(records, tokens, [annotation_set.report[split]])
            for split, records in annotation_set.splits.items()
        },
        "overall": _group_statistics(
            [record for split in overall_splits for record in annotation_set.splits[split]],
            tokens,
            [annotation_set.report[split] for split in overall_splits],
        ),
        "overall_splits": overall_splits,
    }


def format_statistics(statistics):
    """Renders `compute_statistics`'s result as a text table, one row per split and one `overall` row."""
    rows = [(split, stats) for split, stats in statistics["splits"].items()]
    rows.append(("overall (" + "+".join(statistics["overall_splits"]) + ")", statistics["overall"]))
    header = ["split"] + [title for _, title, _ in _COLUMNS]
    cells = [[name] + [fmt.format(stats[key]) for key, _, fmt in _COLUMNS] for name, stats in rows]
    widths = [max(len(row[i]) for row in [header] + cells) for i in range(len(header))]
    lines = [f"dataset: {statistics['dataset']}"]
    for name, *values in [header] + cells:
        lines.append("  ".join([name.ljust(widths[0])] + [v.rjust(w) for v, w in zip(values, widths[1:])]))
    return "\n".join(lines)


def define_flags():
    flags.DEFINE_enum("dataset", None, annotations.DATASETS, "Annotation format.")
    flags.DEFINE_string("annotation_dir", None, "Folder holding the dataset's annotation files.")
    flags.DEFINE_bool("json", False, "Print one JSON object instead of a table.")
    flags.DEFINE_enum("anet_test_split", "val_1", ["val_1", "val_2"], "ActivityNet file used as the test split.")
    flags.DEFINE_list(
        "tacos_org_durations", None, "tacos_org: JSON file(s) mapping video id to {duration} or {num_frames}."
    )
    flags.DEFINE_enum(
        "reversed_moments",
        "error",
        annotations.REVERSED_MOMENT_POLICIES,
        "What to do with a moment whose start exceeds its end: error, keep (as the originals) or skip.",
    )
    flags.DEFINE_list("overall_splits", None, "Splits pooled into the overall row; default: all splits.")
    flags.mark_flags_as_required(["dataset", "annotation_dir"])


#: The headings of `--help` (`experiments.flag_help`).
HELP_GROUPS = (
    ("data", ("dataset", "annotation_dir", "anet_test_split", "tacos_org_durations", "reversed_moments")),
    ("output", ("overall_splits", "json")),
)


def main(argv):
    del argv  # Unused.
    params = flags.FLAGS
    annotation_set = annotations.read_annotations(
        params.dataset,
        params.annotation_dir,
        anet_test_split=params.anet_test_split,
        tacos_org_durations=params.tacos_org_durations,
        reversed_moments=params.reversed_moments,
    )
    statistics = compute_statistics(annotation_set, params.overall_splits)
    print(json.dumps(statistics) if params.json else format_statistics(statistics))


if __name__ == "__main__":
    define_flags()
    flag_help.run(main, HELP_GROUPS)
