"""What drives each head: gain, split, mean |SHAP| and permutation importance, side by side.

- gain and split: LightGBM's own counts over the trees (how much and how often a feature split);
- mean |SHAP|: LightGBM's TreeSHAP (`pred_contrib`) on the test cutoff, in the head's log-rate
  units (a feature's typical push on the log of the predicted rate);
- permutation: how much the head's posts-weighted Poisson deviance on the test cutoff rises when
  the feature's column is shuffled (mean over repeats; <= 0 means the head does not need it).
SHAP and permutation use a seeded sample of up to SAMPLE test accounts with posts.
They disagree for reasons a reviewer should see: gain favours features used early in many trees,
SHAP measures effect on predictions, permutation measures effect on accuracy and is shared
between correlated features. Each row carries the feature's family and definition from the
catalogue. `rank_stability` retrains the heads with other seeds and reports how far each
feature's SHAP rank moves, so a reviewer knows which ranks to trust.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from clout.features.catalogue import column_features
from clout.models.heads import Head, Target
from clout.models.metrics import poisson_deviance

MEASURES = ("gain_share", "split", "mean_abs_shap", "permutation")
SAMPLE = 1000  # test accounts measured (a seeded sample): TreeSHAP costs grow with rows


def _exposed(heads: dict[str, Head]) -> Target:
    """A target whose exposure (the horizon's posts) all the heads share."""
    return next(iter(heads.values())).target


def _sample(test: pd.DataFrame, target: Target, seed: int) -> pd.DataFrame:
    """The test accounts that carry a label (posts in the horizon), a seeded sample of SAMPLE
    when more."""
    frame = test[target.exposed(test)]
    return frame.sample(SAMPLE, random_state=seed) if len(frame) > SAMPLE else frame


def shap_values(head: Head, columns: dict[str, np.ndarray]) -> np.ndarray:
    """TreeSHAP contributions (rows x the head's features), in log-rate units."""
    X = np.column_stack([columns[f] for f in head.features])
    return head.booster.predict(X, pred_contrib=True)[:, :-1]


def _columns(rows: pd.DataFrame, names) -> dict[str, np.ndarray]:
    return {c: rows[c].to_numpy(np.float64, na_value=np.nan) for c in names}


def head_importance(head: Head, test: pd.DataFrame, seed: int = 0, repeats: int = 3,
                    name: str | None = None) -> pd.DataFrame:
    """One row per feature of `head` (called `name`, default its kind): every measure and its
    rank (1 = most important)."""
    rows, rate, exposure = head.target.labelled(_sample(test, head.target, seed))
    columns = _columns(rows, head.inputs)
    shap = np.abs(shap_values(head, columns)).mean(axis=0)
    base = poisson_deviance(rate, head(columns), exposure)
    rng = np.random.default_rng(seed)
    permutation = []
    for feature in head.features:
        rises = []
        for _ in range(repeats):
            shuffled = {**columns, feature: rng.permutation(columns[feature])}
            rises.append(poisson_deviance(rate, head(shuffled), exposure) - base)
        permutation.append(float(np.mean(rises)))
    gain = head.booster.feature_importance("gain")
    table = pd.DataFrame({
        "head": name or head.kind, "feature": head.features,
        "gain_share": gain / gain.sum() if gain.sum() > 0 else 0.0,
        "split": head.booster.feature_importance("split"),
        "mean_abs_shap": shap, "permutation": permutation})
    for measure in MEASURES:
        table[f"{measure}_rank"] = table[measure].rank(ascending=False, method="min").astype(int)
    return table


def importance_table(heads: dict[str, Head], test: pd.DataFrame, windows,
                     seed: int = 0, repeats: int = 3) -> pd.DataFrame:
    """Every head's features with every measure, its family and its definition, most important
    (by mean |SHAP|) first within each head."""
    catalogue = column_features(windows)
    table = pd.concat([head_importance(h, test, seed, repeats, name)
                       for name, h in heads.items()], ignore_index=True)
    table.insert(2, "family", [catalogue[f].family if f in catalogue else ""
                               for f in table["feature"]])
    table["definition"] = [catalogue[f].definition if f in catalogue else ""
                           for f in table["feature"]]
    return table.sort_values(["head", "mean_abs_shap_rank"], ignore_index=True)


def rank_stability(heads_by_seed: dict[int, dict[str, Head]], test: pd.DataFrame,
                   seed: int = 0) -> pd.DataFrame:
    """Per head and feature, the mean |SHAP| rank under each seed's heads, and its spread:
    a feature whose rank moves a lot between seeds has no rank a reviewer should rely on."""
    ranks = []
    rows = _sample(test, _exposed(next(iter(heads_by_seed.values()))), seed)
    for model_seed, heads in heads_by_seed.items():
        for head in heads.values():
            shap = np.abs(shap_values(head, _columns(rows, head.features))).mean(axis=0)
            ranks.append(pd.DataFrame({"head": head.kind, "feature": head.features,
                                       "seed": model_seed, "rank": pd.Series(shap).rank(
                                           ascending=False, method="min").astype(int)}))
    wide = pd.concat(ranks).pivot_table(index=["head", "feature"], columns="seed",
                                        values="rank")
    wide.columns = [f"rank_seed_{s}" for s in wide.columns]
    wide["best_rank"] = wide.min(axis=1)
    wide["worst_rank"] = wide.max(axis=1)
    wide["rank_spread"] = wide["worst_rank"] - wide["best_rank"]
    return wide.reset_index().sort_values(["head", "best_rank"], ignore_index=True)


def shap_summary_plot(heads: dict[str, Head], test: pd.DataFrame, seed: int = 0,
                      top: int = 10) -> Figure:
    """Per head, its `top` features by mean |SHAP|: every sampled account's SHAP value as a dot,
    coloured by the feature's value (its rank among the accounts: blue low, red high; grey
    missing). Dots right of 0 raise the predicted rate."""
    rows = _sample(test, _exposed(heads), seed)
    ncols = min(len(heads), 2)
    nrows = -(-len(heads) // ncols)  # ceiling division
    fig = Figure(figsize=(6 * ncols, 0.35 * top * nrows + 1.5))
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    rng = np.random.default_rng(seed)
    for ax, head in zip(axes, heads.values(), strict=False):
        columns = _columns(rows, head.features)
        shap = shap_values(head, columns)
        order = np.argsort(-np.abs(shap).mean(axis=0))[:top]
        for y, i in enumerate(order[::-1]):
            value = pd.Series(columns[head.features[i]])
            colour = value.rank(pct=True).to_numpy()
            jitter = y + rng.uniform(-0.3, 0.3, len(value))
            ax.scatter(shap[:, i], jitter, c=np.nan_to_num(colour, nan=0.5), cmap="coolwarm",
                       s=3, vmin=0, vmax=1, plotnonfinite=True)
            missing = value.isna().to_numpy()
            ax.scatter(shap[missing, i], jitter[missing], c="0.6", s=3)
        ax.axvline(0, c="k", lw=0.5)
        ax.set_yticks(range(len(order)), [head.features[i] for i in order[::-1]], fontsize=7)
        ax.set(title=f"{head.kind}: SHAP (log rate)", xlabel="effect on log predicted rate")
    for ax in axes[len(heads):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
