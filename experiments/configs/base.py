"""The config types of `experiments.reproduce`: a training `Run`, a table `Row` that reads one run's result, and a
`Table` of rows, each row naming the published row it reproduces (`PaperRef`).

A `Run` records everything the original authors' run depended on: the model, the dataset and its test split, the
feature set (and so its dimension), the hyper-parameters of the original run script, the quirk preset, the
checkpoint-selection protocol and the seeds. Several rows (of one or several tables) may read the same run: the
VSLNet-L "-Pm" and "-U" rows come from one training, and e.g. VSLNet Table 6 reads the runs of Table 3 per video
length. Runs are identified by `name`, so a run shared by two tables is trained once.
"""

import dataclasses

#: Seeds of every run, in order; `--seeds=N` takes the first N. 12345 is the originals' seed (fidelity VSLNet §1,
#: lpnet §1), so one seed reproduces their single run.
DEFAULT_SEEDS = (12345, 1, 2, 3, 4)
PROTOCOLS = ("original", "clean")
QUIRK_PRESETS = ("original", "fixed")
TABLE_KINDS = ("overall", "by_length", "sweep")
METRICS = ("r1_iou03", "r1_iou05", "r1_iou07", "miou")
METRIC_LABELS = {"r1_iou03": "R@1 IoU=0.3", "r1_iou05": "R@1 IoU=0.5", "r1_iou07": "R@1 IoU=0.7", "miou": "mIoU"}


@dataclasses.dataclass(frozen=True)
class Run:
    """One training configuration (trained once per seed).

    Attributes:
        name: unique id; also the run's folder under `<out_dir>/runs/`.
        model: `vslbase`, `vslnet`, `vslnet_l` or `lpnet` (`--model`).
        dataset: `charades`, `activitynet`, `tacos_tan` or `tacos_org` (`experiments.configs.data.DATASETS`).
        features: a key of `experiments.configs.data.FEATURE_SETS` (fixes the feature dimension).
        test_split: the annotation file scored as the test split: `test`, or for ActivityNet `val_1` / `val_2`.
        hparams: the `experiments.train` flags of the original run script, by flag name (`max_pos_len`,
            `char_dim`, `epochs`, `batch_size`, ...), written out even where they equal the defaults.
        params_override: model-config fields without a flag (`--params_override`).
        quirks: `--quirks` preset (`original`: the original code's behaviour).
        protocol: checkpoint selection (`original`: best test R@1 IoU=0.7, what the papers report).
        seeds: the seeds, in order.
        notes: what a reader must know about the setting (e.g. where paper and code disagree).
    """

    name: str
    model: str
    dataset: str
    features: str
    test_split: str = "test"
    hparams: tuple = ()
    params_override: tuple = ()
    quirks: str = "original"
    protocol: str = "original"
    seeds: tuple = DEFAULT_SEEDS
    notes: str = ""

    @property
    def hparam_dict(self):
        return dict(self.hparams)

    @property
    def override_dict(self):
        return dict(self.params_override)

    @property
    def max_pos_len(self):
        return self.hparam_dict["max_pos_len"]

    def describe(self):
        """The JSON-ready record of this run's settings written beside its results."""
        return {
            "name": self.name,
            "model": self.model,
            "dataset": self.dataset,
            "features": self.features,
            "test_split": self.test_split,
            "hparams": self.hparam_dict,
            "params_override": self.override_dict,
            "quirks": self.quirks,
            "protocol": self.protocol,
            "seeds": list(self.seeds),
            "notes": self.notes,
        }


def run(name, model, dataset, features, *, test_split="test", params_override=None, notes="", **hparams):
    """A `Run` with its hyper-parameters given as keyword arguments (kept in the order given)."""
    return Run(
        name=name,
        model=model,
        dataset=dataset,
        features=features,
        test_split=test_split,
        hparams=tuple(hparams.items()),
        params_override=tuple(sorted((params_override or {}).items())),
        notes=notes,
    )


@dataclasses.dataclass(frozen=True)
class PaperRef:
    """A published row: `paper` (`lpnet` or `vslnet`), `table` (key in its tables JSON) and the field values that
    single the row out (`match`, e.g. `{"model": "VSLNet", "setting": "..."}`), which must match exactly one row."""

    paper: str
    table: str
    match: tuple

    @property
    def match_dict(self):
        return dict(self.match)

    def describe(self):
        return {"paper": self.paper, "table": self.table, "match": self.match_dict}


def paper_ref(paper, table, **match):
    return PaperRef(paper, table, tuple(match.items()))


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of a reproduced table.

    Attributes:
        name: id within the table (`--rows`).
        label: what the paper's row is called, with its setting.
        run: the `Run` whose results the row reports.
        paper: the published row (`None`: a figure point without printed numbers).
        strategy: VSLNet-L multi-scale inference, `pm` or `u` (`None`: the run's top-level metrics).
        bucket: per-video-length tables: the bucket label of `common.evaluation.metrics.LENGTH_BUCKETS`.
        x: sweep tables: the value of the swept setting (the figure's x axis).
        group: sweep and per-length tables: the series the row belongs to in the figure.
        notes: caveats specific to this row.
    """

    name: str
    label: str
    run: Run
    paper: PaperRef = None
    strategy: str = None
    bucket: str = None
    x: float = None
    group: str = ""
    notes: str = ""


@dataclasses.dataclass(frozen=True)
class Table:
    """A reproduced table or figure.

    Attributes:
        id: `--table` value (`lpnet_table1`, ..., `vslnet_fig13`).
        title: what it shows.
        paper: `lpnet` or `vslnet`.
        source: the paper's table or figure, as printed (`Table 2`, `Fig. 13`).
        kind: `overall` (R@1 and mIoU per row), `by_length` (per video-length bucket; `buckets` names the
            `LENGTH_BUCKETS` entry) or `sweep` (rows along one setting `x_label`, drawn as a figure).
        rows: the `Row`s, in the paper's order.
        notes: caveats for the whole table.
        derive: optional function of `{row name: row record}` (`experiments.reproduce_report.row_result`) returning
            `{"title", "header", "lines"}`, a table computed from this one's rows (VSLNet Table 9 from Table 8).
    """

    id: str
    title: str
    paper: str
    source: str
    kind: str
    rows: tuple
    buckets: str = None
    x_label: str = None
    notes: str = ""
    derive: object = None

    def runs(self):
        """The distinct runs of the table, in first-use order."""
        return list({row.run.name: row.run for row in self.rows}.values())
