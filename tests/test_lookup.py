"""`clout release serve`: scores by account id from the served release, following publishes
and rollbacks without a restart."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from clout.export.access import create_key
from clout.export.lookup import MAX_IDS, lookup_app
from clout.export.release import GateThresholds, Releases
from clout.pipeline import score_accounts
from support import free_port, get_json, running


@pytest.fixture
def scored(tiny_run, tiny_world, tmp_path):
    """Two real batches of the tiny run's model, a week apart, and an empty release folder."""
    result, _ = tiny_run
    week = pd.Timedelta(days=7)
    earlier = score_accounts(result.model, tiny_world[0], result.split.test - week)
    later = score_accounts(result.model, tiny_world[0], result.split.test)
    return Releases(tmp_path / "releases"), earlier, later


def test_an_account_is_looked_up_in_the_served_release(scored):
    releases, earlier, later = scored
    with running(lookup_app(releases)) as url:
        assert get_json(f"{url}/ping") == (200, {"status": "ok"})
        status, none = get_json(f"{url}/accounts/1")
        assert status == 503 and "clout release publish" in none["detail"]
        releases.publish(earlier, GateThresholds())
        account = int(earlier.sort_values("score")["account_id"].iloc[-1])
        row = earlier.set_index("account_id").loc[account]
        status, got = get_json(f"{url}/accounts/{account}")
        assert status == 200 and got["release"] == 1 and got["account_id"] == account
        assert (got["score"], got["reach"], got["model_version"]) == \
            (int(row["score"]), int(row["reach"]), row["model_version"])
        assert got["expected_engagement"] == pytest.approx(row["expected_engagement"])
        assert pd.Timestamp(got["cutoff"]) == row["cutoff"]
        assert get_json(f"{url}/release") == (200, {
            "release": 1, "accounts": len(earlier), "cutoff": row["cutoff"].isoformat(),
            "model_version": row["model_version"], "score_version": row["score_version"]})
        status, missing = get_json(f"{url}/accounts/999999999")
        assert status == 404 and "not in release 1" in missing["detail"]
        assert get_json(f"{url}/accounts/abc")[0] == 422
        assert get_json(f"{url}/accounts/{2**70}")[0] == 404
        # ids the plain route's pattern does not match are the declared route's, which also
        # documents the lookup
        assert get_json(f"{url}/accounts/-5")[0] == 404
        documented = get_json(f"{url}/openapi.json")[1]["paths"]["/accounts/{account_id}"]
        assert {p["name"] for p in documented["get"]["parameters"]} == {"account_id", "weights"}


def test_a_publish_and_a_rollback_are_served_from_the_next_request(scored):
    releases, earlier, later = scored
    releases.publish(earlier, GateThresholds())
    moved = earlier.merge(later, on="account_id", suffixes=("_1", "_2")).query(
        "score_1 != score_2").iloc[0]
    with running(lookup_app(releases)) as url:
        account = f"{url}/accounts/{int(moved['account_id'])}"
        assert get_json(account)[1]["score"] == moved["score_1"]
        releases.publish(later, GateThresholds())
        now = get_json(account)[1]
        assert (now["release"], now["score"]) == (2, moved["score_2"])
        releases.rollback()
        assert get_json(account)[1]["score"] == moved["score_1"]


def test_many_accounts_are_looked_up_at_once(scored):
    releases, earlier, _ = scored
    releases.publish(earlier, GateThresholds())
    ids = earlier["account_id"].head(3).tolist()
    with running(lookup_app(releases)) as url:
        status, got = get_json(f"{url}/accounts?ids={','.join(map(str, [*ids, -5, ids[0]]))}")
        assert [r["account_id"] for r in got["accounts"]] == ids and got["not_found"] == [-5]
        for bad in ("1,x", ",".join(["1"] * (MAX_IDS + 1)), ""):
            assert get_json(f"{url}/accounts?ids={bad}")[0] == 400, bad


def test_cli_serves_the_current_release(scored, tiny_experiment_file, tmp_path):
    releases, earlier, _ = scored
    releases.publish(earlier, GateThresholds())
    port, log = free_port(), (tmp_path / "lookup.log").open("w+")
    clout = Path(sys.executable).parent / "clout"
    key, keys = create_key("tests", path=tmp_path / "keys.json")
    process = subprocess.Popen([str(clout), "release", "serve", str(tiny_experiment_file),
                                "--dir", str(releases.directory), "--port", str(port),
                                "--keys", str(keys)], stdout=log, stderr=subprocess.STDOUT)
    account = int(earlier["account_id"].iloc[0])
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, got = get_json(f"http://127.0.0.1:{port}/accounts/{account}",
                                       {"X-API-Key": key})
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, \
                    log.seek(0) or log.read()
                time.sleep(0.3)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert got["score"] == int(earlier["score"].iloc[0]) and got["release"] == 1


def test_the_brand_asks_who_is_most_influential_about_a_topic(scored, tiny_run, tiny_world):
    from clout.features.build import load_tables
    from clout.scoring.topics import model_topics

    releases, earlier, _ = scored
    result, _ = tiny_run
    topics = model_topics(result.model, earlier, load_tables(tiny_world[0])).scores
    strays = pd.DataFrame({"account_id": [-1], "topic": ["topic_0"], "topic_score": [50]})
    with pytest.raises(Exception, match="topics: 1 account"):  # refused whole, not served
        releases.publish(earlier, GateThresholds(), topics=pd.concat([topics, strays]))
    releases.publish(earlier, GateThresholds(), topics=topics)
    topic = topics["topic"].value_counts().index[0]
    expected = topics[topics["topic"] == topic].sort_values(
        ["topic_score", "expected_engagement"], ascending=False, kind="stable").head(5)
    with running(lookup_app(releases)) as url:
        status, best = get_json(f"{url}/topics/{topic}/accounts?n=5")
        assert status == 200 and best["topic"] == topic and best["release"] == 1
        assert [a["account_id"] for a in best["accounts"]] == expected["account_id"].tolist()
        assert [a["topic_score"] for a in best["accounts"]] == expected["topic_score"].tolist()
        global_scores = earlier.set_index("account_id")["score"]
        assert [a["score"] for a in best["accounts"]] == global_scores.reindex(
            expected["account_id"]).tolist()
        status, listed = get_json(f"{url}/topics")
        assert status == 200 and {t["topic"] for t in listed["topics"]} == set(topics["topic"])
        status, missing = get_json(f"{url}/topics/cooking/accounts")
        assert status == 404 and "topic_0" in missing["detail"]
        assert get_json(f"{url}/topics/{topic}/accounts?n=0")[0] == 422
        account = int(expected["account_id"].iloc[0])
        status, row = get_json(f"{url}/accounts/{account}")
        mine = topics[topics["account_id"] == account]
        assert [t["topic"] for t in row["topics"]] == mine["topic"].tolist()  # best first
        assert row["topics"][0]["topic_score"] == mine["topic_score"].max()


def test_the_brand_weighs_the_heads_at_query_time(scored, tiny_run, tiny_world):
    """?weights= recombines the served expectations with the frozen maps: what the model
    scores under those weights, with nothing retrained; the trained weights give the served
    score exactly."""
    releases, earlier, _ = scored
    result, _ = tiny_run
    model = result.model
    releases.publish(earlier, GateThresholds(), model=model)
    week = pd.Timedelta(days=7)
    direct = score_accounts(model.reweighted({"replies": 3, "likes": 1}), tiny_world[0],
                            result.split.test - week).set_index("account_id")
    ids = earlier.sort_values("score")["account_id"].iloc[[-1, len(earlier) // 2]].tolist()
    trained = ",".join(f"{k}:{w}" for k, w in model.weights.items())
    with running(lookup_app(releases)) as url:
        for account in ids:
            status, got = get_json(f"{url}/accounts/{account}?weights=replies:3,likes:1")
            assert status == 200 and got["weights"]["replies"] == pytest.approx(0.75)
            assert (got["score"], got["amplification"], got["reach"]) == tuple(
                int(direct.loc[account, c]) for c in ("score", "amplification", "reach"))
            assert got["expected_engagement"] == pytest.approx(
                direct.loc[account, "expected_engagement"], rel=1e-12)
            served = get_json(f"{url}/accounts/{account}")[1]
            assert served["weights"] == model.weights
            same = get_json(f"{url}/accounts/{account}?weights={trained}")[1]
            assert same["score"] == served["score"]
            assert same["amplification"] == served["amplification"]
        status, several = get_json(f"{url}/accounts?ids={ids[0]},{ids[1]}&weights=likes:1")
        assert status == 200 and [a["weights"]["likes"] for a in several["accounts"]] == [1, 1]
        for bad, said in (("shares:1", "heads the model does not have: shares"),
                          ("likes:-1,replies:1", "cannot be negative: likes"),
                          ("likes:0", "all zero"), ("likes", "head:weight pairs")):
            status, refused = get_json(f"{url}/accounts/{ids[0]}?weights={bad}")
            assert status == 422 and refused["detail"].startswith("weights") \
                and said in refused["detail"], (bad, refused)
        releases.publish(earlier, GateThresholds())  # without its model: no recipe
        status, refused = get_json(f"{url}/accounts/{ids[0]}?weights=likes:1")
        assert status == 409 and "without its model" in refused["detail"]
        assert "weights" not in get_json(f"{url}/accounts/{ids[0]}")[1]
