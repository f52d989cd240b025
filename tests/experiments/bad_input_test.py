"""What bad input gets (README "What bad input gets"): each case, on a copy of the tiny synthetic preset, ends in
an error naming the file, line, video or flag before any training step, and leaves the run directory as it was
(or, for a stale cache, in a rebuilt folder that says why)."""

import hashlib
import json
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver

from common.data import dataset as dataset_lib
from common.data import synthetic
from experiments import train

FLAGS = flags.FLAGS
BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module", autouse=True)
def defined_flags():
    if "run_dir" not in FLAGS:
        train.define_flags()
    FLAGS(["train"])


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("preset") / "tiny"
    synthetic.make_synthetic(str(folder), preset="tiny", seed=0)
    return folder


@pytest.fixture
def data(preset, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(preset, copy)
    return copy


def data_flags(folder):
    return {
        "data_dir": str(folder),
        "feature_dir": str(folder / "features"),
        "glove": str(folder / "glove.txt"),
        "dataset": "charades",
    }


SMALL_MODEL = {"hidden_dim": 16, "num_heads": 2, "char_dim": 8, "epochs": 1, "verbose": False}


def train_run(run_dir, folder, **flag_values):
    with flagsaver.flagsaver(run_dir=str(run_dir), **data_flags(folder), **{**SMALL_MODEL, **flag_values}):
        return train.run(FLAGS)


def snapshot(folder):
    """Every file under `folder` with its size, modification time and content hash."""
    if not folder.exists():
        return None
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).digest())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def finished_run(preset, tmp_path_factory):
    """A finished, exported VSLNet run (2 steps) on its own copy of the preset."""
    root = tmp_path_factory.mktemp("finished")
    folder = root / "data"
    shutil.copytree(preset, folder)
    train_run(root / "run", folder, max_steps=2)
    return root / "run", folder


# ---- Inputs that fail while the data is processed, before a run directory exists ----------------------------------


def _first_video(folder, split="test"):
    return (folder / f"charades_sta_{split}.txt").read_text().split()[0]


def _rewrite_features(vid, make):
    def mutate(folder):
        path = folder / "features" / f"{vid(folder)}.npy"
        np.save(path, make(np.load(path)))
        return vid(folder)

    return mutate


def _write_bytes(vid, content):
    def mutate(folder):
        path = folder / "features" / f"{vid(folder)}.npy"
        path.write_bytes(content(path.read_bytes()))
        return vid(folder)

    return mutate


def _first_file(folder):
    return sorted(p.stem for p in (folder / "features").glob("*.npy"))[0]


def _without_shapes_file(mutate):
    def both(folder):
        (folder / "features" / "feature_shapes.json").unlink()
        return mutate(folder)

    return both


def _nan(array):
    array = array.copy()
    array[1, 2] = np.nan
    return array


def _inf(array):
    array = array.copy()
    array[0, 0] = np.inf
    return array


def _glove_lines(change):
    def mutate(folder):
        path = folder / "glove.txt"
        lines = path.read_text().splitlines()
        path.write_text("\n".join(change(lines)) + "\n")
        return next((i + 1 for i, line in enumerate(lines) if line.startswith("person ")), None)

    return mutate


def _person_line(change):
    return _glove_lines(lambda lines: [change(l) if l.startswith("person ") else l for l in lines])


def _first_line_sentence_byte(folder):
    path = folder / "charades_sta_train.txt"
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"person", b"pers\xe9n", 1) if b"person" in lines[2] else lines[2] + b"\xe9"
    path.write_bytes(b"\n".join(lines))


def _skip_all_test_videos(folder):
    for line in (folder / "charades_sta_test.txt").read_text().splitlines():
        (folder / "features" / f"{line.split()[0]}.npy").unlink(missing_ok=True)


# (case id, mutation of the data copy -> value for the message, extra flags, exception, message pattern)
PROCESSING_CASES = [
    (
        "features_nan",
        _rewrite_features(_first_video, _nan),
        {},
        "FeatureError",
        r"video '{0}' in .*/{0}\.npy hold 1 NaN/Inf values \(first at clip 1\)",
    ),
    (
        "features_inf",
        _rewrite_features(_first_video, _inf),
        {},
        "FeatureError",
        r"video '{0}' in .*/{0}\.npy hold 1 NaN/Inf values \(first at clip 0\)",
    ),
    (
        "features_wrong_width",
        _rewrite_features(_first_video, lambda a: a[:, :16]),
        {},
        "FeatureError",
        r"1 problem in the features of \d+ videos .*\n  features of video '{0}' in .*/{0}\.npy are 16 wide; "
        r"expected 32, the width of \d+ of the \d+ readable videos",
    ),
    (
        "features_first_file_wrong_width",
        _rewrite_features(_first_file, lambda a: a[:, :16]),
        {},
        "FeatureError",
        r"^1 problem .*\n  features of video '{0}' in .*/{0}\.npy are 16 wide; expected 32",
    ),
    (
        "features_1d",
        _rewrite_features(_first_video, lambda a: a.reshape(-1)),
        {},
        "FeatureError",
        r"video '{0}' in .*/{0}\.npy have shape \(\d+,\); expected \[clips, dim\]",
    ),
    (
        "features_t_1_d",
        _rewrite_features(_first_video, lambda a: a[:, None, :]),
        {},
        "FeatureError",
        r"video '{0}' in .*/{0}\.npy have shape \(\d+, 1, 32\); expected \[clips, dim\]",
    ),
    (
        "features_empty",
        _rewrite_features(_first_video, lambda a: a[:0]),
        {},
        "FeatureError",
        r"video '{0}' in .*/{0}\.npy are empty \(0 clips\)",
    ),
    (
        "features_truncated",
        _write_bytes(_first_video, lambda b: b[: len(b) // 2]),
        {},
        "FeatureError",
        r"video '{0}' in .*/{0}\.npy cannot be read as a \.npy array",
    ),
    (
        "features_not_npy",
        _write_bytes(_first_video, lambda b: b"not an array\n"),
        {},
        "FeatureError",
        r"video '{0}' in .*/{0}\.npy cannot be read as a \.npy array",
    ),
    (
        "features_truncated_no_shapes_file",
        _without_shapes_file(_write_bytes(_first_video, lambda b: b[:100])),
        {},
        "FeatureError",
        r"video '{0}' in .*/{0}\.npy cannot be read as a \.npy array",
    ),
    (
        "features_shapes_file_disagrees",
        _rewrite_features(_first_video, lambda a: a[:-1]),
        {},
        "FeatureError",
        r"video '{0}' in .*/{0}\.npy have \d+ clips but feature_shapes\.json says \d+",
    ),
    (
        "feature_dim_flag",
        lambda folder: None,
        {"feature_dim": 1024},
        "FeatureError",
        r"are 32 wide; expected --feature_dim 1024",
    ),
    (
        "glove_100d",
        _glove_lines(lambda lines: [" ".join(l.split(" ")[:101]) for l in lines]),
        {},
        "GloveError",
        r"glove\.txt:1: 100 values after the word '\.'; expected 300 \(GloVe 300d\): is this a 300d GloVe file\?",
    ),
    (
        "glove_malformed_line",
        _person_line(lambda l: l.rsplit(" ", 1)[0]),
        {},
        "GloveError",
        r"glove\.txt:{0}: 299 values after the word 'person'; expected 300",
    ),
    (
        "glove_non_numeric",
        _person_line(lambda l: l.replace(" ", " abc ", 1).rsplit(" ", 1)[0]),
        {},
        "GloveError",
        r"glove\.txt:{0}: value 1 of 'person' is 'abc', not a number",
    ),
    (
        "glove_not_utf8",
        lambda folder: (folder / "glove.txt").write_bytes(
            (folder / "glove.txt").read_bytes() + b"caf\xe9 " + b"0.1 " * 299 + b"0.1\n"
        ),
        {},
        "EncodingError",
        r"glove\.txt:41: not UTF-8: byte 0xe9 at column 4",
    ),
    (
        "annotation_not_utf8",
        _first_line_sentence_byte,
        {},
        "AnnotationError",
        r"charades_sta_train\.txt:3: not UTF-8: byte 0xe9 at column \d+ \(byte \d+ of the file\)",
    ),
    (
        "empty_test_split",
        lambda folder: (folder / "charades_sta_test.txt").write_text(""),
        {},
        "EmptySplitError",
        r"charades_sta_test\.txt: the test split has no query",
    ),
    (
        "every_test_query_skipped",
        _skip_all_test_videos,
        {"skip_missing_videos": True},
        "EmptySplitError",
        r"charades_sta_test\.txt: every query of the test split was skipped",
    ),
]


@pytest.mark.parametrize("case, mutate, extra, error, pattern", PROCESSING_CASES, ids=[c[0] for c in PROCESSING_CASES])
def test_bad_input_fails_before_training_and_writes_nothing(data, tmp_path, case, mutate, extra, error, pattern):
    value = mutate(data)
    run_dir = tmp_path / "run"
    with pytest.raises(Exception) as raised:
        train_run(run_dir, data, **extra)
    assert type(raised.value).__name__ == error, raised.value
    assert re.search(pattern.format(value), str(raised.value), re.MULTILINE), str(raised.value)
    assert not run_dir.exists()


@pytest.mark.parametrize(
    "name, value, pattern",
    [
        ("max_pos_len", 0, r"flag --max_pos_len=0: 0 is not a positive integer"),
        ("hidden_dim", -4, r"flag --hidden_dim=-4"),
        ("batch_size", 0, r"flag --batch_size=0"),
        ("epochs", 0, r"flag --epochs=0"),
        ("feature_dim", -1, r"flag --feature_dim=-1"),
        ("drop_rate", 1.0, r"flag --drop_rate=1.0: must be in \[0, 1\)"),
        ("init_lr", 0.0, r"flag --init_lr=0.0: must be > 0"),
        ("highlight_lambda", -1.0, r"flag --highlight_lambda=-1.0"),
        ("scales", ["100", "x"], r"flag --scales=\[.*'x'\]: must be positive integers"),
    ],
)
def test_an_invalid_numeric_flag_names_the_flag(name, value, pattern):
    with pytest.raises(flags.IllegalFlagValueError, match=pattern):
        with flagsaver.flagsaver(**{name: value}):
            pass


def test_features_without_a_shapes_file_and_annotations_with_a_bom_process(data, tmp_path, capsys):
    (data / "features" / "feature_shapes.json").unlink()
    path = data / "charades_sta_train.txt"
    path.write_bytes(BOM + path.read_bytes())
    config = dataset_lib.DataConfig(
        annotation_dir=str(data),
        feature_path=str(data / "features"),
        glove_path=str(data / "glove.txt"),
        processed_dir=str(tmp_path / "p"),
        max_pos_len=64,
    )
    processed = dataset_lib.prepare_dataset(config)
    first = processed.splits["train"][0]
    assert first["vid"] == path.read_text(encoding="utf-8-sig").split()[0] and not first["vid"].startswith("\ufeff")
    assert processed.meta["videos_validated"] == len({e["vid"] for s in processed.splits.values() for e in s})
    assert re.search(r"GloVe \(glove\.txt\) covers \d+ of the \d+ query words", capsys.readouterr().err)


# ---- The processed-data cache follows its inputs' contents ---------------------------------------------------------


def test_a_changed_input_rebuilds_the_processed_folder_and_says_why(data, tmp_path, capsys):
    config = dataset_lib.DataConfig(
        annotation_dir=str(data),
        feature_path=str(data / "features"),
        glove_path=str(data / "glove.txt"),
        processed_dir=str(tmp_path / "p"),
        max_pos_len=64,
    )
    assert len(dataset_lib.prepare_dataset(config, progress=False).splits["train"]) == 277
    assert dataset_lib.is_current(config)
    train_file = data / "charades_sta_train.txt"
    lines = train_file.read_text().splitlines()[:100]
    vid, _, end_and_sentence = lines[0].split(" ", 2)
    start = float(end_and_sentence.split("##")[0]) / 2
    lines[0] = f"{vid} {start} {end_and_sentence}"
    train_file.write_text("\n".join(lines) + "\n")
    assert dataset_lib.stale_reason(config) == f"annotation file {train_file} changed"
    processed = dataset_lib.prepare_dataset(config, progress=False)
    assert f"rebuilding {tmp_path / 'p'}: annotation file {train_file} changed" in capsys.readouterr().err
    assert len(processed.splits["train"]) == 100 and processed.splits["train"][0]["start_time"] == start

    feature = data / "features" / f"{vid}.npy"
    np.save(feature, np.load(feature) * 2)
    assert dataset_lib.stale_reason(config) == f"the feature store changed: files 1 changed (e.g. {vid}.npy)"
    dataset_lib.prepare_dataset(config, progress=False)
    (data / "glove.txt").write_text((data / "glove.txt").read_text() + "zebra " + "0.5 " * 299 + "0.5\n")
    assert dataset_lib.stale_reason(config) == "the GloVe file changed (size or modification time)"
    config.max_pos_len = 32
    assert dataset_lib.stale_reason(config) == "it was built with other options: max_pos_len 64 -> 32"


def test_a_failed_rebuild_leaves_the_processed_folder_as_it_was(data, tmp_path):
    config = dataset_lib.DataConfig(
        annotation_dir=str(data),
        feature_path=str(data / "features"),
        glove_path=str(data / "glove.txt"),
        processed_dir=str(tmp_path / "p"),
        max_pos_len=64,
    )
    dataset_lib.prepare_dataset(config, progress=False)
    before = snapshot(tmp_path / "p")
    (data / "charades_sta_test.txt").write_text("")
    with pytest.raises(dataset_lib.EmptySplitError):
        dataset_lib.prepare_dataset(config, progress=False)
    assert snapshot(tmp_path / "p") == before and sorted(p.name for p in tmp_path.iterdir()) == ["data", "p"]


# ---- Run directories hold one run ---------------------------------------------------------------------------------

RUN_DIRECTORY_CASES = [
    (
        "another_model",
        {"model": "lpnet", "quirks": "fixed"},
        r"holds a run of another model, which this one would overwrite: .*model_family: 'vslnet' there, 'lpnet' now",
    ),
    ("another_width", {"hidden_dim": 64}, r"holds another run, .*model\.hidden_dim: 16 there, 64 now"),
    ("another_dataset_option", {"max_pos_len": 32}, r"data\.max_pos_len: 128 there, 32 now"),
]


@pytest.mark.parametrize("case, changed, pattern", RUN_DIRECTORY_CASES, ids=[c[0] for c in RUN_DIRECTORY_CASES])
def test_training_into_another_run_is_refused_before_writing(finished_run, case, changed, pattern):
    run_dir, folder = finished_run
    before = snapshot(run_dir)
    with pytest.raises(train.run_directory.RunDirectoryError, match=pattern):
        train_run(run_dir, folder, max_steps=2, **changed)
    assert snapshot(run_dir) == before


def test_a_run_without_config_json_is_refused(data, tmp_path):
    run_dir = tmp_path / "damaged"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "ckpt-3.index").write_text("x")
    (run_dir / "metrics.json").write_text("{}")
    before = snapshot(run_dir)
    with pytest.raises(
        train.run_directory.RunDirectoryError,
        match=r"holds what a run writes \(checkpoints, metrics\.json\) but no config\.json",
    ):
        train_run(run_dir, data, max_steps=1)
    assert snapshot(run_dir) == before


def test_resuming_after_the_data_changed_is_refused_and_says_what_changed(data, tmp_path):
    run_dir = tmp_path / "run"
    train_run(run_dir, data, max_steps=1, export=False)
    train_file = data / "charades_sta_train.txt"
    train_file.write_text("\n".join(train_file.read_text().splitlines()[:100]) + "\n")
    before = snapshot(run_dir)
    with pytest.raises(
        train.run_directory.RunDirectoryError,
        match=rf"the data changed since the run started \(annotation file {train_file} changed\)",
    ):
        train_run(run_dir, data, max_steps=2, export=False)
    assert snapshot(run_dir) == before


def test_what_may_change_on_resume_is_not_refused(finished_run):
    run_dir, _ = finished_run
    config = json.loads((run_dir / "config.json").read_text())
    config["trainer"].update(epochs=5, max_steps=100, verbose=True, strategy="mirrored")
    config["flags"]["epochs"] = 5
    train.run_directory.check_run_directory(str(run_dir), config)
    config["trainer"]["batch_size"] += 1
    with pytest.raises(train.run_directory.RunDirectoryError, match="trainer.batch_size"):
        train.run_directory.check_run_directory(str(run_dir), config)


# ---- SavedModel inputs ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def serving(finished_run):
    return tf.saved_model.load(str(finished_run[0] / "saved_model")).signatures["serving_default"]


@pytest.mark.parametrize(
    "features, duration, pattern",
    [
        (np.zeros([5, 16], np.float32), 30.0, r"video_features must be \[clips, 32\] float32; got shape.*\[5 16\]"),
        (np.zeros([5], np.float32), 30.0, r"video_features must be \[clips, 32\] float32; got shape.*\[5\]"),
        (
            np.zeros([5, 1, 32], np.float32),
            30.0,
            r"video_features must be \[clips, 32\] float32; got shape.*\[5 1 32\]",
        ),
        (
            np.zeros([5, 32], np.float32),
            1e38,
            r"duration must be positive, finite and at most 1e\+07 seconds; got.*1e\+38",
        ),
        (np.zeros([5, 32], np.float32), float("nan"), r"duration must be positive, finite and at most 1e\+07 seconds"),
        (np.zeros([5, 32], np.float32), -1.0, r"duration must be positive"),
    ],
)
def test_the_saved_model_names_what_is_wrong_with_its_inputs(serving, features, duration, pattern):
    with pytest.raises(tf.errors.InvalidArgumentError, match=pattern):
        serving(
            video_features=tf.constant(features),
            query=tf.constant("a person opens the door."),
            duration=tf.constant(duration, tf.float32),
        )


def test_the_saved_model_still_serves_good_inputs(serving):
    out = serving(
        video_features=tf.zeros([7, 32]), query=tf.constant("a person opens the door."), duration=tf.constant(14.0)
    )
    assert 0.0 <= float(out["start_time"]) <= float(out["end_time"]) <= 14.0
