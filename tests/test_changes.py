"""Why a score moved between two releases (`audit.changes`): causes in points that add up to
the move for every account, from `clout explain --since`, the lookup's /changes and /history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clout.audit.changes import GROUPS, MODEL, ROUNDING, score_changes
from clout.cli import app
from clout.errors import NotFound
from clout.export.lookup import lookup_app
from clout.export.release import GateThresholds, Releases
from clout.pipeline import scored_batch
from support import get_json, running


@pytest.fixture(scope="module")
def releases(tiny_run, tiny_world, tmp_path_factory):
    """Three releases of the tiny world: a week before the test cutoff, the test cutoff (same
    model), the test cutoff again by the model with other weights (forced: a new model); and
    a fourth published without its model and features."""
    result, _ = tiny_run
    model, data = result.model, tiny_world[0]
    week = pd.Timedelta(days=7)
    store = Releases(tmp_path_factory.mktemp("changes") / "releases")
    reweighted = model.reweighted({"replies": 4, "likes": 1})
    for scorer, cutoff in ((model, result.split.test - week), (model, result.split.test),
                           (reweighted, result.split.test)):
        scores, rows = scored_batch(scorer, data, cutoff)
        store.publish(scores, GateThresholds(), force=True, reason="test", model=scorer,
                      features=rows)
    store.publish(scored_batch(reweighted, data, result.split.test)[0], GateThresholds())
    return store


def moves(store: Releases, since: int, now: int) -> pd.DataFrame:
    """Every account in both releases: its move and its parts, by cause."""
    return score_changes(store.scored(since), store.scored(now))


def test_the_parts_add_up_to_the_move_for_every_account(releases):
    data_moved = moves(releases, 1, 2)  # a week of data, one model
    causes = [*GROUPS, MODEL, ROUNDING]
    assert len(data_moved) > 100 and set(causes) <= set(data_moved.columns)
    assert np.allclose(data_moved[causes].sum(axis=1), data_moved["move"], atol=1e-9)
    assert (data_moved[MODEL] == 0).all()  # the same model: nothing from it
    assert (data_moved["move"] != 0).any() and (data_moved[list(GROUPS)].abs() > 0.5).any().any()
    assert (data_moved[ROUNDING].abs() < 1).all()
    model_moved = moves(releases, 2, 3)  # the same data, another model
    assert np.allclose(model_moved[causes].sum(axis=1), model_moved["move"], atol=1e-9)
    assert np.allclose(model_moved[list(GROUPS)], 0, atol=1e-9)  # nothing from the data
    assert (model_moved[MODEL].abs() > 0.5).any()
    both = moves(releases, 1, 3)
    assert np.allclose(both[causes].sum(axis=1), both["move"], atol=1e-9)


def test_one_account_is_explained_as_in_the_batch(releases):
    batch = moves(releases, 1, 3)
    account = int(batch["move"].abs().idxmax())
    alone = score_changes(releases.scored(1, [account]), releases.scored(3, [account]))
    pd.testing.assert_series_equal(alone.loc[account], batch.loc[account])


def test_a_release_without_its_model_cannot_say_why(releases):
    with pytest.raises(NotFound, match="release 4 was published without its model"):
        releases.scored(4)
    with pytest.raises(NotFound, match="account -1 is not in release 1"):
        releases.scored(1, [-1])
    with pytest.raises(NotFound, match="no release 9"):
        releases.scored(9)


def test_the_lookup_says_why_a_score_moved_and_its_history(releases):
    scores = releases.scores(3).merge(releases.scores(1), on="account_id", suffixes=("", "_1"))
    account = int(scores.loc[(scores["score"] - scores["score_1"]).abs().idxmax(), "account_id"])
    with running(lookup_app(releases)) as url:
        status, history = get_json(f"{url}/accounts/{account}/history")
        assert status == 200 and [r["release"] for r in history["releases"]] == [1, 2, 3, 4]
        assert [r["served"] for r in history["releases"]] == [False, False, False, True]
        assert history["releases"][0]["score"] == int(scores.set_index("account_id").loc[
            account, "score_1"])
        assert get_json(f"{url}/accounts/-1/history")[0] == 404
        status, refused = get_json(f"{url}/accounts/{account}/changes")  # release 4: no model
        assert status == 404 and "without its model" in refused["detail"]
        releases.rollback()  # release 3 served again, 2 before it
        status, why = get_json(f"{url}/accounts/{account}/changes?since=1")
        assert status == 200 and (why["since"], why["release"]) == (1, 3)
        assert why["move"] == why["to"] - why["from"] != 0
        assert sum(p["points"] for p in why["parts"]) == pytest.approx(why["move"], abs=1e-9)
        assert get_json(f"{url}/accounts/{account}/changes")[1]["since"] == 2


def test_explain_since_prints_the_parts(releases):
    account = int(releases.scores(1)["account_id"].iloc[-1])
    shown = CliRunner().invoke(app, ["explain", str(account), "--since", "1", "--dir",
                                     str(releases.directory)])
    assert shown.exit_code == 0, shown.output
    said = " ".join(shown.output.split())
    assert f"from release 1 to release {releases.current}" in said and MODEL in said
    assert "the parts add up to the move" in said
    missing = CliRunner().invoke(app, ["explain", "999999", "--since", "1", "--dir",
                                       str(releases.directory)])
    assert missing.exit_code == 2 and "account 999999 is not in release 1" in missing.output
