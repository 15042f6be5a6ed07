"""The local and the Dask engine side by side, at two data sizes.

    python benchmarks/scale.py                       # default and large worlds
    python benchmarks/scale.py --sizes small,default
    python benchmarks/scale.py --stages default      # stage 1 vs stage 2 for one cutoff

For each size and engine, in a fresh child process: the default experiment's feature build (12
weekly cutoffs) and the training of its heads (no component heads, no audit, at most ROUNDS
rounds: the Dask path cannot stop early, so both get the same budget). The Dask engine is a
2-worker LocalCluster (1 thread each) on this machine. Prints wall times, the client's peak
memory and each worker's (workers are restarted between the two steps, so each step's worker
peak is its own), and the heads' mean deviance improvement on the test cutoff as a quality check.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 300


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _worker_peak_gib() -> float:
    """A worker's own peak RSS. Not ru_maxrss: a worker is spawned from the client process
    and ru_maxrss survives exec, so it would start at the client's peak. VmHWM is per
    address space and starts afresh."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 2**20


def run(size: str, engine_name: str) -> dict:
    import numpy as np

    from clout.cache import NO_CACHE
    from clout.compute import session
    from clout.config import load_experiment
    from clout.features.build import load_tables
    from clout.features.schema import FeatureTable
    from clout.models.heads import Split
    from clout.models.metrics import poisson_deviance
    from clout.pipeline import fit_heads
    from clout.prepare import cutoffs_for, load_source

    experiment = load_experiment(ROOT / "experiments" / "default.yaml", **{
        "data.preset": size, "model.components": False, "model.stability_seeds": [],
        "model.num_boost_round": ROUNDS, "compute.engine": engine_name})
    source = load_source(experiment.data, NO_CACHE)  # worlds too big to keep
    tables = load_tables(source.dataset)
    cutoffs = cutoffs_for(experiment, tables)
    out = {"size": size, "engine": engine_name, "accounts": len(tables.ids),
           "events": 0 if tables.events is None else len(tables.events)}
    with session(experiment.compute) as engine:
        def worker_peak():
            if engine.client is None:
                return np.nan
            peaks = engine.client.run(_worker_peak_gib)
            engine.client.restart()  # the next step's peak is its own
            return max(peaks.values())
        start = time.perf_counter()
        frame = engine.features(tables, cutoffs, experiment.features)
        out["features_s"] = time.perf_counter() - start
        out["features_worker_gib"] = worker_peak()
        schema = FeatureTable.of(frame, experiment.features).schema
        split = Split.by_time(frame["cutoff"].unique(), schema.horizon_days)
        targets = experiment.model.targets(schema)
        train = split.part(frame, "train")
        start = time.perf_counter()
        features = experiment.model.inputs(schema, targets)
        heads = fit_heads(experiment, schema, targets, features, train,
                          split.part(frame, "validation"), engine)
        out["train_s"] = time.perf_counter() - start
        out["train_worker_gib"] = worker_peak()
    out["train_rows"] = len(train)
    test = split.part(frame, "test")
    improvements = []
    for head in heads.values():
        rows, rate, posts = head.target.labelled(test)
        constant = poisson_deviance(rate, np.full(len(rate), head.base_rate), posts)
        improvements.append(1 - poisson_deviance(rate, head(rows), posts) / constant)
    out["deviance_improvement"] = float(np.mean(improvements))
    out["client_gib"] = _peak_gib()
    return out


def stages(size: str) -> None:
    """Where a daily run's feature time goes, on this machine, for one cutoff: stage 1
    (partials), stage 2 (the cutoff's rows; both per partition on Dask) and the graph step
    that stays on the client (PageRank, target counts, credibility and the discount rules, on
    the window's distinct pairs and their coverage of the authors' posts).
    The figures behind the estimate for 100 million accounts in docs/export.md."""
    from clout.cache import NO_CACHE
    from clout.config import load_experiment
    from clout.features.build import load_tables
    from clout.features.days import to_day, weekly_cutoffs
    from clout.features.families import (
        Cutoff,
        engagement_graph,
        features_at,
        first_active,
        pair_coverage,
        window_pairs,
    )
    from clout.features.partials import partials
    from clout.features.window import population
    from clout.prepare import load_source

    experiment = load_experiment(ROOT / "experiments" / "default.yaml",
                                 **{"data.preset": size})
    tables = load_tables(load_source(experiment.data, NO_CACHE).dataset)
    config = experiment.features
    start = time.perf_counter()
    p = partials(tables, config)
    stage1 = time.perf_counter() - start
    day = to_day(weekly_cutoffs(tables, 1, 0)[0])  # the latest Monday, features only
    start = time.perf_counter()
    frame = features_at(Cutoff(p, tables, day, config))
    stage2 = time.perf_counter() - start
    # what the client receives from the workers on Dask, then the step it runs alone
    n, windows = len(tables.ids), config.windows
    edges, coverage = window_pairs(p, day, windows), pair_coverage(p, day, max(windows), n)
    start = time.perf_counter()
    graph = engagement_graph(edges, coverage, population(p.first_seen, day)["account_id"]
                             .to_numpy(), windows, n, first_active(p.first_active, n), day)
    pagerank_s = time.perf_counter() - start
    events = len(tables.events)
    print(pd.DataFrame([{
        "size": size, "accounts": len(tables.ids), "events": events,
        "pair_days_rows": len(p.pair_days), "stage1_s": stage1,
        "stage1_events_per_s": events / stage1, "stage2_one_cutoff_s": stage2,
        "stage2_accounts_per_s": len(frame) / stage2, "graph_edges": len(edges),
        "graph_s": pagerank_s, "graph_nodes": int((graph.rank >= 0).sum())}]).to_string(
            index=False, float_format=lambda v: f"{v:,.2f}"))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(run(sys.argv[2], sys.argv[3]), default=float))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="default,large")
    parser.add_argument("--stages", metavar="SIZE",
                        help="only time the two feature stages for one cutoff at this size")
    args = parser.parse_args()
    if args.stages:
        stages(args.stages)
        return
    sizes = args.sizes.split(",")
    rows = []
    for size in sizes:
        for engine in ("local", "dask"):
            print(f"{size} world, {engine} engine ...", flush=True)
            child = subprocess.run([sys.executable, __file__, "--child", size, engine],
                                   cwd=ROOT, capture_output=True, text=True)
            if child.returncode != 0:
                sys.exit(f"{size}/{engine} failed:\n{child.stderr[-3000:]}")
            rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    table = pd.DataFrame(rows)[["size", "engine", "accounts", "events", "train_rows",
                                "features_s", "train_s", "client_gib", "features_worker_gib",
                                "train_worker_gib", "deviance_improvement"]]
    pd.set_option("display.width", 200)
    print(f"\nfeatures (12 weekly cutoffs) and heads (at most {ROUNDS} rounds); Dask: 2 workers x "
          "1 thread on this machine; memory is peak resident GiB")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
