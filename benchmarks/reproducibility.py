"""What reproducibility costs: pinned kernels against the CPU's own, column-wise against
row-wise LightGBM histograms, and whether the model stays the same.

    python benchmarks/reproducibility.py                       # the default experiment
    python benchmarks/reproducibility.py experiments/small.yaml

Each numerics mode runs in a fresh process (NumPy and OpenBLAS choose their kernels when they
load): simulate, build features, fit the model (heads, components, calibration, map), each
timed, with the model version. "another machine" is an AVX2 CPU emulated on this one (NumPy's
AVX-512 kernels off, another OpenBLAS kernel) with other thread counts for Polars, OpenMP,
OpenBLAS and LightGBM: pinned, it must give the same version. Then the heads' boosters alone,
column-wise against row-wise histograms, in this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CHILD = """\
import clout, hashlib, json, sys, time
import pandas as pd
from clout.config import load_experiment
from clout.features.build import build_features, load_tables
from clout.features.schema import FeatureTable
from clout.models.heads import Split
from clout.numerics import machine
from clout.cache import NO_CACHE
from clout.pipeline import fit_model
from clout.prepare import cutoffs_for, load_source
overrides = {"num_threads": int(sys.argv[2])} if len(sys.argv) > 2 else {}
experiment = load_experiment(sys.argv[1], **overrides)
times, start = {}, time.perf_counter()
source = load_source(experiment.data, NO_CACHE)  # simulated here, on this machine
times["simulate"] = time.perf_counter() - start
start = time.perf_counter()
tables = load_tables(source.dataset)
frame = build_features(tables, cutoffs_for(experiment, tables), experiment.features)
times["build"] = time.perf_counter() - start
start = time.perf_counter()
table = FeatureTable.of(frame, experiment.features)
model = fit_model(experiment, table, Split.of(table), say=lambda _: None)
times["fit"] = time.perf_counter() - start
m = machine()
digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
print(json.dumps({**times, "data": source.dataset.fingerprint()[:8],
                  "features": digest.hexdigest()[:8], "version": model.version,
                  "numpy": m["numpy_simd"], "blas": m["blas_core"] + " x" + m["blas_threads"]}))
"""
PINS = ("NPY_ENABLE_CPU_FEATURES", "NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE",
        "OPENBLAS_NUM_THREADS")
MODES = {
    "pinned (default)": ({}, ()),
    "pinned, another machine": ({"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
                                 "OPENBLAS_CORETYPE": "Haswell", "POLARS_MAX_THREADS": "1",
                                 "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "3"}, ("1",)),
    "native kernels": ({"CLOUT_NATIVE_NUMERICS": "1"}, ()),
}


def child(path: Path, env: dict[str, str], args) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in PINS}
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), *args], env=clean | env,
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def histograms(path: Path) -> pd.DataFrame:
    """The heads' boosters on the same features: column-wise and row-wise, 1 and 2 threads."""
    import clout  # noqa: F401  (pins the kernels before NumPy loads)
    from clout.cache import NO_CACHE
    from clout.config import load_experiment
    from clout.models.heads import fit_head
    from clout.prepare import prepare

    experiment = load_experiment(path)
    prepared = prepare(experiment, cache=NO_CACHE)
    frame, split, schema = prepared.frame, prepared.split, prepared.table.schema
    spec = experiment.model
    train, validation = split.part(frame, "train"), split.part(frame, "validation")
    targets = spec.targets(schema)
    features = spec.inputs(schema, targets)  # what the pipeline's heads see
    rows = []
    for layout in ("force_col_wise", "force_row_wise"):
        for threads in (1, 2):
            start, trees = time.perf_counter(), []
            for target in targets.values():  # each head as the pipeline fits it, but the layout
                head_spec = spec.head_spec(target, features, schema, threads)
                boosting = head_spec.boosting
                params = {k: v for k, v in boosting.params.items() if k != "force_col_wise"}
                head = fit_head(replace(head_spec, boosting=replace(
                    boosting, params={**params, layout: True})), train, validation, spec.seed)
                trees.append(head.booster.model_to_string().split("\nparameters:\n")[0])
            rows.append({"histograms": layout.removeprefix("force_"), "threads": threads,
                         "seconds": time.perf_counter() - start,
                         "trees": hash(tuple(trees)) % 10**8})
    table = pd.DataFrame(rows)
    table["same trees as 1 thread"] = [
        t == table.loc[(table["histograms"] == h) & (table["threads"] == 1), "trees"].iloc[0]
        for h, t in zip(table["histograms"], table["trees"], strict=True)]
    return table.drop(columns="trees")


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "experiments" / "default.yaml"
    rows = []
    for mode, (env, args) in MODES.items():
        print(f"{mode} ...", flush=True)
        rows.append({"mode": mode, **child(path, env, args)})
    pd.set_option("display.width", 200)
    print(f"\n{path.name}: seconds per stage in a fresh process, and the model version")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(f"\n{path.name}: the heads' boosters on the same features, from the same start")
    print(histograms(path).to_string(index=False, float_format=lambda v: f"{v:.1f}"))


if __name__ == "__main__":
    main()
