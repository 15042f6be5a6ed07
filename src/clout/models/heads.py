"""LightGBM heads: one per engagement kind, predicting engagement per post.

A head is fit on the per-post rate `label_<kind>_<h>d / label_posts_<h>d` with the posts as
weights and a Poisson (or Tweedie) objective. For Poisson this is the same fit as counts with
log(posts) as an offset: the loss differs by a constant. Accounts with no posts in the horizon
carry no label and are not fit on, but they are still predicted and scored.

A source without posts (events between accounts only, as Higgs) has per-account heads: the
label is what the account received over the horizon, every account in the population is
labelled, each with exposure 1 (one horizon).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import PoissonRegressor

from clout.errors import DataError
from clout.features.schema import FeatureTable, Target
from clout.models.calibration import Calibrator, choose_calibrator
from clout.models.metrics import FLOOR, poisson_deviance

Columns = Mapping[str, Any]  # a DataFrame, or column name -> values
SMALL_BATCH = 1000


@dataclass(frozen=True)
class Split:
    """Cutoffs for training, for early stopping and calibration, and for the report.

    The label horizons of the three parts do not overlap: a training cutoff's horizon ends by the
    validation cutoff, and the validation horizon ends by the test cutoff, so no outcome seen in
    training is also one the model is checked on. Cutoffs in between are left out.
    """

    train: tuple[pd.Timestamp, ...]
    validation: pd.Timestamp
    test: pd.Timestamp

    @classmethod
    def by_time(cls, cutoffs: Sequence, horizon_days: int) -> Split:
        cutoffs = sorted(set(pd.Timestamp(c) for c in cutoffs))
        horizon = pd.Timedelta(days=horizon_days)
        test = cutoffs[-1]
        earlier = [c for c in cutoffs if c + horizon <= test]
        if not earlier:
            raise DataError(f"no cutoff {horizon_days} days before the test cutoff {test.date()}"
                             ": add weeks so validation and test horizons do not overlap")
        validation = earlier[-1]
        train = tuple(c for c in earlier if c + horizon <= validation)
        if not train:
            raise DataError(f"no training cutoff {horizon_days} days before the validation "
                             f"cutoff {validation.date()}: add weeks")
        return cls(train, validation, test)

    @classmethod
    def of(cls, table: FeatureTable) -> Split:
        """The split of a feature table's cutoffs, its horizon apart."""
        return cls.by_time(table.cutoffs, table.schema.horizon_days)

    def part(self, frame: pd.DataFrame, name: str) -> pd.DataFrame:
        cutoffs = self.train if name == "train" else (getattr(self, name),)
        return frame[frame["cutoff"].isin(cutoffs)]

    def describe(self) -> dict[str, str]:
        return {"train_cutoffs": ",".join(f"{c:%Y-%m-%d}" for c in self.train),
                "validation_cutoff": f"{self.validation:%Y-%m-%d}",
                "test_cutoff": f"{self.test:%Y-%m-%d}"}


def lgb_params(objective: str, params: dict, seed: int, num_threads: int | None) -> dict:
    """LightGBM parameters with the settings that make the same seed give the same model.

    Column-wise histograms: each feature's histogram is summed by one thread in row order, so
    the trees are the same at any thread count (row-wise, threads sum row blocks and merge, and
    the last bits follow the thread count). `num_threads` None: every core."""
    return {**params, "objective": objective, "seed": seed, "deterministic": True,
            "force_col_wise": True, "num_threads": num_threads or 0, "verbosity": -1}


# The empirical-Bayes prior's weight, in events, is the one of these with the lowest validation
# deviance (its covariates: `FeatureSchema.prior_covariates`).
PRIOR_STRENGTHS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


@dataclass(frozen=True)
class HistoryOffset:
    """Where the booster starts from: the account's per-post rate over the longest window,
    shrunk towards a prior (a gamma-Poisson posterior mean). The trees then learn corrections
    to it (as log factors), so they start as good as history and still apply when rates drift
    above anything in training. A head on credible engagement starts from the credible history.

    Two priors:
    - `prior_posts` a number: the training base rate, worth that many posts, for every account:
      (events + prior_posts x base rate) / (posts + prior_posts);
    - `prior_posts` None (empirical Bayes): a mean log-linear in the log1p of what is known
      before the cutoff (`covariates`, `coefficients` intercept first), so a short history
      starts near accounts like it rather than near a rate big accounts set, worth `strength`
      events chosen on validation: (events + strength) / (posts + strength / prior mean).
      It ranks better, and so responds more to a few (even bought) credible events on a quiet
      account: see docs/quality.md.
    """

    rate_column: str  # per post: the window's rate; per account: the window's count
    posts_column: str | None  # None: per account, the window is `periods` horizons
    prior_posts: float | None = 5.0
    covariates: tuple[str, ...] = ()
    coefficients: tuple[float, ...] = (0.0,)
    strength: float = 0.0
    periods: float = 1.0

    @classmethod
    def for_target(cls, target: Target, prior_posts: float | None = 5.0,
                   covariates: tuple[str, ...] = ()) -> HistoryOffset:
        """The unfitted start of `target`: its history columns and, for empirical Bayes
        (`prior_posts` None), the prior's `covariates`."""
        covariates = () if prior_posts is not None else tuple(covariates)
        if target.per_post:
            return cls(target.history, target.history_posts, prior_posts, covariates)
        return cls(target.history, None, prior_posts, covariates,
                   periods=target.window / target.horizon)

    @property
    def columns(self) -> list[str]:
        return [c for c in dict.fromkeys([self.rate_column, self.posts_column, *self.covariates])
                if c is not None]

    @staticmethod
    def _value(columns: Columns, name: str) -> np.ndarray:  # missing means none
        return np.nan_to_num(np.asarray(columns[name], dtype=np.float64))

    def _design(self, columns: Columns) -> np.ndarray:
        return np.column_stack([np.ones(len(self._value(columns, self.rate_column)))]
                               + [np.log1p(np.maximum(self._value(columns, c), 0))
                                  for c in self.covariates])

    def prior_mean(self, columns: Columns) -> np.ndarray:
        return np.exp(self._design(columns) @ np.asarray(self.coefficients))

    def _history(self, columns: Columns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Events and exposure (posts, or horizons) over the window, and the prior mean."""
        history = self._value(columns, self.rate_column)
        if self.posts_column is None:
            return history, np.full(len(history), self.periods), self.prior_mean(columns)
        posts = self._value(columns, self.posts_column)
        return history * posts, posts, self.prior_mean(columns)

    def own_rate(self, columns: Columns) -> np.ndarray:
        """The account's own rate over the window, unshrunk (NaN without exposure)."""
        events, exposure, _ = self._history(columns)
        return np.divide(events, exposure, out=np.full(len(events), np.nan),
                         where=exposure > 0)

    def _posterior(self, events, posts, mean) -> np.ndarray:
        weight = self.strength / mean if self.prior_posts is None else self.prior_posts
        return (events + weight * mean) / (posts + weight)

    def __call__(self, columns: Columns) -> np.ndarray:
        return self._posterior(*self._history(columns))

    def log(self, columns: Columns) -> np.ndarray:
        return np.log(np.maximum(self(columns), FLOOR))

    def fit(self, train: pd.DataFrame, rate, posts, validation: pd.DataFrame, val_rate,
            val_posts) -> HistoryOffset:
        """The prior's mean from the training rows (the base rate, or a Poisson GLM of the
        horizon's rate on the covariates, posts as weights) and, for empirical Bayes, its
        strength from the validation rows (the grid value whose start has the lowest
        deviance)."""
        design = self._design(train)[:, 1:]
        intercept, slopes = float(np.log(np.average(rate, weights=posts))), np.zeros(0)
        if design.shape[1]:  # standardised for the solver, then back to the log1p scale
            centre, scale = design.mean(axis=0), design.std(axis=0)
            scale[scale == 0] = 1.0  # a constant covariate: its coefficient comes out 0
            glm = PoissonRegressor(alpha=1e-4, max_iter=1000).fit(
                (design - centre) / scale, rate, sample_weight=posts)
            slopes = glm.coef_ / scale
            intercept = float(glm.intercept_ - slopes @ centre)
        prior = replace(self, coefficients=(intercept, *map(float, slopes)))
        if self.prior_posts is not None:
            return prior

        history = prior._history(validation)

        def deviance(strength):
            start = replace(prior, strength=strength)._posterior(*history)
            return poisson_deviance(val_rate, start, val_posts)
        return replace(prior, strength=min(PRIOR_STRENGTHS, key=deviance))


def own_history(frame: pd.DataFrame, target: Target) -> np.ndarray | None:
    """The account's own unshrunk rate of `target` over the longest window (NaN without
    exposure there); None when the table lacks that history."""
    history = HistoryOffset.for_target(target)
    return history.own_rate(frame) if set(history.columns) <= set(frame.columns) else None


@dataclass
class Head:
    """One engagement kind: the target it learns, a booster on named features, the history it
    starts from (if any), and its calibrator."""

    target: Target
    features: list[str]
    booster: lgb.Booster
    calibrator: Calibrator
    base_rate: float  # posts-weighted mean rate of the training rows
    calibration_deviances: dict[str, float]
    offset: HistoryOffset | None = None

    @property
    def kind(self) -> str:
        return self.target.kind

    @property
    def label(self) -> str:
        """The per-post label column it was fit on."""
        return self.target.label

    @property
    def inputs(self) -> list[str]:
        """Every column the head reads: its features and the history it starts from."""
        extra = [] if self.offset is None else self.offset.columns
        return list(dict.fromkeys([*self.features, *extra]))

    def margin(self, columns: Columns) -> np.ndarray:
        """log of the uncalibrated rate: the booster's output plus the history's log rate.
        `columns`: a DataFrame, or a mapping of column name to values (faster)."""
        X = np.column_stack([np.asarray(columns[f], dtype=np.float64) for f in self.features])
        # a few rows (one request) are faster on one thread than spread over all
        threads = {"num_threads": 1} if len(X) < SMALL_BATCH else {}
        margin = self.booster.predict(X, raw_score=True, **threads)
        return margin if self.offset is None else margin + self.offset.log(columns)

    def raw(self, columns: Columns) -> np.ndarray:
        """The uncalibrated predicted rate (events per post)."""
        return np.exp(self.margin(columns))

    def __call__(self, columns: Columns) -> np.ndarray:
        """The calibrated predicted rate (events per post)."""
        return self.calibrator(self.raw(columns))


@dataclass
class BoosterData:
    """What a booster learns from, for training or validation: features, per-post rate,
    posts (weights) and the history's log rate it starts from (None without an offset)."""

    X: pd.DataFrame
    rate: np.ndarray
    posts: np.ndarray
    start: np.ndarray | None


@dataclass(frozen=True)
class Boosting:
    """How a booster is grown, on either engine: LightGBM's parameters (from `lgb_params`), at
    most `num_boost_round` trees, and when to stop (`stopping`)."""

    params: dict
    num_boost_round: int
    patience: int  # stop this many rounds after the best validation loss
    min_rounds: int = 1  # the best is chosen among rounds min_rounds and later

    def stopping(self) -> StoppingRule:
        return StoppingRule(self.patience, self.min_rounds)


class StoppingRule:
    """Early stopping on the validation loss with a floor, the one rule of both engines: the
    best round is chosen among rounds `min_rounds` and later (so one noisy validation cutoff
    cannot stop a head at its first tree), and training stops `patience` rounds after it.
    Feed it one loss per round (`update`); `best` is then the number of trees to keep."""

    def __init__(self, patience: int, min_rounds: int = 1):
        self.patience, self.min_rounds = patience, min_rounds
        self.best, self.loss = 0, np.inf  # trees kept (0: none chosen yet), their loss

    def update(self, rounds: int, loss: float) -> bool:
        """After `rounds` trees, with this validation loss: whether to stop now."""
        if rounds >= self.min_rounds and loss < self.loss:
            self.best, self.loss = rounds, loss
        return self.best > 0 and rounds - self.best >= self.patience

    def replay(self, losses) -> int:
        """The trees to keep given every round's loss (an engine that cannot stop early)."""
        for rounds, loss in enumerate(losses, start=1):
            if self.update(rounds, loss):
                break
        return self.best


def early_stopping(patience: int, min_rounds: int = 1):
    """`StoppingRule` as a LightGBM callback: stops `patience` rounds after the best round,
    chosen among rounds `min_rounds` and later."""
    rule, results = StoppingRule(patience, min_rounds), {}

    def callback(env: lgb.callback.CallbackEnv) -> None:
        name, metric, value, higher_better = env.evaluation_result_list[0][:4]
        rounds = env.iteration + 1
        stop = rule.update(rounds, -value if higher_better else value)
        if rule.best == rounds:
            results["best"] = env.evaluation_result_list
        if stop or (rule.best > 0 and env.iteration == env.end_iteration - 1):
            raise lgb.callback.EarlyStopException(rule.best - 1, results["best"])
    callback.order = 30  # where LightGBM's own early stopping runs
    return callback


def local_booster(boosting: Boosting, train: BoosterData, validation: BoosterData
                  ) -> lgb.Booster:
    """LightGBM in this process, stopped early on the validation deviance."""
    train_set = lgb.Dataset(train.X, train.rate, weight=train.posts, init_score=train.start,
                            free_raw_data=False)
    val_set = lgb.Dataset(validation.X, validation.rate, weight=validation.posts,
                          init_score=validation.start, reference=train_set)
    booster = lgb.train(boosting.params, train_set, num_boost_round=boosting.num_boost_round,
                        valid_sets=[val_set], valid_names=["validation"],
                        callbacks=[early_stopping(boosting.patience, boosting.min_rounds)])
    booster.free_dataset()
    return booster


@dataclass(frozen=True)
class HeadSpec:
    """Everything that decides how one head is fit (besides the data and the seed)."""

    target: Target
    features: tuple[str, ...]
    boosting: Boosting
    calibration: str  # auto, none, glm, isotonic
    offset: HistoryOffset | None = None  # the history it starts from


def fit_head(spec: HeadSpec, train: pd.DataFrame, validation: pd.DataFrame, seed: int,
             trainer=local_booster) -> Head:
    """Fit on the training cutoffs, stop early and calibrate (cross-fitted with `seed`) on the
    validation cutoff. `trainer` fits the booster (`local_booster`, or
    `models.distributed.dask_booster`)."""
    target, offset = spec.target, spec.offset
    train, y_train, w_train = target.labelled(train)
    validation, y_val, w_val = target.labelled(validation)
    if len(train) == 0 or len(validation) == 0:
        raise DataError(f"head {target.kind}: no accounts with posts in the horizon to "
                        f"{'train' if len(train) == 0 else 'validate'} on")
    base_rate = float(np.average(y_train, weights=w_train))
    features = list(spec.features)
    if offset is not None:
        offset = offset.fit(train, y_train, w_train, validation, y_val, w_val)

    def data(frame, rate, posts):  # start: the history's log rate, where boosting begins
        return BoosterData(frame[features], rate, posts,
                           None if offset is None else offset.log(frame))
    booster = trainer(spec.boosting, data(train, y_train, w_train),
                      data(validation, y_val, w_val))
    head = Head(target, features, booster, Calibrator(), base_rate, {}, offset)
    head.calibrator, head.calibration_deviances = choose_calibrator(
        spec.calibration, head.raw(validation), y_val, w_val, seed)
    return head
