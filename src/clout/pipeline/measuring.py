"""Measuring: the model on the test cutoff beside its history baselines (`measure`), and
what a reviewer audits (`evaluate_model`: importance, stability, fairness, explanations)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clout.audit.explain import example_explanations
from clout.audit.fairness import fairness_table
from clout.audit.importance import importance_table, rank_stability
from clout.compute import LOCAL, Engine
from clout.config import Experiment
from clout.data.influence import TOPIC_TRUTH
from clout.features.tables import Tables
from clout.models.evaluation import evaluate, history_baselines
from clout.models.heads import Head, Split
from clout.pipeline.fitting import Say, fit_heads, with_model
from clout.pipeline.today import account_topics
from clout.scoring.evaluation import (
    component_histories,
    component_truth_spearman,
    history_scores,
    realised_engagement,
    realised_spearman,
    truth_metrics,
    truth_of,
)
from clout.scoring.score import InfluenceModel
from clout.scoring.summary import MODEL, RunSummary
from clout.scoring.topics import Topics, topic_agreement
from clout.scoring.topics import topic_truth as topic_truth_of


def followers_only(experiment: Experiment, model: InfluenceModel, frame, split,
                   engine: Engine = LOCAL) -> dict[str, Head]:
    if "followers" not in model.schema.features:
        return {}
    plain = with_model(experiment, calibration="none", history_offset=False)
    return fit_heads(plain, model.schema, model.targets, ["followers"],
                     split.part(frame, "train"), split.part(frame, "validation"), engine)


@dataclass
class Measurement:
    """The test cutoff's quality numbers, and the per-account values behind them."""

    metrics: pd.DataFrame  # one row per (head, predictor) on the test cutoff
    reliability: dict[str, dict[str, pd.DataFrame]]  # head -> predictor -> table
    scores: pd.DataFrame  # the model's scores of every account at the test cutoff
    rivals: dict[str, pd.DataFrame]  # history indexes scored 1-100: account_id, score
    realised: pd.DataFrame  # posting accounts' realised engagement on the score's scale
    truth_gaps: pd.DataFrame | None  # the model's gap per role
    summary: RunSummary  # the headline numbers
    head_rows: dict[str, pd.DataFrame]  # per head, labelled rows: rate, posts, each predictor


def measure(experiment: Experiment, model: InfluenceModel, frame: pd.DataFrame, split: Split,
            truth: pd.DataFrame | None, engine: Engine = LOCAL,
            extra: dict[str, dict[str, Head]] | None = None) -> Measurement:
    """The model against the history baselines on the test cutoff: each head's deviance and
    account rank, and the score's rank against true influence (where known) and realised
    engagement, beside the history indexes scored the same way. `extra`: more baseline heads
    by name (kind -> head), e.g. followers only."""
    test, validation = split.part(frame, "test"), split.part(frame, "validation")
    silent = model.is_silent(test)
    ranked = test[~silent]
    rows, reliability, head_rows = [], {}, {}
    for kind, head in model.every_head.items():
        # a per-account head labels every account; it is measured on those the score ranks:
        # the silent score 1 whatever it says, and their zero labels would tie with zero
        # histories and swamp the rank
        on = test if head.target.per_post else ranked
        predictions = {"model": head(on), "model_uncalibrated": head.raw(on),
                       **history_baselines(on, head)}
        predictions |= {name: heads[kind](on) for name, heads in (extra or {}).items()
                        if kind in heads}
        metrics, reliability[kind] = evaluate(head.target, on, predictions, head.base_rate,
                                              kind)
        # what the head chose, on the model's own row
        is_model = metrics["predictor"] == "model"
        metrics.loc[is_model, "calibration"] = head.calibrator.method
        metrics.loc[is_model, "best_iteration"] = head.booster.best_iteration
        rows.append(metrics)
        labelled_rows, rate, posts = head.target.labelled(on)
        keep = on.index.get_indexer(labelled_rows.index)
        head_rows[kind] = pd.DataFrame({"rate": rate, "posts": posts,
                                        **{n: np.asarray(v)[keep] for n, v in predictions.items()}})
    metrics = pd.concat(rows, ignore_index=True)
    head_summary = [(r.head, r.predictor, m, getattr(r, m)) for r in metrics.itertuples()
                    for m in ("poisson_deviance", "deviance_improvement", "spearman",
                              "relative_ece")]
    scores = engine.score(model, test)
    rivals = history_scores(model, validation, test, experiment.score.low_quantile,
                            experiment.score.high_quantile)
    realised = realised_engagement(model, test)
    score_summary = [(MODEL, "factor_per_10_points", model.score_map.factor(10)),
                     *((MODEL, f"factor_per_10_points_{name}", score_map.factor(10))
                       for name, score_map in model.component_maps.items()),
                     *((MODEL, f"weight_{name}", weight)
                       for name, weight in model.component_weights.items()),
                     (MODEL, "median", float(scores["score"].median())),
                     (MODEL, "spearman_realised", realised_spearman(scores, realised))]
    gaps = None
    if truth is not None:
        reference = truth_of(model, truth)
        truth_summary, gaps = truth_metrics(scores, truth, reference)
        score_summary += [(MODEL, k, v) for k, v in truth_summary.items()]
        # each component from history alone, against its own truth (1 when silent, as scored)
        histories = test[["account_id"]].assign(**{
            c: np.where(silent, 0.0, v) for c, v in component_histories(model, test).items()})
        score_summary += [("history_index", k, v) for k, v in
                          component_truth_spearman(histories, truth).items()]
    for name, rival in rivals.items():
        score_summary.append((name, "spearman_realised", realised_spearman(rival, realised)))
        if truth is not None:
            score_summary += [(name, k, v) for k, v in
                              truth_metrics(rival, truth, reference)[0].items()]
    return Measurement(metrics, reliability, scores, rivals, realised, gaps,
                       RunSummary.of(head_summary, score_summary), head_rows)


@dataclass
class Evaluation(Measurement):
    """The measurement and what a reviewer audits."""

    importance: pd.DataFrame = None  # per head and feature: gain, split, |SHAP|, permutation
    stability: pd.DataFrame | None = None  # importance ranks under other seeds
    fairness: pd.DataFrame = None  # the score by follower-count band and account age
    explanations: list[dict] = None  # a few accounts' scores in points per feature
    topics: Topics | None = None  # what the test cutoff's accounts are influential about
    topic_truth: pd.DataFrame | None = None  # per topic, against the simulator's truth
    topic_terms: pd.DataFrame | None = None  # topics learned from text: label, top terms


def evaluate_model(experiment: Experiment, model: InfluenceModel, frame: pd.DataFrame,
                   split: Split, truth: pd.DataFrame | None, engine: Engine = LOCAL,
                   say: Say = lambda _: None, tables: Tables | None = None) -> Evaluation:
    """`measure` with a followers-only baseline head, and the audit: importance, its stability
    under other seeds, fairness by band, example explanations; with the data's `tables`, the
    test cutoff's topics and audiences (against the truth per topic, where there is one)."""
    test = split.part(frame, "test")
    schema, targets = model.schema, model.targets
    say("evaluating: a followers-only baseline")
    extra = {"followers_only": followers_only(experiment, model, frame, split, engine)}
    say("evaluating: the heads and the score against every baseline")
    measured = measure(experiment, model, frame, split, truth, engine, extra)
    seed = experiment.model.seed
    say("evaluating: importance (gain, split, SHAP)")
    importance = importance_table(model.every_head, test, schema.windows, seed)
    stability = None
    if other_seeds := experiment.model.stability_seeds:
        say(f"evaluating: importance's stability, the heads again with seeds "
            f"{', '.join(map(str, other_seeds))}")
        heads_by_seed = {seed: model.heads} | {
            other: fit_heads(with_model(experiment, seed=other), schema, targets,
                             experiment.model.inputs(schema, targets),
                             split.part(frame, "train"), split.part(frame, "validation"), engine)
            for other in other_seeds}
        stability = rank_stability(heads_by_seed, test, seed)
    topics = topic_truth = topic_terms = None
    if tables is not None:
        say("evaluating: topics and audiences")
        topics, context = account_topics(model, measured.scores, experiment.data, tables)
        topic_terms = context.terms()
        if truth is not None and truth.columns.str.startswith(TOPIC_TRUTH).any():
            topic_truth = topic_agreement(topics.scores, topic_truth_of(truth))[0]
    say("evaluating: fairness by band, example explanations")
    return Evaluation(**vars(measured), importance=importance, stability=stability,
                      fairness=fairness_table(model, test, truth),
                      explanations=example_explanations(model, test, truth), topics=topics,
                      topic_truth=topic_truth, topic_terms=topic_terms)
