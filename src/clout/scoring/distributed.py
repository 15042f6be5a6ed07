"""Scores on a Dask cluster: the feature rows split into partitions, `InfluenceModel.score` on
each (`map_partitions`), gathered in the input's order. The result is all the rows or an error:
a task that fails (or whose worker dies more often than the scheduler's `allowed-failures`)
fails the whole computation, so no caller ever holds a partial table."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from clout.errors import CloutError
from clout.scoring.score import InfluenceModel


class ScoringFailed(CloutError, RuntimeError):
    """Scoring on the cluster did not finish: nothing was scored."""


def score_frame(model: InfluenceModel, frame: pd.DataFrame, client, partitions: int
                ) -> pd.DataFrame:
    rows = dd.from_pandas(frame.reset_index(drop=True), npartitions=partitions, sort=False)
    meta = model.score(frame.iloc[:1]).iloc[:0]
    shared = dask.delayed(model)  # sent to the workers once, not once per partition
    try:
        scores = rows.map_partitions(lambda part, m: m.score(part), shared, meta=meta) \
            .compute(scheduler=client)
    except Exception as err:  # the cluster's own errors (KilledWorker, ...) carry the cause
        raise ScoringFailed(f"scoring {len(frame):,} accounts on the Dask cluster failed, "
                            f"nothing was written: {type(err).__name__}: {err}") from err
    if len(scores) != len(frame) or not np.array_equal(scores["account_id"].to_numpy(),
                                                       frame["account_id"].to_numpy()):
        raise ScoringFailed(f"the cluster returned {len(scores):,} scores for "
                            f"{len(frame):,} accounts")
    return scores.reset_index(drop=True)
