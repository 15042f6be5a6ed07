"""The data scientist's loop on the default world: how long `clout train`, `clout score` and
`clout explain` take with the cache of validated data and features (data/interim/cache) cold
(`--no-cache`: simulate, validate, build) and warm (read), the longest silence in their
output, how fast `clout --help` and a refused argument answer, how fast `clout release serve`
answers one account, and (`--make-run`) what a newcomer meets: `make run` on a fresh clone
of the committed project, from pip's warm cache.

    python benchmarks/loop.py [--repeat 3] [--requests 300] [--make-run] [--doc docs/loop.md]

Each command runs as a user runs it (a fresh `clout` process: imports, MLflow, model loading
included), `--repeat` times cold and warm, alternating; the table shows the median and the range.
Everything goes to a temporary folder (cache, MLflow store, outputs, releases), so the project's
own are untouched. The lookup: the warm `clout score` batch published as a release, `clout
release serve` on loopback with an API key, `--requests` one-account GETs, median and p99
(`benchmarks/lookup.py`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from clout.quality import markdown_table
from lookup import lookup_latency  # benchmarks/lookup.py

ROOT = Path(__file__).resolve().parents[1]
CLOUT = Path(sys.executable).parent / "clout"
EXPERIMENT = ROOT / "experiments" / "default.yaml"


def watched(command: list[str], env: dict, cwd: Path = ROOT, expect: int = 0
            ) -> tuple[float, float]:
    """Run `command`, reading its output (stdout and stderr) line by line as a person
    watching it would: its wall time and the longest wait for a line (start and exit count)."""
    start = last = time.perf_counter()
    longest, lines = 0.0, []
    with subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as process:
        for line in process.stdout:
            now = time.perf_counter()
            longest, last = max(longest, now - last), now
            lines.append(line)
    end = time.perf_counter()
    if process.returncode != expect:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}:\n{''.join(lines)}")
    return end - start, max(longest, end - last)


def run(*args: str, env: dict, expect: int = 0) -> tuple[float, float]:
    """A fresh `clout` process: wall time and longest silence."""
    return watched([str(CLOUT), *args], env, expect=expect)


def make_run(folder: Path) -> tuple[float, float]:
    """`make run` on a fresh clone of the committed project (its own .venv, MLflow store and
    cache), pip's cache warm as on any machine that installed once."""
    clone = folder / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "CLOUT_CACHE", "VIRTUAL_ENV")}
    return watched(["make", "run"], env, cwd=clone)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--make-run", action="store_true",
                        help="also time make run on a fresh clone (minutes)")
    parser.add_argument("--doc", type=Path, help="also write the table into this Markdown file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, "CLOUT_CACHE": str(folder / "interim"),
               "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
        out = ["--out", str(folder / "out")]
        quick = {"clout --help": (["--help"], 0),
                 "clout train missing.yaml (refused)": (["train", "missing.yaml"], 2)}
        answers = {name: [run(*command, env=env, expect=code)[0]
                          for _ in range(args.repeat)] for name, (command, code) in quick.items()}
        newcomer = make_run(folder) if args.make_run else None
        times: dict[tuple[str, str], list[float]] = {}
        silences: dict[tuple[str, str], list[float]] = {}
        commands = {"clout train experiments/default.yaml": ["train", str(EXPERIMENT), *out],
                    "clout score experiments/default.yaml": [
                        "score", str(EXPERIMENT), "--out", str(folder / "scores.parquet")]}
        for name, command in commands.items():
            for _ in range(args.repeat):
                for state, extra in (("cold", ["--no-cache"]), ("warm", [])):
                    seconds, silence = run(*command, *extra, env=env)
                    times.setdefault((name, state), []).append(seconds)
                    silences.setdefault((name, state), []).append(silence)
                    print(f"{name} ({state}): {seconds:.1f} s", flush=True)
        account = str(pd.read_parquet(folder / "scores.parquet")
                      .sort_values("score")["account_id"].iloc[-1])
        for _ in range(args.repeat):
            for state, extra in (("cold", ["--no-cache"]), ("warm", [])):
                seconds, silence = run("explain", account, *extra, env=env)
                times.setdefault(("clout explain ID", state), []).append(seconds)
                silences.setdefault(("clout explain ID", state), []).append(silence)
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
                     "saved": f"{1 - statistics.median(warm) / statistics.median(cold):.0%}",
                     "longest silence, s": f"{max(silences[(name, 'cold')]):.1f} / "
                                           f"{max(silences[(name, 'warm')]):.1f}"})
    table = "\n".join(markdown_table(pd.DataFrame(rows)))
    first = "\n".join(markdown_table(pd.DataFrame(
        [{"command": name, "wall, s": f"{statistics.median(t):.2f} ({min(t):.2f}-{max(t):.2f})"}
         for name, t in answers.items()]
        + ([{"command": "make run, fresh clone (install from pip's cache, train, score)",
             "wall, s": f"{newcomer[0]:.0f}, longest silence {newcomer[1]:.1f}"}]
           if newcomer else []))))
    ms = sorted(1000 * t for t in latencies)
    lookup = (f"`clout release serve`, {len(ms)} one-account GETs on loopback: median "
              f"{statistics.median(ms):.1f} ms, p99 {ms[int(0.99 * (len(ms) - 1))]:.1f} ms")
    print(first, table, lookup, sep="\n\n")
    if args.doc:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=ROOT).stdout.strip()
        args.doc.write_text(
            "# The everyday loop: cold and warm\n\n"
            f"Written by `python benchmarks/loop.py --repeat {args.repeat} --requests "
            f"{args.requests}{' --make-run' * args.make_run} --doc {args.doc}` at {commit}, "
            f"{datetime.now(UTC):%Y-%m-%d}, on this project's 2-core machine. Each command is "
            "a fresh process, watched as a person watches it: the longest silence is the "
            "longest wait for its next line (cold / warm, the worst of the runs). Median "
            f"(range) of {args.repeat}.\n\n## First answers\n\n{first}\n\n"
            "## The loop, cold and warm\n\nCold builds the validated data and features "
            "again (`--no-cache`), warm reads them from the cache.\n\n"
            f"{table}\n\n{lookup}.\n")


if __name__ == "__main__":
    main()
