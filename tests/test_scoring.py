"""The 1-100 map, the weights, and a saved model that scores exactly as the trained one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clout.data.influence import COMPONENTS, log10_influence
from clout.errors import ConfigError, ModelError
from clout.scoring.score import (
    InfluenceModel,
    InvalidFeatures,
    Recipe,
    ScoreMap,
    normalise_weights,
    parse_weights,
)
from support import run_killed


def test_score_map_is_monotone_bounded_and_means_a_fixed_factor():
    score_map = ScoreMap.fit(10 ** np.linspace(-2, 2, 1001), 0.0 + 1e-9, 1 - 1e-9)
    expected = 10 ** np.linspace(-4, 4, 500)
    scores = score_map(expected)
    assert scores.min() == 1 and scores.max() == 100
    assert (np.diff(scores) >= 0).all()
    # 99 points span four decades: 10 points are 10 ** (40 / 99)
    assert score_map.factor(10) == pytest.approx(10 ** (40 / 99))
    assert score_map.expected_at(score_map.continuous(3.0)) == pytest.approx(3.0)
    assert score_map(np.array([0.0]))[0] == 1  # no engagement at all: the floor


def test_score_map_refuses_a_population_with_nothing_to_rank():
    with pytest.raises(ValueError, match="nothing to score"):
        ScoreMap.fit(np.ones(100), 0.01, 0.99)


def test_weights_default_to_equal_and_are_checked():
    assert normalise_weights(["clicks", "retweets"], None) == {"clicks": 0.5, "retweets": 0.5}
    assert normalise_weights(["clicks", "retweets"], {"retweets": 3, "clicks": 1}) == {
        "clicks": 0.25, "retweets": 0.75}
    with pytest.raises(ValueError, match="likes"):
        normalise_weights(["clicks"], {"likes": 1})


def test_a_model_scores_every_account_within_bounds(built):
    model, test, _, _ = built
    scores = model.score(test)
    assert scores["score"].between(1, 100).all()
    assert {"score", *COMPONENTS} <= set(scores.columns)
    assert scores["model_version"].nunique() == 1
    assert scores["score_version"].iloc[0] == model.score_map.id
    # amplification combines the heads' rates; the score is the frozen map of the components'
    # weighted geometric mean, each component the frozen map of its own value
    rates = {k: scores[f"expected_{k}_per_post"].to_numpy() for k in model.heads}
    assert np.allclose(model.expected_engagement(rates), scores["expected_engagement"])
    values = {"amplification": scores["expected_engagement"], "reach": scores["expected_engagers"],
              "network": scores["engagers_reach"]}
    overall = 10 ** log10_influence(values, model.component_weights)
    # accounts with posts get the frozen maps; accounts without have shown nothing: 1
    posting = test["posts_90d"].to_numpy() > 0
    assert (model.score_map(overall)[posting] == scores["score"][posting]).all()
    for name in COMPONENTS:
        mapped = model.component_maps[name](values[name])
        assert (mapped[posting] == scores[name][posting]).all(), name
    assert (scores.loc[~posting, ["score", *COMPONENTS]] == 1).all().all()
    assert posting.any() and (~posting).any()
    # a 1 says why, and what it stands for: nothing shown, nothing expected
    assert (scores.loc[~posting, "why_score_1"] == "no posts in 90 days").all()
    assert (scores.loc[~posting, ["expected_engagement", "expected_engagers",
                                  "engagers_reach"]] == 0).all().all()
    ones = scores["score"] == 1
    assert (scores.loc[ones, "why_score_1"] != "").all()
    assert (scores.loc[~ones, "why_score_1"] == "").all()
    shown = scores.loc[ones & posting, "why_score_1"]
    assert set(shown) <= {"no credible engagement in 90 days",
                          "expected influence at or below the scale's low end"}
    # more of the combined value, never a lower score
    order = np.argsort(np.asarray(overall)[posting])
    assert (np.diff(scores.loc[posting, "score"].to_numpy()[order]) >= 0).all()
    assert model.points_meaning().startswith(
        f"+10 points = x{model.score_map.factor(10):.2f} reach^0.5 x amplification^0.25 x "
        "network^0.25; ")
    # +10 points on a component is the same factor on its value everywhere on the scale
    for name, score_map in model.component_maps.items():
        low, high = score_map.expected_at(np.array([20, 30])), score_map.expected_at([70, 80])
        assert high[1] / high[0] == pytest.approx(low[1] / low[0]) == pytest.approx(
            score_map.factor(10)), name


def test_saved_model_scores_identically_and_detects_tampering(built, tmp_path):
    model, test, _, _ = built
    saved = model.save(tmp_path / "model")
    loaded = InfluenceModel.load(saved)
    pd.testing.assert_frame_equal(loaded.score(test), model.score(test))
    assert loaded.version == model.version
    assert {k: h.target for k, h in loaded.heads.items()} == {
        k: h.target for k, h in model.heads.items()}

    manifest = json.loads((saved / "model.json").read_text())
    manifest["score_map"]["high"] += 0.1
    (saved / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="do not match the version"):
        InfluenceModel.load(saved)


def test_a_damaged_booster_is_refused_before_it_is_parsed(built, tmp_path):
    # a booster whose length changed used to abort the process inside LightGBM (rc 134)
    model, _, _, _ = built
    folder = model.save(tmp_path / "model")
    booster = folder / "heads" / "score-retweets.txt"
    booster.write_text(booster.read_text()[:500] + "\ntree_sizes=99999999\n")
    with pytest.raises(ModelError, match="do not match the version"):
        InfluenceModel.load(folder)
    booster.unlink()
    with pytest.raises(FileNotFoundError, match="model files missing: heads/score-retweets.txt"):
        InfluenceModel.load(folder)


def test_a_logged_model_whose_code_was_edited_is_refused_before_it_runs(built, tmp_path):
    import mlflow
    from mlflow.models import get_model_info

    from clout.export.mlflow_model import load_influence_model
    _, _, _, run_id = built
    uri = f"runs:/{run_id}/clout"
    assert load_influence_model(uri).version  # as logged: loads
    # the stored copy of the model's code, in the test's local artifact store
    stored = mlflow.get_logged_model(get_model_info(uri).model_id).artifact_location
    code = Path(stored.removeprefix("file://")) / "pyfunc_model.py"
    assert code.is_file()
    original, marker = code.read_text(), tmp_path / "ran"
    try:
        code.write_text(f"open({str(marker)!r}, 'w').close()\n" + original)
        with pytest.raises(ModelError, match="do not match the digest its run recorded"):
            load_influence_model(uri)
        assert not marker.exists()  # the edited code never ran
    finally:
        code.write_text(original)
    assert load_influence_model(uri).version


SAVE = """
from dataclasses import replace
from clout.scoring.score import InfluenceModel
model = InfluenceModel.load(sys.argv[1])
replace(model, score_map=replace(model.score_map, high=model.score_map.high + 1)).save(sys.argv[1])
"""


@pytest.mark.parametrize("kill_at", range(1, 12))
def test_a_save_killed_at_any_step_keeps_a_whole_model(built, tmp_path, kill_at):
    # the folder holds a model; another save into it dies before its k-th disk step
    model, test, _, _ = built
    folder = model.save(tmp_path / "model")
    if not run_killed(SAVE, kill_at, folder):
        assert InfluenceModel.load(folder).version != model.version  # the new one, whole
        return
    leftovers = sorted(p.name.split("-")[0] for p in tmp_path.iterdir() if p != folder)
    if folder.exists():  # the old model, or the new one once renamed in: whole either way
        loaded = InfluenceModel.load(folder)
        assert len(loaded.score(test)) == len(test)
    else:  # killed between the two renames: both are whole beside it, nothing is lost
        assert leftovers == [".model.new", ".model.old"]
        old = next(tmp_path.glob(".model.old-*")) / "model"
        assert InfluenceModel.load(old).version == model.version


def test_a_feature_table_the_model_cannot_score_is_refused_with_the_reason(built):
    model, test, _, _ = built
    with pytest.raises(InvalidFeatures, match="lacks 1 column.*followers"):
        model.score(test.drop(columns=["followers"]))
    with pytest.raises(InvalidFeatures, match="posts_7d: expected numbers"):
        model.score(test.assign(posts_7d="many"))
    broken = test.copy()
    broken.loc[broken.index[:3], "unique_engagers_28d"] = -1
    with pytest.raises(InvalidFeatures, match="unique_engagers_28d: 3 row.*negative"):
        model.score(broken)
    shrinking = test.assign(followers_growth_7d=-0.5)  # a ratio that may fall: accepted
    assert len(model.score(shrinking)) == len(test)


def test_weights_at_query_time_are_parsed_and_checked():
    assert parse_weights("") is None and parse_weights(" likes:1, replies:3 ") == {
        "likes": 1.0, "replies": 3.0}
    for bad in ("likes", "likes:x", "likes:inf", "likes:1,:"):
        with pytest.raises(ConfigError, match="weights: head:weight pairs"):
            parse_weights(bad)
    heads = ["retweets", "likes"]
    for weights, said in (({"clicks": 1}, "heads the model does not have: clicks"),
                          ({"likes": -1, "retweets": 2}, "cannot be negative: likes"),
                          ({"likes": 0}, "all zero")):
        with pytest.raises(ConfigError, match=said):
            normalise_weights(heads, weights, said="weights")


def test_a_recipe_recombines_scored_rows_as_the_model_scores_them(built):
    """No model needed: the per-head expectations a batch keeps and the frozen maps give the
    model's own score, under its weights and under others."""
    model, test, _, _ = built
    scored = model.score(test)
    assert (scored["why_score_1"] != "").any()  # silent accounts are in the batch
    columns = ["score", *model.component_maps, "expected_engagement"]
    same = model.recipe.rescore(scored)
    pd.testing.assert_frame_equal(same[columns], scored[columns])
    liked = model.recipe.reweighted({"likes": 3, "retweets": 1}).rescore(scored)
    direct = model.reweighted({"likes": 3, "retweets": 1}).score(test)
    pd.testing.assert_frame_equal(liked[columns], direct[columns])
    assert (liked["amplification"] != scored["amplification"]).any()
    assert (liked["reach"] == scored["reach"]).all()  # the heads' weights are amplification's
    assert model.recipe == Recipe.from_dict(json.loads(json.dumps(model.recipe.to_dict())))
