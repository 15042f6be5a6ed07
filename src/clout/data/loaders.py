"""Adapters that turn the public datasets (see ../shared/data/README.md) into the contract.

Each loader reads the raw files, never changes them, and returns a `Dataset` built with
`conform`, so its tables have exactly the contract's columns and dtypes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from clout.data.dataset import Dataset
from clout.data.schema import conform
from clout.errors import DataError, MissingFile

TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"  # e.g. "Tue May 03 15:01:09 +0000 2016"


def _require(path: Path, *names: str) -> None:
    missing = [n for n in names if not (path / n).exists()]
    if missing:
        raise MissingFile(f"{path} lacks {', '.join(missing)}; see ../shared/data/README.md")


def load_congress(path: str | Path, engagements: bool = False) -> Dataset:
    """Congress timelines: accounts with one profile snapshot, posts with observed counts.

    Profile counters and post counts were observed at collection time (May 2016), so they are
    marked with `observed_at` / `counts_observed_at`: features at an earlier cutoff must not use
    them. Retweet rows are kept as posts with `is_repost=True` and no counts, because their counts
    belong to the retweeted tweet, not to this account. No follower graph; events only with
    `engagements` (`congress_engagements`: the accounts' engagement of one another).
    """
    path = Path(path)
    _require(path, "profiles.csv", "tweets.csv.gz")
    profiles = pd.read_csv(path / "profiles.csv")
    tweets = pd.read_csv(path / "tweets.csv.gz")
    # The profiles were crawled once, in May 2016; `snapshot_at` is only each account's latest
    # tweet (2013 for some). Counters were seen at the crawl, so the crawl's last time is when
    # they were observed: an earlier time would let a 2014 feature read 2016 counters.
    crawled_at = pd.to_datetime(profiles["snapshot_at"], format=TWITTER_TIME, utc=True).max()
    accounts = pd.DataFrame({
        "account_id": profiles["user_id"],
        "network": "twitter",
        "created_at": pd.to_datetime(profiles["created_at"], format=TWITTER_TIME, utc=True),
        "followers_count": profiles["followers_count"],
        "following_count": profiles["friends_count"],
        "listed_count": profiles["listed_count"],
        "posts_count": profiles["statuses_count"],
        "verified": profiles["verified"].astype(bool),
        "observed_at": crawled_at,
        "community": congress_communities(path).reindex(profiles["user_id"]).to_numpy(),
    })
    is_repost = tweets["is_retweet"].astype(bool)
    received = ~is_repost  # counts of a retweet row are the original tweet's
    posts = pd.DataFrame({
        "post_id": tweets["tweet_id"],
        "account_id": tweets["user_id"],
        "created_at": pd.to_datetime(tweets["created_at"], format=TWITTER_TIME, utc=True),
        "has_link": tweets["n_urls"] > 0,
        "has_media": tweets["has_media"].astype(bool),
        "is_reply": tweets["is_reply"].astype(bool),
        "is_repost": is_repost,
        "is_quote": tweets["is_quote"].astype(bool),
        "length_chars": tweets["text_len"],
        "retweets": tweets["retweet_count"].where(received).astype("Int64"),
        "likes": tweets["favorite_count"].where(received).astype("Int64"),
        "counts_observed_at": pd.Series(crawled_at, index=tweets.index).where(received),
    })
    events = congress_engagements(path, accounts["account_id"]) if engagements else None
    return Dataset(accounts=conform(accounts, "accounts"), posts=conform(posts, "posts"),
                   engagements=None if events is None else conform(events, "engagements"))


def congress_communities(path: Path) -> pd.Series:
    """Each legislator's party and chamber ("D House", "R Senate"; delegates and the resident
    commissioner sit in the House) by account id, from `legislators.csv` (none without it)."""
    if not (path / "legislators.csv").exists():
        return pd.Series(dtype="string")
    legislators = pd.read_csv(path / "legislators.csv", usecols=["user_id", "title", "party"])
    chamber = legislators["title"].map({"Sen": "Senate"}).fillna("House")
    return pd.Series((legislators["party"] + " " + chamber).to_numpy(),
                     index=legislators["user_id"], dtype="string")


def congress_engagements(path: Path, ids: pd.Series) -> pd.DataFrame:
    """The Congress accounts' engagement of one another, from `text.parquet`: who retweeted,
    quoted or replied to whom (on the post, when it is in the timelines), and who mentioned whom
    in a post of their own (a retweet's or reply's mention of its author is that retweet or
    reply, not another event). Engaging oneself is not engagement."""
    _require(path, "text.parquet")
    text = pd.read_parquet(path / "text.parquet", columns=[
        "tweet_id", "user_id", "created_at", "mentioned_user_ids", "in_reply_to_user_id",
        "in_reply_to_tweet_id", "retweeted_user_id", "retweeted_tweet_id", "quoted_user_id",
        "quoted_tweet_id"])
    text["created_at"] = pd.to_datetime(text["created_at"], format=TWITTER_TIME, utc=True)
    known = text["tweet_id"]
    events = [pd.DataFrame({
        "actor_id": text["user_id"], "account_id": text[f"{target}_user_id"], "kind": kind,
        "post_id": text[f"{target}_tweet_id"].where(text[f"{target}_tweet_id"].isin(known)),
        "created_at": text["created_at"], "tweet_id": text["tweet_id"]})
        for kind, target in (("retweet", "retweeted"), ("quote", "quoted"),
                             ("reply", "in_reply_to"))]
    named = text[["tweet_id", "user_id", "created_at", "mentioned_user_ids"]].assign(
        account_id=text["mentioned_user_ids"].str.split("|")).explode("account_id")
    named = named[named["account_id"].fillna("").str.len() > 0]
    events.append(pd.DataFrame({
        "actor_id": named["user_id"], "account_id": named["account_id"].astype("int64"),
        "kind": "mention", "post_id": pd.NA, "created_at": named["created_at"],
        "tweet_id": named["tweet_id"]}))
    events = pd.concat(events, ignore_index=True).dropna(subset="account_id")
    events = events[events["account_id"].isin(ids) & (events["actor_id"] != events["account_id"])]
    # one event per tweet and engaged account: the retweet, quote or reply before the mention
    events = events.drop_duplicates(["tweet_id", "account_id"], keep="first")
    return events.drop(columns="tweet_id").astype({"account_id": "int64", "post_id": "Int64"})


HIGGS_KINDS = {"RT": "retweet", "MT": "mention", "RE": "reply"}


def load_higgs(path: str | Path) -> Dataset:
    """SNAP Higgs activity: retweet, mention and reply events between anonymous accounts.

    No posts (events carry no post id), no profiles, no follower graph. The weekly edge lists are
    aggregates of these same events and are not loaded.
    """
    path = Path(path)
    _require(path, "higgs-activity_time.txt.gz")
    events = pd.read_csv(path / "higgs-activity_time.txt.gz", sep=" ",
                         names=["user_a", "user_b", "unix_time", "kind"])
    unknown = sorted(set(events["kind"]) - set(HIGGS_KINDS))
    if unknown:
        raise DataError(f"higgs activity has unknown kinds {unknown}; "
                         f"expected {list(HIGGS_KINDS)}")
    ids = np.unique(np.concatenate([events["user_a"], events["user_b"]]))
    accounts = pd.DataFrame({"account_id": ids, "network": "twitter"})
    engagements = pd.DataFrame({
        "actor_id": events["user_a"],
        "account_id": events["user_b"],
        "kind": pd.Categorical(events["kind"].map(HIGGS_KINDS)),
        "created_at": pd.to_datetime(events["unix_time"], unit="s", utc=True),
    })
    return Dataset(accounts=conform(accounts, "accounts"),
                   engagements=conform(engagements, "engagements"))


UPWORTHY_ACCOUNT_ID = 1


def load_upworthy(path: str | Path) -> Dataset:
    """Upworthy Research Archive: headline packages shown in randomised tests, with impressions
    and clicks. One account (the site); each package is a post, each test a `campaign_id`, so a
    click model can compare headlines that competed for the same visitors.

    A package's time is the Monday of its test week; its counts are taken as observed at the end
    of that week. `post_id` is the package's row number in the archive file.
    """
    path = Path(path)
    _require(path, "upworthy_clean.parquet")
    packages = pd.read_parquet(path / "upworthy_clean.parquet")
    week_start = pd.to_datetime(packages["test_week"].astype(str) + "-1", format="%Y%W-%w",
                                utc=True)
    accounts = pd.DataFrame({"account_id": [UPWORTHY_ACCOUNT_ID], "network": "upworthy"})
    posts = pd.DataFrame({
        "post_id": np.arange(1, len(packages) + 1),
        "account_id": UPWORTHY_ACCOUNT_ID,
        "created_at": week_start,
        "has_link": True,
        "has_media": packages["eyecatcher_id"].notna(),
        "length_chars": packages["headline"].str.len(),
        "campaign_id": packages["clickability_test_id"],
        "impressions": packages["impressions"],
        "clicks": packages["clicks"],
        "counts_observed_at": week_start + pd.Timedelta(days=7),
    })
    return Dataset(accounts=conform(accounts, "accounts"), posts=conform(posts, "posts"))


LOADERS: dict[str, Callable[[str | Path], Dataset]] = {
    "congress": load_congress, "higgs": load_higgs, "upworthy": load_upworthy,
}

#: Sources whose events say who engaged while their heads learn from counts: the source with
#: those events, which topics and audiences read (`clout.scoring.topics`), never the features.
WITNESSED: dict[str, Callable[[Path], Dataset]] = {
    "congress": lambda path: load_congress(path, engagements=True),
}
