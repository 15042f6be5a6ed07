"""`clout tune`: an Optuna search on the cutoff before the test cutoff, every trial an MLflow
child run, the best written back as an experiment that loads and trains."""

import mlflow
import pytest
from typer.testing import CliRunner

from clout.cli import app
from clout.config import load_experiment
from clout.errors import ConfigError
from clout.tuning import tune
from support import quick_tiny

runner = CliRunner()


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune")
    path = quick_tiny(folder, "quick")
    result = runner.invoke(app, ["tune", str(path), "--trials", "3"], catch_exceptions=False)
    return folder, path, result


def test_tune_writes_the_best_as_a_new_experiment(tuned):
    folder, path, result = tuned
    assert result.exit_code == 0, result.output
    written = folder / "quick-tuned.yaml"
    assert f"wrote {written}" in " ".join(result.output.split())
    best = load_experiment(written)
    assert best.name == "quick-tuned"
    assert "tuned by clout tune: 3 trials, objective spearman on the cutoff" in best.description
    assert written.read_text().startswith(f"# Written by: clout tune {path} --trials 3")
    original = load_experiment(path)
    # only the searched fields may differ: the data, cutoffs and features are the original's
    assert (best.data, best.cutoffs, best.features) == (original.data, original.cutoffs,
                                                        original.features)


def test_every_trial_is_a_child_run_and_the_test_cutoff_is_never_seen(tuned):
    _, path, result = tuned
    parent = mlflow.search_runs(search_all_experiments=True, order_by=["start_time DESC"],
                                filter_string="tags.`clout.kind` = 'tune'").iloc[0]
    children = mlflow.search_runs(search_all_experiments=True, filter_string=(
        f"tags.mlflow.parentRunId = '{parent['run_id']}'"))
    assert sorted(children["tags.mlflow.runName"]) == ["trial 0", "trial 1", "trial 2"]
    assert parent["metrics.best_value"] == pytest.approx(children["metrics.objective"].max())
    assert children["metrics.score.spearman_realised"].tolist() == \
        children["metrics.objective"].tolist()
    # trials are measured one step back: the tuning cutoff is the training run's validation
    from clout.pipeline import train
    trained = train(load_experiment(path), log=False, say=lambda _: None)
    assert parent["params.tuning_cutoff"] == f"{trained.split.validation:%Y-%m-%d}"


def test_the_same_seed_searches_the_same_points(tmp_path):
    experiment = load_experiment(quick_tiny(tmp_path, "again"))
    first, second = (tune(experiment, 2, log=False, say=lambda _: None) for _ in range(2))
    assert first.trials.drop(columns="number").equals(second.trials.drop(columns="number"))
    assert first.experiment == second.experiment


def test_a_wrong_objective_or_trial_count_is_refused(tmp_path):
    experiment = load_experiment(quick_tiny(tmp_path, "wrong"))
    with pytest.raises(ConfigError, match="objective 'auc': one of spearman, deviance"):
        tune(experiment, 2, objective="auc", log=False)
    with pytest.raises(ConfigError, match="trials must be at least 1"):
        tune(experiment, 0, log=False)
