import json
import os
import subprocess
import sys

import pytest
from absl import app, flags
from absl.testing import flagsaver

from common.data import synthetic
from common.evaluation import metrics
from experiments import configs, reproduce, reproduce_report, train
from experiments.configs import base, data, paper

# The rows of each published table that our models produce (the other methods' rows are quoted, not reproduced).
_OURS = {
    ("lpnet", "table1"): lambda row: row["method"] in ("LPNet", "VSLNet"),
    ("lpnet", "table2"): lambda row: row["method"] in ("LPNet", "VSLNet"),
    ("lpnet", "table3"): lambda row: True,
    ("lpnet", "table4"): lambda row: True,
    ("vslnet", "table2"): lambda row: row["is_ours"],
    ("vslnet", "table3"): lambda row: row["is_ours"],
    ("vslnet", "table4"): lambda row: row["is_ours"],
    ("vslnet", "table6"): lambda row: True,
    ("vslnet", "table7"): lambda row: True,
    ("vslnet", "table8"): lambda row: True,
    ("vslnet", "table10"): lambda row: True,
}


def test_every_row_names_one_published_row():
    for table in configs.TABLES.values():
        names = [row.name for row in table.rows]
        assert len(names) == len(set(names)), table.id
        for row in table.rows:
            if row.paper is not None:
                assert len(paper.matching_rows(row.paper)) == 1, (table.id, row.name)
        assert any(row.paper for row in table.rows), table.id


def test_every_reproduced_published_row_has_a_config():
    referenced = {}
    for table in configs.TABLES.values():
        for row in table.rows:
            if row.paper is not None:
                referenced.setdefault((row.paper.paper, row.paper.table), []).append(paper.find_row(row.paper))
    for (paper_name, table_key), is_ours in _OURS.items():
        published = [row for row in paper.tables(paper_name)[table_key]["rows"] if is_ours(row)]
        found = referenced.get((paper_name, table_key), [])
        missing = [row for row in published if not any(row is ref for ref in found)]
        assert published and not missing, (paper_name, table_key, missing)
    extra = set(referenced) - set(_OURS)
    assert not extra, f"configs reference published tables without model rows: {extra}"


def test_runs_are_consistent():
    seen = {}
    bucket_labels = {name: {bucket.label for bucket in buckets} for name, buckets in metrics.LENGTH_BUCKETS.items()}
    for table in configs.TABLES.values():
        for row in table.rows:
            run = row.run
            assert seen.setdefault(run.name, run) == run, f"two configs named {run.name}"
            assert run.dataset in data.FEATURE_SETS[run.features].datasets, run.name
            assert run.test_split in data.DATASETS[run.dataset].split_sizes, run.name
            assert run.quirks in base.QUIRK_PRESETS and run.protocol in base.PROTOCOLS
            assert run.seeds[0] == 12345
            hparams = run.hparam_dict
            assert run.max_pos_len % reproduce.SMOKE_SHRINK == 0 or run.model != "vslnet_l", run.name
            if run.model == "vslnet_l":
                scales = [int(length) for length in hparams["scales"].split(",")]
                assert all(
                    run.max_pos_len % length == 0 and length % reproduce.SMOKE_SHRINK == 0 for length in scales
                ), run.name
            assert (row.strategy is not None) == (run.model == "vslnet_l" and "," in hparams.get("scales", "")), (
                table.id,
                row.name,
            )
            if table.kind == "by_length":
                assert row.bucket in bucket_labels[table.buckets]
            if table.kind == "sweep":
                assert row.x is not None and row.group
    assert set(configs.TABLES) == {
        "lpnet_table1",
        "lpnet_table2",
        "lpnet_table3",
        "lpnet_table4",
        "vslnet_table2",
        "vslnet_table3",
        "vslnet_table4",
        "vslnet_table6",
        "vslnet_table7",
        "vslnet_table8",
        "vslnet_table10",
        "vslnet_fig9",
        "vslnet_fig13",
    }


def test_packaged_numbers_are_the_shared_ones(shared_dir):
    for name in paper.PAPERS:
        with open(shared_dir / "specs" / f"{name}_paper_tables.json") as f:
            assert paper.tables(name) == json.load(f)


def test_list_prints_every_table_with_its_row_count():
    listing = reproduce.list_tables()
    for table in configs.TABLES.values():
        assert any(line.split()[:2] == [table.id, str(len(table.rows))] for line in listing.splitlines())


def test_aggregate_and_row_result():
    assert reproduce_report.aggregate([1.0, 2.0, 3.0]) == {"mean": 2.0, "std": 1.0, "values": [1.0, 2.0, 3.0]}
    assert reproduce_report.aggregate([4.0])["std"] is None
    table = configs.get_table("vslnet_table2")
    row = table.rows[1]
    seed_results = {
        seed: {
            "r1_iou03": 60.0 + i,
            "r1_iou05": 40.0,
            "r1_iou07": 30.0,
            "miou": 45.0,
            "count": 3720,
            "protocol": "original",
        }
        for i, seed in enumerate(row.run.seeds[:2])
    }
    record = reproduce_report.row_result(table, row, seed_results)
    assert record["paper"] == {"r1_iou03": 64.3, "r1_iou05": 47.31, "r1_iou07": 30.19, "miou": 45.15}
    assert record["ours"]["r1_iou03"]["mean"] == pytest.approx(60.5)
    assert record["diff"]["r1_iou03"] == pytest.approx(60.5 - 64.3)
    assert record["seeds"] == [12345, 1]


def _problems(runs, root, out_dir):
    return "\n".join(problem.format(len(runs)) for problem in data.check_runs(runs, str(root), str(out_dir)))


def test_data_check_names_what_is_missing_and_where_to_get_it(tmp_path):
    runs = configs.get_table("vslnet_table2").runs()
    text = _problems(runs, tmp_path, tmp_path / "out")
    assert str(tmp_path / "glove.840B.300d.txt") in text and "nlp.stanford.edu/projects/glove" in text
    for name in ("charades_sta_train.txt", "charades_sta_test.txt", "charades.json"):
        assert str(tmp_path / "charades" / name) in text
    assert str(tmp_path / "features" / "charades_i3d") in text and "rgb_imagenet.pt" in text
    assert str(tmp_path / "features" / "charades_i3d_finetuned") in text and "rgb_charades.pt" in text
    assert "needed by: every run" in text


def test_data_check_compares_split_sizes_dimension_and_coverage(tmp_path):
    synthetic.make_synthetic(str(tmp_path / "charades"), reproduce.SMOKE_PRESET, seed=0)
    os.makedirs(tmp_path / "features")
    os.rename(tmp_path / "charades" / "features", tmp_path / "features" / "charades_i3d")
    os.remove(next((tmp_path / "features" / "charades_i3d").glob("*.npy")))
    (tmp_path / "glove.840B.300d.txt").write_text("the " + " ".join(["0.1"] * 300) + "\n")
    text = _problems([configs.get_table("vslnet_table2").rows[0].run], tmp_path, tmp_path / "out")
    assert "queries per split {'train': 30, 'test': 16}" in text and "{'train': 12408, 'test': 3720}" in text
    assert "holds 32-d features; this run needs 1024-d" in text and "lacks 1 of the 12 annotated videos" in text
    assert "GloVe" not in text


def test_data_check_accepts_the_real_annotations(shared_dir, tmp_path):
    real = shared_dir / "real_annotations"
    for name, source in (("charades", "charades"), ("activitynet", "activitynet"), ("tacos_tan", "tacos_2dtan")):
        os.symlink(real / source, tmp_path / name)
    runs = [configs.get_table(t).runs()[0] for t in ("vslnet_table2", "vslnet_table4", "lpnet_table2")]
    runs.append(configs.get_table("vslnet_table3").rows[-1].run)  # TACoS_tan
    problems = data.check_runs(runs, str(tmp_path), str(tmp_path / "out"))
    assert all(p.what.startswith(("GloVe", "features")) for p in problems), [p.what for p in problems]
    # TACoS_org: the TALL files are not in shared/, and the video lengths come from the 2D-TAN files.
    tacos_org = data.check_runs([configs.get_table("vslnet_table3").rows[0].run], str(tmp_path), str(tmp_path))
    annotation_problems = [p for p in tacos_org if "annotations" in p.what]
    assert len(annotation_problems) == 1 and "TACoS_train_samples.txt" in annotation_problems[0].format(1)
    assert "durations.json" not in "\n".join(annotation_problems[0].details)
    options = reproduce.Options(
        tables=("vslnet_table2",), data_root=str(tmp_path), dry_run=True, out_dir=str(tmp_path / "out")
    )
    with pytest.raises(reproduce.DataProblemError) as raised:
        reproduce.reproduce(options)
    assert str(tmp_path / "features" / "charades_i3d") in str(raised.value)
    assert "annotations" not in str(raised.value)


# Every kind of table (overall, by length, sweep) and every model: 20 of the 45 runs (≈ 45 s on 2 cores); all
# tables (≈ 100 s) with --run_slow.
SMOKE_TABLES = ("lpnet_table1", "lpnet_table3", "vslnet_table3", "vslnet_table6", "vslnet_table7", "vslnet_table8")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, request):
    out_dir = tmp_path_factory.mktemp("reproduce") / "smoke"
    if "run_dir" not in flags.FLAGS:
        train.define_flags()
    tables = tuple(configs.TABLES) if request.config.getoption("--run_slow") else SMOKE_TABLES
    # The runs parse train flags into the global FLAGS; later tests expect them as they were.
    with flagsaver.flagsaver():
        documents = reproduce.reproduce(reproduce.Options(tables=tables, smoke=True, out_dir=str(out_dir), jobs=2))
    return out_dir, documents


def test_smoke_runs_every_table_and_writes_both_files(smoke):
    out_dir, documents = smoke
    assert set(SMOKE_TABLES) <= set(documents) <= set(configs.TABLES)
    assert {configs.TABLES[table].kind for table in documents} == {"overall", "by_length", "sweep"}
    for table in map(configs.TABLES.get, documents):
        document = json.loads((out_dir / f"{table.id}.json").read_text())
        markdown = (out_dir / f"{table.id}.md").read_text()
        assert document["smoke"] and document["label"] == reproduce_report.SMOKE_LABEL
        assert reproduce_report.SMOKE_LABEL in markdown
        assert [r["name"] for r in document["rows"]] == [row.name for row in table.rows]
        for record, row in zip(document["rows"], table.rows):
            published = paper.find_row(row.paper) if row.paper else {}
            assert record["paper"] == {key: published.get(key) for key in base.METRICS}
            assert record["seeds"] == [12345], (table.id, row.name)
            if record["count"]:
                assert record["ours"]["miou"]["mean"] >= 0.0
                if record["paper"]["miou"] is not None:
                    assert record["diff"]["miou"] == pytest.approx(
                        record["ours"]["miou"]["mean"] - record["paper"]["miou"]
                    )
                    assert f"{record['paper']['miou']:.2f}" in markdown
        if table.kind != "overall":
            assert (out_dir / f"{table.id}.png").exists(), table.id
    by_length = json.loads((out_dir / "vslnet_table6.json").read_text())["rows"]
    assert (
        sum(r["count"] for r in by_length if r["name"].startswith("tacos_org_vslnet_n300_"))
        == json.loads((out_dir / "vslnet_table3.json").read_text())["rows"][0]["count"]
    )
    assert list(out_dir.glob("lpnet_table1_lpnet_c3d_proposals.png"))
    assert "Table 9 (derived)" in (out_dir / "vslnet_table8.md").read_text()


def test_rerun_resumes_finished_rows_without_training(smoke, monkeypatch, capsys):
    out_dir, _ = smoke
    monkeypatch.setattr(reproduce, "_train_in_process", lambda *args, **kwargs: pytest.fail("trained again"))
    options = reproduce.Options(
        tables=("vslnet_table3",), smoke=True, out_dir=str(out_dir), rows=("tacos_tan_vslnet_l_u_n600",)
    )
    documents = reproduce.reproduce(options)
    assert "done already" in capsys.readouterr().out
    assert documents["vslnet_table3"]["rows"][-1]["ours"]["miou"] is not None


def test_smoke_and_real_results_never_share_a_folder(smoke, tmp_path):
    out_dir, _ = smoke
    with pytest.raises(app.UsageError, match="holds smoke results"):
        reproduce.reproduce(reproduce.Options(tables=("vslnet_table2",), data_root=str(tmp_path), out_dir=str(out_dir)))


def test_run_state(tmp_path):
    identity = {"smoke": False, "run": "x", "seed": 1}
    assert reproduce.run_state(str(tmp_path / "absent"), identity) == "new"
    (tmp_path / reproduce.RUN_FILE).write_text(json.dumps({"identity": identity}))
    assert reproduce.run_state(str(tmp_path), identity) == "partial"
    (tmp_path / "metrics.json").write_text("{}")
    assert reproduce.run_state(str(tmp_path), identity) == "done"
    with pytest.raises(reproduce.RunFolderError, match="other settings"):
        reproduce.run_state(str(tmp_path), dict(identity, seed=2))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x").write_text("")
    with pytest.raises(reproduce.RunFolderError, match="not made by"):
        reproduce.run_state(str(foreign), identity)


def test_rows_and_seeds_are_validated():
    with pytest.raises(app.UsageError, match="unknown rows"):
        reproduce.selected_rows(reproduce.Options(tables=("vslnet_table2",), rows=("nope",)))
    with pytest.raises(KeyError, match="unknown table"):
        reproduce.selected_rows(reproduce.Options(tables=("vslnet_table5",)))
    run = configs.get_table("vslnet_table2").rows[0].run
    with pytest.raises(app.UsageError, match="lists 5 seeds"):
        reproduce.run_seeds(run, reproduce.Options(tables=(), seeds=9))
    assert reproduce.run_seeds(run, reproduce.Options(tables=(), seeds=2)) == (12345, 1)


def test_every_real_run_gives_valid_train_flags(tmp_path):
    from common.training import flags as flags_lib

    for feature_set in data.FEATURE_SETS.values():
        os.makedirs(tmp_path / "features" / feature_set.paths[0])
    os.makedirs(tmp_path / "tacos_org")
    (tmp_path / "tacos_org" / "durations.json").write_text("{}")
    options = reproduce.Options(tables=("all",), data_root=str(tmp_path), out_dir=str(tmp_path / "out"))
    if "run_dir" not in flags.FLAGS:
        train.define_flags()
    with flagsaver.flagsaver():
        for run in configs.all_runs().values():
            run_dir, args, identity = reproduce.plan_run(run, run.seeds[1], options)
            assert run_dir == str(tmp_path / "out" / "runs" / run.name / "seed_1") and identity["seed"] == 1
            flag_values = reproduce._parse_train_flags([f"--run_dir={run_dir}", *args])
            model, data_config, trainer = flags_lib.build_configs(flag_values, train.initial_model_config(flag_values))
            feature_set = data.FEATURE_SETS[run.features]
            assert data_config.feature_path == str(tmp_path / "features" / feature_set.paths[0]).rstrip("/")
            assert data_config.dataset == run.dataset and model.max_pos_len == run.max_pos_len
            assert (trainer.seed, trainer.protocol, trainer.epochs) == (1, "original", run.hparam_dict["epochs"])
            assert not flag_values.export and data_config.processed_dir.startswith(str(tmp_path / "out"))
            for name, value in run.hparam_dict.items():
                expected = [int(v) for v in value.split(",")] if name == "scales" else value
                assert getattr(model, name, getattr(trainer, name, None)) == expected, (run.name, name)
            for name, value in run.override_dict.items():
                assert getattr(model, name) == value
            if run.dataset == "activitynet":
                assert (data_config.anet_test_split, data_config.reversed_moments) == (run.test_split, "keep")
            if run.dataset == "tacos_org":
                assert data_config.tacos_org_durations == str(tmp_path / "tacos_org" / "durations.json")


def test_command_line_rerun_writes_the_table_from_finished_runs(smoke):
    out_dir, _ = smoke
    process = subprocess.run(
        [sys.executable, "-m", "experiments.reproduce", "--table=vslnet_table7", "--smoke", f"--out_dir={out_dir}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "done already" in process.stdout and "training in" not in process.stdout
    assert "wrote" in process.stdout and (out_dir / "vslnet_table7.md").exists()
