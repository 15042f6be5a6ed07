"""`clout release serve`: the served release's scores, looked up by account id. A production
caller holds an account id, not the 87 features `clout serve` wants; it asks for the score the
release published, the same number every reader of the release sees.

- `GET /accounts/{account_id}`: the account's row (score, components, expected engagement,
  cutoff, versions) and the release it comes from; 404 when the release has no such account,
  410 Gone when the account asked to be forgotten (`clout forget`; so do its history and
  changes).
- `GET /accounts?ids=1,2,3`: up to MAX_IDS accounts at once: the rows found, the ids not found.
- `GET /topics/{topic}/accounts?n=50`: the brand's question, the accounts most influential
  about a topic, best first, with their topic score and score; 404 for a topic the release
  lacks (naming those it has). `GET /topics`: every topic and how many accounts it has.
  An account's row lists its topics, best first.
- `GET /release`: what is served (number, cutoff, accounts, versions); `GET /ping`.
- `GET /accounts/{account_id}/history`: its score and components in every release that has
  it, oldest first. `GET /accounts/{account_id}/changes?since=N`: why its score moved from
  release N (default: the one served before) to the served one, in points that add up to the
  move: what changed in its own data (posts, engagement received, its engagers' standing, its
  audience and the engagement the rules discount) and in the model or the map
  (`audit.changes`); 404 naming what is missing when a release lacks the account or was
  published without its model and features.
- `?weights=likes:1,replies:3` on /accounts/ID and /accounts: the brand's own weights of the
  amplification heads, nothing retrained: the score, amplification and expected engagement
  recombined from the served per-head expectations with the release's frozen maps
  (`scoring.score.Recipe`); every answer names the weights behind it. An unknown head, a
  negative weight or all zero is a 422 naming the parameter; a release published without its
  model (so without its recipe), a 409.

Every route wants an API key, within its rate (`clout.export.access`), unless served with
--no-keys on loopback.

The served release is read once and indexed by account id. Each request first looks at
`CURRENT` (a stat; read again once replaced): after a publish or a rollback the next request
answers from the newly served release, without a restart. No release served is a 503 naming
the command to publish.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import uvicorn
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.routing import Route

from clout.audit.changes import score_changes
from clout.errors import ConfigError, NotFound
from clout.export.access import Access, guard
from clout.export.release import Releases
from clout.scoring.score import Recipe, parse_weights

LOOKUP_PORT = 5002  # the MLflow UI has 5000, `clout serve` 5001
WORKER_SPEC = "CLOUT_LOOKUP_WORKER"  # what each worker process of the lookup serves (JSON)
MAX_IDS = 1000


TOPIC_FIELDS = ("topic", "topic_score", "posts")  # of an account's topic, as served


@dataclass(frozen=True)
class ServedRelease:
    number: int
    rows: pd.DataFrame  # indexed by account_id
    values: dict  # each column of rows as NumPy, dates as ISO text: one row's dict in microseconds
    topics: pd.DataFrame  # account_id, topic, topic_score, ...: best first within each topic
    by_account: dict  # account_id -> its topics (TOPIC_FIELDS), best first
    recipe: Recipe | None  # how its scores combine; None: published without it

    @classmethod
    def read(cls, releases: Releases, number: int) -> ServedRelease:
        topics = releases.topics(number)
        if topics is None:
            topics = pd.DataFrame(columns=["account_id", *TOPIC_FIELDS, "expected_engagement"])
        topics = topics.sort_values(["topic", "topic_score", "expected_engagement",
                                     "account_id"], ascending=[True, False, False, True],
                                    kind="stable", ignore_index=True)
        best_first = topics.sort_values(["account_id", "topic_score", "expected_engagement"],
                                        ascending=[True, False, False], kind="stable")
        by_account = {account: [_plain(t) for t in group[list(TOPIC_FIELDS)].to_dict(
            "records")] for account, group in best_first.groupby("account_id", sort=False)}
        rows = releases.scores(number).set_index("account_id")
        values = {c: (rows[c].map(pd.Timestamp.isoformat) if pd.api.types.is_datetime64_any_dtype(
            rows[c]) else rows[c]).to_numpy() for c in rows}  # dates with a zone or without
        return cls(number, rows, values, topics, by_account, releases.recipe(number))

    def recipe_for(self, weights: str | None) -> Recipe | None:
        """The recipe under the `weights` query parameter (None: the release's own)."""
        if not weights:
            return self.recipe
        if self.recipe is None:
            raise HTTPException(409, f"release {self.number} was published without its model "
                                     "(clout score writes it beside the scores): its scores "
                                     "cannot be recombined under other weights")
        try:
            return self.recipe.reweighted(parse_weights(weights), said="weights")
        except ConfigError as err:
            raise HTTPException(422, str(err)) from None

    def row(self, account_id: int, recipe: Recipe | None = None) -> dict | None:
        try:
            at = self.rows.index.get_loc(account_id)
        except (KeyError, OverflowError, TypeError):
            return None
        if recipe is not None and recipe is not self.recipe:  # other weights than served
            found = recipe.rescore(self.rows.iloc[[at]]).iloc[0].to_dict()
        else:  # not pandas' row: a tenth of the lookup's time instead of half
            found = {column: values[at] for column, values in self.values.items()}
        weights = {} if recipe is None else {"weights": recipe.weights}
        return {"account_id": account_id, **_plain(found), **weights,
                "release": self.number, "topics": self.by_account.get(account_id, [])}

    def about(self, topic: str, n: int) -> list[dict] | None:
        """The `n` accounts most influential about `topic`, best first (None: no such topic)."""
        best = self.topics[self.topics["topic"] == topic].head(n)
        if best.empty:
            return None
        scores = self.rows["score"].reindex(best["account_id"]).to_numpy()
        return [_plain({"account_id": a, "topic_score": t, "score": s, "posts": p})
                for a, t, s, p in zip(best["account_id"], best["topic_score"], scores,
                                      best["posts"], strict=True)]

    def describe(self) -> dict:
        first = self.rows.iloc[0] if len(self.rows) else {}
        return {"release": self.number, "accounts": len(self.rows),
                **_plain({k: first[k] for k in ("cutoff", "model_version", "score_version")
                          if k in first})}


def _plain(values: dict) -> dict:
    """JSON's types: dates as ISO text, NumPy numbers as Python's."""
    return {k: v.isoformat() if isinstance(v, pd.Timestamp) else
            v.item() if hasattr(v, "item") else v for k, v in values.items()}


class ReleaseReader:
    """The served release, re-read when `CURRENT` names another one. `CURRENT` is switched by
    replacing the file, so its inode and time tell whether to read it again: on every request,
    a stat costs a sixth of opening and reading it."""

    def __init__(self, releases: Releases):
        self.releases = releases
        self._current = str(releases.directory / "CURRENT")
        self._stamp: tuple | None = None
        self._served: ServedRelease | None = None
        self._lock = threading.Lock()

    def served(self) -> ServedRelease:
        try:
            stat = os.stat(self._current)
            stamp = (stat.st_ino, stat.st_mtime_ns)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp is None or stamp != self._stamp:
                number = self.releases.current
                if number is None:
                    raise HTTPException(503, f"no release is served from "
                                             f"{self.releases.directory} (clout release "
                                             "publish EXPERIMENT SCORES)")
                if self._served is None or self._served.number != number:
                    self._served = ServedRelease.read(self.releases, number)
                self._stamp = stamp
            return self._served


def _ids(text: str) -> list[int]:
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise HTTPException(400, f"ids: whole numbers separated by commas, got {text[:80]!r}"
                            ) from None
    if not 1 <= len(ids) <= MAX_IDS:
        raise HTTPException(400, f"ids: 1 to {MAX_IDS:,} account ids, got {len(ids):,}")
    return ids


def lookup_app(releases: Releases, access: Access | None = None) -> FastAPI:
    reader = ReleaseReader(releases)
    app = FastAPI(title="clout scores", description="The served release's scores by account id.")

    def missing(account_id: int, where: str) -> HTTPException:
        """410 for a forgotten account, else 404 (`where`: what lacks it)."""
        refuse_if_forgotten(account_id)
        return HTTPException(404, f"account {account_id} is not in {where}")

    def refuse_if_forgotten(account_id: int) -> None:
        if releases.forgotten.contains([account_id])[0]:
            raise HTTPException(410, f"account {account_id} asked to be forgotten: it is not "
                                     "scored nor served")

    @app.get("/ping")
    def ping() -> dict:
        return {"status": "ok"}

    @app.get("/release")
    def release() -> dict:
        return reader.served().describe()

    weights_query = Query(None, description="the amplification heads' weights, like "
                                            "likes:1,replies:3 (default: the trained ones)")

    def one_account(account_id: int, weights: str | None) -> JSONResponse:
        served = reader.served()
        recipe = served.recipe_for(weights)
        if (row := served.row(account_id, recipe)) is None:
            raise missing(account_id, f"release {served.number}")
        return JSONResponse(row)  # not FastAPI's encoding of the dict: a quarter of the time

    @app.get("/accounts/{account_id}")
    async def account(account_id: int, weights: str | None = weights_query) -> JSONResponse:
        return one_account(account_id, weights)

    # Every caller's hot path: a plain route ahead of the declared one above, which documents
    # it and answers the ids its pattern does not match ("-1", "x": 422). FastAPI's parameter
    # handling would double the time a lookup takes in the app (0.10 ms instead of 0.05).
    async def account_by_plain_route(request: Request) -> JSONResponse:
        return one_account(request.path_params["account_id"],
                           request.query_params.get("weights"))
    app.router.routes.insert(0, Route("/accounts/{account_id:int}", account_by_plain_route))

    @app.get("/accounts/{account_id}/history")
    def history(account_id: int) -> dict:
        if not (found := releases.account_history(account_id)):
            raise missing(account_id, f"any release of {releases.directory}")
        return {"account_id": account_id, "releases": [_plain(r) for r in found]}

    @app.get("/accounts/{account_id}/changes")
    def changes(account_id: int, since: int | None = Query(
            None, description="the earlier release (default: the one served before)")) -> dict:
        served = reader.served()
        if since is None:
            earlier = releases.served_stack()[:-1]
            if not earlier:
                raise HTTPException(404, f"release {served.number} is the first served: no "
                                         "earlier release to compare with")
            since = earlier[-1]
        refuse_if_forgotten(account_id)
        try:
            before, now = (releases.scored(n, [account_id]) for n in (since, served.number))
        except NotFound as err:
            raise HTTPException(404, str(err)) from None
        parts = score_changes(before, now).iloc[0]
        return {"account_id": account_id, "since": since, "release": served.number,
                "from": int(before[2].iloc[0]), "to": int(now[2].iloc[0]),
                "move": int(parts.pop("move")),
                "parts": [{"cause": c, "points": p} for c, p in parts.items()]}

    @app.get("/topics")
    def topics() -> dict:
        served = reader.served()
        counts = served.topics["topic"].value_counts().sort_index()
        return {"release": served.number,
                "topics": [{"topic": t, "accounts": int(n)} for t, n in counts.items()]}

    @app.get("/topics/{topic}/accounts")
    def about(topic: str, n: int = Query(50, ge=1, le=MAX_IDS,
                                         description="how many accounts, best first")) -> dict:
        served = reader.served()
        if (best := served.about(topic, n)) is None:
            known = sorted(served.topics["topic"].unique())
            raise HTTPException(404, f"topic {topic!r} is not in release {served.number} "
                                     f"(topics: {', '.join(known) or 'none'})")
        return {"release": served.number, "topic": topic, "accounts": best}

    @app.get("/accounts")
    def accounts(ids: str = Query(..., description="account ids, comma-separated"),
                 weights: str | None = weights_query) -> dict:
        served, wanted = reader.served(), _ids(ids)
        recipe = served.recipe_for(weights)
        rows = {i: served.row(i, recipe) for i in dict.fromkeys(wanted)}
        return {"release": served.number, "accounts": [r for r in rows.values() if r],
                "not_found": [i for i, r in rows.items() if r is None]}
    return guard(app, access)


def app_from_environment() -> FastAPI:
    """The lookup each worker process builds when `serve_release` runs several: the release
    directory and the key file (null: --no-keys) from `WORKER_SPEC`."""
    spec = json.loads(os.environ[WORKER_SPEC])
    access = None if spec["keys"] is None else Access(Path(spec["keys"]))
    return lookup_app(Releases(spec["directory"]), access)


def serve_release(releases: Releases, access: Access | None, host: str = "127.0.0.1",
                  port: int = LOOKUP_PORT, workers: int = 1) -> None:
    """Serve the lookup; with `workers` above 1, that many processes share the port, so that
    concurrent callers do not queue behind one (each keeps its own rate buckets)."""
    if workers <= 1:
        uvicorn.run(lookup_app(releases, access), host=host, port=port, log_level="warning")
        return
    os.environ[WORKER_SPEC] = json.dumps({"directory": str(releases.directory),
                                          "keys": None if access is None else str(access.path)})
    uvicorn.run(f"{__name__}:app_from_environment", factory=True, workers=workers, host=host,
                port=port, log_level="warning")
