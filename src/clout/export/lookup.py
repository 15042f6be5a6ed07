"""`clout release serve`: the served release's scores, looked up by account id. A production
caller holds an account id, not the 87 features `clout serve` wants; it asks for the score the
release published, the same number every reader of the release sees.

- `GET /accounts/{account_id}`: the account's row (score, components, expected engagement,
  cutoff, versions) and the release it comes from; 404 when the release has no such account.
- `GET /accounts?ids=1,2,3`: up to MAX_IDS accounts at once: the rows found, the ids not found.
- `GET /release`: what is served (number, cutoff, accounts, versions); `GET /ping`.

The served release is read once and indexed by account id. Each request first reads
`CURRENT` (a few bytes): after a publish or a rollback the next request answers from the newly
served release, without a restart. No release served is a 503 naming the command to publish.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pandas as pd
import uvicorn
from fastapi import FastAPI, HTTPException, Query

from clout.export.release import Releases

LOOKUP_PORT = 5002  # the MLflow UI has 5000, `clout serve` 5001
MAX_IDS = 1000


@dataclass(frozen=True)
class ServedRelease:
    number: int
    rows: pd.DataFrame  # indexed by account_id

    def row(self, account_id: int) -> dict | None:
        try:
            found = self.rows.loc[account_id]
        except (KeyError, OverflowError, TypeError):
            return None
        return {"account_id": account_id, **_plain(found.to_dict()), "release": self.number}

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
    """The served release, re-read when `CURRENT` names another one."""

    def __init__(self, releases: Releases):
        self.releases = releases
        self._served: ServedRelease | None = None
        self._lock = threading.Lock()

    def served(self) -> ServedRelease:
        number = self.releases.current
        if number is None:
            raise HTTPException(503, f"no release is served from {self.releases.directory} "
                                     "(clout release publish EXPERIMENT SCORES)")
        with self._lock:
            if self._served is None or self._served.number != number:
                rows = self.releases.scores(number).set_index("account_id")
                self._served = ServedRelease(number, rows)
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


def lookup_app(releases: Releases) -> FastAPI:
    reader = ReleaseReader(releases)
    app = FastAPI(title="clout scores", description="The served release's scores by account id.")

    @app.get("/ping")
    def ping() -> dict:
        return {"status": "ok"}

    @app.get("/release")
    def release() -> dict:
        return reader.served().describe()

    @app.get("/accounts/{account_id}")
    def account(account_id: int) -> dict:
        served = reader.served()
        if (row := served.row(account_id)) is None:
            raise HTTPException(404, f"account {account_id} is not in release {served.number}")
        return row

    @app.get("/accounts")
    def accounts(ids: str = Query(..., description="account ids, comma-separated")) -> dict:
        served, wanted = reader.served(), _ids(ids)
        rows = {i: served.row(i) for i in dict.fromkeys(wanted)}
        return {"release": served.number, "accounts": [r for r in rows.values() if r],
                "not_found": [i for i, r in rows.items() if r is None]}
    return app


def serve_release(releases: Releases, host: str = "127.0.0.1", port: int = LOOKUP_PORT) -> None:
    uvicorn.run(lookup_app(releases), host=host, port=port, log_level="warning")
