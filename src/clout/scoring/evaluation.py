"""The score against the simulator's ground truth, and the score distribution.

The score estimates the overall truth (`true_overall`: the weighted geometric mean of true reach,
amplification and network, `clout.data.influence`) and each component its own truth; a score of
amplification alone (a source without events) estimates `true_influence`, the per-post truth.
`spearman_true_influence` is still reported so that earlier numbers stay comparable.

Gaming check: a manipulation group "gains" when its accounts score above what genuine accounts
with the same true influence score. The score genuine accounts get for a given true influence is
an isotonic fit of score on true influence over genuine accounts; an account's gap is its score
minus that fit at its own true influence, in points. `gap_se` is the standard error of the mean
gap: a gap within about two of them is indistinguishable from none.

The strongest simple rivals of the score are histories (`history_scores`), each combined as the
score combines its components and mapped to 1-100 the same way: the *history index* (each
kind's own rate per post over the longest window, divided by its base rate, for
amplification; the credible engagers over that window for reach; the standing of the followers
who engage for network), the heads' starting points without trees (`history_start`), the same
with the mean of log(1 + engagement) per post for amplification (`log1p_index`), and the number
of distinct engagers over the window alone (`engagers_index`, one line of code).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.isotonic import IsotonicRegression

from clout.data.influence import COMPONENTS
from clout.features.catalogue import column
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
    their labels combined exactly as the score combines the heads' predictions (`realised`),
    and each component's own (amplification; reach and network with components)."""
    target = next(iter(model.heads.values())).target  # the heads share their exposure
    rows = test[target.exposed(test)]
    labels = {name: rows[head.label].fillna(0).to_numpy(float)
              for name, head in model.every_head.items()}
    values = model.component_values(labels)
    return rows.assign(realised=model.overall(values), **values)


def realised_spearman(scores: pd.DataFrame, realised: pd.DataFrame) -> float:
    """Rank agreement of a score with realised engagement, over the accounts that posted."""
    frame = realised[["account_id", "realised"]].merge(scores[["account_id", "score"]],
                                                       on="account_id")
    return spearman(frame["score"], frame["realised"])


def _log1p_columns(model: InfluenceModel) -> dict[str, str]:
    """Per head, its kind's mean log(1 + engagement) per post over the longest window."""
    return {k: h.target.log1p_history for k, h in model.heads.items()}


def component_histories(model: InfluenceModel, frame: pd.DataFrame
                        ) -> dict[str, np.ndarray]:
    """Each component from history alone, on its own footing: amplification as the history
    index (each kind's own rate over the longest window over its base rate), and with
    component heads reach (credible engagers over the longest window) and network (the
    standing of the followers who engage: `follower_standing`)."""
    rates = {k: own_history(frame, h.target.plain) for k, h in model.heads.items()}
    out = {}
    if all(r is not None for r in rates.values()):
        out["amplification"] = sum(model.weights[k] * np.nan_to_num(r) / model.heads[k].base_rate
                                   for k, r in rates.items())
    for name, to_value in (("reach", np.asarray), ("network", np.expm1)):
        history = model.components[name].target.history if name in model.components else None
        if history in frame:  # a source without followers has no follower standing
            out[name] = to_value(frame[history].fillna(0).to_numpy(float))
    return out


def history_indexes(model: InfluenceModel, frame: pd.DataFrame,
                    log1p_scale: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """The score's quantity from history alone, per row of `frame`: each amplification index
    (1 = average on every kind) combined with reach and network from history as the score
    combines its components, and the distinct engagers over the longest window.
    `log1p_scale`: each kind's mean log1p per post, the log1p index's base (default: its mean
    over `frame`)."""
    heads = model.heads
    histories = component_histories(model, frame)
    others = {c: v for c, v in histories.items() if c != "amplification"}

    def combine(values: dict[str, np.ndarray]) -> np.ndarray:
        amplification = sum(model.weights[k] * values[k] for k in heads)
        return model.overall({"amplification": amplification, **others})

    def values(columns: dict[str, str]) -> dict[str, np.ndarray] | None:
        if not all(c in frame for c in columns.values()):
            return None
        return {k: frame[c].fillna(0).to_numpy(float) for k, c in columns.items()}
    out = {}
    if "amplification" in histories:
        out["history_index"] = model.overall(histories)
    if all(h.offset is not None for h in heads.values()):  # a head without: its mean
        start = {k: np.full(len(frame), h.base_rate) if h.offset is None else h.offset(frame)
                 for k, h in model.every_head.items()}
        out["history_start"] = model.overall(model.component_values(start))
    if (logs := values(_log1p_columns(model))) is not None:
        scale = log1p_scale or {k: float(v.mean()) for k, v in logs.items()}
        out["log1p_index"] = combine({k: v / max(scale[k], 1e-12) for k, v in logs.items()})
    engagers = column("unique_engagers_{w}d", window=model.schema.longest_window) \
        if model.schema is not None else None
    if engagers in frame:
        out["engagers_index"] = frame[engagers].fillna(0).to_numpy(float)
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


def truth_of(model: InfluenceModel, truth: pd.DataFrame) -> str:
    """The truth column the model's score estimates: the overall truth for a score with
    components (where the truth has it), else the per-post truth."""
    return "true_overall" if model.components and "true_overall" in truth else "true_influence"


def scored_truth(scores: pd.DataFrame, truth: pd.DataFrame, reference: str) -> pd.DataFrame:
    """The scores of every scored role with the truth (every column; the `reference` truth
    the score estimates as `true`) and the gap against genuine accounts."""
    frame = scores.merge(truth.assign(true=truth[reference]), on="account_id", how="inner")
    frame = frame[frame["role"].isin(SCORED_ROLES)]
    return frame.assign(gap=score_gap(frame["score"], frame["true"],
                                      frame["role"] == "genuine"))


def component_truth_spearman(values: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """Spearman of each component in `values` (account_id and a column per component) with
    its own truth, over the scored roles: `spearman_true_<component>`."""
    frame = values.merge(truth, on="account_id", how="inner")
    frame = frame[frame["role"].isin(SCORED_ROLES)]
    return {f"spearman_true_{c}": spearman(frame[c], frame[f"true_{c}"])
            for c in COMPONENTS if c in frame and f"true_{c}" in frame}


def truth_metrics(scores: pd.DataFrame, truth: pd.DataFrame, reference: str
                  ) -> tuple[dict[str, float], pd.DataFrame]:
    """Spearman of the score with the truth it estimates (`reference`: `spearman_truth`), with
    the per-post truth, and of each component it has with its own; and the score gap of each
    role (points)."""
    frame = scored_truth(scores, truth, reference)
    genuine = frame[frame["role"] == "genuine"]
    gaps = (frame.groupby("role").agg(accounts=("score", "size"), mean_score=("score", "mean"),
                                      mean_truth=("true", "mean"),
                                      mean_gap=("gap", "mean"), gap_se=("gap", "sem"),
                                      median_gap=("gap", "median"))
            .reindex(list(SCORED_ROLES)).dropna(subset=["accounts"]).reset_index())
    metrics = {"spearman_truth": spearman(frame["score"], frame["true"]),
               "spearman_truth_genuine": spearman(genuine["score"], genuine["true"]),
               "spearman_true_influence": spearman(frame["score"], frame["true_influence"]),
               "spearman_true_influence_genuine": spearman(genuine["score"],
                                                           genuine["true_influence"])}
    metrics |= component_truth_spearman(scores, truth)
    metrics |= {f"score_gap_{row.role}": row.mean_gap for row in gaps.itertuples()}
    return metrics, gaps


def gaming_plot(scores: pd.DataFrame, truth: pd.DataFrame, reference: str) -> Figure:
    """Score against the truth it estimates (`reference`), manipulation groups over the genuine
    accounts, with the genuine accounts' isotonic curve the gaps are measured from."""
    frame = scored_truth(scores, truth, reference).sort_values("true")
    genuine = frame[frame["role"] == "genuine"]
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    ax.scatter(genuine["true"], genuine["score"], s=3, c="0.75", label="genuine")
    curve = genuine["score"] - genuine["gap"]
    ax.plot(genuine["true"], curve, c="k", lw=1.2, label="genuine (isotonic)")
    for role, colour in zip(MANIPULATORS, ("tab:orange", "tab:red", "tab:purple", "tab:brown"),
                            strict=True):
        group = frame[frame["role"] == role]
        if len(group):
            ax.scatter(group["true"], group["score"], s=10, c=colour,
                       label=f"{role}: gap {group['gap'].mean():+.1f} "
                             f"± {group['gap'].sem():.1f}")
    ax.set(xscale="symlog", xlabel=f"{reference} (simulator)", ylabel="score",
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
