"""`clout serve`: the logged pyfunc model behind MLflow's own scoring app (same routes, same
payloads as `mlflow models serve`), with clout's checks in front of it:
- the model is loaded through `mlflow_model`'s verified loader: every file of it, code
  included, digests to what its run recorded, before MLflow runs any of it;
- API keys and a rate limit per key (`clout.export.access`), checked first;
- a request body larger than MAX_BODY_BYTES, or JSON nested deeper than MAX_JSON_DEPTH, is a
  400 that says so, before anything parses it (5,000 nested lists were a 500 from Python's
  recursion limit inside the JSON parser).
Everything else (missing columns, non-numbers, infinities) is the model's own 400.
"""

from __future__ import annotations

import re

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from mlflow.pyfunc import scoring_server

from clout.export.access import Access, guard
from clout.export.mlflow_model import verified_pyfunc

DEFAULT_PORT = 5001  # the MLflow UI (make ui) has 5000
MAX_BODY_BYTES = 64 * 2**20
MAX_JSON_DEPTH = 32  # a dataframe_split or records payload is 3 or 4 levels deep
_STRING = re.compile(rb'"(?:\\.|[^"\\])*"')
_OPEN, _CLOSE = np.frombuffer(b"[{", np.uint8), np.frombuffer(b"]}", np.uint8)


def json_depth(body: bytes) -> int:
    """How deep the brackets of a JSON text nest (strings left out), without parsing it."""
    chars = np.frombuffer(_STRING.sub(b'""', body), np.uint8)
    steps = np.isin(chars, _OPEN).astype(np.int64) - np.isin(chars, _CLOSE)
    return int(np.cumsum(steps).max(initial=0))


def request_problem(body: bytes) -> str | None:
    if len(body) > MAX_BODY_BYTES:
        return f"request body of {len(body):,} bytes; at most {MAX_BODY_BYTES:,}"
    if (depth := json_depth(body)) > MAX_JSON_DEPTH:
        return f"request JSON nested {depth} levels deep; at most {MAX_JSON_DEPTH}"
    return None


def scoring_app(uri: str, access: Access | None = None) -> FastAPI:
    """MLflow's scoring app for the model at `uri`, refusing requests without a key of
    `access` (none: --no-keys), then oversized or deeply nested ones."""
    app = scoring_server.init(verified_pyfunc(uri))

    @app.middleware("http")
    async def refuse_what_cannot_be_a_request(request: Request, call_next):
        if request.method == "POST" and (problem := request_problem(await request.body())):
            return JSONResponse({"error_code": "BAD_REQUEST", "message": problem},
                                status_code=400)
        return await call_next(request)
    return guard(app, access)


def serve(uri: str, access: Access | None, host: str = "127.0.0.1", port: int = DEFAULT_PORT
          ) -> None:
    uvicorn.run(scoring_app(uri, access), host=host, port=port, log_level="warning")
