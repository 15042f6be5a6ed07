"""How fast `clout serve` (the model endpoint) answers on loopback, with an API key: one
account's feature row per POST /invocations, from 1 and 8 client processes sending
`--requests` requests between them, each one at a time.

    python benchmarks/serving.py [--model models:/clout@champion | RUN_ID] [--requests 500]
        [--doc docs/serving.md]

The rows are the run's logged example (`clout example-request`). Goal (issue: scale): p99 at
most 20 ms at one client.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from clout.export.access import create_key
from clout.quality import markdown_table

ROOT = Path(__file__).resolve().parents[1]
CLOUT = Path(sys.executable).parent / "clout"


def posts(url: str, key: str, bodies: list[bytes]) -> list[float]:
    """Seconds for each POST of `bodies`, one after the other."""
    took = []
    for body in bodies:
        request = urllib.request.Request(url, body, {"Content-Type": "application/json",
                                                     "X-API-Key": key})
        start = time.perf_counter()
        with urllib.request.urlopen(request) as answer:
            json.loads(answer.read())
        took.append(time.perf_counter() - start)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models:/clout@champion")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--doc", type=Path)
    args = parser.parse_args()
    example = json.loads(subprocess.run([str(CLOUT), "example-request", args.model],
                                        check=True, capture_output=True, text=True).stdout)
    split = example["dataframe_split"]
    bodies = [json.dumps({"dataframe_split": {"columns": split["columns"], "data": [row]}})
              .encode() for row in split["data"]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        key, keys = create_key("benchmark", rate=1e6, burst=10**6, path=Path(tmp) / "keys.json")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([str(CLOUT), "serve", args.model, "--port", str(port),
                                   "--keys", str(keys)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/invocations"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    posts(url, key, bodies[:1])
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("clout serve did not answer within 120 s") from None
                    time.sleep(0.5)
            for clients in (1, 8):
                work = [[bodies[i % len(bodies)] for i in range(c, args.requests, clients)]
                        for c in range(clients)]
                with ProcessPoolExecutor(clients) as pool:
                    list(pool.map(posts, [url] * clients, [key] * clients,
                                  [part[:10] for part in work]))  # connected, warm
                    start = time.perf_counter()
                    took = [t for part in pool.map(posts, [url] * clients, [key] * clients,
                                                   work) for t in part]
                    rate = len(took) / (time.perf_counter() - start)
                rows.append({"clients": clients, "requests": len(took), **{
                    f"{name}, ms": f"{1000 * np.quantile(took, q):.1f}"
                    for name, q in (("median", 0.5), ("p95", 0.95), ("p99", 0.99))},
                    "requests/s": f"{rate:.0f}"})
                print(rows[-1], flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    text = "\n".join(markdown_table(pd.DataFrame(rows)))
    print(text)
    if args.doc:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=ROOT).stdout.strip()
        args.doc.write_text(
            "# The model endpoint under one and eight callers\n\n"
            f"Written by `python benchmarks/serving.py --model {args.model} --requests "
            f"{args.requests} --doc {args.doc}` at {commit}, {datetime.now(UTC):%Y-%m-%d}, on "
            "this project's 2-core machine: `clout serve` (one process, API keys checked), "
            "one account's feature row per POST /invocations from the run's logged example, "
            "1 or 8 client processes each sending one request at a time on loopback.\n\n"
            f"{text}\n")


if __name__ == "__main__":
    main()
