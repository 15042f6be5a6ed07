"""Metrics for per-post rates with posts as exposure.

Rates `y / exposure` are compared with predicted rates `mu` per account, each account weighted by
its posts. The exposure-weighted mean Poisson deviance of rates differs from the post-level mean
deviance only by a term that does not depend on the prediction, so differences between models are
the same as at post level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import mean_poisson_deviance

FLOOR = 1e-9  # the deviance needs strictly positive predictions


def poisson_deviance(rate, predicted, exposure) -> float:
    """Mean Poisson deviance per post."""
    return float(mean_poisson_deviance(rate, np.maximum(predicted, FLOOR), sample_weight=exposure))


def spearman(a, b) -> float:
    """Rank correlation; NaN when either side is constant (a constant predictor ranks nothing)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def rate_metrics(rate, predicted, exposure, base_rate: float) -> dict[str, float]:
    """Deviance, its improvement over the constant `base_rate` (the training mean; 1 = perfect,
    0 = no better than the constant), rank correlation at account level and calibration error."""
    deviance = poisson_deviance(rate, predicted, exposure)
    constant = poisson_deviance(rate, np.full(len(rate), base_rate), exposure)
    table = reliability_table(rate, predicted, exposure)
    return {"poisson_deviance": deviance, "deviance_improvement": 1 - deviance / constant,
            "spearman": spearman(predicted, rate), **calibration_error(table)}


def reliability_table(rate, predicted, exposure, bins: int = 10) -> pd.DataFrame:
    """Predicted against observed rate per decile of the prediction, posts-weighted."""
    frame = pd.DataFrame({"predicted": np.asarray(predicted, float),
                          "observed": np.asarray(rate, float),
                          "posts": np.asarray(exposure, float)})
    # ranks first, so ties (a constant prediction) still split into equal bins
    frame["bin"] = pd.qcut(frame["predicted"].rank(method="first"), bins, labels=False)
    frame["predicted_total"] = frame["predicted"] * frame["posts"]
    frame["observed_total"] = frame["observed"] * frame["posts"]
    table = frame.groupby("bin").agg(accounts=("posts", "size"), posts=("posts", "sum"),
                                     predicted_total=("predicted_total", "sum"),
                                     observed_total=("observed_total", "sum"))
    table["predicted"] = table["predicted_total"] / table["posts"]
    table["observed"] = table["observed_total"] / table["posts"]
    return table[["accounts", "posts", "predicted", "observed"]].reset_index()


def calibration_error(table: pd.DataFrame) -> dict[str, float]:
    """Posts-weighted mean |predicted - observed| over the bins (ECE), also relative to the
    observed mean rate, so heads with different base rates compare."""
    weights = table["posts"] / table["posts"].sum()
    ece = float((weights * (table["predicted"] - table["observed"]).abs()).sum())
    observed = float((weights * table["observed"]).sum())
    return {"ece": ece, "relative_ece": ece / observed if observed > 0 else float("nan")}
