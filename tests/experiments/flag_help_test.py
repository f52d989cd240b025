import os
import pathlib
import re
import subprocess
import sys

from absl import flags

from experiments import flag_help, tensorflow_logging

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
TRAIN_GROUPS = {
    "data": ("--dataset", "--data_dir", "--feature_dir", "--glove", "--synthetic_preset"),
    "model": ("--model", "--quirks", "--hidden_dim", "--drop_rate", "--predictor", "--num_proposals"),
    "training": ("--run_dir", "--epochs", "--batch_size", "--init_lr", "--log_every"),
    "distribution": ("--strategy", "--cpu_devices"),
    "export": ("--[no]export",),
}


def _sections(text):
    """heading → the text under it (the lines `heading:` at the start of a line open a section)."""
    parts = re.split(r"^([a-z][a-z ]*):$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def _environment():
    # The pytest process may have set TF_CPP_MIN_LOG_LEVEL (experiments/__init__.py); the entry point decides.
    env = {key: value for key, value in os.environ.items() if key != tensorflow_logging.LEVEL_VARIABLE}
    return dict(env, PYTHONPATH=str(REPO_ROOT))


def test_train_help_lists_the_flags_under_their_headings_and_tensorflow_stays_quiet():
    # As `python -m experiments.train --help`, after a first TensorFlow op (where a machine without a driver logs the
    # cuInit error).
    script = (
        "import runpy, sys\n"
        "import experiments\n"
        "import tensorflow as tf\n"
        "tf.zeros([1]) + 1\n"
        "sys.argv = ['train.py', '--help']\n"
        "runpy.run_module('experiments.train', run_name='__main__')\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], env=_environment(), capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert completed.returncode == 0, completed.stderr
    sections = _sections(completed.stdout)
    assert list(sections) == list(TRAIN_GROUPS)  # in this order, and no "other flags"
    for heading, names in TRAIN_GROUPS.items():
        for name in names:
            assert f"\n  {name}: " in sections[heading], (heading, name)
    # Defaults that the model decides, computed from the configs (tests/common/training/flags_test.py).
    drop_rate = " ".join(sections["model"].split("--drop_rate: ")[1].split("\n  --")[0].split())
    assert "vslbase, vslnet, vslnet_l: 0.2" in drop_rate and "lpnet: 0.1" in drop_rate, drop_rate
    assert "--helpfull" in completed.stdout
    assert "absl::InitializeLog" not in completed.stderr
    assert not re.search(r"^I\d{4} ", completed.stderr, flags=re.MULTILINE), completed.stderr
    if not tensorflow_logging.has_nvidia_driver():  # nothing at all, the cuInit error included
        assert completed.stderr == ""


def test_flags_of_the_main_module_that_no_group_names_follow_under_other_flags():
    flag_values = flags.FlagValues()
    main_module = sys.argv[0]  # absl's name of `__main__`
    flags.DEFINE_string("run_dir", None, "Run directory.", flag_values=flag_values, module_name=main_module)
    flags.DEFINE_integer("batch_size", 16, "Batch size.", flag_values=flag_values, module_name=main_module)
    flags.DEFINE_string(
        "video", None, "A video file (default: none given).", flag_values=flag_values, module_name=main_module
    )
    flags.DEFINE_bool("json", False, "JSON output.", flag_values=flag_values, module_name=main_module)
    text = flag_help.help_text(
        flag_values,
        [("run", ("run_dir",)), ("evaluation", ("batch_size", "not_defined"))],
        {"batch_size": "16 or 32"},
        doc="Doc.",
    )
    assert text.startswith("Doc.\n")
    assert _sections(text) == {
        "run": "\n  --run_dir: Run directory.\n    (default: none)\n\n",
        "evaluation": "\n  --batch_size: Batch size.\n    (default: 16 or 32)\n\n",
        "other flags": "\n  --[no]json: JSON output.\n    (default: 'false')\n"
        "  --video: A video file (default: none given).\n\n"
        "Try --helpfull to get a list of all flags (absl's and TensorFlow's included).\n",
    }
    assert list(_sections(flag_help.help_text(flag_values, [], doc=""))) == ["flags"]


def test_help_is_asked_for_before_the_end_of_flags_only():
    assert flag_help._wants_help(["train", "--model=lpnet", "-?"])
    assert flag_help._wants_help(["train", "--helpshort"])
    assert not flag_help._wants_help(["train", "--", "--help"])
    assert not flag_help._wants_help(["train", "--helpfull"])  # absl's full listing


def test_a_usage_error_says_what_is_wrong_and_where_the_flags_are(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("x")
    completed = subprocess.run(
        [sys.executable, "-m", "experiments.make_synthetic", f"--out={tmp_path / 'taken'}"],
        env=_environment(),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert completed.returncode == 1
    assert completed.stderr.startswith("error: ") and completed.stderr.endswith(
        "Pass --help to see this program's flags.\n"
    )
