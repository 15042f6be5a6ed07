"""Two runs side by side (`clout compare A B`): the parameters that differ, the metrics with
their difference, and the features whose importance rank moved most."""

from __future__ import annotations

from fnmatch import fnmatch

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from clout import tracking

# what `clout compare` shows unless asked for every metric: the score's and the model's own
HEADLINE_METRICS = ("score.*", "*.model.*")


def compare_runs(a: str, b: str, every_metric: bool = False, moved: int = 15
                 ) -> dict[str, pd.DataFrame]:
    """Tables, by title, comparing run `a` with run `b` (MLflow's current store)."""
    client = MlflowClient()
    run_a, run_b = client.get_run(a).data, client.get_run(b).data
    names = sorted(set(run_a.params) | set(run_b.params))
    params = pd.DataFrame([(n, run_a.params.get(n), run_b.params.get(n)) for n in names],
                          columns=["parameter", a[:8], b[:8]])
    params = params[params[a[:8]] != params[b[:8]]]
    keys = sorted(set(run_a.metrics) | set(run_b.metrics))
    if not every_metric:
        keys = [k for k in keys if any(fnmatch(k, p) for p in HEADLINE_METRICS)]
    metrics = pd.DataFrame({"metric": keys, a[:8]: [run_a.metrics.get(k) for k in keys],
                            b[:8]: [run_b.metrics.get(k) for k in keys]})
    metrics[f"{b[:8]} − {a[:8]}"] = metrics[b[:8]] - metrics[a[:8]]
    out = {"parameters that differ": params.reset_index(drop=True), "metrics": metrics}
    ranks = [_ranks(run) for run in (a, b)]
    if all(r is not None for r in ranks):
        both = ranks[0].merge(ranks[1], on=["head", "feature"], how="outer",
                              suffixes=(f" {a[:8]}", f" {b[:8]}"))
        both["moved"] = both[f"rank {b[:8]}"] - both[f"rank {a[:8]}"]
        # features of a head only one run has did not move: they come last
        order = both["moved"].abs().fillna(-1).sort_values(ascending=False).index
        out["importance ranks that moved most (mean |SHAP|)"] = \
            both.loc[order].head(moved).reset_index(drop=True)
    return out


def _ranks(run_id: str) -> pd.DataFrame | None:
    try:
        table = tracking.logged_table(run_id, tracking.RUN.importance)
    except (MlflowException, OSError):  # no importance table (an evaluation, a tuning)
        return None
    return table[["head", "feature", "mean_abs_shap_rank"]].rename(
        columns={"mean_abs_shap_rank": "rank"})
