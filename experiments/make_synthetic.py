"""Writes a synthetic Charades-STA-format benchmark (see `common/data/synthetic.py`) and prints its statistics.

    python -m experiments.make_synthetic --out=DIR --preset={tiny,default,long} [--seed=N] [--overwrite]

The folder then reads like a real Charades-STA folder (`charades_sta_{train,test}.txt`, `charades.json`,
`features/`, `glove.txt`), plus `dataset.json` and `baselines.json`.
"""

from absl import app, flags

from common.data.synthetic import PRESETS, make_synthetic
from experiments import flag_help

__all__ = ["define_flags", "format_summary", "main", "make_synthetic"]


def define_flags():
    """Defines this entry point's flags (called under `__main__` only, so that importing defines none)."""
    flags.DEFINE_string("out", None, "Output folder.", required=True)
    flags.DEFINE_enum("preset", "tiny", list(PRESETS), "Dataset size and difficulty.")
    flags.DEFINE_integer("seed", 0, "Random seed; equal seeds write byte-identical files.")
    flags.DEFINE_bool("overwrite", False, "Replace the dataset in a non-empty --out folder.")


def format_summary(summary):
    """Text tables of the statistics per split and of the baselines, from the dict `make_synthetic` returns."""
    statistics = summary["statistics"]
    rows = [
        ("videos", "videos", "d"),
        ("queries", "queries", "d"),
        ("mean video length (s)", "mean_video_seconds", ".2f"),
        ("mean query length (words)", "mean_query_words", ".2f"),
        ("mean moment length (s)", "mean_moment_seconds", ".2f"),
        ("std moment length (s)", "std_moment_seconds", ".2f"),
        ("mean moment / video length", "mean_moment_fraction", ".4f"),
        ("queries with a distractor (%)", "queries_with_distractor_percent", ".2f"),
    ]
    lines = [f"synthetic preset {summary['preset']!r}, seed {summary['seed']}, feature_dim {summary['feature_dim']}"]
    lines.append(f"{'':30} {'train':>10} {'test':>10}")
    for label, key, spec in rows:
        lines.append(f"{label:30} {statistics['train'][key]:>10{spec}} {statistics['test'][key]:>10{spec}}")
    keys = ("r1_iou03", "r1_iou05", "r1_iou07", "miou")
    lines.append("")
    lines.append(f"{'test baseline':30} " + " ".join(f"{key:>9}" for key in keys))
    for name, scores in summary["baselines"].items():
        lines.append(f"{name:30} " + " ".join(f"{scores[key]:9.2f}" for key in keys))
    return "\n".join(lines)


def main(argv):
    del argv  # unused
    config = flags.FLAGS
    try:
        summary = make_synthetic(config.out, preset=config.preset, seed=config.seed, overwrite=config.overwrite)
    except FileExistsError as error:
        raise app.UsageError(str(error)) from None
    print(format_summary(summary))
    print(f"written to {config.out}")


if __name__ == "__main__":
    define_flags()
    flag_help.run(main)
