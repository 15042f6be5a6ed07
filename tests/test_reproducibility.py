"""The same experiment gives the same world, model and scores on any machine and thread count.

Another CPU is emulated on this one: NumPy's AVX-512 kernels switched off (what an AVX2 machine
runs), another OpenBLAS kernel, other thread counts for Polars, OpenMP, OpenBLAS and LightGBM.
Each run is a fresh process, since NumPy and OpenBLAS choose their kernels when they load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from numpy._core import _multiarray_umath

from clout.models.heads import lgb_params, local_booster
from support import ROOT, quick_tiny

SCRIPT = """\
import clout  # first: pins the kernels unless CLOUT_NATIVE_NUMERICS=1
import hashlib, json, sys
import pandas as pd
from clout.config import load_experiment
from clout.numerics import machine
from clout.cache import NO_CACHE
from clout.pipeline import fit_model
from clout.prepare import prepare
experiment = load_experiment(sys.argv[1], **({"num_threads": int(sys.argv[2])}
                                             if len(sys.argv) > 2 else {}))
prepared = prepare(experiment, cache=NO_CACHE)  # simulated and built here, on this machine
source, frame, split = prepared.source, prepared.frame, prepared.split
model = fit_model(experiment, prepared.table, split, say=lambda _: None)
scores = model.score(split.part(frame, "test"))
print(json.dumps({"data": source.dataset.fingerprint(), "model_version": model.version,
                  "scores": hashlib.sha256(pd.util.hash_pandas_object(
                      scores, index=False).to_numpy().tobytes()).hexdigest(),
                  "kernels": {k: v for k, v in machine().items()
                              if k in ("numpy_simd", "blas_core", "blas_threads", "pinned")}}))
"""
AVX2_MACHINE = {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
                "OPENBLAS_CORETYPE": "Haswell"}
OTHER_THREADS = {"POLARS_MAX_THREADS": "3", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "3"}
HAS_AVX512 = bool(_multiarray_umath.__cpu_features__.get("AVX512F"))
needs_avx512 = pytest.mark.skipif(not HAS_AVX512, reason="emulating an AVX2 machine needs "
                                  "an AVX-512 one to switch its kernels off")


@pytest.fixture(scope="module")
def experiment_file(tmp_path_factory):
    return quick_tiny(tmp_path_factory.mktemp("reproducible"), "tiny-reproducible")


def run(experiment_file, env: dict[str, str], *args) -> dict:
    """The script in a fresh process with this test process's pins removed, then `env`."""
    clean = {k: v for k, v in os.environ.items() if k not in (
        "NPY_ENABLE_CPU_FEATURES", "NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE")}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(experiment_file), *map(str, args)],
                          env=clean | env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def native(experiment_file):
    """Unpinned kernels: this CPU's own, and an AVX2 machine's."""
    if not HAS_AVX512:
        pytest.skip(needs_avx512.kwargs["reason"])
    return (run(experiment_file, {"CLOUT_NATIVE_NUMERICS": "1"}),
            run(experiment_file, {"CLOUT_NATIVE_NUMERICS": "1", **AVX2_MACHINE}))


@needs_avx512
def test_the_world_does_not_depend_on_the_cpu(native):
    # NumPy's SIMD sort orders ties by the kernels it picked: the simulator sorts stably
    avx512, avx2 = native
    assert avx512["kernels"]["numpy_simd"] != avx2["kernels"]["numpy_simd"]
    assert avx512["data"] == avx2["data"]


@needs_avx512
def test_unpinned_kernels_would_change_the_model(native):
    # the check below is not vacuous: without the pin the two machines' models differ
    avx512, avx2 = native
    assert avx512["model_version"] != avx2["model_version"]


def test_model_and_scores_are_the_same_on_another_cpu_and_thread_count(experiment_file):
    here = run(experiment_file, {})
    elsewhere = run(experiment_file, {**AVX2_MACHINE, **OTHER_THREADS}, 1)
    # pinned, whatever the environment asked
    assert here["kernels"] == elsewhere["kernels"] == {
        "numpy_simd": "baseline", "blas_core": "Nehalem", "blas_threads": "1", "pinned": "true"}
    assert here == elsewhere


def test_trees_do_not_depend_on_lightgbm_threads(tiny_run):
    from clout.models.heads import BoosterData, Boosting

    result, _ = tiny_run
    head = result.model.heads["retweets"]
    frame = result.features

    def data(name):
        rows, rate, posts = head.target.labelled(result.split.part(frame, name))
        return BoosterData(rows[head.features], rate, posts, head.offset.log(rows))
    trees = []
    for threads in (1, 2, 3):
        params = lgb_params("poisson", result.experiment.model.params, 3, threads)
        booster = local_booster(Boosting(params, 200, 20), data("train"), data("validation"))
        trees.append(booster.model_to_string().split("\nparameters:\n")[0])
    assert trees[0] == trees[1] == trees[2]
