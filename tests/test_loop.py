"""The data scientist's loop: runs listed and compared, ids by prefix, one store per project."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from clout import tracking
from clout.cli import app
from clout.config import load_experiment
from clout.errors import ConfigError, NotFound
from clout.pipeline import train
from support import quick_tiny


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def two_runs(tiny_run, tmp_path_factory):
    """The tiny experiment's run and a changed copy of it (quick, no components)."""
    path = quick_tiny(tmp_path_factory.mktemp("loop"), "changed")
    changed = train(load_experiment(path), say=lambda _: None)
    return tiny_run[0].run_id, changed.run_id


def test_a_run_is_found_by_a_prefix_of_its_id(two_runs):
    first, _ = two_runs
    assert tracking.resolve_run(first[:8]) == first
    assert tracking.resolve_run(first) == first
    with pytest.raises(NotFound, match="no run starts with ffff0000"):
        tracking.resolve_run("ffff0000")
    with pytest.raises(ConfigError, match="a run id or a prefix of at least 4"):
        tracking.resolve_run("abc")
    shown = invoke("importance", first[:8], "--head", "retweets", "--top", "3")
    assert shown.exit_code == 0 and f"run {first}" in " ".join(shown.output.split())


def test_runs_lists_the_newest_runs_with_their_headlines(two_runs):
    first, second = two_runs
    listed = invoke("runs", "--limit", "50")
    assert listed.exit_code == 0, listed.output
    for run in (first, second):
        assert run[:8] in listed.output
    assert "vs truth" in listed.output and "clout compare" in listed.output
    table = tracking.recent_runs(limit=50)
    assert table.loc[table["run"] == first[:8], "vs truth"].notna().all()


def test_compare_shows_what_differs_between_two_runs(two_runs):
    from clout.audit.compare import compare_runs

    first, second = two_runs
    tables = compare_runs(first, second)
    params = tables["parameters that differ"].set_index("parameter")
    assert params.loc["model.num_boost_round"].tolist() == ["2000", "150"]
    assert "model.seed" not in params.index  # the same in both
    metrics = tables["metrics"].set_index("metric")
    row = metrics.loc["score.spearman_true_influence"]
    assert float(row.iloc[2]) == pytest.approx(row.iloc[1] - row.iloc[0], rel=1e-2)
    # which way is better, said per metric
    better = first[:8] if row.iloc[0] > row.iloc[1] else second[:8]
    assert row["better"] == better
    deviance = metrics.loc["clicks.model.poisson_deviance"]
    assert deviance["better"] == (first[:8] if deviance.iloc[0] < deviance.iloc[1]
                                  else second[:8])
    assert metrics.loc["score.factor_per_10_points", "better"] == ""
    # rows that did not change are hidden unless every metric is asked for
    assert (metrics.iloc[:, 0] != metrics.iloc[:, 1]).all()
    every = compare_runs(first, second, every_metric=True)["metrics"]
    same = every[every.iloc[:, 1] == every.iloc[:, 2]]
    assert len(same) and (same["better"].isin(["same", ""])).all()
    assert len(every) > len(metrics)
    assert not [d for d in every.iloc[:, 3] if d.rstrip("0.") == "-"]  # no -0, no -0.000
    moved = tables["importance ranks that moved most (mean |SHAP|)"]
    assert len(moved) == 15 and moved["moved"].abs().is_monotonic_decreasing
    shown = invoke("compare", first[:8], second[:8])
    assert shown.exit_code == 0 and "parameters that differ" in shown.output


def test_runs_on_a_new_store_says_there_are_none_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'new.db'}")
    shown = invoke("runs")
    assert shown.exit_code == 0, shown.output
    assert "no runs yet" in shown.output and "train EXPERIMENT.yaml" in shown.output


def test_the_store_is_the_projects_whatever_the_working_directory(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "notebooks" / "deep").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    for where in (project, project / "notebooks", project / "notebooks" / "deep"):
        monkeypatch.chdir(where)
        assert tracking.tracking_uri() == f"sqlite:///{(project / 'mlflow.db').as_posix()}"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.chdir(outside)
    assert Path(tracking.tracking_uri().removeprefix("sqlite:///")).parent == outside


def test_a_copied_experiment_never_takes_the_baselines_place(tmp_path, monkeypatch):
    # copy an experiment, keep its name, change one thing: the baseline's run, outputs and
    # scores stay the baseline's
    monkeypatch.chdir(tmp_path)
    baseline = quick_tiny(tmp_path, "baseline")
    copy = tmp_path / "copy.yaml"
    copy.write_text(baseline.read_text().replace("num_leaves: 7", "num_leaves: 5"))
    trained = {path.stem: invoke("train", path) for path in (baseline, copy)}
    assert all(t.exit_code == 0 for t in trained.values()), trained
    assert "also named 'baseline'" in " ".join(trained["copy"].output.split())
    models = {stem: (tmp_path / "data" / "processed" / stem / "model").is_dir()
              for stem in ("baseline", "copy")}
    assert models == {"baseline": True, "copy": True}  # one folder per file
    listed = tracking.recent_runs(limit=10)
    baseline_runs = listed[listed["name"].str.startswith("baseline")]
    assert len(baseline_runs) >= 2 and baseline_runs["run"].is_unique  # one name, two ids
    from clout.scoring.score import InfluenceModel
    expected = InfluenceModel.load(tmp_path / "data" / "processed" / "baseline" / "model")
    scored = invoke("score", baseline, "--out", tmp_path / "s.parquet")
    assert scored.exit_code == 0 and expected.version in scored.output
    import pandas as pd
    scores = pd.read_parquet(tmp_path / "s.parquet")
    by_topic = pd.read_parquet(tmp_path / "s-topics.parquet")  # what each account is about
    audience = pd.read_parquet(tmp_path / "s-audience.parquet")  # and over whom
    assert set(by_topic["account_id"]) <= set(scores["account_id"]) and len(by_topic) > len(
        scores["account_id"].unique()) / 2
    assert {"engagers", "influential_engagers", "audience_topics"} <= set(audience.columns)
    never = tmp_path / "never.yaml"
    never.write_text(baseline.read_text())
    missing = invoke("score", never)
    assert missing.exit_code == 2
    assert "train it first (clout train" in " ".join(missing.output.split())


def test_a_training_run_is_open_while_it_trains_and_a_failure_ends_it_failed(
        tmp_path, monkeypatch):
    import mlflow

    from clout.pipeline import training

    seen = {}

    def fails(*args, **kwargs):
        seen["active"] = mlflow.active_run().info.run_id  # opened before the work
        raise RuntimeError("the machine fell over")
    monkeypatch.setattr(training, "fit_model", fails)
    with pytest.raises(RuntimeError, match="fell over"):
        train(load_experiment(quick_tiny(tmp_path, "falls")), say=lambda _: None)
    run = mlflow.get_run(seen["active"])
    assert run.info.status == "FAILED" and run.data.params["model.seed"] == "3"
    assert run.data.tags["clout.experiment_file"].endswith("falls.yaml")


def test_a_run_is_named_by_what_it_changes_from_its_parent(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'own.db'}")
    baseline = quick_tiny(tmp_path, "baseline")
    leaves = tmp_path / "leaves.yaml"
    leaves.write_text(baseline.read_text().replace("name: baseline", "name: leaves")
                      .replace("num_leaves: 7", "num_leaves: 5"))
    runs = {}
    for key, path in (("first", baseline), ("leaves", leaves), ("again", baseline)):
        assert invoke("train", path, "--out", tmp_path / key).exit_code == 0
        runs[key] = tracking.latest_run(source=path)
    tags = {key: MlflowClient().get_run(run).data.tags for key, run in runs.items()}
    assert tracking.PARENT_TAG not in tags["first"]  # the store's first run
    first = runs["first"][:8]
    assert tags["leaves"][tracking.PARENT_TAG] == runs["first"]
    assert tags["leaves"]["mlflow.runName"] == \
        f"leaves {runs['leaves'][:8]} (num_leaves 7→5 vs {first})"
    assert tags["leaves"][tracking.CHANGES_TAG] == "model.params.num_leaves: 7 → 5"
    # unchanged: its parent is the earlier run with the same settings, not the newer copy
    assert tags["again"][tracking.PARENT_TAG] == runs["first"]
    assert tags["again"]["mlflow.runName"].endswith(f"(as {first})")
    shown = invoke("compare", runs["leaves"][:8])  # one run: against its parent
    assert shown.exit_code == 0
    assert "model.params.num_leaves" in shown.output and first in shown.output
    orphan = invoke("compare", first)
    assert orphan.exit_code == 2 and "has no parent" in orphan.output


def test_a_changes_note_names_each_parameter_by_its_shortest_unambiguous_name():
    changes = {"data.seed": ("7", "8"), "model.seed": ("7", "9"),
               "model.params.num_leaves": ("31", "63"), "model.objective": ("poisson", "tweedie")}
    assert tracking.describe_changes("0123456789abcdef", changes) == \
        " (data.seed 7→8, model.seed 7→9, num_leaves 31→63, +1 more vs 01234567)"


def test_a_model_name_or_alias_not_yet_promoted_says_how_to_promote(tiny_run, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'fresh.db'}")
    for command in (["example-request"], ["export", "models:/clout@champion"],
                    ["serve", "models:/clout@champion"]):
        refused = invoke(*command)
        said = " ".join(refused.output.split())
        assert refused.exit_code == 2, refused.output
        assert "no model is registered as 'clout' yet" in said
        assert "clout promote RUN --alias champion" in said
    monkeypatch.undo()  # the session's store, where the tiny run is
    assert invoke("promote", tiny_run[0].run_id[:8]).exit_code == 0
    gold = invoke("example-request", "models:/clout@gold")
    assert gold.exit_code == 2 and "no version of 'clout' has the alias 'gold'" in gold.output
    assert invoke("example-request", "models:/clout@champion").exit_code == 0


def test_bad_arguments_are_refused_before_any_data_is_read(tiny_experiment_file, monkeypatch):
    from clout import pipeline

    def heavy(*args, **kwargs):
        raise AssertionError("read data before checking the arguments")
    monkeypatch.setattr(pipeline, "load_source", heavy)
    monkeypatch.setattr(pipeline, "run_features", heavy)
    for command, words in (
            (["score", tiny_experiment_file, "--cutoff", "2024-13-01"], "expected a date"),
            (["explain", "5", "--cutoff", "2024-13-01"], "expected a date"),
            (["explain", "abc"], "is not an id"),
            (["explain", "5", "--run", "zz"], "a run id or a prefix"),
            (["score", tiny_experiment_file, "--run", "ffff0000"], "no run starts with")):
        refused = CliRunner().invoke(app, [str(a) for a in command])
        assert refused.exit_code == 2, (command, refused.output)
        assert words in " ".join(refused.output.split()), (command, refused.output)
