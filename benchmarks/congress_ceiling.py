"""How far a 14-day holdout of Congress lets any predictor go: simple history estimators and the
split-half reliability of the label itself.

    python benchmarks/congress_ceiling.py [--path ../shared/data/congress] [--cutoff 2016-04-18]

For the accounts with original posts in [cutoff, cutoff + 14 days), prints the Spearman
correlation between their mean retweets per post there and simple estimates from the posts
before the cutoff (mean, mean of log1p, 75th percentile, over 90 and 365 days), and the
split-half reliability of the label: posts of the horizon split at random into two halves, the
Spearman of the halves' means, and the Spearman-Brown estimate for the whole horizon. A
predictor cannot correlate with a label better than about the square root of its reliability.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from clout.data.loaders import load_congress


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", default="../shared/data/congress")
    parser.add_argument("--cutoff", default="2016-04-18")  # the congress experiment's test cutoff
    args = parser.parse_args()
    if not Path(args.path).is_dir():
        print(f"skipping: no Congress data at {args.path}")
        return
    posts = load_congress(args.path).posts
    posts = posts[~posts["is_repost"].astype(bool) & posts["retweets"].notna()]
    posts = posts.assign(log_retweets=np.log1p(posts["retweets"].astype(float)))
    cutoff = pd.Timestamp(args.cutoff, tz="UTC")
    horizon = posts[(posts["created_at"] >= cutoff)
                    & (posts["created_at"] < cutoff + pd.Timedelta(days=14))]
    label = horizon.groupby("account_id")["retweets"].mean().rename("label")

    rows = []
    for days in (90, 365):
        before = posts[(posts["created_at"] < cutoff)
                       & (posts["created_at"] >= cutoff - pd.Timedelta(days=days))]
        history = before.groupby("account_id").agg(
            mean=("retweets", "mean"), log_mean=("log_retweets", "mean"),
            q75=("retweets", lambda x: x.quantile(0.75)))
        joined = history.join(label, how="inner")
        rows += [{"estimate": f"{name} over {days} days", "accounts": len(joined),
                  "spearman": spearmanr(joined[name], joined["label"]).statistic}
                 for name in history.columns]
    halves = horizon.assign(half=np.random.default_rng(0).integers(0, 2, len(horizon)))
    split = halves.pivot_table(index="account_id", columns="half", values="retweets",
                               aggfunc="mean").dropna()
    half = spearmanr(split[0], split[1]).statistic
    whole = 2 * half / (1 + half)
    rows += [{"estimate": "label split-half reliability", "accounts": len(split),
              "spearman": half},
             {"estimate": "label reliability, whole horizon (Spearman-Brown)",
              "accounts": len(split), "spearman": whole},
             {"estimate": "ceiling for any predictor, about sqrt(reliability)",
              "accounts": len(split), "spearman": np.sqrt(whole)}]
    print(f"Congress, retweets per original post, horizon {cutoff:%Y-%m-%d} + 14 days")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
