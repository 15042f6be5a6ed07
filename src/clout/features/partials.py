"""Stage 1 of the feature build: per-day partial aggregates, computed once per dataset.

Posts per account-day, engagement received per account-day and kind, engagements per
(engaged, engager, day) packed into one 64-bit key, follows per day, per-post engagement, ...
Every partial is registered once (`register_partial`: its plan, its order, its halo) and sorted
in that order, so that later float sums add their
terms in the same order, however and wherever the partials were computed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import polars as pl

from clout.data.kinds import KINDS
from clout.features.config import FeatureConfig
from clout.features.tables import Tables, kind_dtype


@dataclass(frozen=True)
class Partial:
    """One per-day aggregate, registered once: how to plan it (`plan(tables, config, done)`,
    `done` the partials registered before it, computed; None where the source lacks what it
    needs), the order its rows are kept in (its first key is flagged as sorted), and whether a
    Dask partition keeps it whole (`halo`: rows about pairs and follows, which a partition needs
    from both of their accounts; see `features.distributed`). A plan may return a ready frame,
    which is kept as it is."""

    name: str
    plan: Callable[[Tables, FeatureConfig, dict], pl.LazyFrame | pl.DataFrame | None]
    order: tuple[str, ...] = ("account_id", "day")
    halo: bool = False
    meaning: str = ""


PARTIALS: dict[str, Partial] = {}


def register_partial(partial: Partial) -> Partial:
    if partial.name in PARTIALS:
        raise ValueError(f"partial {partial.name!r} already registered")
    PARTIALS[partial.name] = partial
    return partial


class Partials(dict):
    """Every registered partial of one dataset by name (None where the source lacks it), also
    as attributes: `p.post_days`."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def partials(tables: Tables, config: FeatureConfig, only: Collection[str] | None = None
             ) -> Partials:
    """All per-day aggregates (or `only` those named; a partial built on another needs it
    named too), computed one at a time in registration order, each planned on the earlier
    ones as computed, on Polars' streaming engine. Collected together, their intermediates
    add up (10.5 GiB at the peak on the large world, 59M events, against 8.7 GiB one at a
    time). The streaming engine gives the same rows; measured alone on the large world, the two
    largest (pair_posts, actor_events) took 16.5 s each on it against 27-50 s in memory, at a
    peak of 7.0-7.7 GiB against 11.1-11.5."""
    done = Partials()
    for partial in PARTIALS.values():
        if only is not None and partial.name not in only:
            continue
        plan = partial.plan(tables, config, done)
        done[partial.name] = (in_order(partial.name, plan).collect(engine="streaming")
                              if isinstance(plan, pl.LazyFrame) else plan)
    return done


# Partials are sorted, so that every later float sum adds its terms in the same order: the same
# data then gives bit-identical features, run after run (group-by output order is not fixed),
# and however the partials were computed (in one piece, or per account partition).
def in_order(name: str, frame):
    """A partial (eager or lazy) in its fixed order, flagged as sorted on its first key: later
    group-bys on it then take Polars' sorted path (fast, and summing in this order)."""
    keys = list(PARTIALS[name].order)
    return frame.sort(keys).with_columns(pl.col(keys[0]).set_sorted())


_DAY_BITS = 16  # a day number (days since 1970) fits in 16 bits until 2149
_KIND_BITS = 3  # an engagement kind's code in the registry's order (at most 8 kinds)


def pair_key(engaged: pl.Expr, engager: pl.Expr, n_accounts: int) -> pl.Expr:
    """One int64 per (engaged account, engager) pair of dense indices."""
    return engaged.cast(pl.Int64) * n_accounts + engager


def _runs(frame: pl.LazyFrame, key: pl.Expr) -> pl.LazyFrame:
    """Each distinct value of one packed int64 key (`value`) and how many rows hold it (`len`),
    sorted: a sort and run lengths, several times faster than a group-by on the keys it packs."""
    return frame.select(key.alias("key")).sort("key").select(pl.col("key").rle()).unnest("key")


def _pair_days(events: pl.LazyFrame, n_accounts: int, kinds: tuple[str, ...]) -> pl.LazyFrame:
    """Engagements per (engaged, engager, day) and kind (its plural, e.g. `retweets`; Int32),
    self-engagement left out, sorted by pair then day: a cutoff's window counts per pair and
    kind then come from one pass over the window's pairs rather than over its events. Packs
    the four into one int64 and counts runs after a sort: several times faster than a
    multi-key group-by."""
    code = pl.col("kind").to_physical().cast(pl.Int64)  # the kind's place in KINDS
    pairs = events.filter(pl.col("actor_id") != pl.col("account_id")).select(
        pair_key(pl.col("account_id"), pl.col("actor_id"), n_accounts).alias("pair"), "day",
        code.alias("code"))
    codes = {KINDS.plural(k): list(KINDS).index(k) for k in kinds}
    if len(KINDS) > 2**_KIND_BITS or n_accounts >= 2 ** ((63 - _DAY_BITS - _KIND_BITS) // 2):
        return pairs.group_by("pair", "day").agg(  # keys would overflow: the slow way
            (pl.col("code") == c).sum().cast(pl.Int32).alias(k) for k, c in codes.items())
    runs = _runs(pairs, (pl.col("pair") * 2**_DAY_BITS + pl.col("day")) * 2**_KIND_BITS
                 + pl.col("code"))
    # a (pair, day)'s kinds are neighbours: grouped on the sorted path, then unpacked
    pair_day = pl.col("value") // 2**_KIND_BITS
    return (runs.select(pair_day.set_sorted().alias("pair_day"),
                        (pl.col("value") % 2**_KIND_BITS).alias("code"), "len")
            .group_by("pair_day").agg(pl.col("len").filter(pl.col("code") == c).sum()
                                      .cast(pl.Int32).alias(k) for k, c in codes.items())
            .select((pl.col("pair_day") // 2**_DAY_BITS).alias("pair"),
                    (pl.col("pair_day") % 2**_DAY_BITS).cast(pl.Int32).alias("day"),
                    *codes))


def _pair_posts(tables: Tables, n_accounts: int) -> pl.LazyFrame:
    """Each engager's first engagement of each post, counted per (pair, post_day, day). Both
    steps pack their keys into one int64 where they fit (a one-key group-by, then a sort and
    run lengths: on the large world 10 s against 25 s for the multi-key group-bys); days are
    counted from the data's first day, in as many bits as its span needs."""
    events, posts = tables.events.lazy(), tables.posts.lazy()
    others = events.filter(pl.col("actor_id") != pl.col("account_id")).drop_nulls("post_id")
    ids = tables.posts["post_id"]
    if ids.dtype.is_integer() and len(ids) and ids.min() >= 0 \
            and (ids.max() + 1) * n_accounts < 2**63:
        post_engager = pl.col("post_id").cast(pl.Int64) * n_accounts + pl.col("actor_id")
        # the engaged account is the post's author (the contract checks it); an engagement of
        # a post not in the posts table counts for none (as the join below), so one out of
        # their ids' range is left out before its key could overflow
        first = (others.filter(pl.col("post_id").is_between(ids.min(), ids.max()))
                 .group_by(post_engager.alias("key")).agg(pl.col("day").min())
                 .select((pl.col("key") // n_accounts).alias("post_id"),
                         (pl.col("key") % n_accounts).alias("actor_id"), "day")
                 .join(posts.select("post_id", "account_id", pl.col("day").alias("post_day")),
                       on="post_id"))
    else:
        first = (others.group_by("account_id", "actor_id", "post_id").agg(pl.col("day").min())
                 .join(posts.select("post_id", pl.col("day").alias("post_day")), on="post_id"))
    pair = pair_key(pl.col("account_id"), pl.col("actor_id"), n_accounts)
    slow = first.group_by(pair.alias("pair"), "post_day", "day").len("posts")
    if not len(tables.events) or not len(ids):  # nothing to pack (a Dask partition)
        return slow
    origin = tables.first_day
    bits = max(tables.last_day - origin, 1).bit_length()
    if n_accounts**2 >= 2 ** (63 - 2 * bits):  # keys would overflow
        return slow
    packed = ((pair * 2**bits + pl.col("post_day") - origin) * 2**bits + pl.col("day") - origin)
    runs = _runs(first, packed)
    return runs.select((pl.col("value") // 2 ** (2 * bits)).alias("pair"),
                       (pl.col("value") // 2**bits % 2**bits + origin).cast(pl.Int32)
                       .alias("post_day"),
                       (pl.col("value") % 2**bits + origin).cast(pl.Int32).alias("day"),
                       pl.col("len").alias("posts"))


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


def _actor_events(tables: Tables) -> pl.LazyFrame | pl.DataFrame:
    """Engagement by engager, self left out, per (account, actor, kind, post day, day). Where
    the five fit in one int64 (accounts and days in the bits they need), they are packed in the
    partial's own order and counted as run lengths after one sort: the five-key group-by's
    rows in its sorted order, in a quarter of the time (default-size world: 0.35 s against
    1.6 s)."""
    others = tables.events.lazy().filter(pl.col("actor_id") != pl.col("account_id"))
    if tables.posts is None:
        others = others.with_columns(pl.lit(None, pl.Int32).alias("post_day"))
    else:
        others = others.join(tables.posts.lazy().select("post_id", pl.col("day").alias("post_day")),
                             on="post_id", how="left")
    grouped = (others.group_by("account_id", "actor_id", "kind", "post_day", "day").len("n")
               .with_columns(pl.col("n").cast(pl.Int64)))
    if not len(tables.events):
        return grouped
    origin = tables.first_day
    day_bits = (tables.last_day - origin + 1).bit_length()  # from the first day; and 0: no post
    id_bits = max(len(tables.ids) - 1, 1).bit_length()
    if 2 * (id_bits + day_bits) + _KIND_BITS > 63 or len(KINDS) > 2**_KIND_BITS:
        return grouped
    fields = [(pl.col("day") - origin, day_bits), (pl.col("actor_id"), id_bits),
              (pl.col("kind").to_physical(), _KIND_BITS),  # nulls sort first, as 0 does:
              ((pl.col("post_day") - origin + 1).fill_null(0), day_bits)]
    key = pl.col("account_id").cast(pl.Int64)
    for value, bits in fields:  # in the partial's order, account_id first
        key = key * 2**bits + value.cast(pl.Int64)
    runs = _runs(others, key).collect(engine="streaming")

    def field(shift, bits):
        return pl.col("value") // 2**shift % 2**bits
    post_day = field(0, day_bits)
    frame = runs.select(
        (pl.col("value") // 2 ** (2 * day_bits + id_bits + _KIND_BITS)).cast(pl.Int32)
        .set_sorted().alias("account_id"),
        field(day_bits + _KIND_BITS, id_bits).cast(pl.Int32).alias("actor_id"),
        field(day_bits, _KIND_BITS).alias("kind"),
        pl.when(post_day > 0).then(post_day + origin - 1).cast(pl.Int32).alias("post_day"),
        (field(day_bits + _KIND_BITS + id_bits, day_bits) + origin).cast(pl.Int32).alias("day"),
        pl.col("len").cast(pl.Int64).alias("n"))
    return frame.with_columns(kind=pl.Series(list(KINDS), dtype=kind_dtype()).gather(
        frame["kind"]))


def _events(tables: Tables) -> pl.LazyFrame | None:
    return None if tables.events is None else tables.events.lazy()


def _posts(tables: Tables) -> pl.LazyFrame | None:
    return None if tables.posts is None else tables.posts.lazy()


def _with_posts_and_events(make):
    """A plan that needs both posts and events (None without either)."""
    def plan(tables, config, done):
        posts, events = _posts(tables), _events(tables)
        return None if posts is None or events is None else make(tables, posts, events)
    return plan


# The registered partials, in the order they are computed (a plan may build on earlier ones).
register_partial(Partial(
    "first_seen", lambda t, c, done: _first_seen(t), ("account_id",),
    meaning="account_id, first_day (created, or first activity)"))
register_partial(Partial(
    "post_days", lambda t, c, done: None if t.posts is None else _post_days(_posts(t)),
    meaning="per account and day: posts and their content counts"))
register_partial(Partial(
    "topic_days", lambda t, c, done: None if t.posts is None else (
        _posts(t).drop_nulls("topic").group_by("account_id", "day", "topic").len("n")),
    ("account_id", "day", "topic"), meaning="account_id, day, topic, n (posts)"))
register_partial(Partial(
    "received_days", lambda t, c, done: _received_days(t, c.settle_days) if t.kinds else None,
    meaning="account_id, day, <kinds>, event/settled_posts, cascade depth counts"))
register_partial(Partial(
    "pair_days", lambda t, c, done: None if t.events is None else _pair_days(
        _events(t), len(t.ids), t.event_kinds), ("pair", "day"), halo=True,
    meaning="pair (engaged x n + engager), day, engagements per event kind (<kinds>)"))
register_partial(Partial(
    "first_pairs", lambda t, c, done: None if done["pair_days"] is None else (
        # pair_days is sorted by pair then day: each pair's first row holds its first day
        done["pair_days"].lazy().filter(pl.col("pair").diff().fill_null(1) != 0)
        .select("pair", pl.col("day").alias("first_day"))),
    ("pair",), halo=True, meaning="pair, first_day"))
register_partial(Partial(
    "pair_posts", _with_posts_and_events(lambda t, posts, events: _pair_posts(t, len(t.ids))),
    ("pair", "post_day", "day"), halo=True,
    meaning="posts each engager engaged with: pair, post_day, day (of its first engagement on "
            "the post), posts: how much of an author's output an engager engages"))
register_partial(Partial(
    "first_retweets", lambda t, c, done: _first_retweets(t, c.settle_days),
    ("account_id", "post_day", "first_retweet_day"),
    meaning="account_id, post_day, first_retweet_day"))
register_partial(Partial(
    "label_events", lambda t, c, done: _label_events(t),
    ("account_id", "post_day", "kind", "day"),
    meaning="account_id, post_day, kind, day (of the event), n"))
register_partial(Partial(
    "seen_posts", lambda t, c, done: _seen_posts(t, c.settle_days) if t.kinds else None,
    ("account_id", "post_day", "post_id"),
    meaning="one row per post whose engagement can be seen, from seen_day on (counts: their "
            "values): account_id, post_id, post_day, seen_day, [<count kinds>]"))
register_partial(Partial(
    "post_event_days", _with_posts_and_events(
        lambda t, posts, events: events.drop_nulls("post_id")
        .join(posts.select("post_id", pl.col("day").alias("post_day")), on="post_id")
        .group_by("account_id", "post_id", "post_day", "kind", "day").len("n")
        .with_columns(pl.col("n").cast(pl.Int64))),
    ("account_id", "post_day", "post_id", "kind", "day"),
    meaning="account_id, post_id, post_day, kind, day, n"))
register_partial(Partial(
    "first_active", lambda t, c, done: _first_active(t), ("account_id",),
    meaning="account_id, first_day (first post or engagement given)"))
register_partial(Partial(
    "actor_events", lambda t, c, done: None if t.events is None else _actor_events(t),
    ("account_id", "day", "actor_id", "kind", "post_day"),
    meaning="engagement by engager (self left out): account_id, actor_id, kind, post_day (null "
            "without a post), day, n"))
register_partial(Partial(
    "follow_days", lambda t, c, done: t.follows, halo=True,
    meaning="follower_id, followee_id, day (the follows table as it is)"))

