"""Helpers the tests import (plain functions and paths; fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


# The tiny world with a quick model (no components, at most 150 rounds), for tests that train
# several times; tests/conftest.py's `tiny_run` is the full experiment, audit included.
QUICK_TINY = """\
name: {name}
data: {{source: simulator, preset: tiny, seed: 3}}
cutoffs: {{weeks: 8}}
model:
  seed: 3
  num_boost_round: 150
  params: {{learning_rate: 0.1, num_leaves: 7, min_data_in_leaf: 20}}
  components: false
"""


def quick_tiny(folder: Path, name: str, extra: str = "") -> Path:
    """QUICK_TINY as `folder/<name>.yaml`, with `extra` YAML lines appended."""
    path = folder / f"{name}.yaml"
    path.write_text(QUICK_TINY.format(name=name) + extra)
    return path


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def shared_dataset(name: str) -> Path:
    """Folder of a real dataset; skips the test with the reason when it is not on this machine."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real dataset {name!r} not found at {path} (only present beside the project)")
    return path
