"""Guarded releases: a normal retrain passes; a corrupted batch is refused and the served release
stays; overrides need a reason; rollback serves the previous release; nothing is overwritten."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clout.cli import app
from clout.export.release import GateThresholds, ReleaseRefused, Releases
from clout.pipeline import score_accounts

LIMITS = GateThresholds()


def batch(seed: int = 0, n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"account_id": np.arange(n),
                         "score": np.clip(np.rint(rng.normal(40, 15, n)), 1, 100).astype(int),
                         "model_version": "m1"})


def retrained(scores: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """A normal retrain: most accounts move a few points, a few move a lot."""
    rng = np.random.default_rng(seed)
    step = np.rint(rng.normal(0, 3, len(scores))).astype(int)
    step[rng.random(len(scores)) < 0.05] += 15
    return scores.assign(score=np.clip(scores["score"] + step, 1, 100), model_version="m2")


@pytest.fixture
def releases(tmp_path) -> Releases:
    releases = Releases(tmp_path / "releases")
    releases.publish(batch(), LIMITS)
    return releases


def test_a_normal_retrain_passes_and_both_releases_are_kept(releases):
    number, checks = releases.publish(retrained(batch()), LIMITS)
    assert number == 2 and releases.current == 2
    assert all(c.passed for c in checks)
    assert releases.numbers() == [1, 2]
    assert releases.scores(1)["model_version"].eq("m1").all()


@pytest.mark.parametrize("corrupt, failing", [
    (lambda s: s.assign(score=1), {"collapsed", "moved", "median"}),
    (lambda s: s.sample(frac=0.5, random_state=0), {"coverage"}),
    (lambda s: s.assign(account_id=np.random.default_rng(0).permutation(s["account_id"])),
     {"moved"}),
])
def test_a_corrupted_batch_is_refused_and_the_served_release_stays(releases, corrupt, failing):
    served = releases.scores()
    with pytest.raises(ReleaseRefused) as refused:
        releases.publish(corrupt(retrained(batch())), LIMITS)
    assert {c.name for c in refused.value.checks if not c.passed} == failing
    assert releases.current == 1 and releases.numbers() == [1]
    pd.testing.assert_frame_equal(releases.scores(), served)
    assert releases.history()[-1]["event"] == "refused"


def test_force_needs_a_reason_and_records_it(releases):
    ones = batch().assign(score=1)
    with pytest.raises(ValueError, match="needs --reason"):
        releases.publish(ones, LIMITS, force=True)
    number, _ = releases.publish(ones, LIMITS, force=True, reason="new scale, agreed")
    assert releases.current == number == 2
    assert releases.info(2)["forced"] and releases.info(2)["reason"] == "new scale, agreed"
    assert releases.history()[-1]["event"] == "forced"


def test_rollback_serves_the_previous_release_and_keeps_every_release(releases):
    releases.publish(retrained(batch()), LIMITS)
    assert releases.rollback() == 1
    assert releases.current == 1 and releases.numbers() == [1, 2]
    with pytest.raises(LookupError, match="no release before 1"):
        releases.rollback()
    assert releases.publish(retrained(batch()), LIMITS)[0] == 3  # numbers are never reused


def test_a_batch_of_the_wrong_shape_is_refused_outright(releases):
    duplicated = pd.concat([batch(), batch().head(3)])
    with pytest.raises(ValueError, match="account_id: 3 duplicated"):
        releases.publish(duplicated, LIMITS)
    with pytest.raises(ValueError, match="outside 1-100"):
        releases.publish(batch().assign(score=0), LIMITS)
    assert releases.current == 1


def test_real_scores_a_week_apart_pass_the_gate(tiny_run, tiny_world, tmp_path):
    result, _ = tiny_run
    dataset, _ = tiny_world
    week = pd.Timedelta(days=7)
    releases = Releases(tmp_path / "real")
    releases.publish(score_accounts(result.model, dataset, result.split.test - week), LIMITS)
    number, checks = releases.publish(score_accounts(result.model, dataset, result.split.test),
                                      LIMITS)
    assert number == 2, checks


def test_cli_publish_refuse_and_rollback(tmp_path, tiny_experiment_file):
    runner, directory = CliRunner(), tmp_path / "cli-releases"
    first, ones = tmp_path / "first.parquet", tmp_path / "ones.parquet"
    batch().to_parquet(first)
    batch().assign(score=1).to_parquet(ones)

    def release(*args):
        return runner.invoke(app, ["release", *map(str, args), "--dir", str(directory)])
    assert release("publish", tiny_experiment_file, first).exit_code == 0
    refused = release("publish", tiny_experiment_file, ones)
    assert refused.exit_code == 1 and "release 1 stays served" in refused.output
    assert release("publish", tiny_experiment_file, ones, "--force", "--reason",
                   "test").exit_code == 0
    assert release("rollback", tiny_experiment_file).exit_code == 0
    listed = release("list", tiny_experiment_file)
    assert listed.exit_code == 0 and "test" in listed.output
    assert Releases(directory).current == 1
