"""`train`: an experiment end to end, one MLflow run: prepare, fit, measure and audit,
save, log."""

from __future__ import annotations

import warnings
from pathlib import Path

from clout import numerics, tracking
from clout.cache import PROJECT_CACHE, Cache
from clout.compute import session
from clout.config import Experiment
from clout.files import replacing_file
from clout.pipeline.fitting import Say, fit_model
from clout.pipeline.measuring import evaluate_model
from clout.pipeline.recording import TrainResult, log_results, training_run
from clout.prepare import prepare


def warn_if_unpinned() -> None:
    if not numerics.pinned():
        warnings.warn("NumPy's and OpenBLAS's kernels follow this CPU (NumPy was imported "
                      "before clout, or CLOUT_NATIVE_NUMERICS is set, or this is not x86-64): "
                      "results may differ from other machines in the last bits",
                      stacklevel=3)


def train(experiment: Experiment, tracking_uri: str | None = None, out: Path | None = None,
          log: bool = True, say: Say = print, cache: Cache = PROJECT_CACHE) -> TrainResult:
    """Run the experiment and record it as one MLflow run (unless `log=False`), opened before
    the work starts: the run's duration is the training's, and a training that fails ends its
    run FAILED. `out`, when given, receives the feature table, the test scores and the
    model. The validated data and the feature table come from `cache` when it has them."""
    say(f"data: {experiment.data.source}")
    warn_if_unpinned()
    with training_run(experiment, tracking_uri, log) as run_id:
        with session(experiment.compute) as engine:
            prepared = prepare(experiment, engine, cache, say)
            source, frame, split = prepared.source, prepared.frame, prepared.split
            model = fit_model(experiment, prepared.table, split, say, engine)
            evaluation = evaluate_model(experiment, model, frame, split, source.truth, engine,
                                        say, prepared.tables)
        result = TrainResult(experiment, model, split, prepared.table, evaluation, source,
                             run_id)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            for name, table in (("features", frame), ("test-scores", evaluation.scores)):
                with replacing_file(out / f"{name}.parquet") as partial:
                    table.to_parquet(partial, index=False)
            model.save(out / "model")
        if log:
            say("recording the run: metrics, audit tables and plots, the model")
            log_results(result)
    if log:
        say(f"MLflow run {run_id} in experiment {experiment.mlflow_experiment!r} "
            f"at {tracking.tracking_uri(tracking_uri)}")
    return result
