"""Stage 1 of the feature build: per-day partial aggregates, computed once per dataset.

Posts per account-day, engagement received per account-day and kind, engagements per
(engaged, engager, day) packed into one 64-bit key, follows per day, per-post engagement, ...
Every partial is sorted in a fixed order (`PARTIAL_ORDER`), so that later float sums add their
terms in the same order, however and wherever the partials were computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from clout.data.kinds import KINDS
from clout.features.config import FeatureConfig
from clout.features.tables import Tables, kind_dtype


@dataclass
class Partials:
    first_seen: pl.DataFrame  # account_id, first_day (created, or first activity)
    post_days: pl.DataFrame | None
    topic_days: pl.DataFrame | None
    received_days: pl.DataFrame | None  # account_id, day, <kinds>, event/settled_posts, depth
    pair_days: pl.DataFrame | None  # pair (engaged x n + engager), day, n; sorted
    first_pairs: pl.DataFrame | None  # pair, first_day
    # posts each engager engaged with: pair, post_day, day (of its first engagement on the
    # post), posts; sorted: how much of an author's output an engager engages (coordination)
    pair_posts: pl.DataFrame | None
    first_retweets: pl.DataFrame | None  # account_id, post_day, first_retweet_day
    label_events: pl.DataFrame | None  # account_id, post_day, kind, day (of the event), n
    # one row per post whose engagement can be seen, from seen_day on (counts: their values)
    seen_posts: pl.DataFrame | None  # account_id, post_id, post_day, seen_day, [<count kinds>]
    post_event_days: pl.DataFrame | None  # account_id, post_id, post_day, kind, day, n
    first_active: pl.DataFrame  # account_id, first_day (first post or engagement given)
    # engagement by engager (self left out): account_id, actor_id, kind, post_day (null without
    # a post), day, n: what credible engagement weighs, engager by engager
    actor_events: pl.DataFrame | None
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
        "pair_posts": None if posts is None or events is None else _pair_posts(
            events, posts, len(tables.ids)),
        "first_retweets": _first_retweets(tables, settle),
        "label_events": _label_events(tables),
        "seen_posts": _seen_posts(tables, settle) if tables.kinds else None,
        "post_event_days": None if posts is None or events is None else (
            events.drop_nulls("post_id")
            .join(posts.select("post_id", pl.col("day").alias("post_day")), on="post_id")
            .group_by("account_id", "post_id", "post_day", "kind", "day").len("n")
            .with_columns(pl.col("n").cast(pl.Int64))),
        "first_active": _first_active(tables),
        "actor_events": None if events is None else _actor_events(events, posts),
    }
    planned = [name for name, plan in plans.items() if plan is not None]
    done = dict(zip(planned, pl.collect_all([in_order(n, plans[n]) for n in planned]),
                    strict=True))
    return Partials(**{name: done.get(name) for name in plans}, follow_days=tables.follows)


# Partials are sorted, so that every later float sum adds its terms in the same order: the same
# data then gives bit-identical features, run after run (group-by output order is not fixed),
# and however the partials were computed (in one piece, or per account partition).
PARTIAL_ORDER = {"first_seen": ["account_id"], "pair_days": ["pair", "day"],
                 "first_pairs": ["pair"], "pair_posts": ["pair", "post_day", "day"],
                 "first_retweets": ["account_id", "post_day", "first_retweet_day"],
                 "label_events": ["account_id", "post_day", "kind", "day"],
                 "seen_posts": ["account_id", "post_day", "post_id"],
                 "post_event_days": ["account_id", "post_day", "post_id", "kind", "day"],
                 "first_active": ["account_id"],
                 "actor_events": ["account_id", "day", "actor_id", "kind", "post_day"],
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


def _pair_posts(events: pl.LazyFrame, posts: pl.LazyFrame, n_accounts: int) -> pl.LazyFrame:
    first = (events.filter(pl.col("actor_id") != pl.col("account_id")).drop_nulls("post_id")
             .group_by("account_id", "actor_id", "post_id").agg(pl.col("day").min())
             .join(posts.select("post_id", pl.col("day").alias("post_day")), on="post_id"))
    return first.group_by(pair_key(pl.col("account_id"), pl.col("actor_id"), n_accounts)
                          .alias("pair"), "post_day", "day").len("posts")


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
        pl.any_horizontal(pl.col(list(KINDS.counters())).is_not_null()).sum().alias("counted_posts"),
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
            *(pl.col("kind").eq(k).sum().alias(KINDS.plural(k)) for k in tables.event_kinds),
            pl.col("kind").eq("retweet").and_(pl.col("cascade_depth").is_not_null()).sum()
            .alias("depth_known_retweets"),
            pl.col("kind").eq("retweet").and_(pl.col("cascade_depth") >= 2).sum()
            .alias("second_hand_retweets"))
        if posts is not None:  # event rates divide by the posts of the same days
            counts = counts.join(posts.group_by("account_id", "day").len("event_posts"),
                                 on=["account_id", "day"], how="full", coalesce=True)
        parts.append(counts)
    if tables.count_kinds:
        counted = {c: k for c, k in KINDS.counters().items() if k in tables.count_kinds}
        settled = (posts.filter(pl.any_horizontal(pl.col(list(counted)).is_not_null()))
                   .group_by("account_id", (pl.col("day") + settle).alias("day"))
                   .agg(*(pl.col(c).sum() for c in counted), pl.len().alias("settled_posts")))
        parts.append(settled)
    received = parts[0]
    for part in parts[1:]:
        received = received.join(part, on=["account_id", "day"], how="full", coalesce=True)
    return received.fill_null(0)


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
    counted = [c for c, k in KINDS.counters().items() if k in tables.count_kinds]
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
    for column, kind in KINDS.counters().items():
        if kind in tables.count_kinds:
            parts.append(posts.drop_nulls(column).select(
                "account_id", pl.col("day").alias("post_day"),
                pl.lit(kind, dtype=kind_dtype()).alias("kind"), pl.col("day"),
                pl.col(column).cast(pl.UInt32).alias("n")))
    return pl.concat(parts, how="vertical_relaxed").with_columns(pl.col("n").cast(pl.Int64))


def _first_active(tables: Tables) -> pl.LazyFrame:
    """When each account first acted: its first post or first engagement given (not its
    creation, nor being followed or engaged with: those an account does not do itself)."""
    acts = [tables.accounts.lazy().select("account_id", pl.lit(None, pl.Int32).alias("day"))]
    if tables.posts is not None:
        acts.append(tables.posts.lazy().select("account_id", "day"))
    if tables.events is not None:
        acts.append(tables.events.lazy().select(pl.col("actor_id").alias("account_id"), "day"))
    return pl.concat(acts).group_by("account_id").agg(pl.col("day").min().alias("first_day"))


def _actor_events(events: pl.LazyFrame, posts: pl.LazyFrame | None) -> pl.LazyFrame:
    others = events.filter(pl.col("actor_id") != pl.col("account_id"))
    if posts is None:
        others = others.with_columns(pl.lit(None, pl.Int32).alias("post_day"))
    else:
        others = others.join(posts.select("post_id", pl.col("day").alias("post_day")),
                             on="post_id", how="left")
    return (others.group_by("account_id", "actor_id", "kind", "post_day", "day").len("n")
            .with_columns(pl.col("n").cast(pl.Int64)))
