"""Scoring speed: batch throughput on a million feature rows, and served latency for one account.

    python benchmarks/scoring.py [--rows 1000000] [--requests 300]

Uses the default experiment's model and feature table in data/processed/default (trains it first,
without MLflow, when absent). Prints:
1. batch: accounts per second for `InfluenceModel.score` (validation, every head and component,
   calibration, the map) on 1 million rows drawn from the test cutoff's feature rows, beside
   LightGBM's own `predict` of the same boosters on the same rows (the floor: the trees alone),
   and the same score through ONNX Runtime;
2. served: median and p99 latency of one-account requests to `mlflow models serve
   --env-manager local` on loopback (the model logged to a temporary MLflow store), as JSON
   (`dataframe_split`) and as CSV.
Goals: batch within 2x of bare LightGBM predict; served p99 under 50 ms.
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
from pathlib import Path

import numpy as np
import pandas as pd

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


def batch(model, rows: pd.DataFrame) -> list[dict]:
    from clout.export.onnx import export_onnx, load_onnx_model

    boosters = [head.booster for head in model._booster_files().values()]
    features = [head.features for head in model._booster_files().values()]
    bare = timed(lambda: [b.predict(rows[f]) for b, f in zip(boosters, features, strict=True)])
    clout = timed(lambda: model.score(rows))
    with tempfile.TemporaryDirectory() as tmp:
        onnx_model = load_onnx_model(export_onnx(OUT / "model", Path(tmp) / "onnx"))
        onnx = timed(lambda: onnx_model.score(rows), repeat=1)
    n = len(rows)
    return [{"path": f"LightGBM predict, {len(boosters)} boosters (floor)", "seconds": bare,
             "accounts_per_s": n / bare, "x_floor": 1.0},
            {"path": "clout score (LightGBM)", "seconds": clout, "accounts_per_s": n / clout,
             "x_floor": clout / bare},
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
    args = parser.parse_args()
    model, test = trained()
    rows = test.sample(args.rows, replace=True, random_state=0).reset_index(drop=True)
    print(f"batch scoring, {len(rows):,} feature rows")
    print(pd.DataFrame(batch(model, rows)).to_string(
        index=False, float_format=lambda v: f"{v:,.2f}"))
    print("\nserved, one account per request, mlflow models serve on loopback")
    print(pd.DataFrame(served(model, test, args.requests)).to_string(
        index=False, float_format=lambda v: f"{v:.1f}"))


if __name__ == "__main__":
    main()
