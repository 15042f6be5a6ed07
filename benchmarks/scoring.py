"""Scoring speed: batch throughput on a million feature rows, and served latency for one account.

    python benchmarks/scoring.py [--rows 1000000] [--requests 300] [--doc docs/scoring.md]

Uses the default experiment's model and feature table in data/processed/default (trains it first,
without MLflow, when absent). Prints:
1. batch: accounts per second for `InfluenceModel.score` (validation, every head and component,
   calibration, the map) on 1 million rows drawn from the test cutoff's feature rows, beside
   LightGBM's own `predict` of the same boosters on the same rows (the floor: the trees alone),
   the same trees compiled (lleaves) alone and scoring, with their parity, and the same score
   through ONNX Runtime;
2. served: median and p99 latency of one-account requests to `mlflow models serve
   --env-manager local` on loopback (the model logged to a temporary MLflow store), as JSON
   (`dataframe_split`) and as CSV.
Goals: batch within 2x of bare LightGBM predict; compiled trees at least 3x faster than it with
identical integer scores; served p99 under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from clout.quality import markdown_table

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "processed" / "default"


def trained():
    from clout.scoring.score import InfluenceModel

    if not (OUT / "model" / "model.json").exists():
        from clout.config import load_experiment
        from clout.pipeline import train

        print("training the default experiment (once) ...", flush=True)
        train(load_experiment(ROOT / "experiments" / "default.yaml"), out=OUT, log=False,
              say=lambda text: None)
    features = pd.read_parquet(OUT / "features.parquet")
    return InfluenceModel.load(OUT / "model"), features[features["cutoff"]
                                                         == features["cutoff"].max()]


def timed(function, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def trees_alone(model, rows: pd.DataFrame) -> float:
    """Seconds for every booster's raw predictions on `rows`: the trees alone."""
    heads = list(model._booster_files().values())
    matrices = [rows[h.features].to_numpy(np.float64) for h in heads]
    return timed(lambda: [h.booster.predict(X, raw_score=True)
                          for h, X in zip(heads, matrices, strict=True)])


def batch(model, rows: pd.DataFrame) -> list[dict]:
    from clout.export.onnx import export_onnx, load_onnx_model
    from clout.scoring.score import InfluenceModel

    bare = trees_alone(model, rows)
    clout = timed(lambda: model.score(rows))
    with tempfile.TemporaryDirectory() as tmp:
        onnx_model = load_onnx_model(export_onnx(OUT / "model", Path(tmp) / "onnx"))
        onnx = timed(lambda: onnx_model.score(rows), repeat=1)
        start = time.perf_counter()
        compiled = InfluenceModel.load(OUT / "model").compile_trees(Path(tmp) / "compiled")
        compile_s = time.perf_counter() - start
        compiled_trees = trees_alone(compiled, rows)
        compiled_score = timed(lambda: compiled.score(rows))
        same = compiled.score(rows)
    reference = model.score(rows)
    expected = [c for c in reference if c.startswith("expected_")]
    relative = max(float(np.max(np.abs(same[c] - reference[c]) / np.maximum(
        np.abs(reference[c]), 1e-300))) for c in expected)
    parity = (f"Compiled trees: compiled in {compile_s:.1f} s (once per model and machine); "
              "integer scores identical on every row: "
              f"{'yes' if (same['score'] == reference['score']).all() else 'NO'}; expected "
              f"engagement's largest relative difference {relative:.1e}.")
    n, boosters = len(rows), len(model._booster_files())
    return parity, [{"path": f"LightGBM predict, {boosters} boosters (floor)", "seconds": bare,
             "accounts_per_s": n / bare, "x_floor": 1.0},
            {"path": f"compiled trees (lleaves), {boosters} boosters", "seconds": compiled_trees,
             "accounts_per_s": n / compiled_trees, "x_floor": compiled_trees / bare},
            {"path": "clout score (LightGBM)", "seconds": clout, "accounts_per_s": n / clout,
             "x_floor": clout / bare},
            {"path": "clout score (compiled trees)", "seconds": compiled_score,
             "accounts_per_s": n / compiled_score, "x_floor": compiled_score / bare},
            {"path": "clout score (ONNX Runtime)", "seconds": onnx, "accounts_per_s": n / onnx,
             "x_floor": onnx / bare}]


def served(model, rows: pd.DataFrame, requests: int) -> list[dict]:
    import mlflow

    from clout.export.mlflow_model import log_pyfunc

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        mlflow.set_tracking_uri(uri)
        with mlflow.start_run() as run:
            log_pyfunc(model, OUT / "model", rows)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        bin_dir = Path(sys.executable).parent
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri,
               "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        server = subprocess.Popen(
            [str(bin_dir / "mlflow"), "models", "serve", "-m", f"runs:/{run.info.run_id}/clout",
             "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(240):
                try:
                    urllib.request.urlopen(f"{url}/ping", timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            one = rows[["account_id", *model.features]]
            encodings = {
                "application/json": lambda row: json.dumps({"dataframe_split": json.loads(
                    row.to_json(orient="split", index=False))}).encode(),
                "text/csv": lambda row: row.to_csv(index=False).encode()}
            results = []
            for content_type, encode in encodings.items():
                latencies = []
                for i in range(requests + 20):
                    request = urllib.request.Request(
                        f"{url}/invocations", encode(one.iloc[[i % len(one)]]),
                        {"Content-Type": content_type})
                    start = time.perf_counter()
                    urllib.request.urlopen(request, timeout=10).read()
                    if i >= 20:  # the first requests warm the server up
                        latencies.append((time.perf_counter() - start) * 1000)
                results.append({"request": content_type, "requests": requests,
                                "median_ms": float(np.median(latencies)),
                                "p99_ms": float(np.percentile(latencies, 99)),
                                "max_ms": float(np.max(latencies))})
        finally:
            server.terminate()
            server.wait(timeout=30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--doc", type=Path, help="also write the tables into this Markdown file")
    args = parser.parse_args()
    model, test = trained()
    rows = test.sample(args.rows, replace=True, random_state=0).reset_index(drop=True)
    parity, speeds = batch(model, rows)
    speeds = pd.DataFrame(speeds).round({"seconds": 2, "accounts_per_s": 0, "x_floor": 2})
    print(f"batch scoring, {len(rows):,} feature rows", speeds.to_string(index=False), parity,
          sep="\n")
    latencies = pd.DataFrame(served(model, test, args.requests)).round(1)
    print("\nserved, one account per request, mlflow models serve on loopback")
    print(latencies.to_string(index=False))
    if args.doc:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=ROOT).stdout.strip()
        args.doc.write_text(
            "# Scoring speed\n\n"
            f"Written by `python benchmarks/scoring.py --rows {args.rows} --requests "
            f"{args.requests} --doc {args.doc}` at {commit}, {datetime.now(UTC):%Y-%m-%d}, on "
            "this project's 2-core machine, with `make run`'s model (data/processed/default).\n\n"
            f"## Batch: {len(rows):,} feature rows\n\nEach path's best of 3 (ONNX: 1); "
            "x_floor: its time over LightGBM's own predict of the same boosters.\n\n"
            + "\n".join(markdown_table(speeds)) + f"\n\n{parity}\n\n"
            "## Served: one account per request, `mlflow models serve` on loopback\n\n"
            + "\n".join(markdown_table(latencies)) + "\n")


if __name__ == "__main__":
    main()
