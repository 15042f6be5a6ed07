"""How far any model on the heads' features could rank true influence: an oracle ceiling.

A LightGBM regression trained on the simulator's true influence itself (log scale, 5-fold
cross-validation over accounts at the test cutoff) ranks accounts as well as these features
allow; no head trained on engagement can do better than that, except by chance. Two feature
sets: the heads' (credible engagement, nothing buyable) and every feature (followers and other
counters bought accounts move). Accounts that show nothing (no posts or no credible engagement
in the longest window) score 1 whatever the model, so the ceiling is given both with them tied
at the bottom, as the score has them, and ranked as the oracle would.

    python benchmarks/truth_ceiling.py [--experiment experiments/default.yaml] [--seeds 7 8 9]
"""

# ruff: noqa: I001  (clout first: importing it pins NumPy's kernels before NumPy loads)
from __future__ import annotations

import argparse

from clout.config import load_experiment
from clout.features.build import build_features, load_tables
from clout.models.metrics import spearman
from clout.features.schema import FeatureTable
from clout.prepare import cutoffs_for, load_source
from clout.quality import markdown_table
from clout.scoring.evaluation import SCORED_ROLES
from clout.scoring.score import shows_nothing

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

PARAMS = {"objective": "l2", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 30,
          "verbosity": -1, "seed": 0, "deterministic": True, "force_col_wise": True}


def oracle(frame: pd.DataFrame, features: list[str], target: np.ndarray) -> np.ndarray:
    """Cross-fitted predictions of `target` from `features`, one per row."""
    out = np.zeros(len(frame))
    for fit_on, held in KFold(5, shuffle=True, random_state=0).split(frame):
        booster = lgb.train(PARAMS, lgb.Dataset(frame.iloc[fit_on][features], target[fit_on]),
                            400)
        out[held] = booster.predict(frame.iloc[held][features])
    return out


def ceiling(experiment_path: str, seed: int) -> dict[str, float]:
    experiment = load_experiment(experiment_path, **{"data.seed": seed})
    source = load_source(experiment.data)
    tables = load_tables(source.dataset)
    test_cutoff = cutoffs_for(experiment, tables)[-1]
    table = FeatureTable.of(build_features(tables, [test_cutoff], experiment.features),
                            experiment.features)
    frame, schema = table.frame, table.schema
    targets = experiment.model.targets(schema)
    heads_see = experiment.model.inputs(schema, targets)
    every = list(schema.features)
    frame = frame.merge(source.truth[["account_id", "role", "true_influence"]], on="account_id")
    frame = frame[frame["role"].isin(SCORED_ROLES)].reset_index(drop=True)
    silent = shows_nothing(frame, targets.values())
    truth = frame["true_influence"].to_numpy(float)
    row = {"seed": seed, "accounts": len(frame), "show nothing": float(silent.mean())}
    for name, features in (("heads' features", heads_see), ("every feature", every)):
        predicted = oracle(frame, features, np.log(truth + 1e-3))
        row[f"{name}, ranked"] = spearman(predicted, truth)
        row[f"{name}, silent tied"] = spearman(np.where(silent, -np.inf, predicted), truth)
    row["perfect, silent tied"] = spearman(np.where(silent, -np.inf, truth), truth)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="experiments/default.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    args = parser.parse_args()
    table = pd.DataFrame([ceiling(args.experiment, seed) for seed in args.seeds])
    print("Oracle ceiling: Spearman against true influence of a model trained on the truth")
    shown = table.map(lambda v: f"{v:.3f}" if isinstance(v, float) else v)
    print("\n".join(markdown_table(shown)))


if __name__ == "__main__":
    main()
