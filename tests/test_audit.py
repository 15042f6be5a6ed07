"""Importance side by side: every measure for every head, consistent with each other where they
must be, with the catalogue's family and definition, and ranks across seeds."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from clout.audit.importance import MEASURES
from clout.tracking import logged_table


def test_every_head_and_feature_has_every_measure_and_its_definition(tiny_run):
    result, _ = tiny_run
    table = result.evaluation.importance
    for kind, head in result.model.heads.items():
        rows = table[table["head"] == kind]
        assert sorted(rows["feature"]) == sorted(head.features)
        for measure in MEASURES:
            assert rows[f"{measure}_rank"].min() == 1
        assert (rows["mean_abs_shap"] >= 0).all()
    assert (table["family"] != "").all() and (table["definition"] != "").all()


def test_a_feature_no_tree_splits_on_moves_nothing(tiny_run):
    # SHAP and permutation must agree with the trees: a feature never split on (and not part of
    # the history the head starts from) has no effect on any prediction
    result, _ = tiny_run
    table = result.evaluation.importance
    for kind, head in result.model.heads.items():
        history = set(head.offset.columns) if head.offset else set()
        unused = table[(table["head"] == kind) & (table["split"] == 0)
                       & ~table["feature"].isin(history)]
        assert len(unused) > 0
        assert (unused["mean_abs_shap"] == 0).all() and (unused["permutation"] == 0).all()
        used = table[(table["head"] == kind) & (table["split"] > 0)]
        assert used["permutation"].max() > 0 and used["mean_abs_shap"].min() > 0


def test_rank_stability_across_seeds_is_reported_and_logged(tiny_run):
    result, _ = tiny_run
    stability = result.evaluation.stability
    assert {"rank_seed_3", "rank_seed_4", "rank_spread"} <= set(stability.columns)
    # the run's own seed ranks features as the importance table does (same model, same sample)
    importance = result.evaluation.importance.set_index(["head", "feature"])
    own = stability.set_index(["head", "feature"])["rank_seed_3"]
    assert (own == importance.loc[own.index, "mean_abs_shap_rank"]).all()
    # and the other seed is another model: some ranks move
    assert stability["rank_spread"].max() > 0
    client = mlflow.MlflowClient()
    logged = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"importance.json", "importance_stability.json"} <= logged
    table = logged_table(result.run_id, "importance.json")
    assert {"mean_abs_shap", "permutation", "definition"} <= set(table.columns)


def test_cli_prints_a_runs_importance(tiny_run):
    from typer.testing import CliRunner

    from clout.cli import app

    result, _ = tiny_run
    shown = CliRunner().invoke(app, ["importance", result.run_id, "--head", "retweets",
                                     "--top", "5"])
    assert shown.exit_code == 0, shown.output
    top = result.evaluation.importance.query("head == 'retweets'").iloc[0]["feature"]
    assert top in shown.output
    wrong = CliRunner().invoke(app, ["importance", result.run_id, "--head", "shares"])
    assert wrong.exit_code == 2 and "no head 'shares'" in wrong.output


def test_explanations_add_up_to_the_score_and_work_beyond_training(tiny_run, tiny_world):
    from clout.audit.explain import explain
    from clout.features.build import build_features, load_tables
    from clout.features.config import FeatureConfig
    from clout.pipeline import score_accounts

    result, _ = tiny_run
    dataset, _ = tiny_world
    # the day after the data ends: a cutoff no model saw, with every account that exists then
    today = score_accounts(result.model, dataset)
    frame = build_features(load_tables(dataset), [today["cutoff"].iloc[0]],
                           FeatureConfig(**result.model.info["features"]), labels=False)
    showing = frame.loc[~result.model.is_silent(frame), "account_id"]
    for account in showing.head(5):
        e = explain(result.model, frame, account)
        assert abs(e.contributions["points"].sum() - (e.continuous - e.baseline)) < 1e-6
        assert e.score == int(np.clip(np.rint(e.continuous), 1, 100))
        assert e.score == int(today.loc[today["account_id"] == account, "score"].iloc[0])
        assert e.contributions["points"].abs().is_monotonic_decreasing
        # the parts shown add up exactly too: the rest in one row
        shown = e.top(3)
        assert list(shown["feature"][:3]) == list(e.contributions["feature"][:3])
        assert shown["feature"].iloc[-1] == f"(all {len(e.contributions) - 3} other features)"
        assert abs(shown["points"].sum() - (e.continuous - e.baseline)) < 1e-6
    for silent, why in ((frame["posts_90d"] == 0, "no posts in 90 days"),
                        ((frame["posts_90d"] > 0) & result.model.is_silent(frame),
                         "no credible engagement in 90 days")):
        e = explain(result.model, frame, frame.loc[silent, "account_id"].iloc[0])
        assert e.contributions.empty and e.silent == why and e.score == 1
    # what the defences discounted is said, as the feature table has it (the tiny world's rings
    # engage each other's every post)
    share = frame.set_index("account_id")["coordinated_engagement_share_90d"]
    ring = share.idxmax()
    assert share[ring] > 0.5 and explain(result.model, frame, ring).discounted == share[ring]
    with pytest.raises(LookupError, match="not in the feature table"):
        explain(result.model, frame, -42)


def test_cli_explains_an_account_and_refuses_an_unknown_one(tiny_run):
    from typer.testing import CliRunner

    from clout.cli import app

    result, _ = tiny_run
    account = str(result.evaluation.scores.query("score > 1")["account_id"].iloc[0])
    shown = CliRunner().invoke(app, ["explain", account, "--run", result.run_id])
    assert shown.exit_code == 0, shown.output
    assert "add up to the difference" in shown.output
    assert "other features)" in shown.output  # the rows shown add up, the rest in one
    assert "(own history) is where the heads start" in shown.output
    # what it is influential about, and over whom
    assert "topics: what it is influential about" in shown.output
    assert "audience (over whom):" in shown.output and "what they post about: topic_" in (
        " ".join(shown.output.split()))
    from clout.data.simulator import preset, simulate
    world, truth = simulate(preset("tiny", seed=3))  # the tiny experiment's world
    ring = truth.query("role == 'ring'")["account_id"].iloc[0]
    discounted = CliRunner().invoke(app, ["explain", str(ring), "--run", result.run_id])
    assert "counts for nothing, as bought engagement does" in discounted.output, discounted.output
    assert "discounted engagers" in discounted.output
    # who they are and which rule: the ring's other members, engaging nearly every post
    from clout.gaming import attack_date
    from clout.pipeline import discounted_engagers
    engagers = discounted_engagers(result.model.feature_config, world, ring, attack_date(world))
    members = truth.query("role == 'ring'")["account_id"]
    assert len(engagers) and engagers["engager_id"].isin(members).all()
    assert set(engagers["rule"]) == {"coordinated"} and ring not in set(engagers["engager_id"])
    assert engagers["engagements"].is_monotonic_decreasing
    assert all(f"│ {e} " in discounted.output for e in engagers["engager_id"].head(10))
    for wrong in ("999999", "99999999999999999999999", "abc"):  # unknown, overflowing, not an id
        unknown = CliRunner().invoke(app, ["explain", wrong, "--run", result.run_id])
        assert unknown.exit_code == 2 and wrong in unknown.output, unknown.output
        assert "Traceback" not in unknown.output and "np.int64" not in unknown.output
