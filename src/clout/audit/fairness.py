"""Is the score fair to small and young accounts? Score by follower-count band and account age.

Influence is what the audience does, not its size. On the test cutoff each posting account's
*realised* engagement is its labels (the engagement per post it actually received over the
horizon) combined exactly as the score combines the heads' predictions. Per band:
- the spread of the score, and the median score of the band's *highly engaged* accounts (realised
  engagement in the top quarter of all accounts): do small accounts with an engaged audience
  score as high as large ones?
- `gap_realised`: score minus the score of accounts with the same realised engagement (isotonic
  fit over every band), in points; a band well below 0 is scored under what its audience did.
  Realised engagement over one horizon is noisy, most for accounts with few posts, so expect
  small negative gaps at the extremes from regression to the mean alone.
- with the simulator's ground truth, `gap_truth`: the same against the truth the score estimates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from clout.models.metrics import spearman
from clout.scoring.evaluation import realised_engagement, score_gap, truth_of
from clout.scoring.score import InfluenceModel

# lower band edges
BANDS = {"followers": (0, 10, 100, 1_000, 10_000),
         "account_age_days": (0, 30, 90, 365, 3 * 365)}
DIMENSIONS = {"followers": "followers", "account_age_days": "account age (days)"}  # as read
ENGAGED_QUANTILE = 0.75


def _band_names(edges) -> list[str]:
    return [f"{lo:,}–{hi - 1:,}" for lo, hi in zip(edges, edges[1:], strict=False)] \
        + [f"{edges[-1]:,}+"]


def fairness_table(model: InfluenceModel, test: pd.DataFrame,
                   truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per dimension and band (see the module's docstring for the columns)."""
    rows = realised_engagement(model, test)
    bands = {column: edges for column, edges in BANDS.items() if column in rows}
    frame = rows[["account_id", "realised", *bands]].assign(
        score=model.score(rows)["score"].to_numpy())
    frame["gap_realised"] = score_gap(frame["score"], frame["realised"],
                                      pd.Series(True, index=frame.index))
    if truth is not None:
        reference = truth_of(model, truth)
        frame = frame.merge(truth[["account_id", "role", reference]], on="account_id")
        genuine = frame["role"] == "genuine"
        frame["gap_truth"] = score_gap(frame["score"], frame[reference], genuine)
    engaged = frame["realised"] >= frame["realised"].quantile(ENGAGED_QUANTILE)
    out = []
    for dimension, edges in bands.items():
        band = pd.cut(frame[dimension], [*edges, np.inf], right=False, labels=_band_names(edges))
        for name, group in frame.groupby(band, observed=True):
            row = {"dimension": dimension, "band": name, "accounts": len(group),
                   "score_q25": group["score"].quantile(0.25),
                   "score_median": group["score"].median(),
                   "score_q75": group["score"].quantile(0.75),
                   "realised_median": group["realised"].median(),
                   "engaged_accounts": int(engaged[group.index].sum()),
                   "engaged_median_score": group.loc[engaged[group.index], "score"].median(),
                   "spearman_realised": spearman(group["score"], group["realised"])
                   if len(group) > 2 else np.nan,
                   "gap_realised": group["gap_realised"].mean(),
                   "gap_realised_se": group["gap_realised"].sem()}
            if "gap_truth" in group:
                row |= {"gap_truth": group["gap_truth"].mean(),
                        "gap_truth_se": group["gap_truth"].sem()}
            out.append(row)
    return pd.DataFrame(out)


def fairness_plot(table: pd.DataFrame) -> Figure:
    """Per dimension: the score's quartiles per band, and the median of its highly engaged
    accounts."""
    dimensions = list(dict.fromkeys(table["dimension"]))
    fig = Figure(figsize=(5 * len(dimensions), 4))
    for ax, dimension in zip(np.atleast_1d(fig.subplots(1, len(dimensions))), dimensions,
                             strict=True):
        rows = table[table["dimension"] == dimension].reset_index(drop=True)
        x = np.arange(len(rows))
        ax.vlines(x, rows["score_q25"], rows["score_q75"], lw=6, color="tab:blue", alpha=0.4,
                  label="score, middle half")
        ax.scatter(x, rows["score_median"], c="tab:blue", label="score, median", zorder=3)
        ax.scatter(x, rows["engaged_median_score"], c="tab:red", marker="^", zorder=3,
                   label="median of highly engaged accounts")
        ax.set_xticks(x, [f"{b}\n({n:,})" for b, n in zip(rows["band"], rows["accounts"],
                                                           strict=True)], fontsize=8)
        name = DIMENSIONS.get(dimension, dimension)
        ax.set(xlabel=f"{name}: band (accounts)", ylabel="score", ylim=(0, 101),
               title=f"Score by {name}")
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
