"""The data scientist's loop on the default world: how long `clout train`, `clout score` and
`clout explain` take with the cache of validated data and features (data/interim/cache) cold
(`--no-cache`: simulate, validate, build) and warm (read), and how fast `clout release serve`
answers one account.

    python benchmarks/loop.py [--repeat 3] [--requests 300] [--doc docs/loop.md]

Each command runs as a user runs it (a fresh `clout` process: imports, MLflow, model loading
included), `--repeat` times cold and warm, alternating; the table shows the median and the range.
Everything goes to a temporary folder (cache, MLflow store, outputs, releases), so the project's
own are untouched. The lookup: the warm `clout score` batch published as a release, `clout
release serve` on loopback, `--requests` one-account GETs, median and p99.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from clout.quality import markdown_table

ROOT = Path(__file__).resolve().parents[1]
CLOUT = Path(sys.executable).parent / "clout"
EXPERIMENT = ROOT / "experiments" / "default.yaml"


def run(*args: str, env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([str(CLOUT), *args], env=env, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"clout {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout


def lookup_latency(scores: Path, folder: Path, env: dict, requests: int) -> list[float]:
    import socket

    releases = folder / "releases"
    run("release", "publish", str(EXPERIMENT), str(scores), "--dir", str(releases), env=env)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(CLOUT), "release", "serve", str(EXPERIMENT), "--dir",
                               str(releases), "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ids = pd.read_parquet(scores)["account_id"].sample(requests, random_state=0, replace=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("clout release serve did not answer within 60 s") from None
                time.sleep(0.2)
        latencies = []
        for account in ids:
            start = time.perf_counter()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/{account}") as got:
                json.loads(got.read())
            latencies.append(time.perf_counter() - start)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--doc", type=Path, help="also write the table into this Markdown file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, "CLOUT_CACHE": str(folder / "interim"),
               "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
        out = ["--out", str(folder / "out")]
        times: dict[tuple[str, str], list[float]] = {}
        commands = {"clout train experiments/default.yaml": ["train", str(EXPERIMENT), *out],
                    "clout score experiments/default.yaml": [
                        "score", str(EXPERIMENT), "--out", str(folder / "scores.parquet")]}
        for name, command in commands.items():
            for _ in range(args.repeat):
                for state, extra in (("cold", ["--no-cache"]), ("warm", [])):
                    seconds, _ = run(*command, *extra, env=env)
                    times.setdefault((name, state), []).append(seconds)
                    print(f"{name} ({state}): {seconds:.1f} s", flush=True)
        account = str(pd.read_parquet(folder / "scores.parquet")
                      .sort_values("score")["account_id"].iloc[-1])
        for _ in range(args.repeat):
            for state, extra in (("cold", ["--no-cache"]), ("warm", [])):
                seconds, _ = run("explain", account, *extra, env=env)
                times.setdefault(("clout explain ID", state), []).append(seconds)
                print(f"clout explain {account} ({state}): {seconds:.1f} s", flush=True)
        latencies = lookup_latency(folder / "scores.parquet", folder, env, args.requests)
    rows = []
    for name in dict.fromkeys(n for n, _ in times):
        cold, warm = times[(name, "cold")], times[(name, "warm")]
        rows.append({"command": name,
                     "cold, s (--no-cache)": f"{statistics.median(cold):.1f} "
                                             f"({min(cold):.1f}-{max(cold):.1f})",
                     "warm, s (cached)": f"{statistics.median(warm):.1f} "
                                         f"({min(warm):.1f}-{max(warm):.1f})",
                     "saved": f"{1 - statistics.median(warm) / statistics.median(cold):.0%}"})
    table = "\n".join(markdown_table(pd.DataFrame(rows)))
    ms = sorted(1000 * t for t in latencies)
    lookup = (f"`clout release serve`, {len(ms)} one-account GETs on loopback: median "
              f"{statistics.median(ms):.1f} ms, p99 {ms[int(0.99 * (len(ms) - 1))]:.1f} ms")
    print(table, lookup, sep="\n\n")
    if args.doc:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=ROOT).stdout.strip()
        args.doc.write_text(
            "# The everyday loop: cold and warm\n\n"
            f"Written by `python benchmarks/loop.py --repeat {args.repeat} --requests "
            f"{args.requests} --doc {args.doc}` at {commit}, "
            f"{datetime.now(UTC):%Y-%m-%d}, on this project's 2-core machine. Each command is "
            "a fresh process; cold builds the validated data and features again "
            "(`--no-cache`), warm reads them from the cache. Median (range) of "
            f"{args.repeat}.\n\n{table}\n\n{lookup}.\n")


if __name__ == "__main__":
    main()
