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
# which way each kind of metric is better, by its name's last part (others have no direction:
# the score's median, its factor per 10 points, the components' weights)
HIGHER_IS_BETTER = ("spearman*", "deviance_improvement")
LOWER_IS_BETTER = ("poisson_deviance", "relative_ece", "score_gap_[!g]*")  # not genuine's: 0


def better(metric: str) -> str | None:
    """"higher", "lower" or None: which way `metric` (a logged name) is better."""
    last = metric.rsplit(".", 1)[-1]
    if any(fnmatch(last, p) for p in HIGHER_IS_BETTER):
        return "higher"
    if any(fnmatch(last, p) for p in LOWER_IS_BETTER):
        return "lower"
    return None


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
    if not every_metric:  # the headlines, and only those that changed
        keys = [k for k in keys if any(fnmatch(k, p) for p in HEADLINE_METRICS)
                and run_a.metrics.get(k) != run_b.metrics.get(k)]
    metrics = pd.DataFrame({"metric": keys, a[:8]: [run_a.metrics.get(k) for k in keys],
                            b[:8]: [run_b.metrics.get(k) for k in keys]}
                           ).astype({a[:8]: float, b[:8]: float})  # a missing metric: NaN
    change = metrics[b[:8]] - metrics[a[:8]]
    # three significant digits, so that a small change never prints as -0.000
    metrics[f"{b[:8]} − {a[:8]}"] = [f"{d:+.3g}" if d == d else "" for d in change]
    metrics["better"] = [_winner(better(k), d, a[:8], b[:8]) for k, d in zip(keys, change,
                                                                              strict=True)]
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


def _winner(direction: str | None, change: float, a: str, b: str) -> str:
    """The run whose value is better ("same" when equal), "" without a direction."""
    if direction is None or change != change:
        return ""
    if change == 0:
        return "same"
    return b if (change > 0) == (direction == "higher") else a


def _ranks(run_id: str) -> pd.DataFrame | None:
    try:
        table = tracking.logged_table(run_id, tracking.RUN.importance)
    except (MlflowException, OSError):  # no importance table (an evaluation, a tuning)
        return None
    return table[["head", "feature", "mean_abs_shap_rank"]].rename(
        columns={"mean_abs_shap_rank": "rank"})
