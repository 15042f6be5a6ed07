"""Validate a dataset against the contract.

Two kinds of failure:
- schema failures (a missing table or column, an extra column, a wrong type, a timestamp that is
  not UTC) concern a whole column and always stop the run;
- row failures (nulls where not allowed, negative counts, duplicate ids, unknown references,
  engagements before their post, timestamps in the future, ...) concern some rows. By default they
  stop the run too; with `on_bad_rows="quarantine"` the bad rows are set apart with a reason and
  the good rows go on. Either way each failure names table, column, rule and row count.

`validate` is pure: it returns the clean dataset and a report; `write_quarantine` does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from clout.data.dataset import Dataset
from clout.data.schema import OBSERVED_COUNTERS, TABLE_ORDER, TABLES, Column, Table
from clout.errors import ConfigError, DataError

OnBadRows = Literal["error", "quarantine"]


@dataclass(frozen=True)
class Failure:
    table: str
    column: str
    rule: str
    n_rows: int
    schema: bool = False  # a whole-column problem: cannot be quarantined row by row

    def __str__(self) -> str:
        rows = "whole column" if self.schema else f"{self.n_rows:,} rows"
        return f"{self.table}.{self.column}: {self.rule} ({rows})"


@dataclass
class ValidationReport:
    failures: list[Failure] = field(default_factory=list)
    rows_in: dict[str, int] = field(default_factory=dict)
    quarantine: dict[str, pd.DataFrame] = field(default_factory=dict)  # bad rows + `reason`

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def schema_failures(self) -> list[Failure]:
        return [f for f in self.failures if f.schema]

    def rows_quarantined(self, table: str) -> int:
        return len(self.quarantine.get(table, ()))

    def counts(self) -> pd.DataFrame:
        """Rows in, kept and quarantined per table: nothing disappears unaccounted."""
        return pd.DataFrame(
            [{"table": t, "rows_in": n, "rows_kept": n - self.rows_quarantined(t),
              "rows_quarantined": self.rows_quarantined(t)} for t, n in self.rows_in.items()])

    def failures_frame(self) -> pd.DataFrame:
        return pd.DataFrame([f.__dict__ for f in self.failures],
                            columns=["table", "column", "rule", "n_rows", "schema"])


class DataValidationError(DataError):
    """The dataset breaks the contract; `.report` holds every failure found."""

    def __init__(self, report: ValidationReport):
        self.report = report
        lines = "\n".join(f"  - {f}" for f in report.failures)
        super().__init__(f"dataset breaks the data contract ({len(report.failures)} failures):\n"
                         f"{lines}")


# ---------------------------------------------------------------------------------------------
# schema (whole-column) checks

def _type_problem(series: pd.Series, column: Column) -> str | None:
    """Why `series` cannot hold `column`, or None when its dtype fits."""
    dtype = series.dtype
    t = pd.api.types
    if column.kind == "timestamp":
        if isinstance(dtype, pd.DatetimeTZDtype):
            return None if str(dtype.tz) in ("UTC", "utc") else f"timestamps in {dtype.tz}, not UTC"
        if t.is_datetime64_dtype(dtype):
            return "timestamps without a timezone, expected UTC"
        return f"wrong type: expected UTC timestamp, found {dtype}"
    fits = {
        "int": t.is_integer_dtype(dtype),
        "float": t.is_float_dtype(dtype) or t.is_integer_dtype(dtype),
        "bool": t.is_bool_dtype(dtype),
        "string": (t.is_string_dtype(series) or isinstance(dtype, pd.CategoricalDtype))
        and not t.is_bool_dtype(dtype),
    }[column.kind]
    return None if fits else f"wrong type: expected {column.kind}, found {dtype}"


def _schema_failures(frame: pd.DataFrame, spec: Table) -> tuple[list[Failure], set[str]]:
    """Column-level failures, and the contract columns fit for row checks."""
    failures, usable = [], set()
    for col in spec.columns:
        if col.name not in frame:
            failures.append(Failure(spec.name, col.name, "missing column", len(frame), True))
            continue
        problem = _type_problem(frame[col.name], col)
        if problem:
            failures.append(Failure(spec.name, col.name, problem, len(frame), True))
        else:
            usable.add(col.name)
    for extra in sorted(set(frame.columns) - set(spec.column_names)):
        failures.append(Failure(spec.name, extra, "extra column (not in the contract)",
                                len(frame), True))
    return failures, usable


# ---------------------------------------------------------------------------------------------
# row checks: each yields (column, rule, mask of bad rows)

def _mask(condition: pd.Series) -> np.ndarray:
    return condition.fillna(False).to_numpy(dtype=bool)


def _utc_naive(values: pd.Series) -> np.ndarray:
    """Timestamps as numpy datetime64 in UTC (tz-aware `.to_numpy()` would box every value)."""
    return values.dt.tz_convert(None).to_numpy()


# who acts in a row, so that it cannot happen before that account exists
_DOER = {"posts": ("account_id", "author"), "engagements": ("actor_id", "actor"),
         "follows": ("follower_id", "follower")}


def _row_rules(frame: pd.DataFrame, spec: Table, usable: set[str],
               good: dict[str, pd.DataFrame], as_of: pd.Timestamp):
    """Yield (column, rule, mask of bad rows) for every row rule that applies to `frame`."""
    for col in spec.columns:
        if col.name not in usable:
            continue
        values = frame[col.name]
        if not col.nullable:
            yield col.name, "null in a non-nullable column", values.isna().to_numpy()
        if col.nonnegative:
            yield col.name, "negative count", _mask(values < 0)
        if col.allowed:
            yield (col.name, f"value not one of {', '.join(col.allowed)}",
                   _mask(~values.isin(list(col.allowed)) & values.notna()))
        if col.kind == "timestamp":
            yield (col.name, f"timestamp in the future (after {as_of:%Y-%m-%d %H:%M} UTC)",
                   _mask(values > as_of))
        if col.references:
            ref_table, ref_col = col.references.split(".")
            rule = f"points to an unknown {ref_table.removesuffix('s')} ({col.references})"
            if ref_table not in good:
                yield (col.name, f"{rule}; the dataset has no usable {ref_table} table",
                       values.notna().to_numpy())
            else:
                yield col.name, rule, _mask(~values.isin(good[ref_table][ref_col]) & values.notna())
    if spec.key and set(spec.key) <= usable:
        duplicated = frame.duplicated(list(spec.key), keep=False).to_numpy()
        yield "+".join(spec.key), "duplicate id", duplicated
    elif not spec.key:  # no id to repeat: a row loaded twice is the same row again
        yield "*", "exact copy of an earlier row", frame.duplicated(keep="first").to_numpy()
    if spec.name in OBSERVED_COUNTERS:
        counters, when = OBSERVED_COUNTERS[spec.name]
        if {when, *counters} <= usable:
            yield (when, "counters set but their observation time is missing",
                   _mask(frame[counters].notna().any(axis=1) & frame[when].isna()))
    # rules comparing a row with the row it points to (none to compare with in an empty table)
    if spec.name in _DOER and len(good.get("accounts", ())) \
            and {_DOER[spec.name][0], "created_at"} <= usable:
        column, role = _DOER[spec.name]
        accounts = good["accounts"]
        at = pd.Index(accounts["account_id"]).get_indexer(frame[column])
        created = _utc_naive(accounts["created_at"])[np.maximum(at, 0)]
        yield ("created_at", f"dated before its {role} account was created",
               (at >= 0) & (_utc_naive(frame["created_at"]) < created))  # NaT compares False
    if spec.name == "engagements" and len(good.get("posts", ())) \
            and {"post_id", "created_at", "account_id"} <= usable:
        posts = good["posts"]
        at = pd.Index(posts["post_id"]).get_indexer(frame["post_id"])
        found, at = at >= 0, np.maximum(at, 0)
        yield ("created_at", "engagement dated before its post",
               found & (_utc_naive(frame["created_at"]) < _utc_naive(posts["created_at"])[at]))
        yield ("account_id", "does not match the post's author",
               found & (frame["account_id"].to_numpy() != posts["account_id"].to_numpy()[at]))


def _check_rows(frame, spec, usable, good, as_of):
    """Row failures, the mask of bad rows and, for those rows, why (rules joined by '; ')."""
    failures, broken = [], []
    for column, rule, bad in _row_rules(frame, spec, usable, good, as_of):
        if n := int(bad.sum()):
            failures.append(Failure(spec.name, column, rule, n))
            broken.append((f"{column}: {rule}", bad))
    any_bad = np.zeros(len(frame), bool)
    for _, bad in broken:
        any_bad |= bad
    reasons = pd.Series("", index=np.flatnonzero(any_bad), dtype=object)
    for text, bad in broken:
        hit = bad[reasons.index]
        reasons[hit] = np.where(reasons[hit] == "", text, reasons[hit] + "; " + text)
    return failures, any_bad, reasons.to_numpy()


def validate(dataset: Dataset, on_bad_rows: OnBadRows = "error",
             as_of: pd.Timestamp | None = None) -> tuple[Dataset, ValidationReport]:
    """Check every table of `dataset` against the contract.

    Returns the dataset of good rows and the report. Raises DataValidationError on any schema
    failure, and on row failures unless `on_bad_rows="quarantine"`, in which case bad rows are in
    `report.quarantine[table]` with a `reason` column. References are checked against the good
    rows of the referenced table, so a quarantined post takes its engagements with it, each
    saying why. `as_of` (default: now) is the latest plausible timestamp.
    """
    if on_bad_rows not in ("error", "quarantine"):
        raise ConfigError(f"on_bad_rows must be 'error' or 'quarantine', got {on_bad_rows!r}")
    as_of = pd.Timestamp.now(tz="UTC") if as_of is None else pd.Timestamp(as_of)
    report, good = ValidationReport(), {}
    for name in TABLE_ORDER:
        spec, frame = TABLES[name], getattr(dataset, name)
        if frame is None:
            if spec.required:
                report.failures.append(Failure(name, "*", "missing table", 0, True))
            continue
        report.rows_in[name] = len(frame)
        schema_failures, usable = _schema_failures(frame, spec)
        row_failures, bad, reasons = _check_rows(frame, spec, usable, good, as_of)
        report.failures += schema_failures + row_failures
        if schema_failures:
            continue  # references into this table cannot be trusted; the run stops below
        if not bad.any():
            good[name] = frame
            continue
        good[name] = frame.loc[~bad].reset_index(drop=True)
        report.quarantine[name] = frame.loc[bad].assign(reason=reasons).reset_index(drop=True)
    if report.schema_failures or (report.failures and on_bad_rows == "error"):
        raise DataValidationError(report)
    return Dataset(**good), report


def write_quarantine(report: ValidationReport, directory: str | Path) -> list[Path]:
    """Write each table's bad rows to `<directory>/<table>.parquet` (with `reason`). A table
    without bad rows this time loses its old file, so the folder always tells of the last run."""
    directory = Path(directory)
    written = []
    for name in TABLE_ORDER:
        path = directory / f"{name}.parquet"
        if name in report.quarantine:
            directory.mkdir(parents=True, exist_ok=True)
            report.quarantine[name].to_parquet(path, index=False)
            written.append(path)
        else:
            path.unlink(missing_ok=True)
    return written
