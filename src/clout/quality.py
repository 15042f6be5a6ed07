"""How good the score is: many worlds and cutoffs, the model beside the strongest baselines.

`evaluate` trains the experiment once per *case*, exactly as `clout train` does (same features,
same model, same `model_version`). A case is one world (a data seed), one test cutoff and one
model seed. Each case is measured with `pipeline.measure`:
- the score's rank against the truth it estimates (simulated data: the overall truth, and the
  per-post truth of earlier releases) and against realised engagement, beside the history
  indexes, which are scored 1-100 the same way; each component against its own truth;
- per head, deviance and account rank of the model and of each history baseline;
- the manipulation gaps, the fairness gaps by band, the map's factor per 10 points and the best
  iterations.
With `rolling=N` the last N cutoffs are test cutoffs in turn, each with a model trained on the
cutoffs before it (rolling origin).

The tables give each number's mean ± sd over the cases and each case's value. In each row group
the *best baseline* is the one with the best mean. A paired bootstrap over accounts (resampled
within each case, the same rows for model and baseline) gives a 95% interval of the model minus
it. `markdown` writes the result as a section of docs/quality.md, with date, commit, versions and
machine. `log_evaluation` writes it as one MLflow parent run with a child run per case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from scipy.special import xlogy
from scipy.stats import rankdata

from clout import numerics, tracking
from clout.audit.fairness import fairness_table
from clout.compute import session
from clout.config import Experiment
from clout.data.influence import COMPONENTS, TOPIC_TRUTH
from clout.errors import ConfigError
from clout.features.build import load_tables
from clout.features.catalogue import column
from clout.features.schema import FeatureTable
from clout.gaming import (
    SIZES,
    display,
    gaming_metrics,
    genuine_accounts,
    goal_text,
    sizes_of,
    world_gaming,
)
from clout.models.heads import Split
from clout.models.metrics import FLOOR
from clout.pipeline import (
    Measurement,
    account_topics,
    fit_model,
    measure,
    warn_if_unpinned,
    with_model,
)
from clout.prepare import Source, TopicContext, prepare
from clout.scoring.evaluation import MANIPULATORS, scored_truth, truth_of
from clout.scoring.topics import (
    TOPIC_BASELINES,
    Topics,
    model_kind_weights,
    model_topics,
    topic_agreement,
    topic_outcome,
    topic_truth,
)

Say = Callable[[str], None]
# The rivals of each row group, in the order the tables show them.
SCORE_BASELINES = ("history_index", "history_start", "log1p_index", "engagers_index")
HEAD_BASELINES = ("constant", "historical_mean", "credible_historical_mean", "history_start",
                  "log1p_per_post", "last_horizon", "credible_last_horizon")
HIGHER_IS_BETTER = {"spearman": True, "spearman_truth": True, "spearman_truth_genuine": True,
                    "spearman_realised": True, "deviance": False, "pairwise": True}
# A human judgement real profiles carry: how many people put the account on a list. Profile
# counters are observed once, after the cutoffs: they leak, so they are never features, only
# what the score is held against, beside the follower count and the engagement received.
HUMAN_JUDGEMENT, HUMAN = "listed_count", "human"
HUMAN_BASELINES = (*SCORE_BASELINES, "followers", "engagement_received")


@dataclass
class Case:
    """One trained model measured on its test cutoff."""

    name: str  # what tells it apart: "seed 7", "2016-04-18", "seed 7, model seed 8"
    data_seed: int | None
    model_seed: int
    split: Split  # the cutoffs it was trained, stopped and calibrated, and tested on
    model_version: str
    training_rows: int
    values: pd.DataFrame  # long: section, item, predictor, measure, value
    accounts: dict[str, pd.DataFrame]  # what the bootstrap resamples: "score" and each head
    gaming: pd.DataFrame | None = None  # `gaming.gaming_table` of its model, when asked

    @property
    def test_cutoff(self) -> pd.Timestamp:
        return self.split.test


@dataclass
class QualityResult:
    experiment: Experiment
    cases: list[Case]
    deltas: pd.DataFrame  # per row group: best baseline, model minus it, 95% interval
    command: str = ""
    machine: dict[str, str] = field(default_factory=numerics.machine)
    commit: str = field(default_factory=tracking.git_commit)
    date: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d"))

    @property
    def values(self) -> pd.DataFrame:
        return pd.concat([c.values.assign(case=c.name) for c in self.cases], ignore_index=True)

    def summary(self) -> pd.DataFrame:
        """One row per number: mean, sd and each case's value (columns named by case)."""
        values = self.values
        keys = ["section", "item", "predictor", "measure"]
        wide = values.pivot_table(index=keys, columns="case", values="value", sort=False,
                                  dropna=False)[[c.name for c in self.cases]]
        stats = values.groupby(keys, sort=False)["value"].agg(["mean", "std"])
        return stats.join(wide).reset_index()


# -- one case --------------------------------------------------------------------------------

def pairwise_agreement(predicted: np.ndarray, judged: np.ndarray) -> float:
    """The share of account pairs that the judgement orders (different values) which
    `predicted` orders the same way, a tie in `predicted` counting a half: how often the score
    agrees with a person choosing the more influential of two accounts."""
    ahead = judged[:, None] > judged[None, :]
    difference = (predicted[:, None] - predicted[None, :])[ahead]
    return float(np.mean((difference > 0) + 0.5 * (difference == 0))) if ahead.any() \
        else np.nan


def human_frame(measured: Measurement, test: pd.DataFrame, accounts: pd.DataFrame,
                received: str) -> pd.DataFrame | None:
    """Per account of the test cutoff: log(1 + listed count) (`target`), the model's score
    (`model`) and components, each history index scored, log(1 + followers) and the engagement
    received (the `received` column: over the longest window); None where profiles carry no
    listed count."""
    if HUMAN_JUDGEMENT not in accounts or accounts[HUMAN_JUDGEMENT].isna().all():
        return None
    profiles = accounts.dropna(subset=[HUMAN_JUDGEMENT])
    frame = pd.DataFrame({"account_id": profiles["account_id"],
                          "target": np.log1p(profiles[HUMAN_JUDGEMENT].to_numpy(float)),
                          "followers": np.log1p(profiles["followers_count"].to_numpy(float))})
    scored = measured.scores[["account_id", "score", *(
        c for c in COMPONENTS if c in measured.scores)]].rename(columns={"score": "model"})
    frame = frame.merge(scored, on="account_id")
    for name, rival in measured.rivals.items():
        frame = frame.merge(rival.rename(columns={"score": name}), on="account_id")
    if received in test:
        frame = frame.merge(test[["account_id", received]].rename(
            columns={received: "engagement_received"}), on="account_id")
    return frame.drop(columns="account_id").astype(float)


def case_values(measured: Measurement, fairness: pd.DataFrame, truth: pd.DataFrame | None,
                human: pd.DataFrame | None = None, topics: tuple | None = None
                ) -> pd.DataFrame:
    """A case's numbers in long form (section, item, predictor, measure, value); `human`:
    `human_frame`, where there is one; `topics`: `topic_agreement` against the truth per
    topic, or on real data against what the posts on each topic drew in the horizon
    (`realised_topic_agreement`)."""
    s, rows = measured.summary, []

    def add(section, item, predictor, measure, value):
        if value is not None and not pd.isna(value):
            rows.append((section, item, predictor, measure, float(value)))
    for name in ("model", *SCORE_BASELINES):
        if truth is not None:
            add("score", "all", name, "spearman_truth", s.score("spearman_truth", name))
            add("score", "genuine", name, "spearman_truth",
                s.score("spearman_truth_genuine", name))
            add("score", "per-post truth", name, "spearman_truth",
                s.score("spearman_true_influence", name))
            for component in COMPONENTS:
                add("component", component, name, "spearman_truth",
                    s.score(f"spearman_true_{component}", name))
            for role in MANIPULATORS:
                add("gap", role, name, "points", s.score(f"score_gap_{role}", name))
        add("score", "realised", name, "spearman_realised", s.score("spearman_realised", name))
    if human is not None:
        for name in (c for c in human.columns if c != "target"):
            add(HUMAN, "log listed count", name, "spearman",
                _spearman(human[name].to_numpy(), human["target"].to_numpy()))
            add(HUMAN, "log listed count", name, "pairwise",
                pairwise_agreement(human[name].to_numpy(), human["target"].to_numpy()))
    if topics is not None:
        per_topic, best = topics
        against = "spearman_truth" if truth is not None else "spearman_realised"
        for name in ("topic score", *TOPIC_BASELINES):
            add("topic", "mean over topics", "model" if name == "topic score" else name,
                against, per_topic[name].mean())
        add("topic", "true best topic" if truth is not None else "best topic in the horizon",
            "model", "share_in_top_2", best["true best topic in top 2"])
    metrics = measured.metrics
    for row in metrics[metrics["predictor"].isin(("model", *HEAD_BASELINES))].itertuples():
        add("head", row.head, row.predictor, "spearman", row.spearman)
        add("head", row.head, row.predictor, "deviance", row.poisson_deviance)
    for row in metrics[metrics["predictor"] == "model"].itertuples():
        add("model", row.head, "model", "best_iteration", row.best_iteration)
    add("model", "score", "model", "factor_per_10_points", s.score("factor_per_10_points"))
    gap = "gap_truth" if "gap_truth" in fairness else "gap_realised"
    for row in fairness.itertuples():
        add("fairness", f"{row.dimension} {row.band}", "model", gap, getattr(row, gap))
    return pd.DataFrame(rows, columns=["section", "item", "predictor", "measure", "value"])


def case_accounts(measured: Measurement, truth: pd.DataFrame | None, reference: str,
                  human: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Per-account values the bootstrap resamples: the scores against their target (the
    `reference` truth where known, else realised engagement), each head's rows, and the
    human judgement's (`human_frame`) where there is one."""
    predictors = {"model": measured.scores, **measured.rivals}
    if truth is not None:
        target = scored_truth(measured.scores, truth, reference)[["account_id", "true"]]
    else:
        target = measured.realised[["account_id", "realised"]]
    score = target.rename(columns={target.columns[1]: "target"})
    for name, scores in predictors.items():
        score = score.merge(scores[["account_id", "score"]].rename(columns={"score": name}),
                            on="account_id")
    return {"score": score.drop(columns="account_id"), **measured.head_rows,
            **({} if human is None else {HUMAN: human})}


def _case_name(seed: int | None, cutoff, model_seed: int, rolling: bool,
               several_model_seeds: bool) -> str:
    parts = [] if seed is None else [f"seed {seed}"]
    if rolling or seed is None:
        parts.append(f"{cutoff:%Y-%m-%d}")
    if several_model_seeds:
        parts.append(f"model seed {model_seed}")
    return ", ".join(parts)


def rolling_cutoffs(cutoffs: list, rolling: int, span: int | None) -> list[list]:
    """Each case's cutoffs, oldest test cutoff first: the `span` cutoffs ending at each of the
    last `rolling` ones (`span` None: every cutoff up to it)."""
    ends = range(len(cutoffs) - rolling + 1, len(cutoffs) + 1)
    return [cutoffs[max(0, end - span) if span else 0:end] for end in ends]


MEASURED_TOPICS = 10  # real data: the topics with the most accounts, measured


@dataclass
class RealisedTopics:
    """Topics on real data against what the posts on each topic drew afterwards."""

    per_topic: pd.DataFrame  # `topic_agreement`'s, the MEASURED_TOPICS largest topics
    best: dict  # how often the best topic in the horizon is among the top two
    topics: Topics
    outcome: pd.DataFrame  # `topic_outcome`: account_id, topic, posts, truth (per post)
    context: TopicContext


def realised_topic_agreement(model, scores: pd.DataFrame, experiment: Experiment, tables
                             ) -> RealisedTopics | None:
    """On real data, at the scores' cutoff: the topics (learned from text before the cutoff
    where the source has text, `prepare.topic_context`) against what each account's posts on
    each topic drew per post in the horizon after it. None where the source has no topics to
    tell apart."""
    found, context = account_topics(model, scores, experiment.data, tables)
    if found.scores["topic"].nunique() < 2:
        return None
    cutoff = int(pd.Timestamp(scores["cutoff"].iloc[0]).timestamp() // 86_400)
    outcome = topic_outcome(context.tables, cutoff, experiment.features.horizon_days,
                            model_kind_weights(model))
    per_topic, best = topic_agreement(found.scores, outcome)
    return RealisedTopics(per_topic.nlargest(MEASURED_TOPICS, "accounts", keep="first"), best,
                          found, outcome, context)


def measure_case(name: str, experiment: Experiment, table: FeatureTable, cutoffs: list,
                 source: Source, engine, attacks: Mapping[str, Sequence[int]] | None = None
                 ) -> Case:
    """Train on `cutoffs` as `clout train` would (the latest is the test) and measure; with
    `attacks` (name -> sizes), also what each buys in the source's world (`clout.gaming`)."""
    truth = source.truth
    table = table.where(cutoffs)
    part, split = table.frame, Split.of(table)
    model = fit_model(experiment, table, split, say=lambda _: None, engine=engine)
    measured = measure(experiment, model, part, split, truth, engine)
    test = split.part(part, "test")
    fairness = fairness_table(model, test, truth)
    human = human_frame(measured, test, source.dataset.accounts,
                        column("engagement_{w}d", window=table.schema.longest_window))
    tables, topics = load_tables(source.dataset), None
    if truth is not None and truth.columns.str.startswith(TOPIC_TRUTH).any():
        found = model_topics(model, measured.scores, tables)
        topics = topic_agreement(found.scores, topic_truth(truth))
    elif truth is None and (realised := realised_topic_agreement(
            model, measured.scores, experiment, tables)) is not None:
        topics = realised.per_topic, realised.best  # real data: what the posts drew after
    simulated = experiment.data.source == "simulator"
    gaming = None
    if attacks is not None:
        gaming = world_gaming(model, source, experiment.data.seed, attacks, say=lambda _: None)
    return Case(name, experiment.data.seed if simulated else None, experiment.model.seed,
                split, model.version, len(split.part(part, "train")),
                case_values(measured, fairness, truth, human, topics),
                case_accounts(measured, truth, truth_of(model, truth) if truth is not None
                              else None, human), gaming)


def evaluate(experiment: Experiment, seeds: Sequence[int] | None = None, rolling: int = 1,
             model_seeds: Sequence[int] | None = None, bootstrap: int = 1000,
             gaming: bool | Sequence[str] = False, say: Say = print) -> QualityResult:
    """Train and measure every case: `seeds` are worlds (simulator only; default the
    experiment's), `rolling` the number of test cutoffs, `model_seeds` training seeds;
    `gaming`: also inject every attack (True), or those named, into each case's world (see
    `clout.gaming`)."""
    warn_if_unpinned()  # numbers from unpinned kernels differ from other machines' in the bits
    simulated = experiment.data.source == "simulator"
    if seeds and not simulated:
        raise ConfigError(f"--seeds sets the simulated world; {experiment.data.source!r} data is "
                         "what it is: use --rolling N for several test cutoffs")
    if rolling < 1:
        raise ConfigError("rolling must be at least 1 (test cutoffs)")
    model_seeds = list(model_seeds or [experiment.model.seed])
    attacks = None if not gaming else SIZES if gaming is True else sizes_of(gaming)
    spec = experiment.cutoffs
    span = None if spec.dates else spec.weeks
    widened = spec if spec.dates else spec.model_copy(update={"weeks": spec.weeks + rolling - 1})
    cases = []
    with session(experiment.compute) as engine:
        for seed in seeds or [experiment.data.seed]:
            world = experiment.model_copy(update={
                "data": experiment.data.model_copy(update={"seed": seed})})
            say(f"world {seed}: data and features" if simulated else "data and features")
            prepared = prepare(world.model_copy(update={"cutoffs": widened}), engine)
            source = prepared.source
            every = prepared.table.cutoffs
            if gaming:
                genuine_accounts(source.truth)  # refused before any training without truth
            for cutoffs in rolling_cutoffs(every, rolling, span):
                for model_seed in model_seeds:
                    name = _case_name(seed if simulated else None, cutoffs[-1], model_seed,
                                      rolling > 1, len(model_seeds) > 1)
                    say(f"{name}: testing {cutoffs[-1]:%Y-%m-%d}")
                    cases.append(measure_case(name, with_model(world, seed=model_seed),
                                              prepared.table, cutoffs, source, engine,
                                              attacks))
    deltas = paired_bootstrap(cases, bootstrap, seed=experiment.model.seed)
    return QualityResult(experiment, cases, deltas)


# -- the bootstrap -----------------------------------------------------------------------------

def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = rankdata(a), rankdata(b)
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return np.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def _unit_deviance(rate: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Per-row Poisson deviance: the posts-weighted mean of it is the head's deviance."""
    mu = np.maximum(predicted, FLOOR)
    return 2 * (xlogy(rate, rate / mu) - rate + mu)


def best_baseline(values: pd.DataFrame, section: str, item: str, measure: str) -> str | None:
    """The baseline with the best mean over the cases in one row group."""
    rivals = {"head": HEAD_BASELINES, HUMAN: HUMAN_BASELINES}.get(section, SCORE_BASELINES)
    rows = values[(values["section"] == section) & (values["item"] == item)
                  & (values["measure"] == measure) & values["predictor"].isin(rivals)]
    means = rows.groupby("predictor")["value"].mean().dropna()
    if means.empty:
        return None
    return means.idxmax() if HIGHER_IS_BETTER[measure] else means.idxmin()


def paired_bootstrap(cases: list[Case], resamples: int, seed: int = 0) -> pd.DataFrame:
    """Model minus the best baseline, per row group: the mean over cases, and the 2.5 % and
    97.5 % quantiles of that mean over `resamples` paired resamples of each case's accounts."""
    if not cases:
        return pd.DataFrame()
    values = pd.concat([c.values for c in cases], ignore_index=True)
    # the score's target: true influence where known (see `case_accounts`)
    groups = [("score", "all", "spearman_truth") if values["measure"].eq("spearman_truth").any()
              else ("score", "realised", "spearman_realised")]
    groups += [("head", kind, m) for kind in cases[0].accounts if kind not in ("score", HUMAN)
               for m in ("spearman", "deviance")]
    if HUMAN in cases[0].accounts:
        groups.append((HUMAN, "log listed count", "spearman"))
    rng = np.random.default_rng(seed)
    out = []
    for section, item, metric in groups:
        rival = best_baseline(values, section, item, metric)
        if rival is None:
            continue
        frames = [c.accounts[section if section in ("score", HUMAN) else item] for c in cases]
        target = "rate" if section == "head" else "target"
        point = np.nanmean([_difference(f, np.arange(len(f)), target, metric, rival)
                            for f in frames])
        draws = [np.nanmean([_difference(f, rng.integers(0, len(f), len(f)), target, metric,
                                         rival) for f in frames])
                 for _ in range(resamples)]
        low, high = np.nanquantile(draws, [0.025, 0.975]) if draws else (np.nan, np.nan)
        out.append({"section": section, "item": item, "measure": metric,
                    "best_baseline": rival, "difference": point, "low": low, "high": high,
                    "resamples": resamples})
    return pd.DataFrame(out)


def _difference(frame: pd.DataFrame, rows: np.ndarray, target: str, metric: str, rival: str
                ) -> float:
    """Model minus `rival` on the rows `rows` of one case: Spearman against `target`, or the
    posts-weighted deviance."""
    y = frame[target].to_numpy()[rows]
    model, other = frame["model"].to_numpy()[rows], frame[rival].to_numpy()[rows]
    if metric != "deviance":
        return _spearman(model, y) - _spearman(other, y)
    return float(np.average(_unit_deviance(y, model) - _unit_deviance(y, other),
                            weights=frame["posts"].to_numpy()[rows]))


# -- the quality bar ---------------------------------------------------------------------------

@dataclass(frozen=True)
class BarCheck:
    name: str  # "score" or a head's kind
    rival: str
    model: float  # mean Spearman over the cases
    baseline: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.model >= self.baseline - self.tolerance

    def __str__(self) -> str:
        return (f"{self.name}: model {self.model:.3f} {'>=' if self.passed else '<'} "
                f"{self.rival.replace('_', ' ')} {self.baseline:.3f} - {self.tolerance}")


def bar_checks(result: QualityResult, tolerance: float = 0.01) -> list[BarCheck]:
    """The quality bar: the score's mean Spearman against truth (realised engagement on real
    data) at least the history index's minus `tolerance`, and each head's account Spearman at
    least the historical mean's (or, lacking it, the credible one's) minus `tolerance`."""
    summary = result.summary().set_index(["section", "item", "predictor", "measure"])["mean"]
    item, measure = (("all", "spearman_truth")
                     if ("score", "all", "model", "spearman_truth") in summary.index
                     else ("realised", "spearman_realised"))
    checks = [BarCheck("score", "history_index", summary[("score", item, "model", measure)],
                       summary[("score", item, "history_index", measure)], tolerance)]
    for kind in (k for k in result.cases[0].accounts if k not in ("score", HUMAN)):
        # a head whose target has no every-engagement history (reach: distinct credible
        # engagers) is held to its credible one
        rival = next(r for r in ("historical_mean", "credible_historical_mean")
                     if ("head", kind, r, "spearman") in summary.index)
        checks.append(BarCheck(kind, rival, summary[("head", kind, "model", "spearman")],
                               summary[("head", kind, rival, "spearman")], tolerance))
    return checks


# -- tables, markdown and MLflow ---------------------------------------------------------------

TITLES = {
    "score": "Score: Spearman against the truth it estimates (the overall truth; all scored "
             "accounts, genuine only), against the per-post truth of earlier releases, and "
             "against realised engagement",
    "component": "Components: Spearman of each against its own truth (history index: that "
                 "component from history alone)",
    HUMAN: "Human judgement (real profiles): Spearman and pairwise agreement with log(1 + how "
           "many lists hold the account), at the test cutoff (the follower count and the "
           "engagement received are references: profile counters leak, they are no features)",
    "topic": "Topics: Spearman of the topic score against the truth per topic (accounts that "
             "posted on it), averaged over topics (real data: against what the account's "
             "posts on the topic drew per post in the horizon, over the 10 topics with the "
             "most accounts; topics learned from text before the cutoff), beside the topic's "
             "own history and the account's amplification and score used for every topic; how "
             "often an account's best topic is among its top two (docs/topics.md)",
    "gap": "Manipulation: mean gap in points above genuine accounts of the same true influence",
    "head": "Heads: account Spearman and deviance per post on the test cutoff",
    "fairness": "Fairness: the model's gap in points by band (against true influence where "
                "known, else realised engagement)",
    "model": "The model: best iteration per head, expected engagement per +10 points",
}
DIGITS = {"points": 1, "gap_truth": 1, "gap_realised": 1, "best_iteration": 0,
          "factor_per_10_points": 2}


def _number(value: float, measure: str) -> str:
    if pd.isna(value):
        return "–"
    digits = DIGITS.get(measure, 3)
    return f"{value:+.{digits}f}" if measure in ("points", "gap_truth", "gap_realised") \
        else f"{value:.{digits}f}"


def tables(result: QualityResult) -> dict[str, pd.DataFrame]:
    """The summary as display tables, one per section, every number formatted."""
    summary = result.summary()
    cases = [c.name for c in result.cases]
    out = {}
    for section, title in TITLES.items():
        rows = summary[summary["section"] == section]
        if rows.empty:
            continue
        shown = pd.DataFrame({
            "item": rows["item"], "predictor": rows["predictor"].str.replace("_", " "),
            "measure": rows["measure"].str.replace("_", " "),
            "mean ± sd": [f"{_number(m, k)} ± {_number(s, k).lstrip('+')}"
                          if len(cases) > 1 else _number(m, k)
                          for m, s, k in zip(rows["mean"], rows["std"], rows["measure"],
                                             strict=True)],
            **{c: [_number(v, k) for v, k in zip(rows[c], rows["measure"], strict=True)]
               for c in cases}})
        out[title] = shown.reset_index(drop=True)
    versions = pd.DataFrame({"case": cases,
                             "test cutoff": [f"{c.test_cutoff:%Y-%m-%d}" for c in result.cases],
                             "model version": [c.model_version for c in result.cases],
                             "training rows": [f"{c.training_rows:,}" for c in result.cases]})
    out["Cases"] = versions
    attacked = [c.gaming.assign(world=c.name) for c in result.cases if c.gaming is not None]
    if attacked:
        out["What an attack buys: the targets' mean gain in points (" + goal_text() + ")"] = \
            display(pd.concat(attacked, ignore_index=True))
    if not result.deltas.empty:
        d = result.deltas
        out["Model minus the best baseline (paired bootstrap, 95% interval)"] = pd.DataFrame({
            "item": d["item"], "measure": d["measure"].str.replace("_", " "),
            "best baseline": d["best_baseline"].str.replace("_", " "),
            "model − baseline": [f"{v:+.3f}" for v in d["difference"]],
            "95% interval": [f"[{lo:+.3f}, {hi:+.3f}]" for lo, hi in zip(d["low"], d["high"],
                                                                         strict=True)]})
    return out


def headline(result: QualityResult) -> str:
    """One line: the score against its strongest rival, over the cases."""
    summary = result.summary().set_index(["section", "item", "predictor", "measure"])
    measure = "spearman_truth" if ("score", "all", "model", "spearman_truth") in summary.index \
        else "spearman_realised"
    item = "all" if measure == "spearman_truth" else "realised"
    against = "the truth" if measure == "spearman_truth" else "realised engagement"
    model = summary.loc[("score", item, "model", measure)]
    rival = summary.loc[("score", item, "history_index", measure)] \
        if ("score", item, "history_index", measure) in summary.index else None
    several = len(result.cases) > 1

    def value(row) -> str:
        return f"{row['mean']:.3f}" + (f" ± {row['std']:.3f}" if several else "")
    line = (f"**{result.experiment.name}** ({len(result.cases)} case{'s' if several else ''}): "
            f"score against {against}, Spearman {value(model)}")
    if rival is not None:
        line += f"; history index {value(rival)}"
    best = result.deltas[result.deltas["section"] == "score"] if len(result.deltas) else None
    if best is not None and len(best) and not pd.isna(best["low"].iloc[0]):
        row = best.iloc[0]
        line += (f"; model minus the best baseline ({row['best_baseline'].replace('_', ' ')}) "
                 f"{row['difference']:+.3f}, 95% interval [{row['low']:+.3f}, {row['high']:+.3f}]")
    return line


def markdown_table(frame: pd.DataFrame) -> list[str]:
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return lines


def begin_marker(name: str) -> str:
    return f"<!-- clout evaluate: {name} -->"


def end_marker(name: str) -> str:
    return f"<!-- end clout evaluate: {name} -->"


def markdown(result: QualityResult) -> str:
    """The experiment's section of docs/quality.md, between markers that `write_section`
    replaces on the next run."""
    m, name = result.machine, result.experiment.name
    libraries = ", ".join(f"{k} {m[k]}" for k in numerics.LIBRARIES if k in m)
    lines = [begin_marker(name), f"## {name}", "",
             f"{headline(result)}.", "",
             f"`{result.command or 'clout evaluate'}` on {result.date}, commit "
             f"`{result.commit[:12]}{'-dirty' if result.commit.endswith('-dirty') else ''}`; "
             f"{libraries}; {m['cpu']}, {m['cores']} cores, NumPy kernels {m['numpy_simd']}, "
             f"OpenBLAS {m['blas_core']}.", ""]
    for title, frame in tables(result).items():
        lines += [f"### {title}", "", *markdown_table(frame), ""]
    lines.append(end_marker(name))
    return "\n".join(lines) + "\n"


DOC_HEADER = """# Quality

Every number on this page is written by `clout evaluate` (`make quality` runs every section);
none is copied by hand. Each experiment is trained once per case (a world, a test cutoff, a
model seed) exactly as `clout train` trains it, so a case's model version is the one `make run`
reports for the same seed. The baselines use history alone: the *history index* is each kind's
own per-post rate over the longest window over its base rate, combined as the score combines
heads and mapped to 1-100 the same way; *history start* is where the heads' boosting starts
(that rate shrunk towards its prior: the base rate, or empirical Bayes); *log1p* is the mean of
log(1 + engagement) per post. Intervals are paired bootstraps over accounts: model minus the
best baseline of the row group.
"""


def write_section(result: QualityResult, path: str | Path) -> Path:
    """Put the experiment's section into `path`, replacing its previous one (other experiments'
    sections stay)."""
    path = Path(path)
    text = path.read_text() if path.is_file() else DOC_HEADER
    section, name = markdown(result), result.experiment.name
    pattern = re.compile(re.escape(begin_marker(name)) + ".*?" + re.escape(end_marker(name))
                         + r"\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) \
        else text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def headlines(path: str | Path) -> list[str]:
    """Every experiment's headline line in a quality document, in order."""
    return [line.rstrip(".") for line in Path(path).read_text().splitlines()
            if line.startswith("**") and "Spearman" in line]


README_BEGIN, README_END = "<!-- quality headlines -->", "<!-- end quality headlines -->"


def quote_headlines(readme: str | Path, doc: str | Path) -> Path:
    """Replace the README's quoted block with the headlines of `doc`: the README's quality
    numbers are the document's, never typed in."""
    readme, doc = Path(readme), Path(doc)
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ConfigError(f"{readme} has no {README_BEGIN} ... {README_END} block to fill")
    block = "\n".join([README_BEGIN, *(f"- {line} ([{doc.as_posix()}]({doc.as_posix()}))"
                                        for line in headlines(doc)), README_END])
    head, rest = text.split(README_BEGIN, 1)
    readme.write_text(head + block + rest.split(README_END, 1)[1])
    return readme


def _key(*parts) -> str:
    # MLflow keys allow letters, digits, _ - . space /
    return re.sub(r"[^\w\-. /]", "-", ".".join(str(p) for p in parts))


def log_evaluation(result: QualityResult, uri: str | None = None) -> str:
    """One parent run (means, sds, bootstrap intervals, the section as markdown) and a child
    run per case (its values); returns the parent's id."""
    experiment = result.experiment
    summary = result.summary()
    tags = {tracking.KIND_TAG: "evaluate", "git_commit": result.commit, "command": result.command,
            **tracking.machine_tags()}
    with tracking.run(experiment.mlflow_experiment, f"evaluate {experiment.name}", uri,
                      tags) as parent:
        mlflow.log_params(tracking.flatten(experiment.model_dump(mode="json")))
        mlflow.log_params({"cases": "; ".join(c.name for c in result.cases)})
        metrics = {}
        for row in summary.itertuples():
            base = (row.section, row.item, row.predictor, row.measure)
            metrics[_key(*base, "mean")] = row.mean
            if not pd.isna(row.std):
                metrics[_key(*base, "sd")] = row.std
        for row in result.deltas.itertuples():
            for stat in ("difference", "low", "high"):
                metrics[_key("vs_best_baseline", row.section, row.item, row.measure, stat)] = \
                    getattr(row, stat)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if not pd.isna(v)})
        mlflow.log_text(markdown(result), "quality.md")
        mlflow.log_table(result.values, "values.json")
        for case in result.cases:
            with tracking.child_run(parent, case.name, tags={
                    tracking.KIND_TAG: "evaluate-case", "model_version": case.model_version,
                    "test_cutoff": f"{case.test_cutoff:%Y-%m-%d}"}):
                mlflow.log_params({"data.seed": case.data_seed, "model.seed": case.model_seed})
                mlflow.log_metrics({_key(r.section, r.item, r.predictor, r.measure): r.value
                                    for r in case.values.itertuples()})
                if case.gaming is not None:
                    mlflow.log_table(case.gaming, "gaming.json")
                    mlflow.log_metrics(gaming_metrics(case.gaming))
        return parent.info.run_id
