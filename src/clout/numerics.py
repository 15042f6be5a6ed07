"""Numeric kernels that are the same on every x86-64 machine, and a record of the machine.

NumPy chooses SIMD kernels for exp, log, power and sorting from the CPU it finds when it loads,
and OpenBLAS chooses its kernels and its thread count the same way. An AVX-512 machine and an
AVX2 machine, or two machines with different core counts, then differ in the last bits of those
functions, and the bits reach the calibrators' parameters and the model's version. So `pin()`
runs before NumPy loads (`clout/__init__.py` calls it) and fixes them: NumPy's baseline x86-64
kernels (`NPY_ENABLE_CPU_FEATURES`), OpenBLAS's Nehalem kernels (`OPENBLAS_CORETYPE`) on one
thread (`OPENBLAS_NUM_THREADS`; clout's matrix products are small). NumPy and BLAS are not the
bottleneck of any stage, so the cost is small (`benchmarks/reproducibility.py` measures it).
`CLOUT_NATIVE_NUMERICS=1` opts out.

When NumPy was imported before clout the pin cannot take effect; `machine()` reports what is in
effect, every MLflow run records it, and `pinned()` tells the pipeline to warn.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

X86 = ("x86_64", "AMD64")
BASELINE = "SSE2"  # in NumPy's x86 baseline: enabling only it enables no dispatched kernel
BLAS_CORE = "Nehalem"  # x86-64-v2, which NumPy's baseline already requires
LIBRARIES = ("numpy", "pandas", "polars", "pyarrow", "scipy", "scikit-learn", "lightgbm",
             "mlflow")


def pin() -> None:
    """Fix NumPy's and OpenBLAS's kernels, if NumPy has not loaded yet (else nothing changes)."""
    if os.environ.get("CLOUT_NATIVE_NUMERICS") == "1" or "numpy" in sys.modules \
            or platform.machine() not in X86:
        return
    os.environ.pop("NPY_DISABLE_CPU_FEATURES", None)  # NumPy refuses both variables at once
    os.environ["NPY_ENABLE_CPU_FEATURES"] = BASELINE
    os.environ["OPENBLAS_CORETYPE"] = BLAS_CORE
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # a dot product's partial sums follow the threads


def simd_kernels() -> list[str]:
    """NumPy's dispatched SIMD targets in use (empty: its baseline kernels only)."""
    from numpy._core import _multiarray_umath as umath

    return [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f)]


def _blas() -> list[dict]:
    from threadpoolctl import threadpool_info

    return [p for p in threadpool_info() if p.get("user_api") == "blas"]


def pinned() -> bool:
    """Whether this process computes with the pinned kernels."""
    return platform.machine() in X86 and not simd_kernels() \
        and all(p.get("architecture") == BLAS_CORE and p.get("num_threads") == 1
                for p in _blas())


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, str]:
    """What a run computed with: library versions, CPU, cores, kernels and thread pools."""
    import polars as pl

    blas = _blas()
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return {**versions, "python": platform.python_version(), "cpu": _cpu_model(),
            "cores": str(os.cpu_count()), "numpy_simd": ",".join(simd_kernels()) or "baseline",
            "blas_core": ",".join(sorted({str(p.get("architecture")) for p in blas})) or "none",
            "blas_threads": ",".join(sorted({str(p.get("num_threads")) for p in blas})) or "0",
            "polars_threads": str(pl.thread_pool_size()), "pinned": str(pinned()).lower()}
