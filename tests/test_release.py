"""Guarded releases: a normal rescoring passes; a corrupted batch is refused and the served
release stays; overrides need a reason; rollback walks the history; nothing is overwritten or
lost, whatever dies half way and however many publish at once."""

from __future__ import annotations

import json
import multiprocessing
import os

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clout.cli import app
from clout.errors import ConfigError, DataError
from clout.export.release import GateThresholds, ReleaseRefused, Releases
from clout.pipeline import score_accounts
from support import run_killed

LIMITS = GateThresholds()


def batch(seed: int = 0, n: int = 2000, cutoff: str = "2024-06-03") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"account_id": np.arange(n),
                         "score": np.clip(np.rint(rng.normal(40, 15, n)), 1, 100).astype(int),
                         "model_version": "m1", "score_version": "s1",
                         "cutoff": pd.Timestamp(cutoff, tz="UTC")})


def next_week(scores: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """The same model a week later: most accounts move a point or two, a few a lot."""
    rng = np.random.default_rng(seed)
    step = np.rint(rng.normal(0, 1.5, len(scores))).astype(int)
    step[rng.random(len(scores)) < 0.02] += 15
    return scores.assign(score=np.clip(scores["score"] + step, 1, 100),
                         cutoff=scores["cutoff"] + pd.Timedelta(days=7))


def shuffle_part(scores: pd.DataFrame, share: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = rng.choice(len(scores), int(share * len(scores)), replace=False)
    shuffled = scores["score"].to_numpy().copy()
    shuffled[rows] = rng.permutation(shuffled[rows])
    return scores.assign(score=shuffled)


@pytest.fixture
def releases(tmp_path) -> Releases:
    releases = Releases(tmp_path / "releases")
    releases.publish(batch(), LIMITS)
    return releases


def test_a_normal_rescoring_passes_and_both_releases_are_kept(releases):
    number, checks = releases.publish(next_week(batch()), LIMITS)
    assert number == 2 and releases.current == 2
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    assert releases.numbers() == [1, 2]
    assert releases.scores(1)["cutoff"].eq(pd.Timestamp("2024-06-03", tz="UTC")).all()


@pytest.mark.parametrize("corrupt, failing", [
    (lambda s: s.assign(score=1), {"collapsed", "moved", "rank", "mean", "median",
                                   "distribution"}),
    (lambda s: s.sample(frac=0.5, random_state=0), {"coverage"}),
    (lambda s: s.assign(account_id=np.random.default_rng(0).permutation(s["account_id"])),
     {"moved", "rank"}),
    (lambda s: s.assign(score=np.clip(s["score"] + 4, 1, 100)), {"mean", "distribution"}),
    (lambda s: shuffle_part(s, 0.2), {"rank"}),
    (lambda s: s.assign(model_version="m2"), {"model_version"}),
    (lambda s: s.assign(score_version="s2"), {"score_version"}),
    (lambda s: s.assign(cutoff=pd.Timestamp("2021-01-04", tz="UTC")), {"cutoff"}),
], ids=["all ones", "half missing", "ids shuffled", "every score +4", "20% shuffled",
        "another model", "another score map", "cutoff years back"])
def test_a_corrupted_batch_is_refused_and_the_served_release_stays(releases, corrupt, failing):
    served = releases.scores()
    with pytest.raises(ReleaseRefused) as refused:
        releases.publish(corrupt(next_week(batch())), LIMITS)
    assert {c.name for c in refused.value.checks if not c.passed} == failing
    assert releases.current == 1 and releases.numbers() == [1]
    pd.testing.assert_frame_equal(releases.scores(), served)
    assert releases.history()[-1]["event"] == "refused"


def test_a_new_model_is_published_by_an_override_with_its_reason(releases):
    ones = batch().assign(score=1)
    with pytest.raises(ConfigError, match="needs --reason"):
        releases.publish(ones, LIMITS, force=True)
    with pytest.raises(ConfigError, match="needs --reason"):
        releases.publish(ones, LIMITS, force=True, reason="   ")
    new_model = next_week(batch()).assign(model_version="m2")
    number, checks = releases.publish(new_model, LIMITS, force=True, reason="model m2 promoted")
    assert releases.current == number == 2
    assert [c.name for c in checks if not c.passed] == ["model_version"]
    assert releases.info(2)["forced"] and releases.info(2)["reason"] == "model m2 promoted"
    assert releases.history()[-1]["event"] == "forced"


@pytest.mark.parametrize("bad, message", [
    (lambda s: pd.concat([s, s.head(3)]), "account_id: 3 duplicated"),
    (lambda s: s.assign(score=0), r"score: 2000 row\(s\) missing or outside 1-100"),
    (lambda s: s.assign(score=s["score"] + 0.5), r"score: 2000 row\(s\) not whole points"),
    (lambda s: s.assign(score=s["score"].astype(str)), "score: .+ values, expected integers"),
    (lambda s: s.assign(account_id=s["account_id"].astype(str)),
     "account_id: .+ values, expected integers"),
    (lambda s: s.assign(model_version=np.where(s.index % 2, "m1", "m2")),
     "model_version: 2 different values, a batch comes from one"),
    (lambda s: s.head(0), "no rows"),
], ids=["duplicates", "out of range", "fractional", "strings", "string ids", "two models",
        "empty"])
def test_a_batch_of_the_wrong_shape_is_refused_even_when_forced(releases, bad, message):
    with pytest.raises(DataError, match=message):
        releases.publish(bad(next_week(batch())), LIMITS, force=True, reason="try")
    assert releases.current == 1 and releases.numbers() == [1]


def test_a_first_release_is_held_to_absolute_rules(tmp_path):
    releases = Releases(tmp_path / "first")
    with pytest.raises(ReleaseRefused, match="collapsed 1 .limit 0.8."):
        releases.publish(batch().assign(score=1), LIMITS)
    with pytest.raises(DataError, match="account_id: .+ values, expected integers"):
        releases.publish(batch().assign(account_id=lambda s: s["account_id"].astype(str)),
                         LIMITS)
    assert releases.current is None and releases.numbers() == []
    releases.publish(batch(), LIMITS)  # a string-id batch never became the reference
    assert releases.publish(next_week(batch()), LIMITS)[0] == 2


def test_rollback_walks_the_history_and_never_returns_to_a_withdrawn_release(releases):
    releases.publish(next_week(batch()), LIMITS)  # 2
    ones = next_week(batch()).assign(score=1)
    releases.publish(ones, LIMITS, force=True, reason="looked fine")  # 3: everyone at 1
    assert releases.rollback() == 2  # 3 withdrawn
    releases.publish(next_week(next_week(batch())), LIMITS)  # 4
    assert releases.rollback() == 2  # not 3
    assert releases.rollback() == 1
    with pytest.raises(LookupError, match="no release before 1"):
        releases.rollback()
    assert releases.numbers() == [1, 2, 3, 4]  # every release stays on disk
    assert releases.publish(next_week(batch()), LIMITS)[0] == 5  # numbers are never reused


def test_an_incomplete_folder_is_reported_never_served_and_cleaned(releases, tmp_path):
    releases.publish(next_week(batch()), LIMITS)
    half = releases.directory / "0003"  # what a publish killed mid-write used to leave
    half.mkdir()
    (half / "scores.parquet").write_bytes(b"PAR1 half written")
    assert releases.numbers() == [1, 2] and releases.incomplete() == [half]
    assert releases.rollback() == 1
    assert releases.publish(next_week(batch()), LIMITS)[0] == 4
    runner = CliRunner()
    experiment = tmp_path / "e.yaml"
    experiment.write_text("name: e\n")
    listed = runner.invoke(app, ["release", "list", str(experiment), "--dir",
                                 str(releases.directory)])
    assert listed.exit_code == 0 and "incomplete" in listed.output and "0003" in listed.output
    cleaned = runner.invoke(app, ["release", "clean", str(experiment), "--dir",
                                  str(releases.directory)])
    assert cleaned.exit_code == 0 and "removed 1 incomplete" in cleaned.output
    assert releases.incomplete() == [] and releases.numbers() == [1, 2, 4]


def test_a_crash_between_history_and_current_is_finished_by_the_next_operation(releases):
    # history says release 2 is published; CURRENT was not switched before the crash
    releases.publish(next_week(batch()), LIMITS)
    (releases.directory / "CURRENT").write_text("1")
    releases.publish(next_week(next_week(batch())), LIMITS)  # gated against 2, the served one
    assert releases.info(3)["previous"] == 2 and releases.current == 3


# -- faults and concurrency -------------------------------------------------------------------

PUBLISH = """
import pandas as pd
from clout.export.release import GateThresholds, Releases
directory, scores = sys.argv[1:]
if os.environ.get("CLOUT_TEST_HALF_WRITE"):  # die half way through writing the scores
    def half_then_die(frame, path, **kwargs):
        Path(path).write_bytes(b"PAR1" + bytes(1000))
        os.kill(os.getpid(), signal.SIGKILL)
    pd.DataFrame.to_parquet = half_then_die
Releases(directory).publish(pd.read_parquet(scores), GateThresholds())
"""


def _invariants(releases: Releases) -> None:
    """The served release is whole and the one the history says; the history's releases are
    all whole; every complete release's rows are all there."""
    stack = releases.served_stack()
    assert releases.current == stack[-1]
    assert set(stack) <= set(releases.numbers())
    for number in releases.numbers():
        info = releases.info(number)
        assert len(releases.scores(number)) == info["accounts"]


@pytest.mark.parametrize("kill_at", range(11))
def test_a_publish_killed_at_any_step_loses_nothing(releases, tmp_path, monkeypatch, kill_at):
    # 0: killed half way through writing the scores; k: before its k-th disk step
    scores = tmp_path / "next.parquet"
    next_week(batch()).to_parquet(scores)
    if kill_at == 0:
        monkeypatch.setenv("CLOUT_TEST_HALF_WRITE", "1")
    if not run_killed(PUBLISH, kill_at, releases.directory, scores):
        return  # past its last step: nothing was killed (the steps counted are all covered)
    # the next publish, rollback and list work, and the served release is always whole
    number, _ = releases.publish(next_week(next_week(batch())), LIMITS)
    assert number == releases.current
    _invariants(releases)
    assert releases.rollback() == releases.info(number)["previous"]
    _invariants(releases)
    # what died before its release was whole left at most a temporary folder, never served
    assert all(p.name.startswith(".publish-") for p in releases.incomplete())


def _publish_in_a_process(directory: str, seed: int) -> int:
    return Releases(directory).publish(next_week(batch(), seed=seed), LIMITS)[0]


def test_concurrent_publishers_queue_and_each_is_gated_against_the_served_release(releases):
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        numbers = pool.starmap(_publish_in_a_process,
                               [(str(releases.directory), seed) for seed in range(4)])
    assert sorted(numbers) == [2, 3, 4, 5]
    history = [e for e in releases.history() if e["event"] == "published"]
    assert [e["release"] for e in history] == [1, 2, 3, 4, 5]
    # each was compared with the one served just before it
    assert [releases.info(n)["previous"] for n in (2, 3, 4, 5)] == [1, 2, 3, 4]
    assert releases.current == 5
    _invariants(releases)


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
    next_week(batch()).assign(score=1).to_parquet(ones)

    def release(*args):
        return runner.invoke(app, ["release", *map(str, args), "--dir", str(directory)])
    assert release("publish", tiny_experiment_file, first).exit_code == 0
    refused = release("publish", tiny_experiment_file, ones)
    assert refused.exit_code == 1 and "release 1 stays served" in " ".join(refused.output.split())
    assert release("publish", tiny_experiment_file, ones, "--force", "--reason",
                   "test").exit_code == 0
    assert release("rollback", tiny_experiment_file).exit_code == 0
    listed = release("list", tiny_experiment_file)
    assert listed.exit_code == 0 and "withdrawn" in listed.output
    assert Releases(directory).current == 1
    assert json.loads((directory / "history.jsonl").read_text().splitlines()[-1])["event"] \
        == "rollback"
    assert os.path.exists(directory / "0002" / "release.json")
