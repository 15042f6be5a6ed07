"""Hyperparameter search (`clout tune`): Optuna's TPE sampler over LightGBM's parameters and
the early-stopping floor, every trial an MLflow child run, the best written back as a new
experiment YAML.

A trial fits the heads as `clout train` does, one step back in time: trained on the cutoffs
before the validation cutoff, stopped early on the one before those, measured on the validation
cutoff (the *tuning cutoff*). The test cutoff is never seen, so `clout evaluate` of the tuned
experiment stays an honest measurement. Truth (simulated data) is not used either: a search on
real data has none.

Objectives, on the tuning cutoff:
- `spearman`: the score's rank against realised engagement (what the audience did);
- `deviance`: the heads' mean deviance improvement over the constant rate.
The experiment's own parameters are measured first, the same way: the search reports what it
gained over them, and writes them back unchanged when no trial beats them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import optuna
import pandas as pd

from clout import tracking
from clout.compute import session
from clout.config import Experiment
from clout.errors import ConfigError
from clout.files import write_text
from clout.models.heads import Split
from clout.pipeline import Say, fit_model, measure, with_model
from clout.prepare import prepare
from clout.scoring.summary import RunSummary

OBJECTIVES = ("spearman", "deviance")


def suggest(trial: optuna.Trial) -> dict:
    """One point of the search space: LightGBM's parameters (`model.params`) and the floor of
    early stopping (`model.min_boost_rounds`)."""
    return {
        "params": {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 7, 127, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 10, 500, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "bagging_freq": 1,
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
        },
        "min_boost_rounds": trial.suggest_int("min_boost_rounds", 1, 300, log=True),
    }


def tuned(experiment: Experiment, model_changes: dict) -> Experiment:
    """The experiment with a point's parameters (LightGBM's beyond the search kept)."""
    params = {**experiment.model.params, **model_changes["params"]}
    return with_model(experiment, params=params,
                      min_boost_rounds=model_changes["min_boost_rounds"])


def objective_value(summary: RunSummary, heads, objective: str) -> float:
    if objective == "spearman":
        return summary.score("spearman_realised")
    return sum(summary.head(k, "deviance_improvement") for k in heads) / len(heads)


@dataclass
class TuneResult:
    experiment: Experiment  # the best point, as a new experiment (`<name>-tuned`)
    trials: pd.DataFrame  # one row per trial: number, value, parameters
    objective: str
    tuning_cutoff: pd.Timestamp
    start_value: float  # the experiment's own parameters
    best_value: float  # the best trial's
    run_id: str | None = None


def tune(experiment: Experiment, trials: int, objective: str = "spearman",
         tracking_uri: str | None = None, log: bool = True, say: Say = print) -> TuneResult:
    """Measure the experiment's own parameters, search `trials` points, return the best."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective {objective!r}: one of {', '.join(OBJECTIVES)}")
    if trials < 1:
        raise ConfigError("trials must be at least 1")
    with session(experiment.compute) as engine:
        prepared = prepare(experiment, engine)
        # one step back: the outer validation cutoff is the tuning trials' test cutoff
        outer = prepared.split
        table = prepared.table.where(c for c in prepared.table.cutoffs if c <= outer.validation)
        earlier, split = table.frame, Split.of(table)
        say(f"tuning cutoff {split.test:%Y-%m-%d} (the test cutoff {outer.test:%Y-%m-%d} is "
            f"not seen); {trials} trials, objective {objective}")
        # the objectives read the amplification heads: the reach and network heads sit out
        base = with_model(experiment, components=False)

        def run(candidate: Experiment, name: str) -> tuple[float, dict]:
            model = fit_model(candidate, table, split, say=lambda _: None, engine=engine)
            summary = measure(candidate, model, earlier, split, None, engine).summary
            value = objective_value(summary, model.heads, objective)
            say(f"{name}: {objective} {value:.4f}")
            return value, {**summary.as_metrics(), **{
                f"best_iteration.{k}": h.booster.best_iteration for k, h in model.heads.items()}}

        def trial_value(trial: optuna.Trial) -> float:
            value, summary = run(tuned(base, suggest(trial)), f"trial {trial.number}")
            trial.set_user_attr("summary", summary)
            return value

        start_value, start_summary = run(base, "the experiment's own parameters")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(
            seed=experiment.model.seed))
        study.optimize(trial_value, n_trials=trials)
    improved = study.best_value > start_value
    best = tuned(experiment, suggest(optuna.trial.FixedTrial(study.best_params))) if improved \
        else experiment
    best = best.model_copy(update={
        "name": f"{experiment.name}-tuned",
        "description": f"{experiment.name} tuned by clout tune: {trials} trials, objective "
                       f"{objective} on the cutoff {split.test:%Y-%m-%d}: "
                       f"{max(study.best_value, start_value):.4f}, its own parameters "
                       f"{start_value:.4f}" + ("." if improved else " (kept: no trial beat "
                                                                    "them).")})
    table = study.trials_dataframe(attrs=("number", "value", "params")).rename(
        columns=lambda c: c.removeprefix("params_"))
    result = TuneResult(best, table, objective, split.test, start_value, study.best_value)
    if log:
        result.run_id = log_study(result, study, start_summary, experiment, tracking_uri)
    return result


def log_study(result: TuneResult, study: optuna.Study, start_summary: dict,
              experiment: Experiment, uri: str | None = None) -> str:
    """A parent run (the best point, the table of trials, the tuned YAML, the experiment's own
    measures) and a child run per trial (its parameters, objective and every measure on the
    tuning cutoff)."""
    tags = {tracking.KIND_TAG: "tune", "git_commit": tracking.git_commit(),
            **tracking.machine_tags()}
    with tracking.run(experiment.mlflow_experiment, f"tune {experiment.name}", uri,
                      tags) as parent:
        mlflow.log_params({"objective": result.objective, "trials": len(study.trials),
                           "tuning_cutoff": f"{result.tuning_cutoff:%Y-%m-%d}",
                           **{f"best.{k}": v for k, v in study.best_params.items()}})
        mlflow.log_metrics({"best_value": result.best_value, "start_value": result.start_value,
                            **{f"start.{k}": v for k, v in start_summary.items()}})
        mlflow.log_table(result.trials, "trials.json")
        mlflow.log_text(result.experiment.to_yaml(), "tuned.yaml")
        for trial in study.trials:
            with tracking.child_run(parent, f"trial {trial.number}",
                                    tags={tracking.KIND_TAG: "tune-trial"}):
                mlflow.log_params(trial.params)
                mlflow.log_metrics({"objective": trial.value, **trial.user_attrs["summary"]})
        return parent.info.run_id


def write_experiment(experiment: Experiment, path: Path, header: str) -> Path:
    """The experiment as YAML at `path`, a comment `header` first."""
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    write_text(path, comment + experiment.to_yaml())
    return path

