"""Helpers the tests import (plain functions and paths; fixtures live in conftest.py)."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clout.data.influence import INFLUENCE_WEIGHTS
from clout.features.catalogue import column
from clout.features.config import FeatureConfig
from clout.features.schema import FeatureTable, Target
from clout.models.heads import Boosting, Head, HeadSpec, HistoryOffset, fit_head, lgb_params
from clout.scoring.score import InfluenceModel, normalise_weights

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


# The tiny world with a quick model (no components, at most 150 rounds), for tests that train
# several times; tests/conftest.py's `tiny_run` is the full experiment, audit included.
QUICK_TINY = """\
name: {name}
data: {{source: simulator, preset: tiny, seed: 3}}
cutoffs: {{weeks: 8}}
model:
  seed: 3
  num_boost_round: 150
  min_boost_rounds: 50   # the default's floor (100 rounds at 0.05) at twice its learning rate
  params: {{learning_rate: 0.1, num_leaves: 7, min_data_in_leaf: 20}}
  components: false
"""


def quick_tiny(folder: Path, name: str, extra: str = "") -> Path:
    """QUICK_TINY as `folder/<name>.yaml`, with `extra` YAML lines appended."""
    path = folder / f"{name}.yaml"
    path.write_text(QUICK_TINY.format(name=name) + extra)
    return path


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def shared_dataset(name: str) -> Path:
    """Folder of a real dataset; skips the test with the reason when it is not on this machine."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real dataset {name!r} not found at {path} (only present beside the project)")
    return path


def hand_built_model() -> tuple[InfluenceModel, pd.DataFrame]:
    """A small model fit straight from the models stage on a synthetic feature table (no
    simulator, no feature build, no pipeline): two amplification heads, reach and network
    heads, all starting from their history, weights and frozen maps. Returns it with its test
    rows, a tenth of which have not posted. For the tests of scoring, export and serving, so
    that they do not hang on a whole training run."""
    rng = np.random.default_rng(0)
    config = FeatureConfig()
    targets = {kind: Target(kind, config.horizon_days, max(config.windows))
               for kind in ("retweets", "likes")}

    def rows(n: int, cutoff: str) -> pd.DataFrame:
        quality = rng.normal(0, 1, n)
        posts = rng.integers(0, 40, n) * (rng.random(n) > 0.1)  # a tenth have not posted
        horizon_posts = rng.integers(1, 10, n)
        frame = pd.DataFrame({
            "account_id": np.arange(n), "cutoff": pd.Timestamp(cutoff, tz="UTC"),
            "posts_7d": np.minimum(posts, rng.integers(0, 8, n)), "posts_90d": posts,
            "followers": rng.poisson(50 * np.exp(quality)),
            "followers_growth_7d": rng.normal(0, 0.1, n),
            "unique_engagers_28d": rng.poisson(5 * np.exp(quality) * (posts > 0)),
            "credible_engagers_90d": rng.poisson(8 * np.exp(quality) * (posts > 0)),
            column("label_posts_{h}d", horizon=14): horizon_posts,
            "label_engagers_credible_14d": rng.poisson(2 * np.exp(quality), n)})
        standing = np.exp(0.3 * quality + rng.normal(0, 0.2, n))
        frame["follower_standing"] = np.where(frame["credible_engagers_90d"] > 0, standing,
                                              np.nan)
        frame["label_engaged_followers_credible_14d"] = rng.binomial(
            frame["label_engagers_credible_14d"], 0.7)
        frame["label_engager_standing_14d"] = np.where(
            frame["label_engaged_followers_credible_14d"] > 0,
            standing * rng.gamma(5, 0.2, n), np.nan)
        for k, (kind, target) in enumerate(targets.items()):
            rate = np.exp(quality + k)
            history = rng.poisson(rate * posts) / np.maximum(posts, 1)
            frame[column("{kinds}_per_post_{w}d", window=90, kind=kind)] = np.where(
                posts > 0, history, np.nan)
            frame[target.label] = rng.poisson(rate * horizon_posts) / horizon_posts
        return frame
    train, validation, test = rows(2000, "2024-03-04"), rows(800, "2024-03-25"), rows(
        400, "2024-04-08")
    features = ["posts_7d", "followers", "followers_growth_7d", "unique_engagers_28d",
                "retweets_per_post_90d", "likes_per_post_90d"]
    params = lgb_params("poisson", {"learning_rate": 0.1, "num_leaves": 7}, 1, 2)
    schema = FeatureTable.of(train, config).schema

    def heads(targets: dict[str, Target]) -> dict[str, Head]:
        return {name: fit_head(HeadSpec(target, tuple(features), Boosting(params, 100, 10),
                                        "auto", HistoryOffset.for_target(target)),
                               train, validation, seed=1)
                for name, target in targets.items()}
    model = InfluenceModel(heads(targets), heads(schema.component_targets()),
                           normalise_weights(list(targets), None),
                           info={"experiment": "hand-built",
                                 "features": config.model_dump(mode="json")},
                           schema=schema, component_weights=dict(INFLUENCE_WEIGHTS))
    return model.freeze(validation, 0.01, 0.999), test


# Fault injection: a script run in its own process that is killed (SIGKILL: nothing of it runs
# on the way out) just before its k-th step that touches the disk durably (a flush to disk, a
# rename, a replace). `sys.argv[1]` is k; the script's own arguments follow.
KILL_AT_STEP = """
import os, signal, sys
from pathlib import Path

_kill_at, _steps = sys.argv.pop(1), [0]

def _killed_at_step(original):
    def step(*args, **kwargs):
        _steps[0] += 1
        if str(_steps[0]) == _kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)
    return step

os.fsync = _killed_at_step(os.fsync)
Path.rename = _killed_at_step(Path.rename)
Path.replace = _killed_at_step(Path.replace)
"""


# A killed run forks from one interpreter that has already imported what the scripts use, so
# each costs a fork instead of a new interpreter's four seconds of imports. The interpreter
# forks before it has run anything (its only threads are idle allocator housekeepers), and a
# child prints to stderr (its stdout is the channel the exit statuses come back on) and runs
# in the test's environment.
FORKER = """
import json, os, sys, traceback
import pandas, clout.export.release, clout.scoring.score
for line in sys.stdin:
    script, kill_at, args, environ = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.dup2(2, 1)
        os.environ.clear()
        os.environ.update(environ)
        sys.argv = ["-c", str(kill_at), *args]
        try:
            exec(compile(script, "<killed run>", "exec"), {"__name__": "__main__"})
            sys.stdout.flush()
            os._exit(0)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""
_forker: list[subprocess.Popen] = []


def _forked_run(script: str, kill_at: int, args) -> int:
    if not _forker or _forker[0].poll() is not None:
        _forker[:] = [subprocess.Popen([sys.executable, "-c", FORKER], cwd=Path(__file__).parent,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)]
    forker = _forker[0]
    forker.stdin.write(json.dumps([KILL_AT_STEP + script, kill_at, list(map(str, args)),
                                  dict(os.environ)]) + "\n")
    forker.stdin.flush()
    if not select.select([forker.stdout], [], [], 300)[0]:  # a hang fails, never waits forever
        forker.kill()
        raise AssertionError(f"a killed run of the script did not end in 300 s: {script}")
    return int(forker.stdout.readline())


def run_killed(script: str, kill_at: int, *args) -> bool:
    """Run `script` (after the kill hook) killed before its `kill_at`-th disk step; True when it
    was killed, False when it finished first."""
    returncode = _forked_run(script, kill_at, args)
    assert returncode in (0, -signal.SIGKILL), f"the script failed ({returncode}): see stderr"
    return returncode == -signal.SIGKILL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, headers: dict | None = None) -> tuple[int, dict]:
    """GET `url`: the status and the JSON body, errors included."""
    return get(url, headers)[::2]


def get(url: str, headers: dict | None = None) -> tuple[int, dict, dict]:
    """GET `url`: the status, the response headers and the JSON body, errors included."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


@contextmanager
def running(app):
    """An ASGI app served by uvicorn in a thread of this process; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
