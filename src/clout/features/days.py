"""Time in whole UTC days: cutoffs are midnights, so "before the cutoff" is exactly
`day < cutoff_day`."""

from __future__ import annotations

import pandas as pd

from clout.errors import ConfigError
from clout.features.tables import Tables

EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def to_day(timestamp) -> int:
    """A UTC midnight as a day number; refuses times that are not midnights."""
    ts = pd.Timestamp(timestamp)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if ts != ts.normalize():
        raise ConfigError(f"cutoff {ts} is not a UTC midnight: cutoffs fall between days")
    return int((ts - EPOCH) / pd.Timedelta(days=1))


def from_day(day: int) -> pd.Timestamp:
    return EPOCH + pd.Timedelta(days=int(day))


def weekly_cutoffs(tables: Tables, n: int, horizon_days: int, weekday: int = 0) -> list:
    """The last `n` weekly cutoffs (midnights starting `weekday`, 0 = Monday) whose label
    horizon ends within the data."""
    last_complete = tables.last_day + 1 - horizon_days  # cutoff + horizon <= last day + 1
    latest = from_day(last_complete)
    latest -= pd.Timedelta(days=(latest.weekday() - weekday) % 7)
    cutoffs = [latest - pd.Timedelta(weeks=k) for k in range(n - 1, -1, -1)]
    first = from_day(tables.first_day)
    if cutoffs[0] < first:  # a cutoff before the data: no account, no history
        fits = sum(c >= first for c in cutoffs)
        raise ConfigError(f"weeks: {n} weekly cutoffs reach back to "
                          f"{cutoffs[0]:%Y-%m-%d}, but the data begins on {first:%Y-%m-%d}; "
                          f"at most {fits} fit")
    return cutoffs
