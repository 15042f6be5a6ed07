"""How fast `clout release serve` answers one account on loopback: with API keys checked and
without (`--no-keys`), then under concurrent callers. A scored batch is published as a release;

1. `--rounds` rounds, each starting the service (one worker) without keys and with them (one
   key per request, `X-API-Key`) and sending `--requests` one-account GETs from one client, one
   at a time (goal: p99 under 5 ms with keys on);
2. with keys, for 1 and 2 worker processes (`--workers`), 1 and 8 client processes sending
   `--requests` GETs between them, each one at a time, each on one connection it keeps open (as
   an HTTP client's session does) or on a new connection per request (goal: p99 at most 5 ms
   at 8 clients).

    python benchmarks/lookup.py [--scores data/processed/default/scores-2024-07-01.parquet]
        [--rounds 3] [--requests 1000] [--doc docs/lookup.md]

The scores default to `make run`'s batch.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from clout.export.access import KEYS_VARIABLE, create_key
from clout.quality import markdown_table

ROOT = Path(__file__).resolve().parents[1]
CLOUT = Path(sys.executable).parent / "clout"
EXPERIMENT = ROOT / "experiments" / "default.yaml"
SCORES = ROOT / "data" / "processed" / "default" / "scores-2024-07-01.parquet"


def publish(scores: Path, releases: Path, env: dict) -> None:
    subprocess.run([str(CLOUT), "release", "publish", str(EXPERIMENT), str(scores), "--dir",
                    str(releases)], env=env, check=True, stdout=subprocess.DEVNULL)


@contextmanager
def serving(releases: Path, env: dict, keys: bool, workers: int = 1):
    """`clout release serve` on a free loopback port: yields its URL and the headers a
    request sends (a key of its own key file, when `keys`, at a rate no client here reaches:
    the checks are measured, not the limit)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    headers, access = {}, ["--no-keys"]
    if keys:
        key, path = create_key("benchmark", rate=1e6, burst=10**6,
                               path=releases.parent / f"keys-{port}.json")
        headers, access = {"X-API-Key": key}, ["--keys", str(path)]
    server = subprocess.Popen([str(CLOUT), "release", "serve", str(EXPERIMENT), "--dir",
                               str(releases), "--port", str(port), "--workers",
                               str(workers), *access], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(f"{url}/ping", headers=headers),
                                       timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("clout release serve did not answer within 60 s") from None
                time.sleep(0.2)
        # the release is read on the first request that needs it: not part of a lookup
        urllib.request.urlopen(urllib.request.Request(f"{url}/release", headers=headers)).close()
        yield url, headers
    finally:
        server.terminate()
        server.wait(timeout=30)


def latencies(url: str, headers: dict, ids) -> list[float]:
    """Seconds for each one-account GET, one after the other, each on a new connection."""
    took = []
    for account in ids:
        start = time.perf_counter()
        request = urllib.request.Request(f"{url}/accounts/{account}", headers=headers)
        with urllib.request.urlopen(request) as got:
            json.loads(got.read())
        took.append(time.perf_counter() - start)
    return took


def kept_latencies(url: str, headers: dict, ids) -> list[float]:
    """`latencies` on one connection kept open."""
    host, port = url.removeprefix("http://").split(":")
    connection, took = http.client.HTTPConnection(host, int(port)), []
    for account in ids:
        start = time.perf_counter()
        connection.request("GET", f"/accounts/{account}", headers=headers)
        with connection.getresponse() as got:
            if got.status != 200:
                raise SystemExit(f"GET /accounts/{account}: {got.status}")
            json.loads(got.read())
        took.append(time.perf_counter() - start)
    connection.close()
    return took


def lookup_latency(scores: Path, folder: Path, env: dict, requests: int, keys: bool = True
                   ) -> list[float]:
    """`requests` one-account GETs of a release of `scores` (published into `folder`)."""
    releases = folder / "releases"
    if not releases.exists():
        publish(scores, releases, env)
    ids = pd.read_parquet(scores)["account_id"].sample(requests, random_state=0, replace=True)
    with serving(releases, env, keys) as (url, headers):
        return latencies(url, headers, ids)


def concurrent(scores: Path, folder: Path, env: dict, requests: int, workers: int,
               clients: int, keep: bool) -> tuple[list[float], float]:
    """`clients` processes sending `requests` GETs between them, each one at a time (on a
    connection it keeps, with `keep`), to the lookup with `workers` processes: every latency,
    and the requests a second."""
    from concurrent.futures import ProcessPoolExecutor

    ids = pd.read_parquet(scores)["account_id"].sample(requests, random_state=1, replace=True)
    shares = np.array_split(ids.to_numpy(), clients)
    with serving(folder / "releases", env, True, workers) as (url, headers), \
            ProcessPoolExecutor(clients) as pool:
        # every client connected, and every worker has read the release (on its first
        # request that needs it), before the clock starts
        send = kept_latencies if keep else latencies
        list(pool.map(send, [url] * clients, [headers] * clients,
                      [np.resize(share, 50) for share in shares]))
        start = time.perf_counter()
        took = [t for part in pool.map(send, [url] * clients, [headers] * clients, shares)
                for t in part]
        return took, requests / (time.perf_counter() - start)


def percentiles(took: list[float]) -> dict[str, str]:
    return {f"{name}, ms": f"{1000 * np.quantile(took, q):.2f}"
            for name, q in (("median", 0.5), ("p95", 0.95), ("p99", 0.99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scores", type=Path, default=SCORES)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--doc", type=Path, help="also write the table into this Markdown file")
    args = parser.parse_args()
    if not args.scores.exists():
        raise SystemExit(f"{args.scores}: no scores (make run writes them)")
    measured: dict[str, list[float]] = {"keys off (--no-keys)": [], "keys on": []}
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != KEYS_VARIABLE}
        for round_ in range(args.rounds):
            for (mode, took), keys in zip(measured.items(), (False, True), strict=True):
                took += lookup_latency(args.scores, Path(tmp), env, args.requests, keys)
                print(f"round {round_ + 1}, {mode}: p99 "
                      f"{1000 * np.quantile(took[-args.requests:], 0.99):.2f} ms", flush=True)
        loads = []
        for keep in (True, False):
            for workers in (1, 2):
                for clients in (1, 8):
                    took, rate = concurrent(args.scores, Path(tmp), env, args.requests,
                                            workers, clients, keep)
                    loads.append({"connection": "kept" if keep else "new per request",
                                  "workers": workers, "clients": clients,
                                  "requests": len(took), **percentiles(took),
                                  "requests/s": f"{rate:.0f}"})
                print(loads[-1], flush=True)
    table = pd.DataFrame([{"service": mode, "requests": len(took), **percentiles(took),
                           "max, ms": f"{1000 * max(took):.1f}"}
                          for mode, took in measured.items()])
    text = "\n".join(markdown_table(table))
    load = "\n".join(markdown_table(pd.DataFrame(loads)))
    print(text, load, sep="\n\n")
    if args.doc:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=ROOT).stdout.strip()
        args.doc.write_text(
            "# The lookup with API keys and without\n\n"
            f"Written by `python benchmarks/lookup.py --rounds {args.rounds} --requests "
            f"{args.requests} --doc {args.doc}` at {commit}, {datetime.now(UTC):%Y-%m-%d}, on "
            f"this project's 2-core machine: `make run`'s batch ({args.scores.name}) published "
            f"as a release; {args.rounds} rounds, each serving it (one worker) without keys "
            "and then with them, one client sending one-account GETs one at a time on "
            f"loopback.\n\n{text}\n\n## Concurrent callers\n\nWith keys; 1 or 8 client "
            f"processes sending {args.requests} GETs between them, each one at a time, to 1 or "
            "2 worker processes (`clout release serve --workers`, 2 by default), on the same 2 "
            "cores as the clients; each client on one connection it keeps open (as an HTTP "
            "client's session does: requests.Session, httpx.Client) or on a new connection per "
            f"request (urllib's way).\n\n{load}\n")


if __name__ == "__main__":
    main()
