"""Recording: the training's MLflow run, opened before the work, and what the training
found logged into it."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import pandas as pd

from clout import tracking
from clout.audit.fairness import fairness_plot
from clout.audit.importance import shap_summary_plot
from clout.config import Experiment
from clout.data.summary import engagement_summary, table_summary
from clout.export.mlflow_model import log_pyfunc
from clout.features.schema import FeatureTable
from clout.models.evaluation import reliability_plot
from clout.models.heads import Split
from clout.pipeline.measuring import Evaluation
from clout.prepare import Source
from clout.scoring.evaluation import gaming_plot, score_distribution_plot, truth_of
from clout.scoring.score import InfluenceModel
from clout.tracking import RUN


@dataclass
class TrainResult:
    experiment: Experiment
    model: InfluenceModel
    split: Split
    table: FeatureTable  # what it was trained and measured on
    evaluation: Evaluation
    source: Source  # the validated data it was trained on (and its truth, if simulated)
    run_id: str | None = None

    @property
    def features(self) -> pd.DataFrame:
        return self.table.frame

    @property
    def data_fingerprint(self) -> str:
        return self.source.fingerprint


@contextmanager
def training_run(experiment: Experiment, uri: str | None, log: bool):
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
    mlflow.log_metrics(evaluation.summary.as_metrics())
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
        mlflow.log_figure(gaming_plot(evaluation.scores, source.truth,
                                      truth_of(model, source.truth)), RUN.gaming)
    if evaluation.topics is not None:
        mlflow.log_table(evaluation.topics.summary(), RUN.topics)
        mlflow.log_dict(evaluation.topics.example(), RUN.topic_example)
    if evaluation.topic_truth is not None:
        mlflow.log_table(evaluation.topic_truth, RUN.topic_truth)
    if evaluation.topic_terms is not None:
        mlflow.log_table(evaluation.topic_terms, RUN.topic_terms)
    with tempfile.TemporaryDirectory() as tmp:
        log_pyfunc(model, model.save(Path(tmp) / "model"), test)
