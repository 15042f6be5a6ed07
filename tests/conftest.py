"""Shared fixtures: tiny hand-made tables, a tiny simulated world, the real datasets."""

from __future__ import annotations

import pandas as pd
import pytest

from clout.data.dataset import Dataset
from clout.data.schema import conform
from clout.data.simulator import preset, simulate
from support import hand_built_model, utc


@pytest.fixture
def three_rows() -> Dataset:
    """Three accounts, two follows, three posts, three engagements: all valid."""
    accounts = conform(pd.DataFrame({
        "account_id": [1, 2, 3], "network": "test",
        "created_at": [utc("2023-01-01")] * 3,
        "followers_count": pd.array([2, 0, 1], "Int64"),
        "observed_at": [utc("2024-01-31")] * 3,
    }), "accounts")
    follows = conform(pd.DataFrame({
        "follower_id": [2, 3], "followee_id": [1, 1],
        "created_at": [utc("2023-06-01"), utc("2023-07-01")],
    }), "follows")
    posts = conform(pd.DataFrame({
        "post_id": [10, 11, 12], "account_id": [1, 1, 3],
        "created_at": [utc("2024-01-01 10:00"), utc("2024-01-02 10:00"), utc("2024-01-03")],
        "has_link": [True, False, True],
    }), "posts")
    engagements = conform(pd.DataFrame({
        "actor_id": [2, 3, 1], "account_id": [1, 1, 3], "post_id": [10, 10, 12],
        "kind": ["click", "retweet", "like"],
        "created_at": [utc("2024-01-01 11:00"), utc("2024-01-01 12:00"), utc("2024-01-03 01:00")],
        "cascade_depth": [1, 1, 1],
    }), "engagements")
    return Dataset(accounts, follows, posts, engagements)


@pytest.fixture(scope="session")
def tiny_world():
    """The tiny preset, simulated in memory once per test session: (dataset, ground truth)."""
    return simulate(preset("tiny"))


@pytest.fixture(scope="session", autouse=True)
def mlflow_in_a_temporary_folder(tmp_path_factory):
    """Every test's MLflow runs go to a throw-away sqlite store, never the project's mlflow.db."""
    folder = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{(folder / 'mlflow.db').as_posix()}")
        yield folder


@pytest.fixture(scope="session", autouse=True)
def cache_in_a_temporary_folder(tmp_path_factory):
    """Every test's cached data and features go to a throw-away folder, shared by the session
    (keys are content digests: tests reuse each other's tables only when they are the same)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLOUT_CACHE", str(tmp_path_factory.mktemp("cache")))
        # and nobody is forgotten but in the tests that forget someone
        patch.setenv("CLOUT_PRIVACY_DIR", str(tmp_path_factory.mktemp("privacy")))
        yield


TINY_EXPERIMENT = """\
name: tiny
data: {source: simulator, preset: tiny, seed: 3}
cutoffs: {weeks: 8}
model:
  seed: 3
  # sampled rows and features: another seed is another model (the stability audit's point)
  params: {learning_rate: 0.1, num_leaves: 7, min_data_in_leaf: 20, feature_fraction: 0.8,
           bagging_fraction: 0.8, bagging_freq: 1}
  stability_seeds: [4]
"""


@pytest.fixture(scope="session")
def tiny_experiment_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("experiments") / "tiny.yaml"
    path.write_text(TINY_EXPERIMENT)
    return path


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """`support.hand_built_model`, saved, and logged as the pyfunc model of an MLflow run:
    (model, test rows, saved folder, run id)."""
    import mlflow

    from clout.export.mlflow_model import log_pyfunc

    model, test = hand_built_model()
    saved = model.save(tmp_path_factory.mktemp("hand-built") / "model")
    with mlflow.start_run(run_name="hand-built") as run:
        log_pyfunc(model, saved, test)
    return model, test, saved, run.info.run_id


@pytest.fixture(scope="session")
def tiny_run(tiny_experiment_file, tmp_path_factory):
    """The tiny experiment trained once and logged to the temporary MLflow store."""
    from clout.config import load_experiment
    from clout.pipeline import train

    out = tmp_path_factory.mktemp("tiny-run")
    return train(load_experiment(tiny_experiment_file), out=out, say=lambda text: None), out
