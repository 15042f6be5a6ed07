"""The pyfunc model served by `clout serve` (MLflow's scoring app behind clout's checks) on
loopback: valid rows score as in batch; a bad request gets a 4xx that names the problem and the
server keeps serving; no key, 401; a key not allowed /invocations, 403."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from clout.export.access import KEYS_VARIABLE, create_key
from support import free_port, get_json

KEY = "clout_key-of-the-serving-tests"  # from the environment, as a container would give it


def payload(rows: pd.DataFrame, params: dict | None = None) -> str:
    return json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False)),
                       **({"params": params} if params else {})})


def post(url: str, rows: pd.DataFrame | str, key: str | None = KEY, params: dict | None = None
         ) -> tuple[int, str]:
    body = (rows if isinstance(rows, str) else payload(rows, params)).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json",
                                                 **({"X-API-Key": key} if key else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory):
    """A key file with one key, allowed /ping only: (file, key)."""
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    key, _ = create_key("monitor", ["ping"], path=path)
    return path, key


@pytest.fixture(scope="module")
def server(built, keys_file, tmp_path_factory):
    _, _, _, run_id = built
    port = free_port()
    log = (tmp_path_factory.mktemp("serving") / "server.log").open("w+")
    clout = Path(sys.executable).parent / "clout"  # the venv's
    process = subprocess.Popen([str(clout), "serve", f"runs:/{run_id}/clout", "--port", str(port),
                                "--keys", str(keys_file[0])],
                               stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, KEYS_VARIABLE: f"tests:{KEY}"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"server exited: {log.read()[-2000:]}")
        try:
            ping = urllib.request.Request(f"{url}/ping", headers={"X-API-Key": KEY})
            with urllib.request.urlopen(ping, timeout=2):
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("server did not answer /ping within 120 s")
    yield url
    process.terminate()
    process.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def rows(built):
    model, test, _, _ = built
    return test[["account_id", *model.features]].head(20).reset_index(drop=True)


def test_served_scores_equal_batch_scores(server, rows, built):
    model, _, _, _ = built
    status, body = post(f"{server}/invocations", rows)
    assert status == 200, body
    served = pd.DataFrame(json.loads(body)["predictions"])
    batch = model.score(rows)
    assert served["account_id"].tolist() == batch["account_id"].tolist()
    assert served["score"].tolist() == batch["score"].tolist()
    assert (served["expected_engagement"] - batch["expected_engagement"]).abs().max() < 1e-9


def test_the_served_model_weighs_the_heads_as_asked(server, rows, built):
    """The inference parameter `weights`, end to end through the endpoint: the model's own
    scores under those weights, nothing retrained; the trained weights, the served scores."""
    model, _, _, _ = built
    trained = pd.DataFrame(json.loads(post(f"{server}/invocations", rows)[1])["predictions"])
    status, body = post(f"{server}/invocations", rows, params={"weights": "likes:3,retweets:1"})
    assert status == 200, body
    served = pd.DataFrame(json.loads(body)["predictions"])
    direct = model.reweighted({"likes": 3, "retweets": 1}).score(rows)
    assert served["score"].tolist() == direct["score"].tolist()
    assert served["score"].tolist() != trained["score"].tolist()
    same = ",".join(f"{k}:{w}" for k, w in model.weights.items())
    status, body = post(f"{server}/invocations", rows, params={"weights": same})
    assert pd.DataFrame(json.loads(body)["predictions"])["score"].tolist() == \
        trained["score"].tolist()
    for bad, said in (("shares:1", "heads the model does not have"),
                      ("likes:-1", "cannot be negative"), ("likes:0", "all zero")):
        status, body = post(f"{server}/invocations", rows, params={"weights": bad})
        assert status == 400 and "weights" in body and said in body, body


@pytest.mark.parametrize("breakage, names", [
    (lambda r: r.drop(columns=["posts_7d"]), "posts_7d"),
    (lambda r: r.assign(followers="lots"), "followers"),
    (lambda r: r.assign(unique_engagers_28d=-3), "unique_engagers_28d"),
    # JSON's Infinity (pandas writes inf as null, so it is put in by hand) and a huge number
    (lambda r: payload(r.assign(followers_growth_7d=0.123456789)).replace(
        "0.123456789", "Infinity"), "followers_growth_7d: 20 row(s) infinite"),
    (lambda r: r.assign(followers_growth_7d=1e308),
     "followers_growth_7d: 20 row(s) infinite or beyond 1e+12"),
])
def test_bad_requests_get_a_4xx_naming_the_problem_and_the_server_keeps_serving(
        server, rows, breakage, names):
    status, body = post(f"{server}/invocations", breakage(rows))
    assert 400 <= status < 500
    assert names in body
    assert len(body) < 2000, body  # the problem, not the request echoed back
    assert post(f"{server}/invocations", rows)[0] == 200


def test_the_model_endpoint_wants_a_key_allowed_the_route(server, rows, keys_file):
    _, monitor = keys_file
    for route in ("/ping", "/health", "/version", "/invocations"):
        status, body = get_json(f"{server}{route}")
        assert status == 401 and "API key is required" in body["detail"], route
    status, body = post(f"{server}/invocations", rows, key=None)
    assert status == 401 and "API key is required" in body
    assert post(f"{server}/invocations", rows, key="clout_guess")[0] == 401
    ping = urllib.request.Request(f"{server}/ping", headers={"X-API-Key": monitor})
    with urllib.request.urlopen(ping, timeout=30) as answer:  # MLflow's ping is not JSON
        assert answer.status == 200
    status, body = post(f"{server}/invocations", rows, key=monitor)
    assert status == 403 and "'monitor' may not call /invocations" in body


def test_a_request_nested_too_deep_or_too_large_is_a_400_before_it_is_parsed(server, rows):
    # 5,000 nested lists were a 500 from the recursion limit inside the JSON parser
    deep = '{"dataframe_split": {"columns": ["a"], "data": ' + "[" * 5000 + "]" * 5000 + "}}"
    status, body = post(f"{server}/invocations", deep)
    assert status == 400 and "nested 5002 levels deep; at most 32" in body, body
    assert post(f"{server}/invocations", rows)[0] == 200


def test_the_example_request_is_a_valid_request(server, built):
    from typer.testing import CliRunner

    from clout.cli import app
    model, _, _, run_id = built
    printed = CliRunner().invoke(app, ["example-request", run_id[:8]])
    assert printed.exit_code == 0, printed.output
    request = json.loads(printed.stdout)  # (MLflow's download progress goes to stderr)
    assert set(model.features) <= set(request["dataframe_split"]["columns"])
    status, body = post(f"{server}/invocations", printed.stdout)
    assert status == 200, body
    assert len(json.loads(body)["predictions"]) == len(request["dataframe_split"]["data"])
