"""Evaluate a run directory: `python -m experiments.evaluate --run_dir=RUN [--split=test] [--by_length=table5]`.

Rebuilds the model from the run (`common.export.run_loader.load_run`: `best/` if present, else the latest
checkpoint), predicts every query of the split in file order and prints R@1/R@5 at IoU 0.3/0.5/0.7 and mIoU (percent,
hit = IoU >= θ), optionally per video-length bucket (VSLNet Tables 5–7). Writes `RUN/eval_{split}.json`.
"""

import json
import os
import sys

from absl import app, flags

from common.data import dataset as dataset_lib
from common.evaluation import metrics as metrics_lib
from common.training import run_loader
from common.training import trainer as trainer_lib
from experiments import flag_help


def define_flags(flag_values=flags.FLAGS):
    flags.DEFINE_string("run_dir", None, "Run directory.", flag_values=flag_values)
    flags.DEFINE_string("split", "test", "Split to evaluate (test, val or train).", flag_values=flag_values)
    flags.DEFINE_string("checkpoint", None, "Checkpoint instead of the run's selected one.", flag_values=flag_values)
    flags.DEFINE_enum(
        "by_length", None, ["table5", "table7"], "Also report per video-length bucket.", flag_values=flag_values
    )
    flags.DEFINE_string(
        "processed_dir",
        None,
        "Processed dataset to evaluate on instead of the run's own (e.g. for "
        "a run imported from a TF1 checkpoint; its vocabulary must be the one the model was trained "
        "with).",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "batch_size", 16, "Evaluation batch size (the originals use 16; padding is per batch).", flag_values=flag_values
    )


#: The headings of `--help` (`experiments.flag_help`).
HELP_GROUPS = (
    ("run", ("run_dir", "checkpoint")),
    ("evaluation", ("split", "processed_dir", "batch_size", "by_length")),
)


def run(flag_values):
    """Evaluate as the flags say; returns the result dict written to `eval_{split}.json`."""
    if not flag_values.run_dir:
        raise app.UsageError("--run_dir is required")
    loaded = run_loader.load_run(flag_values.run_dir, checkpoint=flag_values.checkpoint)
    processed_dir = flag_values.processed_dir or run_loader.resolve_run_path(
        loaded.run_config["data"]["processed_dir"], flag_values.run_dir
    )
    if not os.path.exists(os.path.join(processed_dir, "meta.json")):
        raise FileNotFoundError(
            f"{processed_dir} holds no processed dataset to evaluate on; pass --processed_dir "
            "(experiments.train builds one in RUN_DIR/data)"
        )
    processed = dataset_lib.load_processed(processed_dir)
    embedding = getattr(getattr(loaded.model, "backbone", None), "word_embedding", None)  # a family may read no words
    if embedding is not None and processed.word_vectors.shape[0] + 2 != embedding.vocabulary_size:
        raise ValueError(
            f"{processed_dir} has {processed.word_vectors.shape[0] + 2} word ids but the model was built "
            f"with {embedding.vocabulary_size}: the vocabularies differ"
        )
    if flag_values.split not in processed.splits:
        raise ValueError(f"split {flag_values.split!r} not in {sorted(processed.splits)}")
    examples = processed.splits[flag_values.split]
    strategy = trainer_lib.distribute.get_strategy("default")
    predict_fn = trainer_lib.make_predict_fn(loaded.task, loaded.model, strategy)
    predictions = trainer_lib.predict_split(
        predict_fn,
        examples,
        processed.open_features(),
        batch_size=flag_values.batch_size,
        max_pos_len=loaded.max_pos_len,
        feature_dim=loaded.feature_dim,
        extend=loaded.config.extend,
        label_rule=trainer_lib.processed_label_rule(processed),
        prediction_strategies=loaded.task.prediction_strategies,
        progress_label=f"evaluating the {flag_values.split} split",
    )
    strategies = loaded.task.prediction_strategies
    result = {
        "checkpoint": loaded.checkpoint,
        "split": flag_values.split,
        "metrics": trainer_lib.score_predictions(predictions, examples, strategies),
    }
    named = result["metrics"].get("strategies", {None: result["metrics"]})
    print(metrics_lib.format_table({_row_name(flag_values.split, name): m for name, m in named.items()}))
    if flag_values.by_length:
        ground_truth = {ex["qid"]: (ex["start_time"], ex["end_time"], ex["duration"]) for ex in examples}
        buckets = metrics_lib.LENGTH_BUCKETS[flag_values.by_length]
        by_length = {
            name: metrics_lib.evaluate_by_length(trainer_lib.strategy_moments(predictions, name), ground_truth, buckets)
            for name in strategies
        }
        # One strategy: the per-bucket table itself; several (VSLNet-L): one table per strategy.
        result["by_length"] = by_length[None] if strategies == (None,) else by_length
        for name, table in by_length.items():
            if name is not None:
                print(f"{flag_values.split} by video length, strategy {name}:")
            print(metrics_lib.format_table(table))
    with open(os.path.join(flag_values.run_dir, f"eval_{flag_values.split}.json"), "w") as f:
        json.dump(result, f, indent=2)
    return result


def _row_name(split, strategy):
    return split if strategy is None else f"{split} ({strategy})"


def main(argv):
    del argv
    try:
        run(flags.FLAGS)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    flag_help.run(main, HELP_GROUPS)
