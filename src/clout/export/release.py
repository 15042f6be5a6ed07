"""Guarded score releases: numbered, never overwritten, refused when a batch looks like a fault.

A release directory holds one folder per release (`0001/`, `0002/`, ...: `scores.parquet` and
`release.json`), a `CURRENT` file naming the release being served, and `history.jsonl`, one line
per publish, refusal, override and rollback. Before a batch is published it is compared with the
release being served; a change that looks like a fault rather than a change in the world is
refused (in 2011 a late data load set everyone's Klout score to 1 for hours):
- coverage: the batch scores too few of the accounts the served release scores (a half-empty
  input);
- moved: too many accounts move by more than a set number of points (a shuffled account column);
- median: the median score moves too far;
- collapsed: many more accounts than before share one value (everyone at 1).
Plus the basic shape: unique account ids, integer scores within 1-100.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from clout.errors import CloutError, ConfigError, DataError, NotFound
from clout.scoring.score import SCORE_MAX, SCORE_MIN


class GateThresholds(BaseModel):
    """When a new batch is refused, compared with the release being served."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_coverage: float = Field(0.9, ge=0, le=1, description="share of the served release's "
                                                             "accounts the batch must score")
    moved_points: int = Field(10, ge=1, description="a move larger than this counts as moved")
    max_moved_share: float = Field(0.25, ge=0, le=1, description="share of accounts that may "
                                                                 "move that far")
    max_median_shift: float = Field(5, ge=0, description="points the median may move")
    max_collapse_growth: float = Field(0.2, gt=0, le=1, description="growth allowed in the "
                                       "share of accounts on the most common score")


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    limit: float
    passed: bool
    meaning: str

    def __post_init__(self):  # plain Python numbers: checks are written as JSON
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "limit", float(self.limit))
        object.__setattr__(self, "passed", bool(self.passed))


class ReleaseRefused(CloutError):
    """The batch failed the gate; `checks` says which checks and by how much."""

    def __init__(self, checks: list[Check]):
        self.checks = checks
        failed = [c for c in checks if not c.passed]
        super().__init__("release refused: " + "; ".join(
            f"{c.name} {c.value:.3g} (limit {c.limit:.3g}): {c.meaning}" for c in failed))


def _shape_problems(scores: pd.DataFrame) -> list[str]:
    problems = []
    if missing := {"account_id", "score"} - set(scores.columns):
        return [f"scores lack column(s) {', '.join(sorted(missing))}"]
    if (duplicated := int(scores["account_id"].duplicated().sum())):
        problems.append(f"account_id: {duplicated} duplicated row(s)")
    outside = ~scores["score"].between(SCORE_MIN, SCORE_MAX) | scores["score"].isna()
    if (bad := int(outside.sum())):
        problems.append(f"score: {bad} row(s) missing or outside {SCORE_MIN}-{SCORE_MAX}")
    if len(scores) == 0:
        problems.append("no rows")
    return problems


def gate(new: pd.DataFrame, served: pd.DataFrame | None, limits: GateThresholds) -> list[Check]:
    """Every check of `new` against the release being served (none for a first release)."""
    if served is None:
        return []
    top = new["score"].value_counts(normalize=True)
    growth = top.iloc[0] - served["score"].value_counts(normalize=True).iloc[0]
    both = served[["account_id", "score"]].merge(new[["account_id", "score"]], on="account_id",
                                                  suffixes=("_served", "_new"))
    coverage = len(both) / len(served)
    moved = float(((both["score_new"] - both["score_served"]).abs()
                   > limits.moved_points).mean()) if len(both) else 1.0
    shift = abs(float(new["score"].median()) - float(served["score"].median()))
    return [
        Check("collapsed", growth, limits.max_collapse_growth,
              growth <= limits.max_collapse_growth,
              f"growth in the share of accounts on the most common score ({top.index[0]})"),
        Check("coverage", coverage, limits.min_coverage, coverage >= limits.min_coverage,
              "share of the served release's accounts this batch scores"),
        Check("moved", moved, limits.max_moved_share, moved <= limits.max_moved_share,
              f"share of accounts moving more than {limits.moved_points} points"),
        Check("median", shift, limits.max_median_shift, shift <= limits.max_median_shift,
              "points the median score moves"),
    ]


class Releases:
    """The numbered releases in one directory, and which one is served."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def numbers(self) -> list[int]:
        if not self.directory.is_dir():
            return []
        return sorted(int(p.name) for p in self.directory.iterdir()
                      if p.is_dir() and p.name.isdigit())

    @property
    def current(self) -> int | None:
        path = self.directory / "CURRENT"
        return int(path.read_text()) if path.exists() else None

    def scores(self, number: int | None = None) -> pd.DataFrame:
        number = self.current if number is None else number
        if number is None:
            raise NotFound(f"no release is served from {self.directory}")
        return pd.read_parquet(self.directory / f"{number:04d}" / "scores.parquet")

    def info(self, number: int) -> dict:
        return json.loads((self.directory / f"{number:04d}" / "release.json").read_text())

    def _serve(self, number: int) -> None:
        (self.directory / "CURRENT.tmp").write_text(str(number))
        (self.directory / "CURRENT.tmp").replace(self.directory / "CURRENT")  # atomic switch

    def _log(self, **event) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        event = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **event}
        with (self.directory / "history.jsonl").open("a") as history:
            history.write(json.dumps(event) + "\n")

    def history(self) -> list[dict]:
        path = self.directory / "history.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() \
            else []

    def publish(self, scores: pd.DataFrame, limits: GateThresholds, force: bool = False,
                reason: str | None = None) -> tuple[int, list[Check]]:
        """Publish `scores` as the next release and serve it, unless the gate refuses it
        (ReleaseRefused; the served release stays). `force` overrides the gate and needs a
        `reason`, which is recorded. Returns the release number and the checks."""
        if force and not reason:
            raise ConfigError("--force needs --reason: an override must say why")
        if problems := _shape_problems(scores):
            self._log(event="refused", checks=problems)
            raise DataError("scores are not a valid batch: " + "; ".join(problems))
        served = None if self.current is None else self.scores()
        checks = gate(scores, served, limits)
        failed = [c.name for c in checks if not c.passed]
        if failed and not force:
            self._log(event="refused", failed=failed, checks=[asdict(c) for c in checks])
            raise ReleaseRefused(checks)
        number = max(self.numbers(), default=0) + 1
        folder = self.directory / f"{number:04d}"
        folder.mkdir(parents=True)  # exist_ok=False: a release is never overwritten
        scores.to_parquet(folder / "scores.parquet", index=False)
        info = {"release": number, "accounts": len(scores), "previous": self.current,
                "forced": bool(failed), "reason": reason if failed else None,
                "checks": [asdict(c) for c in checks],
                **{k: str(scores[k].iloc[0]) for k in ("model_version", "score_version",
                                                      "cutoff") if k in scores.columns}}
        (folder / "release.json").write_text(json.dumps(info, indent=1))
        self._serve(number)
        self._log(event="forced" if failed else "published", release=number, failed=failed,
                  reason=reason if failed else None)
        return number, checks

    def rollback(self) -> int:
        """Serve the release before the current one again; every release stays on disk."""
        current = self.current
        earlier = [n for n in self.numbers() if current is not None and n < current]
        if not earlier:
            raise NotFound(f"no release before {current} to roll back to in {self.directory}")
        self._serve(earlier[-1])
        self._log(event="rollback", release=earlier[-1], from_release=current)
        return earlier[-1]
