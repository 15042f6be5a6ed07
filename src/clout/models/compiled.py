"""Compiled trees for batch scoring: a booster's trees as machine code (lleaves, through LLVM).

`compile_booster` returns a `CompiledBooster`: the same LightGBM booster (saving, digests, SHAP
and every other use go to it), whose raw-score `predict` runs the compiled trees instead. The
machine code is cached per booster text, compiler version and CPU, so a model compiles once per
machine. Where lleaves is missing or cannot compile a booster, the LightGBM booster itself is
returned (with the reason): compiled trees are an optimisation, never a requirement.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path

import lightgbm as lgb
import numpy as np


class CompiledBooster:
    """A LightGBM booster whose raw-score predictions come from its compiled trees."""

    def __init__(self, booster: lgb.Booster, compiled, cache: Path):
        self.booster = booster
        self.compiled = compiled
        self.cache = cache

    def __reduce__(self):  # machine code does not travel: another process compiles its own
        return compile_booster, (self.booster, self.cache)

    def predict(self, data, raw_score: bool = False, num_threads: int | None = None, **options):
        if not raw_score or options:  # contributions, leaf indexes, ...: LightGBM's own
            return self.booster.predict(data, raw_score=raw_score, num_threads=num_threads,
                                        **options)
        return self.compiled.predict(np.asarray(data, dtype=np.float64),
                                     n_jobs=num_threads or os.cpu_count())

    def __getattr__(self, name):  # everything but predict: the LightGBM booster's
        if name == "booster":  # not set yet (copying): no attribute, not a recursion
            raise AttributeError(name)
        return getattr(self.booster, name)


def compile_booster(booster: lgb.Booster | CompiledBooster, cache: Path
                    ) -> lgb.Booster | CompiledBooster:
    """`booster` with compiled trees, cached in `cache`; the booster itself when it cannot."""
    if isinstance(booster, CompiledBooster):
        return booster
    try:
        import lleaves
        import llvmlite.binding as llvm
    except ImportError as err:
        warnings.warn(f"compiled trees unavailable ({err}); scoring with LightGBM", stacklevel=2)
        return booster
    text = booster.model_to_string()
    key = hashlib.sha256("\0".join(
        [text, version("lleaves"), llvm.get_host_cpu_name()]).encode()).hexdigest()[:24]
    binary = cache / f"{key}.so"
    cache.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            path = Path(tmp) / "booster.txt"
            path.write_text(text)
            compiled = lleaves.Model(model_file=str(path))
            if binary.is_file():
                compiled.compile(cache=str(binary), raw_score=True)
            else:  # written beside, then renamed: another process never reads half a file
                compiled.compile(cache=str(Path(tmp) / binary.name), raw_score=True)
                os.replace(Path(tmp) / binary.name, binary)
    except Exception as err:  # an unsupported booster: LightGBM predicts it
        warnings.warn(f"could not compile a booster ({err}); scoring it with LightGBM",
                      stacklevel=2)
        return booster
    return CompiledBooster(booster, compiled, cache)
