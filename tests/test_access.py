"""API keys and rate limits in front of the services (`clout.export.access`): 401 without a
key on every route, 403 for a key not allowed the route, 429 with Retry-After over its rate;
keys stored as digests only, created and revoked while a service runs."""

from __future__ import annotations

import stat

import pandas as pd
import pytest

from clout.errors import ConfigError
from clout.export.access import (
    KEYS_VARIABLE,
    Access,
    TokenBucket,
    create_key,
    read_keys,
    revoke_key,
    service_access,
)
from clout.export.lookup import lookup_app
from clout.export.release import GateThresholds, Releases
from support import get, get_json, running


@pytest.fixture
def release(tmp_path):
    """A release of three accounts with a topic, served from tmp_path/releases."""
    scores = pd.DataFrame({"account_id": [1, 2, 3], "score": [10, 50, 90],
                           "cutoff": pd.Timestamp("2024-07-01"), "model_version": "m",
                           "score_version": "s", "expected_engagement": [0.1, 1.0, 9.0]})
    releases = Releases(tmp_path / "releases")
    releases.publish(scores, GateThresholds(), topics=pd.DataFrame(
        {"account_id": [3], "topic": ["topic_0"], "topic_score": [80], "posts": [4],
         "expected_engagement": [2.0]}))
    return releases


ROUTES = ["/ping", "/release", "/accounts/1", "/accounts?ids=1,2", "/topics",
          "/topics/topic_0/accounts", "/docs", "/openapi.json", "/no/such/route"]


def test_keys_are_stored_as_digests_and_names_are_unique(tmp_path):
    path = tmp_path / "keys.json"
    key, written = create_key("brand-a", ["accounts"], 5, 10, path)
    assert written == path and key not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (entry,) = read_keys(path)
    assert (entry.name, entry.routes, entry.rate, entry.burst) == ("brand-a", ["accounts"], 5, 10)
    with pytest.raises(ConfigError, match="'brand-a' exists"):
        create_key("brand-a", path=path)
    with pytest.raises(ConfigError, match="no key named 'brand-b'.*brand-a"):
        revoke_key("brand-b", path)
    with pytest.raises(ConfigError, match="no API keys"):
        Access(tmp_path / "none.json")
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not a clout key file"):
        read_keys(path)


def test_every_route_wants_a_key_and_a_key_opens_the_routes_it_may_call(release, tmp_path):
    path = tmp_path / "keys.json"
    full, _ = create_key("ops", path=path)
    topics_only, _ = create_key("brand", ["topics"], path=path)
    with running(lookup_app(release, Access(path))) as url:
        for route in ROUTES:
            status, headers, body = get(url + route)
            assert status == 401 and "API key is required" in body["detail"], route
            assert headers["www-authenticate"] == "Bearer"
            assert get_json(url + route, {"X-API-Key": "clout_guess"}) == (
                401, {"detail": "unknown API key"}), route
        assert get_json(f"{url}/accounts/3", {"X-API-Key": full})[1]["score"] == 90
        assert get_json(f"{url}/accounts/3", {"Authorization": f"Bearer {full}"})[0] == 200
        assert get_json(f"{url}/no/such/route", {"X-API-Key": full})[0] == 404
        status, body = get_json(f"{url}/topics/topic_0/accounts", {"X-API-Key": topics_only})
        assert status == 200 and body["accounts"][0]["account_id"] == 3
        status, body = get_json(f"{url}/accounts/3", {"X-API-Key": topics_only})
        assert status == 403 and body["detail"] == ("key 'brand' may not call /accounts "
                                                    "(its routes: topics)")


def test_a_key_over_its_rate_gets_429_and_when_to_retry(release, tmp_path):
    path = tmp_path / "keys.json"
    key, _ = create_key("busy", rate=0.25, burst=2, path=path)
    with running(lookup_app(release, Access(path))) as url:
        statuses = [get(f"{url}/ping", {"X-API-Key": key}) for _ in range(3)]
    assert [s for s, _, _ in statuses] == [200, 200, 429]
    _, headers, body = statuses[-1]
    assert 1 <= int(headers["retry-after"]) <= 4  # 1 / 0.25 s for the next token, at most
    assert "over its rate of 0.25" in body["detail"]


def test_the_bucket_refills_at_its_rate():
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0, 0, 0]
    assert bucket.take() == pytest.approx(0.5)  # one token every half second
    now[0] = 0.5
    assert bucket.take() == 0 and bucket.take() == pytest.approx(0.5)
    now[0] = 100.0  # never more than the burst saved up
    assert [bucket.take() for _ in range(4)][-1] == pytest.approx(0.5)


def test_keys_created_or_revoked_count_from_the_next_request(release, tmp_path, monkeypatch):
    path = tmp_path / "keys.json"
    first, _ = create_key("first", path=path)
    monkeypatch.setenv(KEYS_VARIABLE, "container:s3cret-from-env")
    with running(lookup_app(release, Access(path))) as url:
        assert get_json(f"{url}/ping", {"X-API-Key": "s3cret-from-env"})[0] == 200
        second, _ = create_key("second", path=path)
        assert get_json(f"{url}/ping", {"X-API-Key": second})[0] == 200
        revoke_key("first", path)
        assert get_json(f"{url}/ping", {"X-API-Key": first})[0] == 401
        assert get_json(f"{url}/ping", {"X-API-Key": second})[0] == 200
    monkeypatch.setenv(KEYS_VARIABLE, "no-separator")
    with pytest.raises(ConfigError, match="name:key") as refused:
        Access(path)
    assert "no-separator" not in str(refused.value)  # what may be a key is never echoed


def test_no_keys_is_for_loopback_only(tmp_path):
    assert service_access("127.0.0.1", True) is None
    with pytest.raises(ConfigError, match="loopback only, not on 0.0.0.0"):
        service_access("0.0.0.0", True)
    with pytest.raises(ConfigError, match="clout keys create NAME"):
        service_access("127.0.0.1", False, tmp_path / "none.json")


def test_the_cli_creates_lists_and_revokes_keys_and_refuses_to_serve_without(
        tmp_path, tiny_experiment_file, monkeypatch):
    from typer.testing import CliRunner

    from clout.cli import app

    monkeypatch.delenv(KEYS_VARIABLE, raising=False)
    runner, path = CliRunner(), tmp_path / "keys.json"
    made = runner.invoke(app, ["keys", "create", "brand", "--routes", "accounts,/topics",
                               "--rate", "3", "--keys", str(path)])
    assert made.exit_code == 0, made.output
    key = made.output.strip().splitlines()[-1]
    assert key.startswith("clout_") and key not in path.read_text()
    listed = runner.invoke(app, ["keys", "list", "--keys", str(path)])
    assert "brand" in listed.output and "accounts,topics" in listed.output
    assert key not in listed.output
    assert runner.invoke(app, ["keys", "revoke", "brand", "--keys", str(path)]).exit_code == 0
    assert read_keys(path) == []
    for args, said in ((["--keys", str(path)], "clout keys create NAME"),
                       (["--no-keys", "--host", "0.0.0.0"], "loopback only")):
        refused = runner.invoke(app, ["release", "serve", str(tiny_experiment_file), *args])
        assert refused.exit_code == 2 and said in refused.output, refused.output
