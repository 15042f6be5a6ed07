"""Point-in-time features and horizon labels, one row per (account, cutoff).

Two stages, both on Polars:
1. `partials`: per-day aggregates, computed once per dataset (posts per account-day, engagement
   received per account-day and kind, engagements per engaged-engager-day, follows per day, ...).
2. `features_at` / `labels_at`: for each cutoff T, sums of those partials over each window
   [T - w, T) and a few graph computations, for the accounts that exist at T.

Nothing at or after T enters a feature at T (a property test checks this on random data); labels
read [T, T + horizon). The column names and definitions come from `catalogue.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from clout.data.dataset import Dataset
from clout.features.catalogue import (
    CREATED,
    DEPTH,
    EVENTS,
    FEATURES,
    FOLLOWS,
    LABELS,
    PAGERANK_DAMPING,
    PLURAL,
    POSTS,
    RECEIVED,
    RECENCY_HALF_LIFE_DAYS,
    SNAPSHOT,
    TOPICS,
    Feature,
)
from clout.features.network import pagerank
from clout.features.tables import (
    COUNT_KINDS,
    INDEX,
    KIND,
    SNAPSHOT_COLUMNS,
    Tables,
    tables_from_dataset,
    tables_from_directory,
)

EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


class FeatureConfig(BaseModel):
    """How to build the feature table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    windows: tuple[int, ...] = Field((7, 28, 90), description="window lengths in days")
    horizon_days: int = Field(14, ge=1, description="labels read [T, T + horizon)")
    settle_days: int = Field(
        3, ge=0, description="count-only sources: a post's counts are used once it is this old")
    include_leaking: bool = Field(False, description="add features observed after the cutoff")

    @field_validator("windows")
    @classmethod
    def _positive_sorted(cls, windows):
        if not windows or min(windows) < 1:
            raise ValueError("windows must be one or more positive numbers of days")
        return tuple(sorted(set(windows)))


# ---------------------------------------------------------------------------------------------
# which catalogue features a source gets

def _applicable(specs: Sequence[Feature], tables: Tables, include_leaking: bool):
    return [f for f in specs if set(f.needs) <= tables.offers and (include_leaking or not f.leaks)]


def feature_columns(tables: Tables, config: FeatureConfig) -> list[str]:
    """The feature columns this source gets, in catalogue order."""
    return [c for f in _applicable(FEATURES, tables, config.include_leaking)
            for c in f.columns(config.windows, tables.kinds)]


def label_columns(tables: Tables, config: FeatureConfig) -> list[str]:
    h = str(config.horizon_days)
    return [c.replace("{h}", h) for f in _applicable(LABELS, tables, False)
            for c in f.columns((), tables.event_kinds if EVENTS in f.needs else tables.kinds)]


# ---------------------------------------------------------------------------------------------
# stage 1: per-day partial aggregates, once per dataset

@dataclass
class Partials:
    first_seen: pl.DataFrame  # account_id, first_day (created, or first activity)
    post_days: pl.DataFrame | None
    topic_days: pl.DataFrame | None
    received_days: pl.DataFrame | None  # account_id, day, <kinds>, event/settled_posts, depth
    pair_days: pl.DataFrame | None  # pair (engaged x n + engager), day, n; sorted
    first_pairs: pl.DataFrame | None  # pair, first_day
    first_retweets: pl.DataFrame | None  # account_id, post_day, first_retweet_day
    label_events: pl.DataFrame | None  # account_id, post_day, kind, day (of the event), n
    # one row per post whose engagement can be seen, from seen_day on (counts: their values)
    seen_posts: pl.DataFrame | None  # account_id, post_id, post_day, seen_day, [<count kinds>]
    post_event_days: pl.DataFrame | None  # account_id, post_id, post_day, kind, day, n
    # events from an engager the author engaged with at some time; reverse: that pair's key
    traded_events: pl.DataFrame | None  # account_id, post_day, kind, day, reverse, n
    follow_days: pl.DataFrame | None  # follower_id, followee_id, day


def partials(tables: Tables, config: FeatureConfig) -> Partials:
    """All per-day aggregates, planned lazily and computed together (Polars runs the plans in
    parallel and fuses joins with the group-bys after them)."""
    posts = None if tables.posts is None else tables.posts.lazy()
    events = None if tables.events is None else tables.events.lazy()
    settle = config.settle_days
    pair_days = None if events is None else _pair_days(events, len(tables.ids))
    plans = {
        "first_seen": _first_seen(tables),
        "post_days": None if posts is None else _post_days(posts),
        "topic_days": None if posts is None else (
            posts.drop_nulls("topic").group_by("account_id", "day", "topic").len("n")),
        "received_days": _received_days(tables, settle) if tables.kinds else None,
        "pair_days": pair_days,
        "first_pairs": None if pair_days is None else (
            pair_days.group_by("pair").agg(pl.col("day").min().alias("first_day"))),
        "first_retweets": _first_retweets(tables, settle),
        "label_events": _label_events(tables),
        "seen_posts": _seen_posts(tables, settle) if tables.kinds else None,
        "post_event_days": None if posts is None or events is None else (
            events.drop_nulls("post_id")
            .join(posts.select("post_id", pl.col("day").alias("post_day")), on="post_id")
            .group_by("account_id", "post_id", "post_day", "kind", "day").len("n")
            .with_columns(pl.col("n").cast(pl.Int64))),
        "traded_events": None if pair_days is None or posts is None else _traded_events(tables),
    }
    planned = [name for name, plan in plans.items() if plan is not None]
    done = dict(zip(planned, pl.collect_all([in_order(n, plans[n]) for n in planned]),
                    strict=True))
    return Partials(**{name: done.get(name) for name in plans}, follow_days=tables.follows)


# Partials are sorted, so that every later float sum adds its terms in the same order: the same
# data then gives bit-identical features, run after run (group-by output order is not fixed),
# and however the partials were computed (in one piece, or per account partition).
PARTIAL_ORDER = {"first_seen": ["account_id"], "pair_days": ["pair", "day"],
                 "first_pairs": ["pair"],
                 "first_retweets": ["account_id", "post_day", "first_retweet_day"],
                 "label_events": ["account_id", "post_day", "kind", "day"],
                 "seen_posts": ["account_id", "post_day", "post_id"],
                 "post_event_days": ["account_id", "post_day", "post_id", "kind", "day"],
                 "traded_events": ["account_id", "post_day", "kind", "day", "reverse"],
                 "topic_days": ["account_id", "day", "topic"]}


def in_order(name: str, frame):
    """A partial (eager or lazy) in its fixed order, flagged as sorted on its first key: later
    group-bys on it then take Polars' sorted path (fast, and summing in this order)."""
    keys = PARTIAL_ORDER.get(name, ["account_id", "day"])
    return frame.sort(keys).with_columns(pl.col(keys[0]).set_sorted())


_DAY_BITS = 16  # a day number (days since 1970) fits in 16 bits until 2149


def pair_key(engaged: pl.Expr, engager: pl.Expr, n_accounts: int) -> pl.Expr:
    """One int64 per (engaged account, engager) pair of dense indices."""
    return engaged.cast(pl.Int64) * n_accounts + engager


def _pair_days(events: pl.LazyFrame, n_accounts: int) -> pl.LazyFrame:
    """Engagements per (engaged, engager, day), self-engagement left out, sorted by pair then
    day. Packs the three into one int64 and counts runs after a sort: several times faster than
    a three-key group-by."""
    pairs = events.filter(pl.col("actor_id") != pl.col("account_id")).select(
        pair_key(pl.col("account_id"), pl.col("actor_id"), n_accounts).alias("pair"), "day")
    if n_accounts >= 2 ** ((63 - _DAY_BITS) // 2):  # keys would overflow: the slow way
        return pairs.group_by("pair", "day").len("n").sort("pair", "day")
    runs = (pairs.select(pl.col("pair") * 2**_DAY_BITS + pl.col("day"))
            .sort("pair").select(pl.col("pair").rle()).unnest("pair"))
    return runs.select((pl.col("value") // 2**_DAY_BITS).alias("pair"),
                       (pl.col("value") % 2**_DAY_BITS).cast(pl.Int32).alias("day"),
                       pl.col("len").cast(pl.Int64).alias("n"))


def _first_seen(tables: Tables) -> pl.LazyFrame:
    """When each account is first known to exist: created, or first seen acting or acted on."""
    seen = [tables.accounts.lazy().select("account_id", pl.col("created_day").alias("day"))]
    if tables.posts is not None:
        seen.append(tables.posts.lazy().select("account_id", "day"))
    if tables.events is not None:
        seen += [tables.events.lazy().select("account_id", "day"),
                 tables.events.lazy().select(pl.col("actor_id").alias("account_id"), "day")]
    if tables.follows is not None:
        seen += [tables.follows.lazy().select(pl.col(c).alias("account_id"), "day")
                 for c in ("follower_id", "followee_id")]
    return (pl.concat(seen).drop_nulls("day").group_by("account_id")
            .agg(pl.col("day").min().alias("first_day")))


def _post_days(posts: pl.LazyFrame) -> pl.LazyFrame:
    return posts.group_by("account_id", "day").agg(
        pl.len().alias("posts"),
        pl.any_horizontal(pl.col(list(COUNT_KINDS)).is_not_null()).sum().alias("counted_posts"),
        pl.col("has_link").sum().alias("link_posts"),
        pl.col("has_media").sum().alias("media_posts"),
        pl.col("is_reply").sum().alias("reply_posts"),
        pl.col("is_repost").sum().alias("repost_posts"),
        pl.col("length_chars").sum().alias("length_sum"),
        pl.col("length_chars").count().alias("length_known"),
    )


def _received_days(tables: Tables, settle: int) -> pl.LazyFrame:
    """Engagement received per account-day and kind, with the posts each per-post rate divides
    by. Events count on the day they happen; counts known only per post count `settle` days after
    the post, as do the posts they divide by."""
    parts = []
    posts = None if tables.posts is None else tables.posts.lazy()
    if tables.events is not None:
        counts = tables.events.lazy().group_by("account_id", "day").agg(
            *(pl.col("kind").eq(k).sum().alias(PLURAL[k]) for k in tables.event_kinds),
            pl.col("kind").eq("retweet").and_(pl.col("cascade_depth").is_not_null()).sum()
            .alias("depth_known_retweets"),
            pl.col("kind").eq("retweet").and_(pl.col("cascade_depth") >= 2).sum()
            .alias("second_hand_retweets"))
        if posts is not None:  # event rates divide by the posts of the same days
            counts = counts.join(posts.group_by("account_id", "day").len("event_posts"),
                                 on=["account_id", "day"], how="full", coalesce=True)
        parts.append(counts)
    if tables.count_kinds:
        counted = {c: k for c, k in COUNT_KINDS.items() if k in tables.count_kinds}
        settled = (posts.filter(pl.any_horizontal(pl.col(list(counted)).is_not_null()))
                   .group_by("account_id", (pl.col("day") + settle).alias("day"))
                   .agg(*(pl.col(c).sum() for c in counted), pl.len().alias("settled_posts")))
        parts.append(settled)
    received = parts[0]
    for part in parts[1:]:
        received = received.join(part, on=["account_id", "day"], how="full", coalesce=True)
    return received.fill_null(0)


def _rate_posts_column(kind: str, tables: Tables) -> str:
    return "settled_posts" if kind in tables.count_kinds else "event_posts"


def _first_retweets(tables: Tables, settle: int) -> pl.LazyFrame | None:
    """Per post: the day it was first known to be retweeted (null if never)."""
    if tables.posts is None or "retweet" not in tables.kinds:
        return None
    if "retweet" in tables.event_kinds:
        first = (tables.events.lazy().filter(pl.col("kind") == "retweet").drop_nulls("post_id")
                 .group_by("post_id").agg(pl.col("day").min().alias("first_retweet_day")))
        posts = tables.posts.lazy().select("post_id", "account_id", pl.col("day").alias("post_day"))
        return posts.join(first, on="post_id", how="left").drop("post_id")
    # counts only: a retweeted post is known as such once its counts have settled
    return tables.posts.lazy().select(
        "account_id", pl.col("day").alias("post_day"),
        pl.when(pl.col("retweets") > 0).then(pl.col("day") + settle).alias("first_retweet_day"))


def _seen_posts(tables: Tables, settle: int) -> pl.LazyFrame | None:
    """The posts whose engagement can be seen, and from when: at once where events are known,
    once their counts have settled where only counts are (with the counts)."""
    if tables.posts is None:
        return None
    posts = tables.posts.lazy()
    if not tables.count_kinds:
        return posts.select("account_id", "post_id", pl.col("day").alias("post_day"),
                            pl.col("day").alias("seen_day"))
    counted = [c for c, k in COUNT_KINDS.items() if k in tables.count_kinds]
    return posts.filter(pl.any_horizontal(pl.col(counted).is_not_null())).select(
        "account_id", "post_id", pl.col("day").alias("post_day"),
        (pl.col("day") + settle).alias("seen_day"), *(pl.col(c).fill_null(0) for c in counted))


def _label_events(tables: Tables) -> pl.LazyFrame | None:
    """Engagement on each post, per kind, by the day it happened (counts: all of it)."""
    if tables.posts is None or not tables.kinds:
        return None
    parts, posts = [], tables.posts.lazy()
    if tables.event_kinds:
        parts.append(
            tables.events.lazy().drop_nulls("post_id")
            .join(posts.select("post_id", pl.col("day").alias("post_day")), on="post_id")
            .group_by("account_id", "post_day", "kind", "day").len("n"))
    for column, kind in COUNT_KINDS.items():
        if kind in tables.count_kinds:
            parts.append(posts.drop_nulls(column).select(
                "account_id", pl.col("day").alias("post_day"),
                pl.lit(kind, dtype=KIND).alias("kind"), pl.col("day"),
                pl.col(column).cast(pl.UInt32).alias("n")))
    return pl.concat(parts, how="vertical_relaxed").with_columns(pl.col("n").cast(pl.Int64))


def _traded_events(tables: Tables) -> pl.LazyFrame:
    """Events on posts whose engager the author also engaged with, at some time: the only ones
    that can be traded engagement at a given cutoff (usually a small share)."""
    n = len(tables.ids)
    events = tables.events.lazy().drop_nulls("post_id").filter(
        pl.col("actor_id") != pl.col("account_id"))
    authors_engaging = events.select(
        pair_key(pl.col("account_id"), pl.col("actor_id"), n).alias("reverse")).unique()
    return (events.join(tables.posts.lazy().select("post_id", pl.col("day").alias("post_day")),
                        on="post_id")
            .with_columns(pair_key(pl.col("actor_id"), pl.col("account_id"), n).alias("reverse"))
            .join(authors_engaging, on="reverse", how="semi")
            .group_by("account_id", "post_day", "kind", "day", "reverse").len("n")
            .with_columns(pl.col("n").cast(pl.Int64)))


# ---------------------------------------------------------------------------------------------
# stage 2: one cutoff

def _in_window(frame: pl.DataFrame, start: int, end: int, day: str = "day") -> pl.DataFrame:
    return frame.filter((pl.col(day) >= start) & (pl.col(day) < end))


def _window_sums(frame, cutoff, windows, columns, day="day", by=("account_id",)):
    """Sum each column over each window [cutoff - w, cutoff): columns named `<col>@<w>`."""
    recent = _in_window(frame, cutoff - max(windows), cutoff, day)
    return recent.group_by(*by).agg(
        pl.col(c).filter(pl.col(day) >= cutoff - w).sum().alias(f"{c}@{w}")
        for c in columns for w in windows)


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator > 0).then(numerator / denominator)


def population(first_seen: pl.DataFrame, cutoff: int) -> pl.DataFrame:
    """Accounts known to exist before the cutoff (`first_seen`: a Partials field)."""
    return first_seen.filter(pl.col("first_day") < cutoff).select("account_id").sort("account_id")


def features_at(p: Partials, tables: Tables, cutoff: int, config: FeatureConfig,
                graph: Graph | None = None) -> pl.DataFrame:
    """Every applicable catalogue feature for the accounts that exist at `cutoff` (a day).
    `graph`: the whole engagement graph's part, when `p` is one account partition's."""
    windows, have = config.windows, tables.offers
    rows = population(p.first_seen, cutoff)
    parts = []
    if POSTS in have:
        parts.append(_activity_and_content(p, cutoff, windows, TOPICS in have))
    if RECEIVED in have:
        parts.append(_amplification(p, tables, cutoff, windows, have))
        if POSTS in have:
            parts.append(_log_amplification(p, tables, cutoff, windows))
    follows = None
    if FOLLOWS in have:
        follows = p.follow_days.filter(pl.col("day") < cutoff)
        parts.append(_follow_features(follows, cutoff, windows))
    if EVENTS in have:
        parts.append(_engager_features(p, rows, cutoff, windows, len(tables.ids), follows,
                                       graph))
    out = rows
    for part in parts:
        out = out.join(part, on="account_id", how="left")
    if CREATED in have:
        out = out.join(tables.accounts.select("account_id", "created_day"), on="account_id",
                       how="left").with_columns(
            (cutoff - pl.col("created_day")).alias("account_age_days")).drop("created_day")
    if SNAPSHOT in have and config.include_leaking:
        out = out.join(tables.accounts.select(
            "account_id", *(pl.col(c).alias("snapshot_" + c.removesuffix("_count"))
                            for c in SNAPSHOT_COLUMNS)), on="account_id", how="left")
    specs = _applicable(FEATURES, tables, config.include_leaking)
    columns = [c for f in specs for c in f.columns(windows, tables.kinds)]
    missing = sorted(set(columns) - set(out.columns))
    if missing:
        raise AssertionError(f"catalogued features not built: {missing}")
    zeros = [c for f in specs if f.zero_when_absent for c in f.columns(windows, tables.kinds)]
    return out.select("account_id", *columns).with_columns(pl.col(zeros).fill_null(0))


def _activity_and_content(p: Partials, cutoff, windows, topics: bool) -> pl.DataFrame:
    # a post_days row is one active day of one account
    daily = p.post_days.with_columns(squared=pl.col("posts") ** 2, active_days=pl.lit(1))
    sums = _window_sums(daily, cutoff, windows,
                        ["posts", "squared", "active_days", "link_posts", "media_posts",
                         "reply_posts", "repost_posts", "length_sum", "length_known"])
    last = (p.post_days.filter(pl.col("day") < cutoff).group_by("account_id")
            .agg((cutoff - pl.col("day").max()).alias("days_since_last_post")))
    out = sums.join(last, on="account_id", how="full", coalesce=True)
    exprs = []
    for w in windows:
        posts = pl.col(f"posts@{w}").fill_null(0)
        mean = posts / w
        exprs += [
            posts.alias(f"posts_{w}d"),
            pl.col(f"active_days@{w}").fill_null(0).alias(f"active_days_{w}d"),
            _ratio((pl.col(f"squared@{w}") / w - mean**2).clip(0).sqrt(), mean)
            .alias(f"posting_burstiness_{w}d"),
            _ratio(pl.col(f"link_posts@{w}"), posts).alias(f"link_share_{w}d"),
            _ratio(pl.col(f"media_posts@{w}"), posts).alias(f"media_share_{w}d"),
            _ratio(pl.col(f"reply_posts@{w}"), posts).alias(f"reply_share_{w}d"),
            _ratio(pl.col(f"repost_posts@{w}"), posts).alias(f"repost_share_{w}d"),
            _ratio(pl.col(f"length_sum@{w}"), pl.col(f"length_known@{w}"))
            .alias(f"mean_post_length_{w}d"),
        ]
    out = out.select("account_id", "days_since_last_post", *exprs)
    if topics:
        out = out.join(_topic_entropy(p, cutoff, windows), on="account_id", how="left")
    return out


def _topic_entropy(p: Partials, cutoff, windows) -> pl.DataFrame:
    per_topic = _window_sums(p.topic_days, cutoff, windows, ["n"], by=("account_id", "topic"))
    per_topic = per_topic.sort("account_id", "topic")  # a fixed order for the float sums below
    out = per_topic.select("account_id").unique()
    for w in windows:
        share = pl.col(f"n@{w}") / pl.col(f"n@{w}").sum().over("account_id")
        entropy = (per_topic.filter(pl.col(f"n@{w}") > 0)
                   .group_by("account_id").agg((share * (1 / share).log(2)).sum()
                                               .alias(f"topic_entropy_{w}d")))
        out = out.join(entropy, on="account_id", how="left")
    return out


def _amplification(p: Partials, tables: Tables, cutoff, windows, have) -> pl.DataFrame:
    received = p.received_days
    kinds = [PLURAL[k] for k in tables.kinds]
    rate_posts = [c for c in ("event_posts", "settled_posts") if c in received.columns]
    depth = ["depth_known_retweets", "second_hand_retweets"] if DEPTH in have else []
    sums = _window_sums(received, cutoff, windows, kinds + rate_posts + depth)
    # recency-weighted rates over all history before the cutoff
    weight = 0.5 ** ((cutoff - 1 - pl.col("day")) / RECENCY_HALF_LIFE_DAYS)
    decayed = received.filter(pl.col("day") < cutoff).group_by("account_id").agg(
        (pl.col(c) * weight).sum().alias(f"{c}@decay") for c in kinds + rate_posts)
    out = sums.join(decayed, on="account_id", how="full", coalesce=True)
    exprs = []
    for kind in tables.kinds:
        name, denominator = PLURAL[kind], _rate_posts_column(kind, tables)
        for w in windows:
            exprs.append(pl.col(f"{name}@{w}").fill_null(0).alias(f"{name}_{w}d"))
            if POSTS in have:
                exprs.append(_ratio(pl.col(f"{name}@{w}"), pl.col(f"{denominator}@{w}"))
                             .alias(f"{name}_per_post_{w}d"))
        if POSTS in have:
            exprs.append(_ratio(pl.col(f"{name}@decay"), pl.col(f"{denominator}@decay"))
                         .alias(f"{name}_per_post_decay{RECENCY_HALF_LIFE_DAYS}d"))
    for w in windows if depth else ():
        exprs.append(_ratio(pl.col(f"second_hand_retweets@{w}"),
                            pl.col(f"depth_known_retweets@{w}"))
                     .alias(f"second_hand_retweet_share_{w}d"))
    out = out.select("account_id", *exprs)
    if p.first_retweets is not None:
        retweeted = p.first_retweets.with_columns(
            retweeted=pl.col("first_retweet_day") < cutoff).with_columns(
            pl.col("retweeted").fill_null(False), published=pl.lit(1))
        shares = _window_sums(retweeted, cutoff, windows, ["retweeted", "published"],
                              day="post_day")
        out = out.join(shares.select("account_id", *(
            _ratio(pl.col(f"retweeted@{w}"), pl.col(f"published@{w}"))
            .alias(f"retweeted_post_share_{w}d") for w in windows)), on="account_id", how="left")
    return out


def _log_amplification(p: Partials, tables: Tables, cutoff, windows) -> pl.DataFrame:
    """Per kind and window, the mean over the window's seen posts of log(1 + the engagement
    each post received before the cutoff)."""
    kinds = [PLURAL[k] for k in tables.kinds]
    posts = p.seen_posts.filter((pl.col("post_day") >= cutoff - max(windows))
                                & (pl.col("seen_day") < cutoff))
    if p.post_event_days is not None and tables.event_kinds:
        received = (_in_window(p.post_event_days, cutoff - max(windows), cutoff, "post_day")
                    .filter(pl.col("day") < cutoff).group_by("post_id")
                    .agg(pl.col("n").filter(pl.col("kind") == k).sum().alias(PLURAL[k])
                         for k in tables.event_kinds))
        posts = posts.join(received, on="post_id", how="left")
    logs = (posts.select("account_id", "post_day", "post_id", pl.lit(1).alias("seen"),
                         *(pl.col(k).fill_null(0).log1p().alias(f"log_{k}") for k in kinds))
            .sort("account_id", "post_day", "post_id")  # a fixed order for the float sums
            .with_columns(pl.col("account_id").set_sorted()))
    sums = _window_sums(logs, cutoff, windows, ["seen", *(f"log_{k}" for k in kinds)],
                        day="post_day")
    return sums.select("account_id", *(
        _ratio(pl.col(f"log_{k}@{w}"), pl.col(f"seen@{w}")).alias(f"{k}_per_post_log1p_{w}d")
        for k in kinds for w in windows))


def _follow_features(before: pl.DataFrame, cutoff, windows) -> pl.DataFrame:
    """`before`: the follows made before the cutoff."""
    followers = before.group_by(pl.col("followee_id").alias("account_id")).agg(
        pl.len().alias("followers"),
        *(pl.col("day").filter(pl.col("day") < cutoff - w).len().alias(f"then@{w}")
          for w in windows))
    following = before.group_by(pl.col("follower_id").alias("account_id")).len("following")
    out = followers.join(following, on="account_id", how="full", coalesce=True).with_columns(
        pl.col("followers", "following").fill_null(0))
    return out.select(
        "account_id", "followers", "following",
        *(((pl.col("followers") - pl.col(f"then@{w}").fill_null(0))
           / pl.max_horizontal(pl.col(f"then@{w}").fill_null(0), 1))
          .alias(f"followers_growth_{w}d") for w in windows),
        (pl.col("followers") / (pl.col("following") + 1)).alias("follower_following_ratio"))


def _member(query: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """query[i] in keys (a hash set: several times faster here than a binary search)."""
    return pl.Series(query).is_in(pl.Series(keys, dtype=pl.Int64).implode()).to_numpy()


def window_pairs(p: Partials, cutoff: int, windows) -> pl.DataFrame:
    """Engagements per (engaged, engager) pair in each window before the cutoff, by pair."""
    return _window_sums(p.pair_days, cutoff, windows, ["n"], by=("pair",)).sort("pair")


@dataclass(frozen=True)
class Graph:
    """What the engager features need from the whole engagement graph at one cutoff, indexed
    by account: PageRank, and per window how many accounts each engager engaged with."""

    rank: np.ndarray
    targets: dict[int, np.ndarray]


def engagement_graph(pairs: pl.DataFrame, nodes: np.ndarray, windows, n_accounts: int
                     ) -> Graph:
    """The Graph from every pair's window counts (`window_pairs`) and the accounts that exist
    at the cutoff (`nodes`)."""
    key = pairs["pair"].to_numpy()
    engaged, engager = key // n_accounts, key % n_accounts
    node_of = np.full(n_accounts, -1)
    node_of[nodes] = np.arange(len(nodes))
    assert (node_of[engager] >= 0).all(), "an engager outside the population at the cutoff"
    rank = np.full(n_accounts, np.nan)
    rank[nodes] = pagerank(node_of[engager], node_of[engaged],
                           pairs[f"n@{max(windows)}"].to_numpy().astype(float), len(nodes),
                           PAGERANK_DAMPING)
    # counts from bincount without weights: always integers, even with no pairs
    targets = {w: np.bincount(engager[pairs[f"n@{w}"].to_numpy() > 0], minlength=n_accounts)
               for w in windows}
    return Graph(rank, targets)


def _engager_features(p: Partials, rows: pl.DataFrame, cutoff, windows, n_accounts: int,
                      follows: pl.DataFrame | None, graph: Graph | None = None
                      ) -> pl.DataFrame:
    """Who engages: reach, their rank, selectivity, concentration, reciprocity, and (with a
    follower graph) which of them follow. `follows`: the follows made before the cutoff.
    `graph`: the whole graph's part, when `p` holds only some accounts' pairs (Dask).

    Works on (engaged, engager) pair keys with NumPy: per-account sums are bincounts and
    membership tests are hash look-ups of pair keys."""
    pairs = window_pairs(p, cutoff, windows)
    key = pairs["pair"].to_numpy()
    engaged, engager = key // n_accounts, key % n_accounts
    counts = {w: pairs[f"n@{w}"].to_numpy().astype(float) for w in windows}
    nodes = rows["account_id"].to_numpy()
    graph = graph or engagement_graph(pairs, nodes, windows, n_accounts)
    rank = graph.rank

    def per_account(values):
        return np.bincount(engaged, weights=values, minlength=n_accounts)

    # row of the reverse pair (the engaged account engaging the engager), -1 when none
    reverse = (pl.DataFrame({"pair": engager * n_accounts + engaged})
               .join(pairs.select("pair").with_row_index("row"), on="pair", how="left",
                     maintain_order="left")["row"].fill_null(-1).to_numpy().astype(np.int64))
    has_reverse = reverse >= 0
    out = {"pagerank": rank}
    if follows is not None:
        follower_count = np.bincount(follows["followee_id"].to_numpy(), minlength=n_accounts)
        follow_keys = follows.select(pair_key(
            pl.col("followee_id"), pl.col("follower_id"), n_accounts)).to_series().to_numpy()
        is_follower = _member(key, follow_keys)
        ever = p.first_pairs.filter(pl.col("first_day") < cutoff)["pair"].to_numpy()
        silent = ~_member(follow_keys, ever)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 -> NaN -> null below
        if follows is not None:
            out["silent_follower_share"] = np.bincount(
                follow_keys[silent] // n_accounts, minlength=n_accounts) / follower_count
        for w in windows:
            c = counts[w]
            active = c > 0
            # counts from bincount without weights: always integers, even with no pairs
            total, engagers = per_account(c), np.bincount(engaged[active], minlength=n_accounts)
            targets = graph.targets[w][engager]
            back = active & has_reverse & active[reverse]  # engaged each other: traded
            out[f"unique_engagers_{w}d"] = engagers
            out[f"engager_pagerank_{w}d"] = per_account(c * rank[engager]) / total
            out[f"engager_selectivity_{w}d"] = per_account(
                np.where(active, c / np.maximum(targets, 1), 0)) / total
            out[f"engager_concentration_{w}d"] = per_account(c**2) / total**2
            out[f"reciprocity_{w}d"] = per_account(back) / engagers
            out[f"traded_engagement_share_{w}d"] = per_account(np.where(back, c, 0)) / total
            if follows is not None:
                out[f"engaged_follower_share_{w}d"] = (
                    per_account(active & is_follower) / follower_count)
    return pl.DataFrame({"account_id": nodes, **{k: v[nodes] for k, v in out.items()}},
                        schema_overrides={"account_id": INDEX}).fill_nan(None)


def _independent_labels(p: Partials, out: pl.DataFrame, cutoff: int, end: int,
                        config: FeatureConfig, kinds) -> pl.DataFrame:
    """Each event label minus the engagement traded back: events from an engager whom the author
    engaged with in [cutoff - longest window, end)."""
    h = config.horizon_days
    author_engaged = _in_window(p.pair_days, cutoff - max(config.windows), end)["pair"]
    traded = (_in_window(p.traded_events, cutoff, end, "post_day")
              .filter((pl.col("day") < end) & pl.col("reverse").is_in(author_engaged.implode()))
              .group_by("account_id")
              .agg(pl.col("n").filter(pl.col("kind") == k).sum().alias(f"t_{k}") for k in kinds))
    out = out.join(traded, on="account_id", how="left")
    return out.with_columns(
        (pl.col(f"label_{PLURAL[k]}_{h}d") - pl.col(f"t_{k}").fill_null(0))
        .alias(f"label_{PLURAL[k]}_independent_{h}d") for k in kinds)


def labels_at(p: Partials, tables: Tables, cutoff: int, config: FeatureConfig) -> pl.DataFrame:
    """Labels over [cutoff, cutoff + horizon) for the accounts that exist at the cutoff."""
    h, end = config.horizon_days, cutoff + config.horizon_days
    rows = population(p.first_seen, cutoff)
    kinds = tables.kinds
    if tables.posts is not None:
        # exposure: the posts that can carry the label (for counts: those that have them)
        exposed = "counted_posts" if tables.count_kinds else "posts"
        posts = (_in_window(p.post_days, cutoff, end).group_by("account_id")
                 .agg(pl.col(exposed).sum().alias(f"label_posts_{h}d")))
        out = rows.join(posts, on="account_id", how="left")
        if kinds:
            engaged = (_in_window(p.label_events, cutoff, end, "post_day")
                       .filter(pl.col("day") < end)  # made before the horizon ends
                       .group_by("account_id")
                       .agg(pl.col("n").filter(pl.col("kind") == k).sum().alias(f"n_{k}")
                            for k in kinds))
            out = out.join(engaged, on="account_id", how="left")
        exposure = pl.col(f"label_posts_{h}d").fill_null(0)
        out = out.with_columns(exposure.alias(f"label_posts_{h}d"), *(
            pl.col(f"n_{k}").fill_null(0).alias(f"label_{PLURAL[k]}_{h}d") for k in kinds))
        labels = [f"label_{PLURAL[k]}_{h}d" for k in kinds]
        if p.traded_events is not None:
            out = _independent_labels(p, out, cutoff, end, config, tables.event_kinds)
            labels += [f"label_{PLURAL[k]}_independent_{h}d" for k in tables.event_kinds]
        out = out.with_columns(_ratio(pl.col(c), exposure).alias(c.replace(f"_{h}d",
                                                                           f"_per_post_{h}d"))
                               for c in labels)
    else:  # events without posts: everything received in the horizon
        received = _in_window(p.received_days, cutoff, end).group_by("account_id").agg(
            pl.col(PLURAL[k]).sum().alias(f"label_{PLURAL[k]}_{h}d") for k in kinds)
        out = rows.join(received, on="account_id", how="left").fill_null(0)
    return out.select("account_id", *label_columns(tables, config))


# ---------------------------------------------------------------------------------------------
# the public entry points

def to_day(timestamp) -> int:
    """A UTC midnight as a day number; refuses times that are not midnights."""
    ts = pd.Timestamp(timestamp)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if ts != ts.normalize():
        raise ValueError(f"cutoff {ts} is not a UTC midnight: cutoffs fall between days")
    return int((ts - EPOCH) / pd.Timedelta(days=1))


def from_day(day: int) -> pd.Timestamp:
    return EPOCH + pd.Timedelta(days=int(day))


def weekly_cutoffs(tables: Tables, n: int, horizon_days: int, weekday: int = 0) -> list:
    """The last `n` weekly cutoffs (midnights starting `weekday`, 0 = Monday) whose label
    horizon ends within the data."""
    last_complete = tables.last_day + 1 - horizon_days  # cutoff + horizon <= last day + 1
    latest = from_day(last_complete)
    latest -= pd.Timedelta(days=(latest.weekday() - weekday) % 7)
    return [latest - pd.Timedelta(weeks=k) for k in range(n - 1, -1, -1)]


def cutoff_table(p: Partials, tables: Tables, day: int, config: FeatureConfig, labels: bool,
                 graph: Graph | None = None) -> pl.DataFrame:
    """One cutoff's rows: features, then labels when asked, and the cutoff."""
    frame = features_at(p, tables, day, config, graph)
    if labels:
        frame = frame.join(labels_at(p, tables, day, config), on="account_id", how="left")
    return frame.with_columns(cutoff=pl.lit(from_day(day)).dt.cast_time_unit("us"))


def load_tables(source: Dataset | Tables | str | Path) -> Tables:
    if isinstance(source, Tables):
        return source
    if isinstance(source, Dataset):
        return tables_from_dataset(source)
    return tables_from_directory(source)


def build_features(source: Dataset | Tables | str | Path, cutoffs: Sequence,
                   config: FeatureConfig | None = None, labels: bool = True,
                   progress=None, client=None, partitions: int | None = None) -> pd.DataFrame:
    """The feature table: one row per (account, cutoff), features then labels.

    `source` is a dataset (validated), a directory in the contract, or prepared `Tables`.
    `cutoffs` are UTC midnights. Labels need the horizon to end within the data; a cutoff whose
    horizon runs past the last day raises (its labels would be silently short). `progress(done,
    total)` is called after each cutoff. With a Dask `client`, the per-day partials are computed
    per account partition on the cluster (`features.distributed`); the table is the same.
    """
    config = config or FeatureConfig()
    tables = load_tables(source)
    days = sorted({to_day(c) for c in cutoffs})
    if not days:
        raise ValueError("no cutoffs given")
    if labels and days[-1] + config.horizon_days > tables.last_day + 1:
        raise ValueError(
            f"cutoff {from_day(days[-1]).date()} + {config.horizon_days}-day horizon runs past "
            f"the data's last day {from_day(tables.last_day).date()}: labels would be incomplete")
    if client is None:
        p = partials(tables, config)
        # Two cutoffs at a time: their NumPy and Polars steps overlap on two cores. Each
        # cutoff's result does not depend on the other's, and float sums run in a fixed order
        # (see `partials`), so the table is the same as one built cutoff by cutoff.
        frames = []
        with ThreadPoolExecutor(max_workers=2) as pool:
            for done, frame in enumerate(pool.map(
                    lambda day: cutoff_table(p, tables, day, config, labels), days), start=1):
                frames.append(frame)
                if progress:
                    progress(done, len(days))
        table = pl.concat(frames)
    else:  # imported here: the local path never loads Dask
        from clout.features.distributed import distributed_table
        table = distributed_table(tables, days, config, labels, client, partitions, progress)
    table = table.with_columns(account_id=tables.ids.gather(table["account_id"]))  # original ids
    return table.select("account_id", "cutoff", pl.exclude("account_id", "cutoff")).to_pandas()


def write_features(frame: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path

