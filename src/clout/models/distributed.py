"""Heads' boosters trained with LightGBM's own distributed estimator (`lightgbm.dask`).

The rows are split into partitions on the Dask cluster and LightGBM trains data-parallel across
the workers (its socket-based network between them). Everything around the booster (labels,
weights, the history it starts from, calibration) is the local code's.

`lightgbm.dask` has no early stopping. The Dask path trains all `num_boost_round` rounds while
recording the validation deviance, then replays it through the local engine's `StoppingRule`
and keeps the trees it would have kept, at the cost of the extra rounds (set
`num_boost_round` near the local run's best iteration to save them).
"""

from __future__ import annotations

import dask.dataframe as dd
import lightgbm as lgb
import pandas as pd

from clout.models.heads import BoosterData, Boosting


def _partitioned(data: BoosterData, partitions: int):
    """The rows as Dask collections with the same divisions (LightGBM pairs them by part)."""
    def frame(values):
        return dd.from_pandas(values, npartitions=partitions, sort=False)
    index = pd.RangeIndex(len(data.X))
    X = frame(data.X.set_axis(index))
    parts = {"rate": data.rate, "posts": data.posts, "start": data.start}
    return X, {k: None if v is None else frame(pd.Series(v, index=index))
               for k, v in parts.items()}


def dask_booster(client, partitions: int):
    """A trainer for `fit_head` that fits on the cluster behind `client`."""
    def train(boosting: Boosting, training: BoosterData, validation: BoosterData
              ) -> lgb.Booster:
        X, train_parts = _partitioned(training, partitions)
        X_val, val_parts = _partitioned(validation, partitions)
        # each worker's threads are Dask's to set: the experiment's num_threads is for local
        model = lgb.DaskLGBMRegressor(
            client=client, n_estimators=boosting.num_boost_round,
            **{k: v for k, v in boosting.params.items() if k != "num_threads"})
        model.fit(X, train_parts["rate"], sample_weight=train_parts["posts"],
                  init_score=train_parts["start"], eval_X=(X_val,), eval_y=(val_parts["rate"],),
                  eval_sample_weight=[val_parts["posts"]],
                  eval_init_score=None if val_parts["start"] is None else [val_parts["start"]])
        deviance = next(iter(model.evals_result_["valid_0"].values()))
        best = boosting.stopping().replay(deviance)
        booster = lgb.Booster(model_str=model.booster_.model_to_string(num_iteration=best))
        booster.best_iteration = best
        return booster
    return train
