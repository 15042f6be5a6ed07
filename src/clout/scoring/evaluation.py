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


def score_gap(score: pd.Series, reference: pd.Series, fit_on: pd.Series) -> np.ndarray:
    """Each account's score minus the score that `fit_on` accounts with the same `reference`
    value get (an isotonic fit of score on reference over them), in points."""
    expected = IsotonicRegression(out_of_bounds="clip").fit(reference[fit_on], score[fit_on])
    return score.to_numpy(float) - expected.predict(reference)


def scored_truth(scores: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Score, role, true influence and gap (against genuine accounts) of every scored role."""
    frame = scores[["account_id", "score"]].merge(
        truth[["account_id", "role", "true_influence"]], on="account_id", how="inner")
    frame = frame[frame["role"].isin(SCORED_ROLES)]
    return frame.assign(gap=score_gap(frame["score"], frame["true_influence"],
                                      frame["role"] == "genuine"))


def truth_metrics(scores: pd.DataFrame, truth: pd.DataFrame
                  ) -> tuple[dict[str, float], pd.DataFrame]:
    """Spearman of score and true influence, and the score gap of each role (points)."""
    frame = scored_truth(scores, truth)
    genuine = frame[frame["role"] == "genuine"]
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


def gaming_plot(scores: pd.DataFrame, truth: pd.DataFrame) -> Figure:
    """Score against true influence, manipulation groups over the genuine accounts, with the
    genuine accounts' isotonic curve the gaps are measured from."""
    frame = scored_truth(scores, truth).sort_values("true_influence")
    genuine = frame[frame["role"] == "genuine"]
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    ax.scatter(genuine["true_influence"], genuine["score"], s=3, c="0.75", label="genuine")
    curve = genuine["score"] - genuine["gap"]
    ax.plot(genuine["true_influence"], curve, c="k", lw=1.2, label="genuine (isotonic)")
    for role, colour in zip(MANIPULATORS, ("tab:orange", "tab:red", "tab:purple"), strict=True):
        group = frame[frame["role"] == role]
        if len(group):
            ax.scatter(group["true_influence"], group["score"], s=10, c=colour,
                       label=f"{role}: gap {group['gap'].mean():+.1f} "
                             f"± {group['gap'].sem():.1f}")
    ax.set(xscale="symlog", xlabel="true influence (simulator)", ylabel="score",
           title="Manipulation groups against genuine accounts of the same true influence")
    ax.legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    return fig


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
