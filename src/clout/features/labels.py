"""Stage 2 of the feature build, labels: what happens in [T, T + horizon), per account: the
exposure (posts), engagement per kind, and credible engagement (each engager counted by its
credibility at T, nothing from accounts the author engaged with itself nor from coordinated
pairs), and from the same credible engagers, each once: how many (reach) and their standing
(network)."""

from __future__ import annotations

import numpy as np
import polars as pl

from clout.data.kinds import KINDS
from clout.features.catalogue import EVENTS, FOLLOWS, LABELS, column
from clout.features.config import FeatureConfig
from clout.features.families import Graph, cutoff_graph, weighted_count
from clout.features.partials import Partials, pair_key
from clout.features.tables import INDEX, Tables
from clout.features.window import applicable, in_window, population, ratio


def label_columns(tables: Tables, config: FeatureConfig) -> list[str]:
    h = str(config.horizon_days)
    return [c.replace("{h}", h) for f in applicable(LABELS, tables, False)
            for c in f.columns((), tables.event_kinds if EVENTS in f.needs else tables.kinds)]


def _label(kind: str, horizon: int, credible: bool = False, per_post: bool = False) -> str:
    """A label column for an engagement kind (singular, as in the events)."""
    template = ("label_{kinds}" + ("_credible" if credible else "")
                + ("_per_post" if per_post else "") + "_{h}d")
    return column(template, kind=KINDS.plural(kind), horizon=horizon)


def _credible_labels(p: Partials, out: pl.DataFrame, cutoff: int, end: int,
                     config: FeatureConfig, kinds, graph: Graph, n_accounts: int,
                     follows: pl.DataFrame | None) -> pl.DataFrame:
    """Engagement on the horizon's posts (without posts: received in the horizon), each event
    counted by its engager's credibility at the cutoff, none from an engager the author engaged
    with in [cutoff - longest window, end) (traded engagement is not influence), none from a
    pair coordinated at the cutoff; and the same engagers each once, for reach and (those in
    `follows`, the follows made before the horizon ends) network. Bincounts over the sorted
    partial: a fixed sum order."""
    h = config.horizon_days
    author_engaged = in_window(p.pair_days, cutoff - max(config.windows), end)["pair"]
    on = "day" if p.post_days is None else "post_day"
    events = (in_window(p.actor_events, cutoff, end, on).filter(pl.col("day") < end)
              .with_columns(traded=pair_key(pl.col("actor_id"), pl.col("account_id"), n_accounts)
                            .is_in(author_engaged.implode())))
    engaged, engager = events["account_id"].to_numpy(), events["actor_id"].to_numpy()
    weight = (events["n"].to_numpy() * graph.credit[engager]
              * (~events["traded"].to_numpy() & ~graph.is_coordinated(engaged, engager,
                                                                      n_accounts)))
    of_kind = {k: (events["kind"] == k).to_numpy() for k in kinds}  # as categories: fast
    nodes = out["account_id"].to_numpy()
    # reach: each credible engager once, by its credibility; network: the standing of those
    # of them who follow the account (its own audience: people a retweet brought are the
    # retweeter's), or of every one without a follower graph
    credited = weight > 0
    pair = (pl.Series(engaged[credited].astype(np.int64) * n_accounts + engager[credited])
            .unique().sort().to_numpy())  # as np.unique, a tenth of the time
    pair_engaged, pair_engager = pair // n_accounts, pair % n_accounts
    counted = graph.credit[pair_engager]
    engagers = weighted_count(pair_engaged, counted, n_accounts)
    if follows is not None:
        follow_keys = follows.select(pair_key(pl.col("followee_id"), pl.col("follower_id"),
                                              n_accounts)).to_series()
        counted = counted * pl.Series(pair).is_in(follow_keys.implode()).to_numpy()
    followers = weighted_count(pair_engaged, counted, n_accounts)
    with np.errstate(divide="ignore", invalid="ignore"):  # no engaged followers: null
        standing = weighted_count(pair_engaged, counted * graph.standing[pair_engager],
                                  n_accounts) / followers
    credible = pl.DataFrame({"account_id": nodes, **{
        _label(k, h, credible=True): weighted_count(engaged, np.where(of_kind[k], weight, 0.0),
                                                    n_accounts)[nodes]
        for k in kinds}, column("label_engagers_credible_{h}d", horizon=h): engagers[nodes],
        column("label_engaged_followers_credible_{h}d", horizon=h): followers[nodes],
        column("label_engager_standing_{h}d", horizon=h): standing[nodes]},
        schema_overrides={"account_id": INDEX}).fill_nan(None)
    return out.join(credible, on="account_id", how="left")


def labels_at(p: Partials, tables: Tables, cutoff: int, config: FeatureConfig,
              graph: Graph | None = None) -> pl.DataFrame:
    """Labels over [cutoff, cutoff + horizon) for the accounts that exist at the cutoff
    (`graph`: the engagement graph at the cutoff, for the credible labels)."""
    h, end = config.horizon_days, cutoff + config.horizon_days
    rows = population(p.first_seen, cutoff)
    kinds = tables.kinds
    follows = (p.follow_days.filter(pl.col("day") < end) if FOLLOWS in tables.offers
               else None)
    posts_label = column("label_posts_{h}d", horizon=h)
    if tables.posts is not None:
        # exposure: the posts that can carry the label (for counts: those that have them)
        exposed = "counted_posts" if tables.count_kinds else "posts"
        posts = (in_window(p.post_days, cutoff, end).group_by("account_id")
                 .agg(pl.col(exposed).sum().alias(posts_label)))
        out = rows.join(posts, on="account_id", how="left")
        if kinds:
            engaged = (in_window(p.label_events, cutoff, end, "post_day")
                       .filter(pl.col("day") < end)  # made before the horizon ends
                       .group_by("account_id")
                       .agg(pl.col("n").filter(pl.col("kind") == k).sum().alias(f"n_{k}")
                            for k in kinds))
            out = out.join(engaged, on="account_id", how="left")
        exposure = pl.col(posts_label).fill_null(0)
        out = out.with_columns(exposure.alias(posts_label), *(
            pl.col(f"n_{k}").fill_null(0).alias(_label(k, h)) for k in kinds))
        if kinds:
            out = out.with_columns(pl.sum_horizontal(pl.col(_label(k, h)) for k in kinds)
                                   .alias(column("label_engagement_{h}d", horizon=h)))
        credible = EVENTS in tables.offers
        if credible:
            graph = graph or cutoff_graph(p, tables, cutoff, config.windows)
            out = _credible_labels(p, out, cutoff, end, config, tables.event_kinds, graph,
                                   len(tables.ids), follows)
        out = out.with_columns(
            ratio(pl.col(_label(k, h, flag)), exposure).alias(_label(k, h, flag, per_post=True))
            for flag, chosen in ((False, kinds), (True, tables.event_kinds if credible else ()))
            for k in chosen)
    else:  # events without posts: everything received in the horizon
        received = in_window(p.received_days, cutoff, end).group_by("account_id").agg(
            pl.col(KINDS.plural(k)).sum().alias(_label(k, h)) for k in kinds)
        out = rows.join(received, on="account_id", how="left").fill_null(0)
        if EVENTS in tables.offers:
            graph = graph or cutoff_graph(p, tables, cutoff, config.windows)
            out = _credible_labels(p, out, cutoff, end, config, tables.event_kinds, graph,
                                   len(tables.ids), follows)
    return out.select("account_id", *label_columns(tables, config))
