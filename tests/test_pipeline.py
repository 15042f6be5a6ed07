"""The default pipeline end to end on the tiny world: one MLflow run with everything a reviewer
needs, reproducible, scored from the CLI; and the Congress experiment on the real data."""

from __future__ import annotations

import lightgbm
import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clout.cli import app
from clout.config import load_experiment
from clout.errors import DataError
from clout.export.release import GateThresholds, Releases
from clout.pipeline import fit_model, score_accounts, train
from clout.scoring.score import InfluenceModel
from support import ROOT, shared_dataset

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_the_run_records_parameters_metrics_plots_and_the_model(tiny_run):
    result, _ = tiny_run
    client = mlflow.MlflowClient()
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert tags["data_fingerprint"] == result.data_fingerprint
    assert tags["model_version"] == result.model.version
    assert len(tags["git_commit"]) >= 40
    # what it computed with: versions, the machine, the pinned kernels (numerics.py)
    assert tags["env.lightgbm"] == lightgbm.__version__ and tags["env.cores"].isdigit()
    assert tags["env.pinned"] == "true" and tags["env.numpy_simd"] == "baseline"
    assert params["model.objective"] == "poisson" and params["data.seed"] == "3"
    assert params["model.seed"] == "3"
    for head in result.model.heads:
        for predictor in ("model", "historical_mean", "followers_only", "constant"):
            assert f"{head}.{predictor}.poisson_deviance" in metrics
    assert "score.spearman_true_influence" in metrics
    assert "score.score_gap_ring" in metrics

    def files(path=""):
        for item in client.list_artifacts(result.run_id, path):
            yield from files(item.path) if item.is_dir else [item.path]
    logged = set(files())
    expected = {"experiment.yaml", "metrics.json", "importance.json", "score_map.json",
                "score_distribution.png", "score_vs_truth.json",
                *(f"calibration/{k}.png" for k in result.model.heads)}
    assert expected <= logged


def test_the_run_logs_one_pyfunc_model_that_scores_as_the_trained_one(tiny_run):
    result, _ = tiny_run
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/clout")
    test = result.split.part(result.features, "test")
    rows = test[["account_id", *result.model.features]]
    assert pyfunc.metadata.get_input_schema().input_names() == list(rows.columns)
    served = pyfunc.predict(rows)
    pd.testing.assert_frame_equal(served, result.model.score(rows))
    assert {"score", "reach", "amplification", "network", "model_version",
            "score_version"} <= set(served.columns)
    with pytest.raises(mlflow.exceptions.MlflowException, match="credible_engagers_7d"):
        pyfunc.predict(rows.assign(credible_engagers_7d=-1))


def test_promote_then_score_with_the_alias(tiny_run, tiny_experiment_file, tmp_path):
    result, _ = tiny_run
    promoted = invoke("promote", result.run_id, "--alias", "champion")
    assert promoted.exit_code == 0, promoted.output
    assert "models:/clout@champion" in promoted.output
    out = tmp_path / "champion.parquet"
    scored = invoke("score", tiny_experiment_file, "--model", "models:/clout@champion",
                    "--out", out)
    assert scored.exit_code == 0, scored.output
    assert (pd.read_parquet(out)["model_version"] == result.model.version).all()
    assert invoke("promote", "no-such-run").exit_code == 2
    # registered from the run's logged model, without MLflow's warning of a missing path
    assert "has no artifacts" not in promoted.output
    # what clout serve serves, in the words a release uses
    from clout.export.mlflow_model import model_behind
    assert model_behind("models:/clout@champion") == (
        f"run {result.run_id[:8]}, model {result.model.version}")


def test_heads_beat_the_constant_and_followers_and_the_score_tracks_true_influence(tiny_run):
    result, _ = tiny_run
    metrics = result.evaluation.metrics.set_index(["head", "predictor"])["poisson_deviance"]
    for head in result.model.heads:
        assert metrics[head, "model"] < metrics[head, "constant"]
        assert metrics[head, "model"] < metrics[head, "followers_only"]
    assert result.evaluation.summary.score("spearman_true_influence_genuine") > 0.8
    # the heads learn engagement that is not traded back, so rings cannot trade their way up
    assert all(h.label.endswith("_credible_per_post_14d")
               for h in result.model.heads.values())


def test_excluded_and_buyable_features_are_left_out(tiny_run):
    result, _ = tiny_run
    # heads on credible engagement see nothing an attacker moves by buying engagement or
    # followers (the catalogue's buyable features), unless asked to
    assert "pagerank" not in result.model.features and "followers" not in result.model.features
    assert "trustrank" in result.model.features
    spec = result.experiment.model.model_copy(
        update={"exclude_features": ["trust*", "credible_*_7d"], "components": False,
                "buyable_features": True})
    model = fit_model(result.experiment.model_copy(update={"model": spec}), result.table,
                      result.split, say=lambda text: None)
    assert "trustrank" not in model.features
    assert not any(f.startswith("credible_") and f.endswith("_7d") for f in model.features)
    assert {"pagerank", "followers", "credible_engagers_28d"} <= set(model.features)


def test_nothing_for_nothing_an_account_without_credible_engagement_scores_1(tiny_run):
    result, _ = tiny_run
    model, test = result.model, result.split.part(result.features, "test")
    assert model.evidence == [f"credible_{k}_90d" for k in model.heads]
    credible = test[model.evidence].fillna(0).sum(axis=1) > 0
    posting = test["posts_90d"] > 0
    scores = model.score(test).set_index(test.index)
    assert (posting & ~credible).sum() > 0  # such accounts exist in the tiny world
    assert (scores.loc[~credible, "score"] == 1).all()
    assert (scores.loc[~credible, ["reach", "amplification", "network"]] == 1).all().all()
    assert (scores.loc[posting & credible, "score"] > 1).mean() > 0.9


def test_the_split_keeps_label_horizons_apart(tiny_run):
    result, _ = tiny_run
    split, horizon = result.split, pd.Timedelta(days=14)
    assert max(split.train) + horizon <= split.validation
    assert split.validation + horizon <= split.test
    assert result.model.info["test_cutoff"] == f"{split.test:%Y-%m-%d}"


def test_same_config_and_seed_give_the_same_model_and_scores(tiny_run, tiny_experiment_file):
    first, _ = tiny_run
    again = train(load_experiment(tiny_experiment_file), log=False, say=lambda text: None)
    assert again.model.version == first.model.version
    pd.testing.assert_frame_equal(again.evaluation.scores, first.evaluation.scores,
                                  check_exact=True)


def test_another_model_seed_retrains_on_the_same_world(tiny_run, tiny_experiment_file):
    first, _ = tiny_run
    other = train(load_experiment(tiny_experiment_file, **{"model.seed": 4,
                                                          "model.stability_seeds": []}),
                  log=False, say=lambda text: None)
    assert other.data_fingerprint == first.data_fingerprint
    pd.testing.assert_frame_equal(other.features, first.features, check_exact=True)
    assert other.model.version != first.model.version
    assert other.model.info["model_seed"] == 4 and other.model.info["data_seed"] == 3


def test_scores_today_for_every_account_with_the_trained_features(tiny_run, tiny_world):
    result, _ = tiny_run
    dataset, _ = tiny_world
    scores = score_accounts(result.model, dataset)
    assert scores["cutoff"].nunique() == 1
    assert scores["cutoff"].iloc[0] > result.split.test
    assert scores["score"].between(1, 100).all()
    assert scores["account_id"].is_unique
    assert set(scores["account_id"]) <= set(dataset.accounts["account_id"])


def test_cli_trains_and_scores(tiny_run, tiny_experiment_file, tmp_path):
    result, saved = tiny_run
    out = tmp_path / "scores.parquet"
    scored = invoke("score", tiny_experiment_file, "--run", result.run_id, "--out", out)
    assert scored.exit_code == 0, scored.output
    said = " ".join(scored.output.split())
    assert "model " + result.model.version in said
    # three lines: where the scores are, what they mean, what to do next
    assert f"scores: {out}" in said and "of them no posts in 90 days" in said
    assert "why_score_1 says which" in said  # the shares of each reason, and where to look
    assert "+10 points = x" in said and "next: make ui" in said and "clout explain " in said
    # the model and the rows it scored, beside them: a release of them keeps both (weights
    # at query time, why a score moved)
    assert InfluenceModel.load(tmp_path / "scores-model").version == result.model.version
    rows = pd.read_parquet(tmp_path / "scores-features.parquet")
    assert rows.columns.tolist() == ["account_id", *result.model.features]
    published = invoke("release", "publish", tiny_experiment_file, out, "--dir",
                       tmp_path / "releases")
    assert published.exit_code == 0, published.output
    kept = Releases(tmp_path / "releases")
    assert kept.recipe() == result.model.recipe and kept.model().version == result.model.version
    pd.testing.assert_frame_equal(kept.features(), rows)
    other = result.model.reweighted({"likes": 1})
    with pytest.raises(DataError, match=f"model: {other.version} is not the one"):
        kept.publish(pd.read_parquet(out), GateThresholds(), model=other)
    with pytest.raises(DataError, match="features: 1 account"):
        kept.publish(pd.read_parquet(out), GateThresholds(), features=rows.iloc[1:])
    from_run = pd.read_parquet(out)
    from_dir = invoke("score", tiny_experiment_file, "--model", saved / "model",
                      "--out", tmp_path / "again.parquet")
    assert from_dir.exit_code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "again.parquet"), from_run)
    # the default model is the experiment's latest run
    latest = invoke("score", tiny_experiment_file, "--out", tmp_path / "latest.parquet")
    assert latest.exit_code == 0 and result.model.version in latest.output


def test_cli_errors_are_clear(tmp_path, tiny_experiment_file):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nmodel: {objective: gamma}\n")
    failed = invoke("train", bad)
    assert failed.exit_code == 2 and "model.objective" in failed.output
    unknown = invoke("score", tiny_experiment_file, "--run", "0123456789abcdef")
    assert unknown.exit_code == 2 and "no run starts with 0123456789abcdef" in unknown.output
    no_run = tmp_path / "never-trained.yaml"
    no_run.write_text("data: {preset: tiny}\n")
    missing = invoke("score", no_run)
    assert missing.exit_code == 2 and "train it first" in " ".join(missing.output.split())


def test_a_source_without_posts_gets_per_account_heads(tmp_path):
    # the tiny world as events between accounts only (as Higgs): no posts, no post ids
    from dataclasses import replace

    from clout.data.dataset import write_dataset
    from clout.data.simulator import preset, simulate
    world, _ = simulate(preset("tiny", seed=3))
    directory = write_dataset(replace(world, posts=None, engagements=world.engagements.assign(
        post_id=pd.array([pd.NA] * len(world.engagements), "Int64"))), tmp_path / "events")
    experiment = load_experiment(ROOT / "experiments" / "default.yaml", **{
        "data.source": "directory", "data.path": str(directory), "cutoffs.weeks": 6,
        "model.components": False, "model.num_boost_round": 150})
    result = train(experiment, log=False, say=lambda text: None)
    heads = result.model.heads
    assert {h.target.label for h in heads.values()} == {
        f"label_{k}_credible_14d" for k in ("clicks", "retweets", "replies", "likes")}
    # every account of the population is labelled, one horizon each; the start is the
    # account's own credible count over the 90-day window, a rate per horizon, shrunk
    test = result.split.part(result.features, "test")
    rows, rate, exposure = heads["retweets"].target.labelled(test)
    assert len(rows) == len(test) and (exposure == 1).all()
    assert heads["retweets"].offset.posts_column is None
    assert heads["retweets"].offset.periods == 90 / 14
    metrics = result.evaluation.metrics.set_index(["head", "predictor"])
    for kind in heads:
        assert metrics.loc[(kind, "model"), "poisson_deviance"] < \
            metrics.loc[(kind, "constant"), "poisson_deviance"]
    # accounts that received no credible engagement in the window score 1
    scores = result.evaluation.scores.merge(test, on="account_id")
    silent = scores[[f"credible_{k}_90d" for k in heads]].sum(axis=1) == 0
    assert silent.any() and (scores.loc[silent, "score"] == 1).all()
    assert scores.loc[~silent, "score"].nunique() > 20
    # no posts, so no topics; the audience is still who credibly engages
    topics = result.evaluation.topics
    assert topics.scores.empty and len(topics.audience) > 20


def test_cli_train_without_logging(tmp_path):
    path = tmp_path / "quick.yaml"
    path.write_text("data: {preset: tiny}\ncutoffs: {weeks: 6}\nmodel: {components: false}\n")
    trained = invoke("train", path, "--no-log", "--out", tmp_path / "out")
    assert trained.exit_code == 0, trained.output
    assert "historical_mean" in trained.output
    assert (tmp_path / "out" / "model" / "model.json").is_file()


@pytest.mark.realdata
def test_congress_beats_the_historical_mean_on_deviance():
    shared_dataset("congress")
    experiment = load_experiment(ROOT / "experiments" / "congress.yaml",
                                 **{"model.components": False})
    result = train(experiment, log=False, say=lambda text: None)
    metrics = result.evaluation.metrics.set_index(["head", "predictor"])
    assert {"retweets", "likes"} == set(result.model.heads)  # Congress has no clicks
    for head in ("retweets", "likes"):
        assert metrics.loc[(head, "model"), "poisson_deviance"] < \
            metrics.loc[(head, "historical_mean"), "poisson_deviance"]
        assert metrics.loc[(head, "model"), "spearman"] > 0.6
    assert np.isfinite(result.evaluation.scores["score"]).all()
    # topics learned from the text before the test cutoff, audiences by party and chamber
    evaluation = result.evaluation
    assert len(evaluation.topic_terms) == 20
    assert evaluation.topics.example()["audience"]["audience_communities"]
