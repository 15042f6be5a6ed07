"""What every cutoff-stage computation shares: the accounts that exist at a cutoff, sums of
partials over windows [T - w, T), ratios, and which catalogue entries a source gets."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from clout.features.catalogue import Feature
from clout.features.tables import Tables


def applicable(specs: Sequence[Feature], tables: Tables, include_leaking: bool):
    return [f for f in specs if set(f.needs) <= tables.offers and (include_leaking or not f.leaks)]


def in_window(frame: pl.DataFrame, start: int, end: int, day: str = "day") -> pl.DataFrame:
    return frame.filter((pl.col(day) >= start) & (pl.col(day) < end))


def window_sums(frame, cutoff, windows, columns, day="day", by=("account_id",)):
    """Sum each column over each window [cutoff - w, cutoff): columns named `<col>@<w>`."""
    recent = in_window(frame, cutoff - max(windows), cutoff, day)
    return recent.group_by(*by).agg(
        pl.col(c).filter(pl.col(day) >= cutoff - w).sum().alias(f"{c}@{w}")
        for c in columns for w in windows)


def ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator > 0).then(numerator / denominator)


def population(first_seen: pl.DataFrame, cutoff: int) -> pl.DataFrame:
    """Accounts known to exist before the cutoff (`first_seen`: a Partials field)."""
    return first_seen.filter(pl.col("first_day") < cutoff).select("account_id").sort("account_id")
