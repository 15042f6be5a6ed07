"""Guarded score releases: numbered, never overwritten, refused when a batch looks like a fault.

A release directory is a small transactional store:
- one folder per release (`0001/`, `0002/`, ...) with `scores.parquet` and `release.json`. A
  release is written into a temporary folder, flushed to disk and renamed into place, so a
  numbered folder is whole; one without `release.json` (left by a crash of an older version, or
  by hand) is *incomplete*: never served, reported by `list`, removed by `clean`;
- `history.jsonl`, one line per publish, refusal, override and rollback, flushed to disk: the
  source of truth. What is served is a stack: a publish pushes its release, a rollback pops the
  served one (it is withdrawn for good) and serves the one below, so a rollback never returns to
  a release that was refused, rolled back from or incomplete;
- `CURRENT`, the served release's number (switched atomically), what readers look at;
- `.lock`: publish, rollback and clean hold it, so concurrent publishers queue, each gated
  against the release served when its turn comes.

Before a batch is published it is compared with the release being served, and a change that
looks like a fault rather than a change in the world is refused (in 2011 a late data load set
everyone's Klout score to 1 for hours):
- versions: the batch comes from one model and one score map, the served release's (a new model
  is published deliberately: `--force` with a reason);
- cutoff: the batch's cutoff is not earlier than the served one's;
- coverage: the batch scores too few of the accounts the served release scores;
- moved: too many accounts move by more than a set number of points (a shuffled id column);
- rank: the rank correlation of the accounts in both is too low (a part of them shuffled);
- mean and median: the scores of the accounts in both move too far on average (every score +4);
- distribution: the Kolmogorov-Smirnov distance between the two score distributions;
- collapsed: many more accounts than before share one value (everyone at 1).
A first release has no release to compare with: it is held to the absolute rule that at most
`max_top_share` of its accounts share one score. Every batch must have the basic shape: integer
account ids, unique; integer scores within 1-100; at least one row.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import ks_2samp, spearmanr

from clout.errors import CloutError, ConfigError, DataError, NotFound
from clout.files import fsync_path, fsync_tree, replacing_file, write_text
from clout.privacy import DoNotScore, is_pseudonym
from clout.scoring.score import SCORE_MAX, SCORE_MIN, InfluenceModel, Recipe

VERSIONS = ("model_version", "score_version")  # columns `clout score` writes on every row


class GateThresholds(BaseModel):
    """When a new batch is refused, compared with the release being served (the defaults let
    weekly rescoring through: on the default world, consecutive weeks of one model move the
    mean by 0.1 point, keep a rank correlation of 0.99 and a KS distance of 0.003)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_coverage: float = Field(0.9, ge=0, le=1, description="share of the served release's "
                                                             "accounts the batch must score")
    moved_points: int = Field(10, ge=1, description="a move larger than this counts as moved")
    max_moved_share: float = Field(0.25, ge=0, le=1, description="share of accounts that may "
                                                                 "move that far")
    min_rank_correlation: float = Field(0.9, ge=-1, le=1, description="Spearman of the scores "
                                        "of the accounts in both releases")
    max_mean_shift: float = Field(2, ge=0, description="points the mean score of the accounts "
                                                       "in both may move")
    max_median_shift: float = Field(5, ge=0, description="points the median may move")
    max_ks: float = Field(0.1, ge=0, le=1, description="Kolmogorov-Smirnov distance between the "
                                                       "score distributions")
    max_collapse_growth: float = Field(0.2, gt=0, le=1, description="growth allowed in the "
                                       "share of accounts on the most common score")
    max_top_share: float = Field(0.8, gt=0, le=1, description="first release: share of accounts "
                                                             "that may share one score")


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


def shape_problems(scores: pd.DataFrame) -> list[str]:
    """What makes `scores` not a batch at all, each naming the column and the rule."""
    if missing := {"account_id", "score"} - set(scores.columns):
        return [f"scores lack column(s) {', '.join(sorted(missing))}"]
    if len(scores) == 0:
        return ["no rows"]
    problems = []
    for name in ("account_id", "score"):
        if not pd.api.types.is_numeric_dtype(scores[name]) or \
                pd.api.types.is_bool_dtype(scores[name]):
            problems.append(f"{name}: {scores[name].dtype} values, expected integers")
    if problems:
        return problems
    ids, score = scores["account_id"], scores["score"]
    if (fractional := int((ids.notna() & (ids % 1 != 0)).sum())) or ids.isna().any():
        problems.append(f"account_id: {fractional + int(ids.isna().sum())} row(s) missing or "
                        "not whole numbers")
    if (duplicated := int(ids.duplicated().sum())):
        problems.append(f"account_id: {duplicated} duplicated row(s)")
    outside = ~score.between(SCORE_MIN, SCORE_MAX) | score.isna()
    if (bad := int(outside.sum())):
        problems.append(f"score: {bad} row(s) missing or outside {SCORE_MIN}-{SCORE_MAX}")
    if (fractional := int((~outside & (score % 1 != 0)).sum())):
        problems.append(f"score: {fractional} row(s) not whole points")
    for name in VERSIONS:
        if name in scores and (n := scores[name].nunique(dropna=False)) > 1:
            problems.append(f"{name}: {n} different values, a batch comes from one")
    return problems


def _top_share(scores: pd.Series) -> tuple[float, object]:
    top = scores.value_counts(normalize=True)
    return float(top.iloc[0]), top.index[0]


def first_release_checks(new: pd.DataFrame, limits: GateThresholds) -> list[Check]:
    share, value = _top_share(new["score"])
    return [Check("collapsed", share, limits.max_top_share, share <= limits.max_top_share,
                  f"share of accounts on the most common score ({value}), first release")]


def gate(new: pd.DataFrame, served: pd.DataFrame | None, limits: GateThresholds) -> list[Check]:
    """Every check of `new` against the release being served (`served` None: a first
    release, held to absolute rules)."""
    if served is None:
        return first_release_checks(new, limits)
    checks = []
    for name in VERSIONS:
        if name in served and name in new:
            was, now = str(served[name].iloc[0]), str(new[name].iloc[0])
            checks.append(Check(name, float(was == now), 1, was == now,
                                f"the batch's {name} {now} is the served release's ({was})"))
    if "cutoff" in served and "cutoff" in new:
        back = (pd.Timestamp(served["cutoff"].iloc[0]) - pd.Timestamp(new["cutoff"].iloc[0]))
        days = back / pd.Timedelta(days=1)
        checks.append(Check("cutoff", days, 0, days <= 0,
                            "days the batch's cutoff is before the served release's"))
    share, value = _top_share(new["score"])
    growth = share - _top_share(served["score"])[0]
    both = served[["account_id", "score"]].merge(new[["account_id", "score"]], on="account_id",
                                                  suffixes=("_served", "_new"))
    coverage = len(both) / len(served)
    change = (both["score_new"] - both["score_served"]).to_numpy(float)
    moved = float((np.abs(change) > limits.moved_points).mean()) if len(both) else 1.0
    mean_shift = abs(float(change.mean())) if len(both) else np.inf
    if len(both) > 2 and both["score_served"].nunique() > 1 and both["score_new"].nunique() > 1:
        rank = float(spearmanr(both["score_served"], both["score_new"])[0])
    else:  # a constant side has no ranks: unchanged, or collapsed
        rank = float(len(both) > 0 and (change == 0).all())
    shift = abs(float(new["score"].median()) - float(served["score"].median()))
    ks = float(ks_2samp(served["score"], new["score"]).statistic)
    return checks + [
        Check("collapsed", growth, limits.max_collapse_growth,
              growth <= limits.max_collapse_growth,
              f"growth in the share of accounts on the most common score ({value})"),
        Check("coverage", coverage, limits.min_coverage, coverage >= limits.min_coverage,
              "share of the served release's accounts this batch scores"),
        Check("moved", moved, limits.max_moved_share, moved <= limits.max_moved_share,
              f"share of accounts moving more than {limits.moved_points} points"),
        Check("rank", rank, limits.min_rank_correlation, rank >= limits.min_rank_correlation,
              "Spearman of the scores of the accounts in both releases"),
        Check("mean", mean_shift, limits.max_mean_shift, mean_shift <= limits.max_mean_shift,
              "points the mean score of the accounts in both moves"),
        Check("median", shift, limits.max_median_shift, shift <= limits.max_median_shift,
              "points the median score moves"),
        Check("distribution", ks, limits.max_ks, ks <= limits.max_ks,
              "Kolmogorov-Smirnov distance between the score distributions"),
    ]


class Releases:
    """The numbered releases in one directory, and which one is served."""

    def __init__(self, directory: str | Path, forgotten: DoNotScore | None = None):
        self.directory = Path(directory)
        self.forgotten = forgotten or DoNotScore()  # never published, erased on `forget`
        self._models: dict[int, InfluenceModel] = {}

    def _folders(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted((p for p in self.directory.iterdir() if p.is_dir() and p.name.isdigit()),
                      key=lambda p: int(p.name))

    def numbers(self) -> list[int]:
        """The complete releases."""
        return [int(p.name) for p in self._folders() if (p / "release.json").is_file()]

    def incomplete(self) -> list[Path]:
        """Folders that are not whole releases: numbered without `release.json`, or the
        temporary folder of a publish that did not finish."""
        if not self.directory.is_dir():
            return []
        temporary = sorted(self.directory.glob(".publish-*"))
        return [p for p in self._folders() if not (p / "release.json").is_file()] + temporary

    @property
    def current(self) -> int | None:
        path = self.directory / "CURRENT"
        return int(path.read_text()) if path.exists() else None

    def scores(self, number: int | None = None) -> pd.DataFrame:
        number = self.current if number is None else number
        if number is None:
            raise NotFound(f"no release is served from {self.directory}")
        return pd.read_parquet(self.directory / f"{number:04d}" / "scores.parquet")

    def topics(self, number: int | None = None) -> pd.DataFrame | None:
        """A release's topic table (the served one's by default); None if published without."""
        path = self.directory / f"{number or self.current:04d}" / "topics.parquet"
        return pd.read_parquet(path) if path.is_file() else None

    def info(self, number: int) -> dict:
        return json.loads((self.directory / f"{number:04d}" / "release.json").read_text())

    def recipe(self, number: int | None = None) -> Recipe | None:
        """How a release's scores combine (the served one's by default); None if published
        without its model."""
        entry = self.info(number or self.current).get("recipe")
        return None if entry is None else Recipe.from_dict(entry)

    def model(self, number: int | None = None) -> InfluenceModel | None:
        """The model that made a release's scores; None if published without it."""
        path = self.directory / f"{number or self.current:04d}" / "model"
        return InfluenceModel.load(path) if path.is_dir() else None

    def features(self, number: int | None = None) -> pd.DataFrame | None:
        """The rows a release's scores were made from; None if published without them."""
        path = self.directory / f"{number or self.current:04d}" / "features.parquet"
        return pd.read_parquet(path) if path.is_file() else None

    def scored(self, number: int, accounts=None
               ) -> tuple[InfluenceModel, pd.DataFrame, pd.Series]:
        """A release's model, the feature rows it scored and its scores, both indexed by
        account id: of every account, or of `accounts` (each must be in it). What
        `audit.changes.score_changes` compares."""
        if number not in self.numbers():
            raise NotFound(f"no release {number} in {self.directory} "
                           f"(releases: {', '.join(map(str, self.numbers())) or 'none'})")
        model, features = self._models.get(number) or self.model(number), self.features(number)
        if model is None or features is None:
            raise NotFound(f"release {number} was published without its model and features "
                           "(clout score writes them beside the scores): it cannot say why a "
                           "score moved")
        self._models[number] = model  # a release's model never changes: parsed once
        features = features.set_index("account_id")
        scores = self.scores(number).set_index("account_id")["score"]
        if accounts is not None:
            if missing := [a for a in accounts if a not in features.index]:
                raise NotFound(f"account {missing[0]} is not in release {number}")
            features, scores = features.loc[accounts], scores.loc[accounts]
        return model, features, scores

    def account_history(self, account_id: int) -> list[dict]:
        """The account's score and components in every release that has it, oldest first."""
        found = []
        for number in self.numbers():  # in order
            scores = self.scores(number)
            row = scores[scores["account_id"] == account_id]
            if len(row):
                kept = [c for c in ("cutoff", "score", "reach", "amplification", "network",
                                    "model_version") if c in row]
                found.append({"release": number, "served": number == self.current,
                              **row.iloc[0][kept].to_dict()})
        return found

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the directory's lock; first finish what a crash left half done: the history
        is the source of truth, so `CURRENT` is set to the release it says is served."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            stack = self.served_stack()
            if stack and stack[-1] != self.current and stack[-1] in self.numbers():
                self._serve(stack[-1])
            yield

    def _serve(self, number: int) -> None:
        write_text(self.directory / "CURRENT", str(number))  # an atomic switch

    def _log(self, **event) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        event = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **event}
        with (self.directory / "history.jsonl").open("a") as history:
            history.write(json.dumps(event) + "\n")
            history.flush()
            os.fsync(history.fileno())

    def history(self) -> list[dict]:
        path = self.directory / "history.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() \
            else []

    def served_stack(self) -> list[int]:
        """The releases served in turn, from the history: a publish pushes, a rollback pops.
        The top is the one that should be served; the rest are what rollbacks return to."""
        stack: list[int] = []
        for event in self.history():
            if event["event"] in ("published", "forced"):
                stack.append(event["release"])
            elif event["event"] == "rollback":
                while stack and stack[-1] != event["release"]:
                    stack.pop()
        return stack

    def publish(self, scores: pd.DataFrame, limits: GateThresholds, force: bool = False,
                reason: str | None = None, topics: pd.DataFrame | None = None,
                model: InfluenceModel | None = None, features: pd.DataFrame | None = None
                ) -> tuple[int, list[Check]]:
        """Publish `scores` (with what `clout score` writes beside them: their `topics`, the
        `model` that made them and the `features` rows it scored) as the next release and
        serve it, unless the gate refuses it (ReleaseRefused; the served release stays).
        `force` overrides the gate (not the batch's shape) and needs a non-blank `reason`,
        which is recorded. Returns the release number and the checks. The model lets the
        lookup recombine the scores under other weights (its `Recipe`) and, with the
        features, say why a score moved since an earlier release."""
        reason = (reason or "").strip() or None
        if force and not reason:
            raise ConfigError("--force needs --reason: an override must say why")
        # the forgotten are never published, whatever batch they come from
        given = len(scores)
        scores, topics, features = (None if t is None else t[~self._names_forgotten(t)]
                                    for t in (scores, topics, features))
        problems = shape_problems(scores)
        if topics is not None and not (strays := set(topics["account_id"]) - set(
                scores["account_id"])) == set():
            problems.append(f"topics: {len(strays):,} account(s) the scores lack")
        if model is not None and "model_version" in scores and not (
                scores["model_version"] == model.version).all():
            problems.append(f"model: {model.version} is not the one the scores were made "
                            "with")
        if features is not None and not (strays := set(features["account_id"]) ^ set(
                scores["account_id"])) == set():
            problems.append(f"features: {len(strays):,} account(s) not both scored and in "
                            "the features")
        if problems:
            self._log(event="refused", checks=problems)
            raise DataError("scores are not a valid batch: " + "; ".join(problems))
        with self._locked():
            served = None if self.current is None else self.scores()
            checks = gate(scores, served, limits)
            failed = [c.name for c in checks if not c.passed]
            if failed and not force:
                self._log(event="refused", failed=failed, checks=[asdict(c) for c in checks])
                raise ReleaseRefused(checks)
            # numbers are never reused, not even an incomplete folder's
            number = max((int(p.name) for p in self._folders()), default=0) + 1
            info = {"release": number, "accounts": len(scores), "previous": self.current,
                    "forced": bool(failed), "reason": reason if failed else None,
                    "checks": [asdict(c) for c in checks],
                    **{k: str(scores[k].iloc[0]) for k in (*VERSIONS, "cutoff")
                       if k in scores.columns},
                    **({} if model is None else {"recipe": model.recipe.to_dict()}),
                    **({"withheld": given - len(scores)} if given > len(scores) else {})}
            staging = Path(tempfile.mkdtemp(prefix=".publish-", dir=self.directory))
            scores.to_parquet(staging / "scores.parquet", index=False)
            if topics is not None:
                topics.to_parquet(staging / "topics.parquet", index=False)
            if model is not None:
                model.save(staging / "model")
            if features is not None:
                features.to_parquet(staging / "features.parquet", index=False)
            (staging / "release.json").write_text(json.dumps(info, indent=1))
            fsync_tree(staging)
            staging.rename(self.directory / f"{number:04d}")  # whole, or not there
            fsync_path(self.directory)
            self._log(event="forced" if failed else "published", release=number,
                      failed=failed, reason=reason if failed else None)
            self._serve(number)
        return number, checks

    def _names_forgotten(self, table: pd.DataFrame) -> np.ndarray:
        ids = table["account_id"].to_numpy()
        return is_pseudonym(ids) | self.forgotten.contains(ids)

    def erase(self) -> int:
        """Remove the forgotten accounts from every release on disk (scores, topics, the
        scored rows), so that no rollback serves them again; the rows removed. Recorded in
        the history by count, never by id."""
        erased = 0
        with self._locked():
            for number in self.numbers():
                folder = self.directory / f"{number:04d}"
                for name in ("scores.parquet", "topics.parquet", "features.parquet"):
                    if not (folder / name).is_file():
                        continue
                    table = pd.read_parquet(folder / name)
                    if (gone := self._names_forgotten(table)).any():
                        with replacing_file(folder / name) as partial:
                            table[~gone].to_parquet(partial, index=False)
                        erased += int(gone.sum())
            if erased:
                self._log(event="erased", rows=erased)
        return erased

    def rollback(self) -> int:
        """Withdraw the served release and serve the one served before it (every release
        stays on disk; a withdrawn one is never served again by a rollback)."""
        with self._locked():
            stack = self.served_stack()
            current = stack[-1] if stack else self.current
            complete = set(self.numbers())  # one listing of the folder
            earlier = [n for n in stack[:-1] if n in complete]
            if not earlier:
                raise NotFound(f"no release before {current} to roll back to in "
                               f"{self.directory}")
            self._log(event="rollback", release=earlier[-1], from_release=current)
            self._serve(earlier[-1])
        return earlier[-1]

    def clean(self) -> list[Path]:
        """Remove the incomplete folders; returns what was removed."""
        with self._locked():
            removed = self.incomplete()
            for path in removed:
                shutil.rmtree(path)
        return removed
