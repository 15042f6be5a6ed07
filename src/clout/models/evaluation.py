"""A head against its baselines on the test cutoff: metrics, reliability tables, plots.

Baselines (`history_baselines`), each a prediction for every account from its history alone:
- `constant`: the training mean rate (what deviance improvement is measured against);
- `historical_mean`: the account's own rate over the longest window before the cutoff (the
  training mean when it has no posts there), of all engagement;
- `credible_historical_mean`: the same of credible engagement, for a head that learns it: the
  head's own target's history, usually the stronger of the two;
- `history_start`: the head's start without its trees (the history shrunk by empirical Bayes,
  see `HistoryOffset`), for a head that has one: what the trees add is measured against it;
- `log1p_per_post`: the mean over the window's posts of log(1 + engagement): ranks only, it is
  not a rate, so it has no deviance or calibration error;
- `last_horizon` (and `credible_last_horizon`, for a head that learns credible engagement): a
  per-account head's count over the last horizon before the cutoff, as is: yesterday's count
  for a day-ahead head.
The pipeline adds `followers_only`: a LightGBM head on the follower count alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: no display, no global state

from clout.features.schema import Target
from clout.models.heads import Head, own_history
from clout.models.metrics import rate_metrics, reliability_table

RANK_ONLY = frozenset({"log1p_per_post"})  # predictors that are not rates


def historical_mean(frame: pd.DataFrame, target: Target, base_rate: float) -> np.ndarray:
    rate = own_history(frame, target)
    if rate is None:
        return np.full(len(frame), base_rate)
    return np.where(np.isnan(rate), base_rate, rate)


def history_baselines(frame: pd.DataFrame, head: Head) -> dict[str, np.ndarray]:
    """Every history baseline of `head`'s kind, aligned with `frame`'s rows."""
    log1p = head.target.log1p_history
    out = {"constant": np.full(len(frame), head.base_rate),
           "historical_mean": historical_mean(frame, head.target.plain, head.base_rate)}
    if head.target.credible:
        out["credible_historical_mean"] = historical_mean(frame, head.target, head.base_rate)
    if head.offset is not None:
        out["history_start"] = head.offset(frame)
    if log1p in frame.columns:
        out["log1p_per_post"] = frame[log1p].fillna(0).to_numpy(float)
    if not head.target.per_post:  # a per-account head: the last horizon's count, as is
        lasts = {"last_horizon": head.target.plain}
        if head.target.credible:
            lasts["credible_last_horizon"] = head.target
        for name, target in lasts.items():
            last = target.received_over(target.horizon)
            if last is not None and last in frame.columns:
                out[name] = frame[last].fillna(0).to_numpy(float)
    return out


def evaluate(target: Target, test: pd.DataFrame, predictions: dict[str, np.ndarray],
             base_rate: float, head: str | None = None
             ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Metrics per predictor (one row each) against `target`'s label, and its reliability
    table, on the rows with posts in the horizon; `head` names the head (default: the
    target's kind).

    `predictions` maps a predictor name to per-post rates aligned with `test`'s rows.
    """
    mask = target.exposed(test)
    _, rate, exposure = target.labelled(test)
    rows, tables = [], {}
    for name, predicted in predictions.items():
        predicted = np.asarray(predicted, float)[mask]
        metrics = rate_metrics(rate, predicted, exposure, base_rate)
        if name in RANK_ONLY:
            metrics = {k: v if k == "spearman" else np.nan for k, v in metrics.items()}
        else:
            tables[name] = reliability_table(rate, predicted, exposure)
        rows.append({"head": head or target.kind, "label": target.label, "predictor": name,
                     "accounts": int(mask.sum()), **metrics})
    return pd.DataFrame(rows), tables


def reliability_plot(kind: str, tables: dict[str, pd.DataFrame]) -> Figure:
    """Predicted against observed rate per decile, on log axes, one line per predictor (not the
    constant: it is one vertical line)."""
    tables = {name: table for name, table in tables.items() if name != "constant"}
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    values = pd.concat([t[["predicted", "observed"]] for t in tables.values()]).to_numpy()
    positive = values[values > 0]
    lo, hi = (positive.min() / 1.5, positive.max() * 1.5) if positive.size else (1e-3, 1)
    ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--", label="perfect calibration")
    for name, table in tables.items():
        ax.plot(table["predicted"].clip(lower=lo), table["observed"].clip(lower=lo),
                marker="o", ms=4, label=name)
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi),
           xlabel=f"predicted {kind} per post (decile mean)",
           ylabel=f"observed {kind} per post", title=f"Reliability: {kind}, test cutoff")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
