"""Tests for `experiments.predict` and `experiments.export`: the entry points' `run(flag_values)` (what `main` runs)
on a private `FlagValues`, one real `python -m experiments.predict` subprocess, errors, and the plot."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from absl import flags

from common.export import saved_model
from experiments import export, predict
from tests.common.export.saved_model_test import (
    FEATURE_DIM,
    MAX_POS_LEN,
    make_run_dir,
    python_predict,
)
from tests.lpnet_tf.export_test import make_lpnet_run_dir

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
QUERY = "A person opens the door. Then he sits down."
DURATION = 31.5


def parse(module, **values):
    """A private `FlagValues` with `module`'s flags parsed from `values` (bools as `--name` / `--noname`)."""
    flag_values = flags.FlagValues()
    module.define_flags(flag_values)
    argv = [module.__name__]
    for name, value in values.items():
        if isinstance(value, bool):
            argv.append(f"--{name}" if value else f"--no{name}")
        else:
            argv.append(f"--{name}={value}")
    flag_values(argv)
    return flag_values


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A run directory, its features file, and its SavedModel written by the export entry point."""
    root = tmp_path_factory.mktemp("predict")
    run_dir, model, vocab = make_run_dir(root / "run")
    features = np.random.default_rng(0).normal(size=(23, FEATURE_DIM)).astype(np.float32)
    np.save(root / "video.npy", features)
    out = root / "exported"
    export.run(parse(export, run_dir=run_dir, out=out))
    return {
        "root": root,
        "run_dir": run_dir,
        "model": model,
        "vocab": vocab,
        "features": features,
        "features_path": root / "video.npy",
        "saved_model": out,
    }


def test_export_entry_point(setup):
    assert (setup["saved_model"] / "saved_model.pb").exists()
    info = json.loads((setup["saved_model"] / "nlvl_export.json").read_text())
    assert (info["feature_dim"], info["max_pos_len"], info["model"]) == (FEATURE_DIM, MAX_POS_LEN, "vslnet")


def test_export_entry_point_errors(setup, tmp_path):
    with pytest.raises(Exception, match="--run_dir and --out"):
        export.run(parse(export, run_dir=setup["run_dir"]))
    with pytest.raises(FileNotFoundError):
        export.run(parse(export, run_dir=tmp_path, out=tmp_path / "out"))


def test_predict_with_saved_model_prints_json_and_plots(setup, capsys):
    pytest.importorskip("matplotlib")
    plot = setup["root"] / "moment.png"
    result = predict.run(
        parse(
            predict,
            saved_model=setup["saved_model"],
            features=setup["features_path"],
            duration=DURATION,
            query=QUERY,
            json=True,
            plot=plot,
            ground_truth="3.0,9.5",
        )
    )
    printed = json.loads(capsys.readouterr().out)
    expected = python_predict(setup["model"], setup["vocab"], setup["features"], QUERY, DURATION)
    assert printed["tokens"] == expected["tokens"]
    assert (printed["start_index"], printed["end_index"]) == (expected["start_index"], expected["end_index"])
    assert (printed["start_time"], printed["end_time"]) == pytest.approx(
        (expected["start_time"], expected["end_time"]), abs=1e-6
    )
    assert printed["num_units"] == MAX_POS_LEN and len(printed["highlight_probs"]) == MAX_POS_LEN
    np.testing.assert_allclose(printed["start_probs"], expected["start_probs"], atol=1e-5)
    assert result["num_clips"] == 23
    assert plot.stat().st_size > 5000 and plot.read_bytes()[:4] == b"\x89PNG"


def test_predict_with_run_dir_agrees_with_the_python_path(setup, capsys):
    # The run-directory path runs the in-memory `serving_default` graph; the SavedModel path (above) agrees with the
    # same Python reference, and tests/common/export checks the SavedModel against the in-memory graph.
    result = predict.run(
        parse(predict, run_dir=setup["run_dir"], features=setup["features_path"], duration=DURATION, query=QUERY)
    )
    text = capsys.readouterr().out
    expected = python_predict(setup["model"], setup["vocab"], setup["features"], QUERY, DURATION)
    assert f"moment: {expected['start_time']:.2f} s - {expected['end_time']:.2f} s" in text and "score" in text
    assert (result["start_index"], result["end_index"]) == (expected["start_index"], expected["end_index"])
    np.testing.assert_allclose(result["start_probs"], expected["start_probs"], atol=1e-5)
    np.testing.assert_allclose(result["end_probs"], expected["end_probs"], atol=1e-5)


def test_predict_entry_point_in_a_subprocess(setup):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO_ROOT))
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.predict",
            f"--saved_model={setup['saved_model']}",
            f"--features={setup['features_path']}",
            f"--duration={DURATION}",
            f"--query={QUERY}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        check=True,
    )
    expected = python_predict(setup["model"], setup["vocab"], setup["features"], QUERY, DURATION)
    assert f"moment: {expected['start_time']:.2f} s - {expected['end_time']:.2f} s" in completed.stdout
    failed = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.predict",
            f"--saved_model={setup['saved_model']}",
            f"--features={setup['features_path']}",
            f"--duration={DURATION}",
            "--query= ",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        check=False,
    )
    assert failed.returncode == 1 and "error: the query is empty" in failed.stderr


@pytest.mark.parametrize(
    "array, query, duration, message",
    [
        (np.zeros([5, FEATURE_DIM + 3], np.float32), QUERY, DURATION, f"model expects feature_dim={FEATURE_DIM}"),
        (np.zeros([5], np.float32), QUERY, DURATION, f"2-D array \\[num_clips, {FEATURE_DIM}\\]"),
        (np.full([5, FEATURE_DIM], np.nan, np.float32), QUERY, DURATION, "NaN"),
        (np.zeros([0, FEATURE_DIM], np.float32), QUERY, DURATION, "no clips"),
        (np.zeros([5, FEATURE_DIM], np.float32), "   ", DURATION, "query is empty"),
        (np.zeros([5, FEATURE_DIM], np.float32), QUERY, 0.0, "duration must be a positive"),
    ],
)
def test_predict_input_errors(setup, tmp_path, array, query, duration, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ValueError, match=message):
        predict.run(
            parse(
                predict, saved_model=setup["saved_model"], features=tmp_path / "bad.npy", duration=duration, query=query
            )
        )


def test_predict_needs_one_model_source(setup):
    with pytest.raises(ValueError, match="exactly one of --run_dir and --saved_model"):
        predict.run(parse(predict, features=setup["features_path"], duration=DURATION, query=QUERY))


def test_plot_without_matplotlib_says_how_to_install(setup, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    with pytest.raises(RuntimeError, match=r"pip install matplotlib .*nlvl-tf\[plot\]"):
        predict.run(
            parse(
                predict,
                saved_model=setup["saved_model"],
                features=setup["features_path"],
                duration=DURATION,
                query=QUERY,
                plot=setup["root"] / "never.png",
            )
        )


@pytest.fixture(scope="module")
def four_runs(setup):
    """A tiny run directory of every model: `{model: (run_dir, built model, vocab)}`."""
    root = setup["root"]
    return {
        "vslnet": (setup["run_dir"], setup["model"], setup["vocab"]),
        "vslbase": make_run_dir(root / "vslbase", model="vslbase"),
        "vslnet_l": make_run_dir(root / "vslnet_l", model="vslnet_l", scales=(8, 16)),
        "lpnet": make_lpnet_run_dir(root / "lpnet"),
    }


def _serving_inputs(setup):
    import tensorflow as tf

    return {
        "video_features": tf.constant(setup["features"]),
        "query": tf.constant(QUERY),
        "duration": tf.constant(DURATION),
    }


def test_every_model_serves_the_same_inputs_and_outputs(setup, four_runs):
    import tensorflow as tf

    # In memory, the functions that become the signatures; the exported ones: the slow test below, and the round
    # trips of tests/common/export/saved_model_test.py, tests/lpnet_tf/export_test.py, tests/vslnet_tf/model_l_test.py.
    signatures = {}
    for model, (_, net, vocab) in four_runs.items():
        functions = saved_model.serving_functions(net, vocab, max_pos_len=MAX_POS_LEN, feature_dim=FEATURE_DIM)
        endpoints = functions.endpoints()
        signatures[model] = {
            name: endpoints[name][0].input_signature for name in ("serving_default", "serving_details")
        }
        outputs = functions.serve(**_serving_inputs(setup))
        assert list(outputs) == list(saved_model.SERVING_OUTPUTS) == list(endpoints["serving_default"][1]), model
        assert [outputs[k].shape.rank for k in saved_model.SERVING_OUTPUTS] == [0, 0, 0, 0, 0, 1], model
        assert 0.0 <= float(outputs["start_time"]) <= float(outputs["end_time"]) <= DURATION, model
        assert set(endpoints) - {"serving_with_strategy"} == {
            "serving_default",
            "serving_details",
            "serving_queries",
            "predict_ids",
        }
        if model not in ("vslnet", "lpnet"):  # one model per family's decoding (VSLBase decodes as VSLNet)
            continue
        # Many queries about one video: alone, each gets serving_default's answer; together, they are one batch of
        # predict_ids (padded to the longest query and word, which the original's char CNN and convolutions read).
        queries = [QUERY, "a person", "someone walks to the door and opens it slowly"]
        inputs = _serving_inputs(setup)
        for query in queries:
            alone = functions.serve_queries(inputs["video_features"], tf.constant([query]), inputs["duration"])
            single = functions.serve(inputs["video_features"], tf.constant(query), inputs["duration"])
            assert list(alone) == list(saved_model.QUERIES_OUTPUTS), model
            for key in saved_model.QUERIES_OUTPUTS:
                np.testing.assert_allclose(alone[key], [single[key]], rtol=0, atol=1e-6, err_msg=model)
        batched = functions.serve_queries(inputs["video_features"], tf.constant(queries), inputs["duration"])
        ids = functions.preprocessor(tf.constant(queries))
        video = saved_model.resample_features(inputs["video_features"], MAX_POS_LEN)
        expected = functions.predict_ids(
            tf.repeat(video[None], len(queries), axis=0),
            tf.ones([len(queries), video.shape[0]], tf.bool),
            ids["word_ids"],
            ids["char_ids"],
        )
        for key in ("start_index", "end_index", "score"):
            np.testing.assert_allclose(batched[key], expected[key], rtol=0, atol=1e-6, err_msg=model)
    assert all(value == signatures["vslnet"] for value in signatures.values())


@pytest.mark.slow  # four exports: about 80 s on 2 CPU cores
def test_every_models_exported_serving_default_takes_and_returns_the_same(setup, four_runs, tmp_path, capsys):
    import tensorflow as tf

    for model, (run_dir, _, _) in four_runs.items():
        out = tmp_path / f"{model}_saved_model"
        export.run(parse(export, run_dir=run_dir, out=out))
        signatures = tf.saved_model.load(str(out)).signatures
        outputs = signatures["serving_default"](**_serving_inputs(setup))
        assert sorted(outputs) == sorted(saved_model.SERVING_OUTPUTS), model
        details = signatures["serving_details"](**_serving_inputs(setup))
        assert {k: details[k].numpy().tolist() for k in saved_model.SERVING_OUTPUTS} == {
            k: v.numpy().tolist() for k, v in outputs.items()
        }, model
    capsys.readouterr()
    # VSLNet-L's strategy is its own signature; `experiments.predict` passes `--strategy` to it.
    for strategy in ("pm", "u"):
        flag_values = parse(
            predict,
            saved_model=tmp_path / "vslnet_l_saved_model",
            features=setup["features_path"],
            duration=DURATION,
            query=QUERY,
            strategy=strategy,
            json=True,
        )
        predict.run(flag_values)
    pm, u = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert u["start_time"] <= pm["start_time"] and pm["end_time"] <= u["end_time"]  # U: the hull of two scales
