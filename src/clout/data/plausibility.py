"""Is the simulator plausible? Compare its distributions with the Congress timelines.

Two distributions, on the simulated accounts most like Congress's: established (created before
the window), genuine (no bots, fakes or follower buyers) and notable (the most-followed
`NOTABLE_SHARE` of them: Congress members are the visible tail of their network, not its typical
user):
- followers per account, by shape: log10(quantile / median). A simulated world of thousands of
  accounts cannot give Congress's absolute counts (median ~10k), but it should give the same
  spread and tail;
- retweets per original post, in absolute terms on a log1p scale, plus the share of posts with
  none: engagement per post is what the heads learn, so its level matters.
Tolerances are stated in `TOLERANCES`; the table says which rows pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clout.data.dataset import Dataset

NOTABLE_SHARE = 0.3
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
#: (statistic, quantile) -> largest allowed |simulated - congress|
TOLERANCES = {
    "followers: log10(q / median)": {0.1: 0.3, 0.25: 0.25, 0.75: 0.25, 0.9: 0.3, 0.99: 0.6},
    "retweets per original post: log1p(q)": {0.25: 0.5, 0.5: 0.5, 0.75: 0.5, 0.9: 0.5, 0.99: 0.8},
    "retweets per original post: share zero": {None: 0.1},
}


def _follower_shape(followers: pd.Series) -> dict:
    q = followers.quantile(list(QUANTILES))
    median = max(q[0.5], 1)
    return {p: float(np.log10(max(q[p], 1) / median)) for p in QUANTILES if p != 0.5}


def _retweet_stats(retweets: pd.Series) -> dict:
    q = retweets.quantile(list(QUANTILES))
    return {p: float(np.log1p(q[p])) for p in QUANTILES if p not in (0.1,)}


def congress_statistics(congress: Dataset) -> dict[str, dict]:
    originals = congress.posts[~congress.posts["is_repost"].astype(bool)]
    retweets = originals["retweets"].astype(float)
    return {
        "followers: log10(q / median)": _follower_shape(congress.accounts["followers_count"]),
        "retweets per original post: log1p(q)": _retweet_stats(retweets),
        "retweets per original post: share zero": {None: float((retweets == 0).mean())},
    }


def simulated_statistics(sim: Dataset, truth: pd.DataFrame, window_start: pd.Timestamp) -> dict:
    established = truth.loc[truth["role"].isin(["genuine", "ring"]),
                            "account_id"]
    accounts = sim.accounts.set_index("account_id").loc[established]
    established = accounts.index[accounts["created_at"] < window_start]
    followers = sim.follows["followee_id"].value_counts().reindex(established, fill_value=0)
    followers = followers[followers >= followers.quantile(1 - NOTABLE_SHARE)]
    posts = sim.posts[sim.posts["account_id"].isin(followers.index)]
    retweeted = sim.engagements.loc[sim.engagements["kind"] == "retweet", "post_id"]
    retweets = retweeted.value_counts().reindex(posts["post_id"], fill_value=0).astype(float)
    return {
        "followers: log10(q / median)": _follower_shape(followers),
        "retweets per original post: log1p(q)": _retweet_stats(retweets),
        "retweets per original post: share zero": {None: float((retweets == 0).mean())},
    }


def compare(sim: Dataset, truth: pd.DataFrame, congress: Dataset,
            window_start: pd.Timestamp) -> pd.DataFrame:
    """One row per (statistic, quantile): congress, simulated, difference, tolerance, ok."""
    real, fake = congress_statistics(congress), simulated_statistics(sim, truth, window_start)
    rows = []
    for stat, tolerances in TOLERANCES.items():
        for q, tol in tolerances.items():
            diff = fake[stat][q] - real[stat][q]
            rows.append({"statistic": stat, "quantile": q, "congress": real[stat][q],
                         "simulated": fake[stat][q], "difference": diff, "tolerance": tol,
                         "ok": abs(diff) <= tol})
    return pd.DataFrame(rows)
