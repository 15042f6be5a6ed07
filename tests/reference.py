"""The test oracle: a slow, plain pandas implementation of some features, written straight from
their catalogue definitions on the raw contract tables. Tests check the fast Polars path against
it; benchmarks/features.py measures the speed ratio. Not part of the package."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clout.data.dataset import Dataset

REFERENCE_FEATURES = ("posts_{w}d", "active_days_{w}d", "days_since_last_post",
                      "retweets_per_post_{w}d", "retweets_per_post_log1p_{w}d",
                      "unique_engagers_{w}d", "followers", "engager_concentration_{w}d",
                      "label_posts_{h}d", "label_retweets_{h}d")


def reference_features(dataset: Dataset, cutoff: pd.Timestamp, windows=(7, 28, 90),
                       horizon_days: int = 14) -> pd.DataFrame:
    """The REFERENCE_FEATURES of every account with a post or engagement before `cutoff`,
    indexed by account_id. Needs posts, engagement events and follows."""
    day = pd.Timedelta(days=1)
    posts, events, follows = dataset.posts, dataset.engagements, dataset.follows
    before = posts[posts["created_at"] < cutoff]
    seen = pd.concat([before["account_id"],
                      events.loc[events["created_at"] < cutoff, "account_id"],
                      events.loc[events["created_at"] < cutoff, "actor_id"]]).unique()
    out = pd.DataFrame(index=pd.Index(sorted(seen), name="account_id"))
    last = before.groupby("account_id")["created_at"].max()
    out["days_since_last_post"] = (cutoff - last.dt.floor("D")) / day
    follows_before = follows[follows["created_at"] < cutoff]
    out["followers"] = follows_before.groupby("followee_id").size()
    out["followers"] = out["followers"].fillna(0)
    engaged = events[events["actor_id"] != events["account_id"]]
    for w in windows:
        start = cutoff - w * day
        window_posts = before[before["created_at"] >= start]
        out[f"posts_{w}d"] = window_posts.groupby("account_id").size()
        out[f"posts_{w}d"] = out[f"posts_{w}d"].fillna(0)
        out[f"active_days_{w}d"] = (window_posts.assign(d=window_posts["created_at"].dt.floor("D"))
                                    .groupby("account_id")["d"].nunique())
        out[f"active_days_{w}d"] = out[f"active_days_{w}d"].fillna(0)
        in_window = events[(events["created_at"] >= start) & (events["created_at"] < cutoff)]
        retweets = in_window[in_window["kind"] == "retweet"].groupby("account_id").size()
        out[f"retweets_per_post_{w}d"] = (retweets.reindex(out.index, fill_value=0)
                                          / out[f"posts_{w}d"].where(out[f"posts_{w}d"] > 0))
        # per window post: log(1 + its retweets before the cutoff), then the mean per account
        retweets_before = events[(events["created_at"] < cutoff) & (events["kind"] == "retweet")
                                 ].groupby("post_id").size()
        per_post = np.log1p(retweets_before.reindex(window_posts["post_id"], fill_value=0))
        out[f"retweets_per_post_log1p_{w}d"] = (
            pd.Series(per_post.to_numpy(), index=window_posts["account_id"])
            .groupby(level=0).mean())
        pairs = engaged[(engaged["created_at"] >= start) & (engaged["created_at"] < cutoff)]
        per_pair = pairs.groupby(["account_id", "actor_id"]).size()
        out[f"unique_engagers_{w}d"] = per_pair.groupby(level="account_id").size()
        out[f"unique_engagers_{w}d"] = out[f"unique_engagers_{w}d"].fillna(0)
        share = per_pair / per_pair.groupby(level="account_id").transform("sum")
        out[f"engager_concentration_{w}d"] = (share**2).groupby(level="account_id").sum()
    end = cutoff + horizon_days * day
    horizon = posts[(posts["created_at"] >= cutoff) & (posts["created_at"] < end)]
    out[f"label_posts_{horizon_days}d"] = horizon.groupby("account_id").size()
    on_horizon_posts = events[events["post_id"].isin(horizon["post_id"])
                              & (events["created_at"] < end) & (events["kind"] == "retweet")]
    out[f"label_retweets_{horizon_days}d"] = on_horizon_posts.groupby("account_id").size()
    labels = [f"label_posts_{horizon_days}d", f"label_retweets_{horizon_days}d"]
    out[labels] = out[labels].fillna(0)
    return out
