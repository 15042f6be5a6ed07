"""The score against the simulator's ground truth, and the score distribution.

Gaming check: a manipulation group "gains" when its accounts score above what genuine accounts
with the same true influence score. The score genuine accounts get for a given true influence is
an isotonic fit of score on true influence over genuine accounts; an account's gap is its score
minus that fit at its own true influence, in points. `gap_se` is the standard error of the mean
gap: a gap within about two of them is indistinguishable from none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.isotonic import IsotonicRegression

from clout.models.metrics import spearman
from clout.scoring.score import ScoreMap

MANIPULATORS = ("bought_followers", "ring", "bot")
SCORED_ROLES = ("genuine", *MANIPULATORS)  # fake followers never post: nothing to score


def truth_metrics(scores: pd.DataFrame, truth: pd.DataFrame
                  ) -> tuple[dict[str, float], pd.DataFrame]:
    """Spearman of score and true influence, and the score gap of each role (points)."""
    frame = scores[["account_id", "score"]].merge(
        truth[["account_id", "role", "true_influence"]], on="account_id", how="inner")
    frame = frame[frame["role"].isin(SCORED_ROLES)]
    genuine = frame[frame["role"] == "genuine"]
    expected = IsotonicRegression(out_of_bounds="clip").fit(
        genuine["true_influence"], genuine["score"])
    frame = frame.assign(gap=frame["score"] - expected.predict(frame["true_influence"]))
    gaps = (frame.groupby("role").agg(accounts=("score", "size"), mean_score=("score", "mean"),
                                      mean_true_influence=("true_influence", "mean"),
                                      mean_gap=("gap", "mean"), gap_se=("gap", "sem"),
                                      median_gap=("gap", "median"))
            .reindex(list(SCORED_ROLES)).dropna(subset=["accounts"]).reset_index())
    metrics = {"spearman_true_influence": spearman(frame["score"], frame["true_influence"]),
               "spearman_true_influence_genuine": spearman(genuine["score"],
                                                           genuine["true_influence"])}
    metrics |= {f"score_gap_{row.role}": row.mean_gap for row in gaps.itertuples()}
    return metrics, gaps


def score_distribution_plot(scores: pd.DataFrame, score_map: ScoreMap,
                            columns=("score", "reach", "amplification", "network")) -> Figure:
    """Histogram of the score and its components, with what 10 points mean."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    bins = np.arange(0.5, 101.5, 1)
    for column in columns:
        if column in scores.columns:
            ax.hist(scores[column], bins=bins, histtype="step", lw=1.5 if column == "score" else 1,
                    label=column)
    ax.set(xlabel=f"score (+10 points = x{score_map.factor(10):.2f} expected engagement)",
           ylabel="accounts", xlim=(0, 101), title="Score distribution, test cutoff")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
