"""An experiment end to end: data -> features -> heads -> calibration -> score -> evaluation,
recorded as one MLflow run. Each step is a function of its inputs; `train` strings them together.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from clout import numerics, tracking
from clout.audit.explain import example_explanations
from clout.audit.fairness import fairness_plot, fairness_table
from clout.audit.importance import importance_table, rank_stability, shap_summary_plot
from clout.cache import PROJECT_CACHE, Cache
from clout.compute import LOCAL, Engine, session
from clout.config import COMPONENTS, Experiment, load_experiment
from clout.data.dataset import Dataset
from clout.data.summary import engagement_summary, table_summary
from clout.export.mlflow_model import load_influence_model, log_pyfunc
from clout.features.catalogue import column_features
from clout.features.schema import FeatureSchema, FeatureTable, Target
from clout.features.tables import Tables
from clout.files import replacing_file
from clout.models.evaluation import evaluate, history_baselines, reliability_plot
from clout.models.heads import Head, Split, fit_head
from clout.prepare import Source, current_features, load_source, prepare
from clout.scoring.evaluation import (
    gaming_plot,
    history_scores,
    realised_engagement,
    realised_spearman,
    score_distribution_plot,
    truth_metrics,
)
from clout.scoring.score import (
    InfluenceModel,
    ScoreMap,
    expected_engagement,
    normalise_weights,
    shows_nothing,
)
from clout.tracking import RUN

Say = Callable[[str], None]


def warn_if_unpinned() -> None:
    if not numerics.pinned():
        warnings.warn("NumPy's and OpenBLAS's kernels follow this CPU (NumPy was imported "
                      "before clout, or CLOUT_NATIVE_NUMERICS is set, or this is not x86-64): "
                      "results may differ from other machines in the last bits",
                      stacklevel=3)


def with_model(experiment: Experiment, **changes) -> Experiment:
    """The experiment with some `model` fields changed (another seed, no calibration, ...)."""
    return experiment.model_copy(update={"model": experiment.model.model_copy(update=changes)})


def fit_heads(experiment: Experiment, schema: FeatureSchema, targets: dict[str, Target],
              features: list[str], train: pd.DataFrame, validation: pd.DataFrame,
              engine: Engine = LOCAL) -> dict[str, Head]:
    spec = experiment.model
    return {kind: fit_head(spec.head_spec(target, features, schema, experiment.num_threads),
                           train, validation, spec.seed, engine.trainer)
            for kind, target in targets.items()}


def fit_model(experiment: Experiment, frame: pd.DataFrame, split: Split, say: Say = print,
              engine: Engine = LOCAL) -> InfluenceModel:
    """Heads on every feature, and per component on that family's features alone; weights;
    and the score map, frozen on the validation cutoff's population."""
    schema = FeatureTable.of(frame, experiment.features).schema
    targets = experiment.model.targets(schema)
    weights = normalise_weights(list(targets), experiment.score.weights)  # checked before training
    features = experiment.model.inputs(schema, targets)
    train, validation = split.part(frame, "train"), split.part(frame, "validation")
    say(f"heads {', '.join(t.label for t in targets.values())} on {len(features)} features, "
        f"{len(train):,} training rows")
    heads = fit_heads(experiment, schema, targets, features, train, validation, engine)
    components = {}
    if experiment.model.components:
        catalogue = column_features(experiment.features.windows)
        for name in COMPONENTS:
            own = [f for f in features if f in catalogue and catalogue[f].family == name]
            if own:
                say(f"component {name}: {len(own)} features")
                components[name] = fit_heads(experiment, schema, targets, own, train,
                                             validation, engine)
    # The scale is set by the accounts that show influence: accounts that never post (fake
    # followers, pure readers) or that no credible account engages with score 1 anyway, and
    # would otherwise fill the bottom of the scale and squeeze everyone else.
    anchor = validation[~shows_nothing(validation, targets.values())]
    expected = expected_engagement({k: h(anchor) for k, h in heads.items()}, heads, weights)
    score_map = ScoreMap.fit(expected, experiment.score.low_quantile,
                             experiment.score.high_quantile)
    return InfluenceModel(heads, components, weights, score_map, info={
        "experiment": experiment.name, "data_seed": experiment.data.seed,
        "model_seed": experiment.model.seed,
        "features": experiment.features.model_dump(mode="json"), **split.describe()},
        schema=schema)


def followers_only(experiment: Experiment, model: InfluenceModel, frame, split,
                   engine: Engine = LOCAL) -> dict[str, Head]:
    if "followers" not in model.schema.features:
        return {}
    plain = with_model(experiment, calibration="none", history_offset=False)
    targets = {k: h.target for k, h in model.heads.items()}
    return fit_heads(plain, model.schema, targets, ["followers"],
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
    summary: dict[str, float]  # the headline numbers
    head_rows: dict[str, pd.DataFrame]  # per head, labelled rows: rate, posts, each predictor


def measure(experiment: Experiment, model: InfluenceModel, frame: pd.DataFrame, split: Split,
            truth: pd.DataFrame | None, engine: Engine = LOCAL,
            extra: dict[str, dict[str, Head]] | None = None) -> Measurement:
    """The model against the history baselines on the test cutoff: each head's deviance and
    account rank, and the score's rank against true influence (where known) and realised
    engagement, beside the history indexes scored the same way. `extra`: more baseline heads
    by name (kind -> head), e.g. followers only."""
    test, validation = split.part(frame, "test"), split.part(frame, "validation")
    rows, reliability, head_rows = [], {}, {}
    for kind, head in model.heads.items():
        predictions = {"model": head(test), "model_uncalibrated": head.raw(test),
                       **history_baselines(test, head)}
        predictions |= {name: heads[kind](test) for name, heads in (extra or {}).items()
                        if kind in heads}
        metrics, reliability[kind] = evaluate(head.target, test, predictions, head.base_rate)
        # what the head chose, on the model's own row
        is_model = metrics["predictor"] == "model"
        metrics.loc[is_model, "calibration"] = head.calibrator.method
        metrics.loc[is_model, "best_iteration"] = head.booster.best_iteration
        rows.append(metrics)
        labelled_rows, rate, posts = head.target.labelled(test)
        keep = test.index.get_indexer(labelled_rows.index)
        head_rows[kind] = pd.DataFrame({"rate": rate, "posts": posts,
                                        **{n: np.asarray(v)[keep] for n, v in predictions.items()}})
    metrics = pd.concat(rows, ignore_index=True)
    summary = {f"{r.head}.{r.predictor}.{m}": getattr(r, m) for r in metrics.itertuples()
               for m in ("poisson_deviance", "deviance_improvement", "spearman", "relative_ece")
               if not pd.isna(getattr(r, m))}
    scores = engine.score(model, test)
    rivals = history_scores(model, validation, test, experiment.score.low_quantile,
                            experiment.score.high_quantile)
    realised = realised_engagement(model, test)
    summary["score.factor_per_10_points"] = model.score_map.factor(10)
    summary["score.median"] = float(scores["score"].median())
    summary["score.spearman_realised"] = realised_spearman(scores, realised)
    gaps = None
    if truth is not None:
        truth_summary, gaps = truth_metrics(scores, truth)
        summary |= {f"score.{k}": v for k, v in truth_summary.items()}
    for name, rival in rivals.items():
        summary[f"score.{name}.spearman_realised"] = realised_spearman(rival, realised)
        if truth is not None:
            summary |= {f"score.{name}.{k}": v for k, v in truth_metrics(rival, truth)[0].items()}
    return Measurement(metrics, reliability, scores, rivals, realised, gaps, summary, head_rows)


@dataclass
class Evaluation(Measurement):
    """The measurement and what a reviewer audits."""

    importance: pd.DataFrame = None  # per head and feature: gain, split, |SHAP|, permutation
    stability: pd.DataFrame | None = None  # importance ranks under other seeds
    fairness: pd.DataFrame = None  # the score by follower-count band and account age
    explanations: list[dict] = None  # a few accounts' scores in points per feature


def evaluate_model(experiment: Experiment, model: InfluenceModel, frame: pd.DataFrame,
                   split: Split, truth: pd.DataFrame | None, engine: Engine = LOCAL
                   ) -> Evaluation:
    """`measure` with a followers-only baseline head, and the audit: importance, its stability
    under other seeds, fairness by band, example explanations."""
    test = split.part(frame, "test")
    schema = model.schema
    targets = {k: h.target for k, h in model.heads.items()}
    extra = {"followers_only": followers_only(experiment, model, frame, split, engine)}
    measured = measure(experiment, model, frame, split, truth, engine, extra)
    seed = experiment.model.seed
    importance = importance_table(model.heads, test, schema.windows, seed)
    stability = None
    if other_seeds := experiment.model.stability_seeds:
        heads_by_seed = {seed: model.heads} | {
            other: fit_heads(with_model(experiment, seed=other), schema, targets,
                             experiment.model.inputs(schema, targets),
                             split.part(frame, "train"), split.part(frame, "validation"), engine)
            for other in other_seeds}
        stability = rank_stability(heads_by_seed, test, seed)
    return Evaluation(**vars(measured), importance=importance, stability=stability,
                      fairness=fairness_table(model, test, truth),
                      explanations=example_explanations(model, test, truth))


@dataclass
class TrainResult:
    experiment: Experiment
    model: InfluenceModel
    split: Split
    features: pd.DataFrame
    evaluation: Evaluation
    source: Source  # the validated data it was trained on (and its truth, if simulated)
    data_fingerprint: str
    run_id: str | None = None


def train(experiment: Experiment, tracking_uri: str | None = None, out: Path | None = None,
          log: bool = True, say: Say = print, cache: Cache = PROJECT_CACHE) -> TrainResult:
    """Run the experiment and record it as one MLflow run (unless `log=False`), opened before
    the work starts: the run's duration is the training's, and a training that fails ends its
    run FAILED. `out`, when given, receives the feature table, the test scores and the
    model. The validated data and the feature table come from `cache` when it has them."""
    say(f"data: {experiment.data.source}")
    warn_if_unpinned()
    with _training_run(experiment, tracking_uri, log) as run_id:
        with session(experiment.compute) as engine:
            prepared = prepare(experiment, engine, cache, say)
            source, frame, split = prepared.source, prepared.frame, prepared.split
            model = fit_model(experiment, frame, split, say, engine)
            say("evaluating on the test cutoff")
            evaluation = evaluate_model(experiment, model, frame, split, source.truth, engine)
        result = TrainResult(experiment, model, split, frame, evaluation, source,
                             source.fingerprint, run_id)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            for name, table in (("features", frame), ("test-scores", evaluation.scores)):
                with replacing_file(out / f"{name}.parquet") as partial:
                    table.to_parquet(partial, index=False)
            model.save(out / "model")
        if log:
            log_results(result)
    if log:
        say(f"MLflow run {run_id} in experiment {experiment.mlflow_experiment!r} "
            f"at {tracking.tracking_uri(tracking_uri)}")
    return result


@contextmanager
def _training_run(experiment: Experiment, uri: str | None, log: bool):
    """The training's MLflow run (its id; None without logging), with what is known before
    the work: the experiment, the file it came from, the code and the machine."""
    if not log:
        yield None
        return
    file = {} if experiment.source is None else {
        tracking.FILE_TAG: tracking.experiment_file(experiment.source)}  # which file ran
    params = tracking.flatten(experiment.model_dump(mode="json"))
    tags = {**file, "git_commit": tracking.git_commit(), "data_source": experiment.data.source,
            **tracking.machine_tags()}
    note = ""
    if parent := tracking.nearest_run(experiment.mlflow_experiment, params,
                                      file.get(tracking.FILE_TAG), uri):
        run_id, changes = parent
        note = tracking.describe_changes(run_id, changes)
        tags |= {tracking.PARENT_TAG: run_id, tracking.CHANGES_TAG: "\n".join(
            f"{k}: {before} → {after}" for k, (before, after) in changes.items()) or "none"}
    with tracking.run(experiment.mlflow_experiment, experiment.name, uri, tags, note) as active:
        mlflow.log_params(params)
        mlflow.log_text(experiment.to_yaml(), RUN.experiment)
        yield active.info.run_id


def log_results(result: TrainResult) -> None:
    """What the training found, into its active run: versions, split, metrics, audit tables
    and plots, and the pyfunc model."""
    experiment, model, evaluation = result.experiment, result.model, result.evaluation
    source = result.source
    mlflow.set_tags({"data_fingerprint": result.data_fingerprint,
                     "model_version": model.version, "score_version": model.score_map.id})
    mlflow.log_params({**result.split.describe(),
                       **{f"calibration.{k}": h.calibrator.method
                          for k, h in model.heads.items()},
                       **{f"rows_quarantined.{t}": n for t, n in source.quarantined.items()}})
    mlflow.log_metrics(evaluation.summary)
    mlflow.log_table(evaluation.metrics, RUN.metrics)
    for kind, tables in evaluation.reliability.items():
        mlflow.log_figure(reliability_plot(kind, tables), RUN.calibration(kind, "png"))
        mlflow.log_table(pd.concat(tables, names=["predictor"]).reset_index(level=0),
                         RUN.calibration(kind, "json"))
    mlflow.log_table(table_summary(source.dataset), RUN.data_tables)
    mlflow.log_table(engagement_summary(source.dataset), RUN.data_engagement)
    test = result.split.part(result.features, "test")
    mlflow.log_table(evaluation.importance, RUN.importance)
    mlflow.log_figure(shap_summary_plot(model.heads, test, experiment.model.seed), RUN.shap)
    if evaluation.stability is not None:
        mlflow.log_table(evaluation.stability, RUN.stability)
    if len(evaluation.fairness):  # a source without follower counts or ages has no bands
        mlflow.log_table(evaluation.fairness, RUN.fairness)
        mlflow.log_figure(fairness_plot(evaluation.fairness), RUN.fairness_plot)
    mlflow.log_dict(evaluation.explanations, RUN.explanations)
    mlflow.log_dict({**asdict(model.score_map), "id": model.score_map.id,
                     "factor_per_10_points": model.score_map.factor(10)}, RUN.score_map)
    mlflow.log_figure(score_distribution_plot(evaluation.scores, model.score_map),
                      RUN.distribution)
    if evaluation.truth_gaps is not None:
        mlflow.log_table(evaluation.truth_gaps, RUN.gaps)
        mlflow.log_figure(gaming_plot(evaluation.scores, source.truth), RUN.gaming)
    with tempfile.TemporaryDirectory() as tmp:
        log_pyfunc(model, model.save(Path(tmp) / "model"), test)


def score_accounts(model: InfluenceModel, data: Source | Dataset | Tables | str | Path,
                   cutoff=None, engine: Engine = LOCAL, cache: Cache = PROJECT_CACHE
                   ) -> pd.DataFrame:
    """Scores of every account that exists at `cutoff` (default: the day after the data ends),
    from features built exactly as the model was trained."""
    return engine.score(model, current_features(data, model.feature_config, cutoff, engine,
                                                cache))


def run_features(run_id: str, cutoff=None, data_path: str | Path | None = None,
                 cache: Cache = PROJECT_CACHE) -> tuple[InfluenceModel, pd.DataFrame]:
    """A logged run's model and the features of its data at `cutoff` (default: the day after
    the data ends), built as the run built them: what explanations and audits start from.
    `data_path` points a run on files at another copy of its data."""
    spec = load_experiment(tracking.artifact(run_id, RUN.experiment),
                           **({"data.path": str(data_path)} if data_path else {}))
    model = load_influence_model(f"runs:/{run_id}/{RUN.model}")
    source = load_source(spec.data, cache)
    return model, current_features(source, model.feature_config, cutoff, cache=cache)
