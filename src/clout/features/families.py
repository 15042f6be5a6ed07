"""Stage 2 of the feature build, features: every catalogue family at one cutoff T, from the
partials of the days before T (activity and content, amplification, reach, network, audience)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property, reduce

import numpy as np
import polars as pl

from clout.data.kinds import KINDS
from clout.features.catalogue import (
    DEPTH,
    ENTRIES,
    EVENTS,
    FEATURES,
    FOLLOWS,
    PAGERANK_DAMPING,
    POSTS,
    RECENCY_HALF_LIFE_DAYS,
    Feature,
    column,
    register_feature,
    unregister_feature,
)
from clout.features.config import FeatureConfig
from clout.features.credibility import circles, coordinated, credibility, groups, lockstep, sprees
from clout.features.network import member, pagerank
from clout.features.partials import (
    PARTIALS,
    Partial,
    Partials,
    pair_key,
    partials,
    register_partial,
)
from clout.features.tables import INDEX, SNAPSHOT_COLUMNS, Tables
from clout.features.window import applicable, in_window, population, ratio, window_sums


def feature_columns(tables: Tables, config: FeatureConfig) -> list[str]:
    """The feature columns this source gets, in catalogue order."""
    return [c for f in applicable(FEATURES, tables, config.include_leaking)
            for c in f.columns(config.windows, tables.kinds)]


class Cutoff:
    """What a family's build reads at one cutoff (a day): the partials `p`, the `tables`, the
    build `config`, the accounts that exist then (`rows`), and what several families share,
    computed once on first use: the follows made before the cutoff, the engagement pairs'
    window counts and the engagement graph (given whole when `p` is one Dask partition's)."""

    def __init__(self, p: Partials, tables: Tables, day: int, config: FeatureConfig,
                 graph: Graph | None = None):
        self.p, self.tables, self.day, self.config = p, tables, day, config
        self._graph = graph

    @property
    def windows(self) -> tuple[int, ...]:
        return self.config.windows

    @cached_property
    def rows(self) -> pl.DataFrame:
        return population(self.p.first_seen, self.day)

    @cached_property
    def follows(self) -> pl.DataFrame | None:
        if FOLLOWS not in self.tables.offers:
            return None
        return self.p.follow_days.filter(pl.col("day") < self.day)

    @cached_property
    def pairs(self) -> pl.DataFrame:
        return window_pairs(self.p, self.day, self.windows)

    @cached_property
    def reverse(self) -> np.ndarray:
        """The row in `pairs` of each pair's reverse (-1: none): engagement traded back."""
        key, n_accounts = self.pairs["pair"].to_numpy(), len(self.tables.ids)
        return reverse_rows(self.pairs, key // n_accounts, key % n_accounts, n_accounts)

    @cached_property
    def graph(self) -> Graph | None:
        if self._graph is None and EVENTS in self.tables.offers:  # pairs need events
            return cutoff_graph(self.p, self.tables, self.day, self.windows, self.pairs,
                                self.reverse)
        return self._graph


@dataclass(frozen=True)
class Family:
    """A unit of the feature build, registered once (`register_family`): the catalogue entries
    it writes (templates) and one function that computes them at a cutoff, a frame keyed by
    account_id. It runs where the source offers what one of its features needs. `partials`:
    the partials it reads."""

    name: str
    features: tuple[str, ...]
    build: Callable[[Cutoff], pl.DataFrame]
    partials: tuple[str, ...] = ()

    def entries(self) -> list[Feature]:
        return [ENTRIES[name] for name in self.features]


FAMILIES: dict[str, Family] = {}


def register_family(family: Family, features: Sequence[Feature] = (),
                    partials: Sequence[Partial] = ()) -> Family:
    """Add a family to the build, with the catalogue entries and partials it brings (entries
    and partials already registered are named in `family.features` and `family.partials`).
    Register it when its module is imported (as the families below are): Dask workers run
    their own processes and know only the families their imports register."""
    if family.name in FAMILIES:
        raise ValueError(f"feature family {family.name!r} already registered")
    for feature in features:
        register_feature(feature)
    for partial in partials:
        register_partial(partial)
    if unknown := [f for f in family.features if f not in ENTRIES]:
        raise ValueError(f"family {family.name!r}: no catalogue entry {', '.join(unknown)}")
    if unknown := [p for p in family.partials if p not in PARTIALS]:
        raise ValueError(f"family {family.name!r}: no partial {', '.join(unknown)}")
    FAMILIES[family.name] = family
    return family


def unregister_family(name: str) -> None:
    """Take a family out of the build, with the entries and partials only it has (tests)."""
    family = FAMILIES.pop(name)
    others = {n for f in FAMILIES.values() for n in (*f.features, *f.partials)}
    for feature in family.features:
        if feature not in others:
            unregister_feature(feature)
    for partial in family.partials:
        if partial not in others:
            del PARTIALS[partial]


@contextmanager
def registered_family(family: Family, features: Sequence[Feature] = (),
                      partials: Sequence[Partial] = ()):
    """`family` registered for the duration of the block (tests and notebooks)."""
    register_family(family, features, partials)
    try:
        yield family
    finally:
        unregister_family(family.name)


def features_at(at: Cutoff) -> pl.DataFrame:
    """Every applicable catalogue feature for the accounts that exist at the cutoff, one
    registered family after another."""
    tables, config = at.tables, at.config
    out = at.rows
    for family in FAMILIES.values():
        if applicable(family.entries(), tables, config.include_leaking):
            out = out.join(family.build(at), on="account_id", how="left")
    specs = applicable(FEATURES, tables, config.include_leaking)
    windows = config.windows
    columns = [c for f in specs for c in f.columns(windows, tables.kinds)]
    missing = sorted(set(columns) - set(out.columns))
    if missing:
        raise AssertionError(f"catalogued features not built: {missing}")
    zeros = [c for f in specs if f.zero_when_absent for c in f.columns(windows, tables.kinds)]
    return out.select("account_id", *columns).with_columns(pl.col(zeros).fill_null(0))


def _activity_and_content(p: Partials, cutoff, windows) -> pl.DataFrame:
    # a post_days row is one active day of one account
    daily = p.post_days.with_columns(squared=pl.col("posts") ** 2, active_days=pl.lit(1))
    sums = window_sums(daily, cutoff, windows,
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
            posts.alias(column("posts_{w}d", window=w)),
            pl.col(f"active_days@{w}").fill_null(0).alias(column("active_days_{w}d", window=w)),
            ratio((pl.col(f"squared@{w}") / w - mean**2).clip(0).sqrt(), mean)
            .alias(column("posting_burstiness_{w}d", window=w)),
            ratio(pl.col(f"link_posts@{w}"), posts).alias(column("link_share_{w}d", window=w)),
            ratio(pl.col(f"media_posts@{w}"), posts).alias(column("media_share_{w}d", window=w)),
            ratio(pl.col(f"reply_posts@{w}"), posts).alias(column("reply_share_{w}d", window=w)),
            ratio(pl.col(f"repost_posts@{w}"), posts).alias(column("repost_share_{w}d", window=w)),
            ratio(pl.col(f"length_sum@{w}"), pl.col(f"length_known@{w}"))
            .alias(column("mean_post_length_{w}d", window=w)),
        ]
    return out.select("account_id", "days_since_last_post", *exprs)


def _topic_entropy(p: Partials, cutoff, windows) -> pl.DataFrame:
    per_topic = window_sums(p.topic_days, cutoff, windows, ["n"], by=("account_id", "topic"))
    per_topic = per_topic.sort("account_id", "topic")  # a fixed order for the float sums below
    out = per_topic.select("account_id").unique()
    for w in windows:
        share = pl.col(f"n@{w}") / pl.col(f"n@{w}").sum().over("account_id")
        entropy = (per_topic.filter(pl.col(f"n@{w}") > 0)
                   .group_by("account_id").agg((share * (1 / share).log(2)).sum()
                                               .alias(column("topic_entropy_{w}d", window=w))))
        out = out.join(entropy, on="account_id", how="left")
    return out


def _amplification(p: Partials, tables: Tables, cutoff, windows, have) -> pl.DataFrame:
    received = p.received_days
    kinds = [KINDS.plural(k) for k in tables.kinds]
    rate_posts = [c for c in ("event_posts", "settled_posts") if c in received.columns]
    depth = ["depth_known_retweets", "second_hand_retweets"] if DEPTH in have else []
    sums = window_sums(received, cutoff, windows, kinds + rate_posts + depth)
    # recency-weighted rates over all history before the cutoff
    weight = 0.5 ** ((cutoff - 1 - pl.col("day")) / RECENCY_HALF_LIFE_DAYS)
    decayed = received.filter(pl.col("day") < cutoff).group_by("account_id").agg(
        (pl.col(c) * weight).sum().alias(f"{c}@decay") for c in kinds + rate_posts)
    out = sums.join(decayed, on="account_id", how="full", coalesce=True)
    exprs = []
    for kind in tables.kinds:
        name, denominator = KINDS.plural(kind), _rate_posts_column(kind, tables)
        for w in windows:
            exprs.append(pl.col(f"{name}@{w}").fill_null(0)
                         .alias(column("{kinds}_{w}d", window=w, kind=name)))
            if POSTS in have:
                exprs.append(ratio(pl.col(f"{name}@{w}"), pl.col(f"{denominator}@{w}"))
                             .alias(column("{kinds}_per_post_{w}d", window=w, kind=name)))
        if POSTS in have:
            exprs.append(ratio(pl.col(f"{name}@decay"), pl.col(f"{denominator}@decay"))
                         .alias(column("{kinds}_per_post_decay14d", kind=name)))
    for w in windows:
        exprs.append(pl.sum_horizontal(pl.col(f"{k}@{w}").fill_null(0) for k in kinds)
                     .alias(column("engagement_{w}d", window=w)))
    for w in windows if depth else ():
        exprs.append(ratio(pl.col(f"second_hand_retweets@{w}"),
                            pl.col(f"depth_known_retweets@{w}"))
                     .alias(column("second_hand_retweet_share_{w}d", window=w)))
    out = out.select("account_id", *exprs)
    if p.first_retweets is not None:
        retweeted = p.first_retweets.with_columns(
            retweeted=pl.col("first_retweet_day") < cutoff).with_columns(
            pl.col("retweeted").fill_null(False), published=pl.lit(1))
        shares = window_sums(retweeted, cutoff, windows, ["retweeted", "published"],
                              day="post_day")
        out = out.join(shares.select("account_id", *(
            ratio(pl.col(f"retweeted@{w}"), pl.col(f"published@{w}"))
            .alias(column("retweeted_post_share_{w}d", window=w)) for w in windows)),
            on="account_id", how="left")
    return out


def _rate_posts_column(kind: str, tables: Tables) -> str:
    return "settled_posts" if kind in tables.count_kinds else "event_posts"


def _log_amplification(p: Partials, tables: Tables, cutoff, windows) -> pl.DataFrame:
    """Per kind and window, the mean over the window's seen posts of log(1 + the engagement
    each post received before the cutoff)."""
    kinds = [KINDS.plural(k) for k in tables.kinds]
    posts = p.seen_posts.filter((pl.col("post_day") >= cutoff - max(windows))
                                & (pl.col("seen_day") < cutoff))
    if p.post_event_days is not None and tables.event_kinds:
        received = (in_window(p.post_event_days, cutoff - max(windows), cutoff, "post_day")
                    .filter(pl.col("day") < cutoff).group_by("post_id")
                    .agg(pl.col("n").filter(pl.col("kind") == k).sum().alias(KINDS.plural(k))
                         for k in tables.event_kinds))
        posts = posts.join(received, on="post_id", how="left")
    logs = (posts.select("account_id", "post_day", "post_id", pl.lit(1).alias("seen"),
                         *(pl.col(k).fill_null(0).log1p().alias(f"log_{k}") for k in kinds))
            .sort("account_id", "post_day", "post_id")  # a fixed order for the float sums
            .with_columns(pl.col("account_id").set_sorted()))
    sums = window_sums(logs, cutoff, windows, ["seen", *(f"log_{k}" for k in kinds)],
                        day="post_day")
    return sums.select("account_id", *(
        ratio(pl.col(f"log_{k}@{w}"), pl.col(f"seen@{w}"))
        .alias(column("{kinds}_per_post_log1p_{w}d", window=w, kind=k))
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
          .alias(column("followers_growth_{w}d", window=w)) for w in windows),
        (pl.col("followers") / (pl.col("following") + 1)).alias("follower_following_ratio"))


def window_pairs(p: Partials, cutoff: int, windows) -> pl.DataFrame:
    """Engagements per (engaged, engager) pair in each window before the cutoff, per event
    kind (`<kinds>@<w>`) and in all (`n@<w>`), by pair."""
    kinds = [c for c in p.pair_days.columns if c not in ("pair", "day")]
    return window_sums(p.pair_days, cutoff, windows, kinds, by=("pair",)).sort("pair").with_columns(
        pl.sum_horizontal(f"{k}@{w}" for k in kinds).cast(pl.Int64).alias(f"n@{w}")
        for w in windows)


def pair_coverage(p: Partials, cutoff: int, window: int, n_accounts: int) -> pl.DataFrame:
    """Per (engaged, engager) pair, over the window before the cutoff: how many of the engaged
    account's posts the engager engaged with before the cutoff (`engaged_posts`), and how many
    the account posted from the day of the first of those to the day of the last (`span`); by
    pair. Empty without posts."""
    if p.pair_posts is None:
        return pl.DataFrame(schema={"pair": pl.Int64, "engaged_posts": pl.Int64,
                                    "span": pl.Int64})
    start = cutoff - window
    engaged = (p.pair_posts.filter(pl.col("post_day").is_between(start, cutoff - 1),
                                   pl.col("day") < cutoff)
               .group_by("pair").agg(pl.col("posts").sum().cast(pl.Int64).alias("engaged_posts"),
                                     pl.col("post_day").min().alias("first"),
                                     pl.col("post_day").max().alias("last"))
               .sort("pair"))
    # the author's posts up to a day: prefix sums over (account, day) keys, sorted
    days = in_window(p.post_days, start, cutoff)
    keys = days["account_id"].to_numpy().astype(np.int64) * 2**16 + days["day"].to_numpy()
    before = np.concatenate([[0], np.cumsum(days["posts"].to_numpy().astype(np.int64))])
    author = engaged["pair"].to_numpy() // n_accounts * 2**16

    def posted_until(day):
        return before[np.searchsorted(keys, author + day.to_numpy(), side="right")]
    span = posted_until(engaged["last"]) - posted_until(engaged["first"] - 1)
    return engaged.select("pair", "engaged_posts", pl.Series("span", span))


@dataclass(frozen=True)
class Graph:
    """What the engager features and the credible labels need from the whole engagement graph
    at one cutoff, indexed by account: PageRank, per window how many accounts each engager
    engaged with, each account's credibility (`features.credibility`), the keys of the pairs
    discounted, by the rule that discounts them, and each account's standing: how many people
    credibly engage with it."""

    rank: np.ndarray
    targets: dict[int, np.ndarray]
    credibility: np.ndarray
    trust: np.ndarray
    standing: np.ndarray  # log(1 + credible engagers over the longest window)
    by_rule: dict[str, np.ndarray]  # rule of `DISCOUNT_RULES` -> the keys it discounts first

    @cached_property
    def credit(self) -> np.ndarray:
        """What each account's engagement counts for: its credibility, 0 where it has none
        (NaN: not in the graph). Once per cutoff, not once per engagement looked up."""
        return np.nan_to_num(self.credibility)

    @cached_property
    def coordinated(self) -> np.ndarray:
        """The keys of the pairs any rule discounts."""
        return reduce(np.union1d, self.by_rule.values())

    def is_coordinated(self, engaged: np.ndarray, engager: np.ndarray, n_accounts: int
                       ) -> np.ndarray:
        """Whether each (engaged, engager) pair of account indices is coordinated."""
        return member(engaged.astype(np.int64) * n_accounts + engager, self.coordinated)

    def rule(self, engaged: np.ndarray, engager: np.ndarray, n_accounts: int) -> np.ndarray:
        """Which rule of `DISCOUNT_RULES` discounts each (engaged, engager) pair, or ''."""
        key = engaged.astype(np.int64) * n_accounts + engager
        return np.select([member(key, keys) for keys in self.by_rule.values()],
                         list(self.by_rule), "")


def first_active(frame: pl.DataFrame, n_accounts: int) -> np.ndarray:
    """Each account's first day of activity by index, from the `first_active` partial (a
    far-future day when it never acted)."""
    days = np.full(n_accounts, np.iinfo(np.int32).max, dtype=np.int64)
    known = frame.drop_nulls("first_day")
    days[known["account_id"].to_numpy()] = known["first_day"].to_numpy()
    return days


def engagement_graph(pairs: pl.DataFrame, coverage: pl.DataFrame, nodes: np.ndarray, windows,
                     n_accounts: int, active_since: np.ndarray, cutoff: int,
                     reverse: np.ndarray | None = None) -> Graph:
    """The Graph from every pair's window counts (`window_pairs`) and coverage of the longest
    window (`pair_coverage`), the accounts that exist at the cutoff (`nodes`) and when each
    account first acted (`first_active`); `reverse`: the pairs' `reverse_rows`, when known."""
    key = pairs["pair"].to_numpy()
    engaged, engager = key // n_accounts, key % n_accounts
    node_of = np.full(n_accounts, -1)
    node_of[nodes] = np.arange(len(nodes))
    assert (node_of[engager] >= 0).all(), "an engager outside the population at the cutoff"
    weight = pairs[f"n@{max(windows)}"].to_numpy().astype(float)
    rank = np.full(n_accounts, np.nan)
    rank[nodes] = pagerank(node_of[engager], node_of[engaged], weight, len(nodes),
                           PAGERANK_DAMPING)
    # counts from bincount without weights: always integers, even with no pairs
    targets = {w: np.bincount(engager[pairs[f"n@{w}"].to_numpy() > 0], minlength=n_accounts)
               for w in windows}
    covered = coverage["pair"].to_numpy()
    flagged = covered[coordinated(covered % n_accounts, coverage["engaged_posts"].to_numpy(),
                                  coverage["span"].to_numpy(), n_accounts)]
    by_rule = {"coordinated": flagged}
    # and in lockstep, in a circle, in a group or on a spree: new pairs (in the recent window,
    # not before it within the longest), which only an engager seen over the whole longest
    # window can tell from old ones (on a young dataset, or a timeline cut at its latest posts,
    # every pair would look new)
    if len(windows) > 1:
        recent, active = pairs[f"n@{sorted(windows)[-2]}"].to_numpy(), weight > 0
        new = (recent == weight) & (active_since[engager] <= cutoff - max(windows))
        # each pair's posts engaged (coverage holds only the pairs that engaged posts: 0)
        engaged_posts = np.append(coverage["engaged_posts"].to_numpy(), 0)[key_rows(covered, key)]
        for rule, judge in (("lockstep", lockstep), ("circle", circles), ("group", groups),
                            ("spree", lambda *new_pairs: sprees(*new_pairs,
                                                                engaged_posts[active]))):
            by_rule[rule] = np.setdiff1d(key[active][judge(
                engaged[active], engager[active], new[active], n_accounts)], flagged)
            flagged = np.union1d(flagged, by_rule[rule])
    # trust does not flow along engagement traded back or coordinated: a ring or a pod would
    # vouch for itself
    if reverse is None:
        reverse = reverse_rows(pairs, engaged, engager, n_accounts)
    vouches = (~active_rows(pairs, reverse, max(windows))
               & ~member(key, flagged))
    credible, trust = credibility(engaged[vouches], engager[vouches], weight[vouches], nodes,
                                  active_since, cutoff)
    # an account's credible engagers over the longest window (as credible_engagers_{w}d)
    engagers = weighted_count(engaged, np.where(vouches & (weight > 0),
                                                np.nan_to_num(credible[engager]), 0.0), n_accounts)
    return Graph(rank, targets, credible, trust, np.log1p(engagers), by_rule)


def discount_partials(tables: Tables, config: FeatureConfig, cutoff: int) -> Partials:
    """The partials `cutoff_graph` and `discounted_pairs` read at one cutoff, and only those:
    when accounts were first seen and active, and posts per day, from the whole history; the
    pairs' engagement per day and per post from the longest window before the cutoff alone:
    every engagement a pair's window counts is in it (the contract refuses an engagement dated
    before its post), and it takes half the time of the whole history's."""
    window = max(config.windows)
    recent = replace(tables, events=tables.events.filter(
        pl.col("day").is_between(cutoff - window, cutoff - 1)))
    return Partials(partials(tables, config, ("first_seen", "post_days", "first_active"))
                    | partials(recent, config, ("pair_days", "pair_posts")))


def discounted_pairs(p: Partials, tables: Tables, cutoff: int, windows) -> pl.DataFrame:
    """Every (engaged, engager) pair of account indices engaged in the longest window before
    the cutoff, with its engagements there and the rule that discounts it (`Graph.rule`; ''
    where none does); empty without events."""
    n_accounts = len(tables.ids)
    pairs = window_pairs(p, cutoff, windows)
    key = pairs["pair"].to_numpy()
    engaged, engager = key // n_accounts, key % n_accounts
    engagements = pairs[f"n@{max(windows)}"].to_numpy()
    graph = cutoff_graph(p, tables, cutoff, windows)
    rule = (np.full(len(key), "") if graph is None
            else graph.rule(engaged, engager, n_accounts))
    return pl.DataFrame({"engaged": engaged, "engager": engager, "engagements": engagements,
                         "rule": rule}).filter(pl.col("engagements") > 0)


def cutoff_graph(p: Partials, tables: Tables, cutoff: int, windows,
                 pairs: pl.DataFrame | None = None, reverse: np.ndarray | None = None
                 ) -> Graph | None:
    """The Graph at a cutoff, from the whole dataset's partials (None without events).
    `pairs`, `reverse`: `window_pairs` at the cutoff and their `reverse_rows`, when already
    computed."""
    if EVENTS not in tables.offers:
        return None
    nodes = population(p.first_seen, cutoff)["account_id"].to_numpy()
    n_accounts = len(tables.ids)
    pairs = window_pairs(p, cutoff, windows) if pairs is None else pairs
    return engagement_graph(pairs,
                            pair_coverage(p, cutoff, max(windows), n_accounts), nodes, windows,
                            n_accounts, first_active(p.first_active, n_accounts), cutoff,
                            reverse)


def _engager_features(p: Partials, pairs: pl.DataFrame, reverse: np.ndarray, rows: pl.DataFrame,
                      cutoff, windows, n_accounts: int, follows: pl.DataFrame | None,
                      graph: Graph) -> pl.DataFrame:
    """Who engages: reach, their rank, selectivity, concentration, reciprocity, and (with a
    follower graph) which of them follow. `pairs`: `window_pairs` at the cutoff, `reverse` the
    row of each one's reverse (`Cutoff.reverse`); `follows`: the follows made before it;
    `graph`: the whole engagement graph's (on Dask, `p` and `pairs` hold only some accounts').

    Works on (engaged, engager) pair keys with NumPy: per-account sums are bincounts and
    membership tests are hash look-ups of pair keys."""
    key = pairs["pair"].to_numpy()
    engaged, engager = key // n_accounts, key % n_accounts
    counts = {w: pairs[f"n@{w}"].to_numpy().astype(float) for w in windows}
    nodes = rows["account_id"].to_numpy()
    rank = graph.rank

    def per_account(values):
        return np.bincount(engaged, weights=values, minlength=n_accounts)

    has_reverse = reverse >= 0
    out = {"pagerank": rank}
    if follows is not None:
        follower_count = np.bincount(follows["followee_id"].to_numpy(), minlength=n_accounts)
        follow_keys = follows.select(pair_key(
            pl.col("followee_id"), pl.col("follower_id"), n_accounts)).to_series().to_numpy()
        is_follower = member(key, follow_keys)
        ever = p.first_pairs.filter(pl.col("first_day") < cutoff)["pair"].to_numpy()
        # a follower whose reactions a rule discounts has not credibly reacted: followers and
        # engagement bought from the same accounts buy no audience either
        silent = ~member(follow_keys, ever) | member(follow_keys, graph.coordinated)
        # the followers who have reacted to the account, weighted by how actively and
        # credibly they engage anywhere: its audience. Followers who never react weigh
        # nothing, bought or followed back (follow-for-follow churn)
        follower = follow_keys % n_accounts
        active = (graph.targets[max(windows)][follower]
                  * graph.credit[follower] * ~silent)
        followee = follow_keys // n_accounts
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 -> NaN -> null below
        if follows is not None:
            out["silent_follower_share"] = np.bincount(
                follow_keys[silent] // n_accounts, minlength=n_accounts) / follower_count
            out["follower_standing"] = weighted_count(
                followee, active * graph.standing[follower], n_accounts) / weighted_count(
                followee, active, n_accounts)
        for w in windows:
            c = counts[w]
            active = c > 0
            # counts from bincount without weights: always integers, even with no pairs
            total, engagers = per_account(c), np.bincount(engaged[active], minlength=n_accounts)
            targets = graph.targets[w][engager]
            back = active & has_reverse & active[reverse]  # engaged each other: traded
            out[column("unique_engagers_{w}d", window=w)] = engagers
            out[column("engager_pagerank_{w}d", window=w)] = per_account(c * rank[engager]) / total
            out[column("engager_selectivity_{w}d", window=w)] = per_account(
                np.where(active, c / np.maximum(targets, 1), 0)) / total
            out[column("engager_concentration_{w}d", window=w)] = per_account(c**2) / total**2
            out[column("reciprocity_{w}d", window=w)] = per_account(back) / engagers
            out[column("traded_engagement_share_{w}d", window=w)] = (
                per_account(np.where(back, c, 0)) / total)
            if follows is not None:
                out[column("engaged_follower_share_{w}d", window=w)] = (
                    per_account(active & is_follower) / follower_count)
    return pl.DataFrame({"account_id": nodes, **{k: v[nodes] for k, v in out.items()}},
                        schema_overrides={"account_id": INDEX}).fill_nan(None)


def weighted_count(index: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Sum of the weights per index 0..n-1, in row order (floats, even with no rows)."""
    return np.bincount(index, weights=weights, minlength=n).astype(np.float64)


def reverse_rows(pairs: pl.DataFrame, engaged: np.ndarray, engager: np.ndarray,
                 n_accounts: int) -> np.ndarray:
    """The row in `pairs` (`window_pairs`, sorted by key) of each pair's reverse, the engaged
    account engaging its engager; -1 when there is none."""
    return key_rows(pairs["pair"].to_numpy(), engager.astype(np.int64) * n_accounts + engaged)


def key_rows(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The row of each `query` key in `keys` (unique); -1 where it is not there. A hash join:
    three to four times faster than a binary search of unsorted queries (4.7M pairs)."""
    rows = pl.DataFrame({"key": np.asarray(keys, np.int64), "row": np.arange(len(keys))})
    return (pl.DataFrame({"key": np.asarray(query, np.int64)})
            .join(rows, on="key", how="left", maintain_order="left")["row"]
            .fill_null(-1).to_numpy())


def active_rows(pairs: pl.DataFrame, rows: np.ndarray, window: int) -> np.ndarray:
    """Whether the pairs at `rows` of `pairs` (-1: none) engaged in the window."""
    return (rows >= 0) & (pairs[f"n@{window}"].to_numpy()[rows] > 0)


def reverse_active(pairs: pl.DataFrame, engaged: np.ndarray, engager: np.ndarray,
                   n_accounts: int, window: int) -> np.ndarray:
    """Whether the engaged account engaged its engager back in the window (`pairs`:
    `window_pairs`, sorted by key): that engagement is traded, not credible."""
    return active_rows(pairs, reverse_rows(pairs, engaged, engager, n_accounts), window)


def _credible_engagement(p: Partials, pairs: pl.DataFrame, reverse: np.ndarray,
                         rows: pl.DataFrame, tables: Tables, cutoff, windows, graph: Graph
                         ) -> pl.DataFrame:
    """Engagement and engagers received in each window counted by the engagers' credibility
    at the cutoff, none traded back in the window nor coordinated; its share of all
    engagement; the coordinated share; the engagers' mean credibility; the account's own
    credibility and trust. Everything said of an engagement is said of its pair (engager,
    credibility, discount), so the sums run over the window's pairs and their counts per kind
    (`window_pairs`), not over its events: NumPy bincounts in the pairs' sorted order, the same
    sums in the same order every time."""
    n_accounts, kinds = len(tables.ids), tables.event_kinds
    nodes = rows["account_id"].to_numpy()
    out = {"credibility": graph.credibility, "trustrank": graph.trust}
    pair = pairs["pair"].to_numpy()
    engaged, engager = pair // n_accounts, pair % n_accounts
    coordinated = graph.is_coordinated(engaged, engager, n_accounts)
    credit = graph.credit[engager]
    posts = None
    if POSTS in tables.offers:
        posts = window_sums(p.received_days, cutoff, windows, ["event_posts"])
        posts = {w: weighted_count(posts["account_id"].to_numpy(),
                                   posts[f"event_posts@{w}"].to_numpy().astype(float), n_accounts)
                 for w in windows}

    def per_account(values):
        return weighted_count(engaged, values, n_accounts)

    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 -> NaN -> null below
        for w in windows:
            traded = active_rows(pairs, reverse, w)
            counted = pairs[f"n@{w}"].to_numpy().astype(float)
            credited = np.where(~coordinated & ~traded, credit, 0.0)  # what one engagement counts
            counted_engagers = np.where(counted > 0, credited, 0.0)
            credible_engagers = per_account(counted_engagers)
            out[column("credible_engagers_{w}d", window=w)] = credible_engagers
            out[column("engager_standing_{w}d", window=w)] = per_account(
                counted_engagers * graph.standing[engager]) / credible_engagers
            received = per_account(counted)
            out[column("engager_credibility_{w}d", window=w)] = (per_account(counted * credit)
                                                                 / received)
            out[column("credible_engagement_share_{w}d", window=w)] = (
                per_account(counted * credited) / received)
            out[column("coordinated_engagement_share_{w}d", window=w)] = (
                per_account(counted * coordinated) / received)
            for k in kinds:
                plural = KINDS.plural(k)
                total = per_account(pairs[f"{plural}@{w}"].to_numpy() * credited)
                out[column("credible_{kinds}_{w}d", window=w, kind=plural)] = total
                if posts is not None:
                    out[column("credible_{kinds}_per_post_{w}d", window=w, kind=plural)] = (
                        np.where(posts[w] > 0, total / posts[w], np.nan))
    return pl.DataFrame({"account_id": nodes, **{k: v[nodes] for k, v in out.items()}},
                        schema_overrides={"account_id": INDEX}).fill_nan(None)


# -- the registered families, in build order --------------------------------------------------

def _age(at: Cutoff) -> pl.DataFrame:
    return at.tables.accounts.select(
        "account_id", (at.day - pl.col("created_day")).alias("account_age_days"))


def _snapshot(at: Cutoff) -> pl.DataFrame:
    return at.tables.accounts.select(
        "account_id", *(pl.col(c).alias("snapshot_" + c.removesuffix("_count"))
                        for c in SNAPSHOT_COLUMNS))


register_family(Family(
    "posting", ("posts_{w}d", "active_days_{w}d", "posting_burstiness_{w}d",
                "days_since_last_post", "link_share_{w}d", "media_share_{w}d",
                "reply_share_{w}d", "repost_share_{w}d", "mean_post_length_{w}d"),
    lambda at: _activity_and_content(at.p, at.day, at.windows), ("post_days",)))
register_family(Family(
    "topics", ("topic_entropy_{w}d",), lambda at: _topic_entropy(at.p, at.day, at.windows),
    ("topic_days",)))
register_family(Family(
    "amplification", ("{kinds}_per_post_{w}d", "{kinds}_per_post_decay14d", "{kinds}_{w}d",
                      "engagement_{w}d",
                      "retweeted_post_share_{w}d", "second_hand_retweet_share_{w}d"),
    lambda at: _amplification(at.p, at.tables, at.day, at.windows, at.tables.offers),
    ("received_days", "first_retweets")))
register_family(Family(
    "log amplification", ("{kinds}_per_post_log1p_{w}d",),
    lambda at: _log_amplification(at.p, at.tables, at.day, at.windows),
    ("seen_posts", "post_event_days")))
register_family(Family(
    "follows", ("followers", "following", "followers_growth_{w}d", "follower_following_ratio"),
    lambda at: _follow_features(at.follows, at.day, at.windows), ("follow_days",)))
register_family(Family(
    "engagers", ("unique_engagers_{w}d", "engaged_follower_share_{w}d", "pagerank",
                 "engager_pagerank_{w}d", "engager_selectivity_{w}d",
                 "engager_concentration_{w}d", "reciprocity_{w}d",
                 "traded_engagement_share_{w}d", "silent_follower_share", "follower_standing"),
    lambda at: _engager_features(at.p, at.pairs, at.reverse, at.rows, at.day, at.windows,
                                 len(at.tables.ids), at.follows, at.graph),
    ("pair_days", "first_pairs", "follow_days")))
register_family(Family(
    "credible engagement", ("credible_engagers_{w}d", "engager_standing_{w}d",
                            "credible_{kinds}_{w}d",
                            "credible_{kinds}_per_post_{w}d", "credibility", "trustrank",
                            "engager_credibility_{w}d", "credible_engagement_share_{w}d",
                            "coordinated_engagement_share_{w}d"),
    lambda at: _credible_engagement(at.p, at.pairs, at.reverse, at.rows, at.tables, at.day,
                                    at.windows, at.graph),
    ("pair_days", "pair_posts", "received_days", "first_active")))
register_family(Family("age", ("account_age_days",), _age))
register_family(Family("snapshot", ("snapshot_followers", "snapshot_following",
                                    "snapshot_listed", "snapshot_posts"), _snapshot))
