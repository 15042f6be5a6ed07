"""Helpers the tests import (plain functions and paths; fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def shared_dataset(name: str) -> Path:
    """Folder of a real dataset; skips the test with the reason when it is not on this machine."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real dataset {name!r} not found at {path} (only present beside the project)")
    return path
