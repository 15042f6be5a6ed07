"""The score against the simulator's ground truth, and the score distribution.

Gaming check: a manipulation group "gains" when its accounts score above what genuine accounts
with the same true influence score. The score genuine accounts get for a given true influence is
an isotonic fit of score on true influence over genuine accounts; an account's gap is its score
minus that fit at its own true influence, in points. `gap_se` is the standard error of the mean
gap: a gap within about two of them is indistinguishable from none.

The strongest simple rival of the score is history alone (`history_scores`): each kind's own
rate per post over the longest window, divided by its base rate and combined as the score
combines heads (the *history index*), mapped to 1-100 the same way. Beside it, the heads'
starting point without trees (`history_start`) and the mean of log(1 + engagement) per post
(`log1p_index`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.isotonic import IsotonicRegression

from clout.models.heads import own_history
from clout.models.metrics import spearman
from clout.scoring.score import SCORE_MIN, InfluenceModel, ScoreMap

# the simulator's manipulation groups, and the targets of `data.manipulation`'s attacks
MANIPULATORS = ("bought_followers", "ring", "bot", "attacked")
SCORED_ROLES = ("genuine", *MANIPULATORS)  # fake followers never post: nothing to score


def score_gap(score: pd.Series, reference: pd.Series, fit_on: pd.Series) -> np.ndarray:
    """Each account's score minus the score that `fit_on` accounts with the same `reference`
    value get (an isotonic fit of score on reference over them), in points."""
    expected = IsotonicRegression(out_of_bounds="clip").fit(reference[fit_on], score[fit_on])
    return score.to_numpy(float) - expected.predict(reference)


def realised_engagement(model: InfluenceModel, test: pd.DataFrame) -> pd.DataFrame:
    """Accounts with posts in the horizon, with what their audience did, on the score's scale:
    their labels combined exactly as the score combines the heads' predictions."""
    target = next(iter(model.heads.values())).target  # the heads share their exposure
    rows = test[target.exposed(test)]
    rates = {kind: rows[head.label].to_numpy(float) for kind, head in model.heads.items()}
    return rows.assign(realised=model.expected_engagement(rates))


def realised_spearman(scores: pd.DataFrame, realised: pd.DataFrame) -> float:
    """Rank agreement of a score with realised engagement, over the accounts that posted."""
    frame = realised[["account_id", "realised"]].merge(scores[["account_id", "score"]],
                                                       on="account_id")
    return spearman(frame["score"], frame["realised"])


def _log1p_columns(model: InfluenceModel) -> dict[str, str]:
    """Per head, its kind's mean log(1 + engagement) per post over the longest window."""
    return {k: h.target.log1p_history for k, h in model.heads.items()}


def history_indexes(model: InfluenceModel, frame: pd.DataFrame,
                    log1p_scale: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Expected engagement from history alone, per row of `frame`, on the score's footing
    (1 = average on every kind). `log1p_scale`: each kind's mean log1p per post, the log1p
    index's base (default: its mean over `frame`)."""
    heads = model.heads

    def combine(values: dict[str, np.ndarray]) -> np.ndarray:
        return sum(model.weights[k] * values[k] for k in heads)

    def values(columns: dict[str, str]) -> dict[str, np.ndarray] | None:
        if not all(c in frame for c in columns.values()):
            return None
        return {k: frame[c].fillna(0).to_numpy(float) for k, c in columns.items()}
    out = {}
    rates = {k: own_history(frame, h.target.plain)
             for k, h in heads.items()}
    if all(r is not None for r in rates.values()):
        out["history_index"] = combine({k: np.nan_to_num(v) / heads[k].base_rate
                                        for k, v in rates.items()})
    if all(h.offset is not None for h in heads.values()):
        out["history_start"] = combine({k: h.offset(frame) / h.base_rate
                                        for k, h in heads.items()})
    if (logs := values(_log1p_columns(model))) is not None:
        scale = log1p_scale or {k: float(v.mean()) for k, v in logs.items()}
        out["log1p_index"] = combine({k: v / max(scale[k], 1e-12) for k, v in logs.items()})
    return out


def history_scores(model: InfluenceModel, validation: pd.DataFrame, test: pd.DataFrame,
                   low_quantile: float, high_quantile: float) -> dict[str, pd.DataFrame]:
    """Each history index scored 1-100 like the model: a map frozen on the validation cutoff's
    posting accounts, and 1 for accounts without posts. One table (account_id, score) each."""
    anchor = validation[~model.is_silent(validation)]
    scale = {k: float(anchor[c].fillna(0).mean()) for k, c in
             _log1p_columns(model).items() if c in anchor}
    fitted, scored = history_indexes(model, anchor, scale), history_indexes(model, test, scale)
    silent = model.is_silent(test)
    return {name: test[["account_id"]].assign(score=np.where(
                silent, SCORE_MIN, ScoreMap.fit(fitted[name], low_quantile, high_quantile)(values)))
            .reset_index(drop=True) for name, values in scored.items()}


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
    for role, colour in zip(MANIPULATORS, ("tab:orange", "tab:red", "tab:purple", "tab:brown"),
                            strict=True):
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
    for shown in columns:
        if shown in scores.columns:
            ax.hist(scores[shown], bins=bins, histtype="step", lw=1.5 if shown == "score" else 1,
                    label=shown)
    ax.set(xlabel=f"score (+10 points = x{score_map.factor(10):.2f} expected engagement)",
           ylabel="accounts", xlim=(0, 101), title="Score distribution, test cutoff")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
