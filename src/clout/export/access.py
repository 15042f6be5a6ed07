"""Who may call the services, and how often: API keys and a rate limit per key, in front of
`clout serve` (the model endpoint) and `clout release serve` (the lookup).

- A key is a random secret made by `clout keys create NAME` and shown once. The key file keeps
  its SHA-256 digest only, with the key's name, the routes it may call (a route is a path's
  first segment: `accounts`, `topics`, `release`, `invocations`, `ping`, ...; `*` for all) and
  its rate. Where a file is awkward (a container), `CLOUT_API_KEYS="name:key,..."` adds keys
  for every route at the default rate. A key or its digest is never logged nor answered.
- A request presents its key as `X-API-Key: KEY` or `Authorization: Bearer KEY`. None, or an
  unknown one: 401, on every route (unknown routes and /ping included: nothing answers a
  stranger). A key not allowed the route: 403. Over its rate: 429 with `Retry-After`, the
  whole seconds until its next request is allowed.
- The rate is a token bucket per key (per server process): `rate` requests a second on
  average, up to `burst` at once.
- Without keys, the services run on loopback only and only when asked (`--no-keys`): local
  development.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.datastructures import Headers
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from clout.errors import ConfigError
from clout.files import write_text

KEYS_FILE = Path("data/secrets/api_keys.json")  # data/*/* is never committed
FILE_VARIABLE, KEYS_VARIABLE = "CLOUT_API_KEYS_FILE", "CLOUT_API_KEYS"
DEFAULT_RATE, DEFAULT_BURST = 50.0, 100  # requests a second, at once
KEY_PREFIX = "clout_"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
ALL_ROUTES = "*"


class ApiKey(BaseModel):
    """One key as the key file holds it: never the key itself."""

    name: str = Field(min_length=1, pattern=r"^[\w.-]+$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    routes: list[str] = Field(default=[ALL_ROUTES], min_length=1)
    rate: float = Field(DEFAULT_RATE, gt=0)
    burst: int = Field(DEFAULT_BURST, ge=1)
    created: str = ""

    def allows(self, route: str) -> bool:
        return ALL_ROUTES in self.routes or route in self.routes


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def keys_file(path: Path | None = None) -> Path:
    """The key file: `path`, else `CLOUT_API_KEYS_FILE`, else `KEYS_FILE`."""
    return Path(path or os.environ.get(FILE_VARIABLE) or KEYS_FILE)


def read_keys(path: Path | None = None) -> list[ApiKey]:
    """The keys of the key file (none when it does not exist)."""
    path = keys_file(path)
    if not path.exists():
        return []
    try:
        return [ApiKey(**entry) for entry in json.loads(path.read_text())["keys"]]
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"key file {path}: not a clout key file ({err})") from None


def _write_keys(keys: list[ApiKey], path: Path | None = None) -> Path:
    path = keys_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps({"keys": [k.model_dump() for k in keys]}, indent=1) + "\n")
    path.chmod(0o600)  # digests only, but nobody else's business
    return path


def create_key(name: str, routes: list[str] | None = None, rate: float = DEFAULT_RATE,
               burst: int = DEFAULT_BURST, path: Path | None = None) -> tuple[str, Path]:
    """A new key named `name` (unique): the key, to show once, and the key file it went to."""
    keys = read_keys(path)
    if any(k.name == name for k in keys):
        raise ConfigError(f"key file {keys_file(path)}: a key named {name!r} exists "
                          "(clout keys revoke it first)")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    entry = ApiKey(name=name, sha256=digest(key), routes=routes or [ALL_ROUTES], rate=rate,
                   burst=burst, created=datetime.now(UTC).isoformat(timespec="seconds"))
    return key, _write_keys([*keys, entry], path)


def revoke_key(name: str, path: Path | None = None) -> Path:
    keys = read_keys(path)
    if not any(k.name == name for k in keys):
        raise ConfigError(f"key file {keys_file(path)}: no key named {name!r} "
                          f"(keys: {', '.join(k.name for k in keys) or 'none'})")
    return _write_keys([k for k in keys if k.name != name], path)


def environment_keys() -> list[ApiKey]:
    """The keys of `CLOUT_API_KEYS` ("name:key,..."): every route, the default rate."""
    keys = []
    for part in filter(None, (p.strip() for p in os.environ.get(KEYS_VARIABLE, "").split(","))):
        name, sep, key = part.partition(":")
        if not sep or not name or not key:
            raise ConfigError(f"{KEYS_VARIABLE}: entries are name:key separated by commas; "
                              f"entry {len(keys) + 1} is not")  # never echo what may be a key
        keys.append(ApiKey(name=name, sha256=digest(key)))
    return keys


class TokenBucket:
    """`rate` requests a second on average, up to `burst` at once."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.at = float(burst), clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 when a request may go now (and counts it), else the seconds until one may."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


class Access:
    """The keys a service accepts (by digest) and their buckets. The key file is read again
    when it changes: a key created or revoked counts from the next request."""

    def __init__(self, path: Path | None = None, clock=time.monotonic):
        self.path, self.clock = keys_file(path), clock
        self.by_digest: dict[str, ApiKey] = {}
        self.buckets: dict[str, TokenBucket] = {}
        self._stamp: int | None = -1
        self._refresh()
        if not self.by_digest:
            raise ConfigError(f"no API keys in {self.path} nor {KEYS_VARIABLE}: create one with "
                              "`clout keys create NAME`; --no-keys serves without, on loopback "
                              "only, for local development")

    def _refresh(self) -> None:
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            keys = read_keys(self.path) + environment_keys()
            self.by_digest, self._stamp = {k.sha256: k for k in keys}, stamp
            for k in keys:  # a key's bucket outlives a reload: rewriting the file resets no rate
                self.buckets.setdefault(k.sha256, TokenBucket(k.rate, k.burst, self.clock))

    def decide(self, presented: str | None, path: str) -> JSONResponse | None:
        """None when the request may go on, else the refusal."""
        self._refresh()
        key = self.by_digest.get(digest(presented)) if presented else None
        if key is None:
            return _refusal(401, "an API key is required: X-API-Key: KEY or Authorization: "
                                 "Bearer KEY (clout keys create NAME)" if not presented else
                                 "unknown API key", {"WWW-Authenticate": "Bearer"})
        route = path.strip("/").split("/")[0]
        if not key.allows(route):
            return _refusal(403, f"key {key.name!r} may not call /{route} (its routes: "
                                 f"{', '.join(key.routes)})")
        if wait := self.buckets[key.sha256].take():
            return _refusal(429, f"key {key.name!r} is over its rate of {key.rate:g} requests "
                                 f"a second", {"Retry-After": str(max(1, math.ceil(wait)))})
        return None


def _refusal(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def presented_key(headers: Headers) -> str | None:
    if key := headers.get("x-api-key"):
        return key
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


class KeysAndLimits:
    """ASGI middleware: a request goes on only with a key `access` accepts, within its rate.
    Plain ASGI rather than an http middleware function, which would cost every request a
    task and a copy of its body."""

    def __init__(self, app, access: Access):
        self.app, self.access = app, access

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            refused = self.access.decide(presented_key(Headers(scope=scope)), scope["path"])
            if refused is not None:
                return await refused(scope, receive, send)
        await self.app(scope, receive, send)


def guard(app: FastAPI, access: Access | None) -> FastAPI:
    """`app` refusing requests without a key it accepts, or over the key's rate; unchanged
    without `access` (--no-keys)."""
    if access is not None:
        app.add_middleware(KeysAndLimits, access=access)  # added last: runs first
    return app


def service_access(host: str, no_keys: bool, path: Path | None = None) -> Access | None:
    """What a service started on `host` checks: the configured keys; none with `no_keys`,
    which only loopback may ask for."""
    if not no_keys:
        return Access(path)
    if host not in LOOPBACK:
        raise ConfigError(f"--no-keys serves without API keys on loopback only, not on {host}")
    return None
