"""An experiment end to end: data -> features -> heads -> calibration -> score -> evaluation,
recorded as one MLflow run. Each step is a function of its inputs, one job per module:

- `fitting`: heads, components, weights and the frozen map: one `InfluenceModel`;
- `measuring`: the model beside its history baselines on the test cutoff, and the audit;
- `recording`: the MLflow run, opened before the work, and what the training found;
- `training`: `train`, which strings the steps together (data and features come from
  `clout.prepare`, one prepared run);
- `today`: scores and explanations of every account at a cutoff.
"""

from clout.pipeline.fitting import Say, fit_heads, fit_model, with_model
from clout.pipeline.measuring import Evaluation, Measurement, evaluate_model, measure
from clout.pipeline.recording import TrainResult, log_results
from clout.pipeline.today import (
    account_topics,
    discounted_engagers,
    run_experiment,
    run_features,
    run_source,
    score_accounts,
    scored_batch,
)
from clout.pipeline.training import train, warn_if_unpinned
from clout.prepare import Source, load_source

__all__ = ["Evaluation", "Measurement", "Say", "Source", "TrainResult", "account_topics",
           "discounted_engagers",
           "evaluate_model", "fit_heads", "fit_model", "load_source", "log_results", "measure",
           "run_experiment", "run_features", "run_source", "score_accounts", "scored_batch",
           "train", "warn_if_unpinned", "with_model"]
