"""The right to be forgotten (`clout forget`): after it, no file a run, the cache, the scores
or the releases wrote names the forgotten; the lookup answers 410 for them (404 for an id never
seen), a rollback does not bring them back, later runs leave them out, and their engagement of
others still counts, so nobody else's score moves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clout.config import load_experiment
from clout.erasure import forget
from clout.export.lookup import lookup_app
from clout.export.release import GateThresholds, Releases
from clout.privacy import PSEUDONYM_BASE, DoNotScore, is_pseudonym
from clout.tracking import RUN
from support import get_json, running


def naming(folder: Path, ids: set[int]) -> list[str]:
    """Every file under `folder` that names one of `ids`: a Parquet id column holding it, a
    JSON value equal to it, or it as a whole number in other text."""
    found = []
    words = re.compile(r"(?<![\d.])(" + "|".join(map(str, ids)) + r")(?![\d.])")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
            if any(table[c].isin(ids).any() for c in table.columns
                   if c.endswith("_id") and pd.api.types.is_integer_dtype(table[c])):
                found.append(str(path))
        elif path.suffix in (".json", ".jsonl", ".html", ".yaml", ".txt", ".md", ".csv"):
            if words.search(path.read_text(errors="ignore")):
                found.append(str(path))
    return found


@pytest.fixture
def project(tmp_path, monkeypatch, tiny_experiment_file):
    """A project of its own: MLflow store, cache, do-not-score list; a tiny run trained in it,
    two releases of its scores and the scores under data/processed."""
    from clout.pipeline import scored_batch, train

    monkeypatch.chdir(tmp_path)  # MLflow's artifacts and everything else land here
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("CLOUT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CLOUT_PRIVACY_DIR", str(tmp_path / "privacy"))
    spec = load_experiment(tiny_experiment_file)
    result = train(spec, out=tmp_path / "processed" / "tiny", say=lambda text: None)
    releases = Releases(tmp_path / "releases")
    from clout.prepare import load_source
    source = load_source(spec.data)
    batches = {}
    for cutoff in (result.split.test - pd.Timedelta(days=7), result.split.test):
        scores, rows = scored_batch(result.model, source, cutoff)
        releases.publish(scores, GateThresholds(), model=result.model, features=rows)
        scores.to_parquet(tmp_path / "processed" / "tiny" / f"scores-{cutoff:%Y-%m-%d}.parquet")
        batches[cutoff] = scores
    return tmp_path, spec, result, releases, source, batches


def test_a_forgotten_account_is_in_no_file_and_is_gone_from_the_service(project):
    from clout.pipeline import scored_batch
    from clout.prepare import load_source

    root, spec, result, releases, source, batches = project
    explained = json.loads((root / "mlartifacts").rglob(RUN.explanations).__next__().read_text())
    scores = batches[result.split.test]
    # one the run's files name, and the best scored one, who is in every release
    named = int(explained[0]["account_id"])
    ids = {named, int(scores.loc[scores["account_id"] != named].sort_values("score")[
        "account_id"].iloc[-1])}
    where = ("releases", "cache", "processed", "mlartifacts")
    before = {w: naming(root / w, ids) for w in where}
    assert all(before.values()), before  # the search finds them where they were

    done = forget(sorted(ids), [releases.directory], processed=root / "processed",
                  say=lambda text: None)
    assert done.listed == 2 and done.runs == 1 and done.published == {
        str(releases.directory): 3}
    assert {w: naming(root / w, ids) for w in where} == {w: [] for w in where}
    assert not any(str(i) in (root / "privacy" / "forgotten.json").read_text() for i in ids)
    history = (releases.directory / "history.jsonl").read_text()
    assert '"erased"' in history and not naming(releases.directory, ids)

    account = min(ids)
    with running(lookup_app(releases)) as url:
        status, gone = get_json(f"{url}/accounts/{account}")
        assert status == 410 and "asked to be forgotten" in gone["detail"]
        assert get_json(f"{url}/accounts/{account}/history")[0] == 410
        assert get_json(f"{url}/accounts/999999")[0] == 404
        releases.rollback()  # release 2, erased too
        assert get_json(f"{url}/accounts/{account}")[0] == 410
        other = int(scores["account_id"][~scores["account_id"].isin(ids)].iloc[0])
        assert get_json(f"{url}/accounts/{other}")[0] == 200

    # later: their engagement counts under pseudonyms, nobody else's score moves, and they
    # are neither scored nor published
    later = load_source(spec.data)
    accounts = later.dataset.accounts["account_id"]
    assert not accounts.isin(ids).any() and is_pseudonym(accounts).sum() == 2
    assert len(later.dataset.engagements) == len(source.dataset.engagements)
    rescored, _ = scored_batch(result.model, later, result.split.test)
    assert not rescored["account_id"].isin(ids).any()
    assert (rescored["account_id"] < PSEUDONYM_BASE).all()
    pd.testing.assert_frame_equal(
        rescored.reset_index(drop=True),
        scores[~scores["account_id"].isin(ids)].reset_index(drop=True))
    number, _ = releases.publish(scores, GateThresholds())  # an old batch that names them
    assert not releases.scores(number)["account_id"].isin(ids).any()
    assert releases.info(number)["withheld"] == 2
    # the cleaned model still loads through the digest check
    from clout.export.mlflow_model import verified_pyfunc
    verified_pyfunc(f"runs:/{result.run_id}/{RUN.model}")


def test_the_list_keeps_digests_and_the_pseudonyms_say_nothing(tmp_path):
    listed, a, b = DoNotScore(tmp_path), 123456789, 987654321
    assert listed.add([a, b, a]) == 2 and listed.add([b]) == 0 and len(listed) == 2
    assert listed.contains([a, 6, b]).tolist() == [True, False, True]
    written = (tmp_path / "forgotten.json").read_text()
    assert str(a) not in written and str(b) not in written
    assert all(len(d) == 64 for d in json.loads(written)["digests"])
    pseudonyms = listed.pseudonyms([b, a, 6])
    assert sorted(pseudonyms) == [a, b]
    assert sorted(pseudonyms.values()) == [PSEUDONYM_BASE, PSEUDONYM_BASE + 1]
    assert not DoNotScore(tmp_path / "other").contains(np.array([a])).any()


def test_the_cli_forgets(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from clout.cli import app

    for variable, folder in (("CLOUT_PRIVACY_DIR", "privacy"), ("CLOUT_CACHE", "cache")):
        monkeypatch.setenv(variable, str(tmp_path / folder))  # not the session's
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    done = CliRunner().invoke(app, ["forget", "123456789", "42", "--dir", str(tmp_path / "r"),
                                    "--processed", str(tmp_path / "p")])
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert "2 account(s) newly on the do-not-score list" in said and "410" in said
    assert DoNotScore().contains([42, 43]).tolist() == [True, False]
    refused = CliRunner().invoke(app, ["forget", "4x2"])
    assert refused.exit_code == 2 and "expected integers" in refused.output
