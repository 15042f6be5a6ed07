"""Stage 2 of the feature build, labels: what happens in [T, T + horizon), per account: the
exposure (posts), engagement per kind, and the same without engagement traded back."""

from __future__ import annotations

import polars as pl

from clout.features.catalogue import EVENTS, LABELS, PLURAL, column
from clout.features.config import FeatureConfig
from clout.features.partials import Partials
from clout.features.tables import Tables
from clout.features.window import applicable, in_window, population, ratio


def label_columns(tables: Tables, config: FeatureConfig) -> list[str]:
    h = str(config.horizon_days)
    return [c.replace("{h}", h) for f in applicable(LABELS, tables, False)
            for c in f.columns((), tables.event_kinds if EVENTS in f.needs else tables.kinds)]


def _label(kind: str, horizon: int, independent: bool = False, per_post: bool = False) -> str:
    """A label column for an engagement kind (singular, as in the events)."""
    template = ("label_{kinds}" + ("_independent" if independent else "")
                + ("_per_post" if per_post else "") + "_{h}d")
    return column(template, kind=PLURAL[kind], horizon=horizon)


def _independent_labels(p: Partials, out: pl.DataFrame, cutoff: int, end: int,
                        config: FeatureConfig, kinds) -> pl.DataFrame:
    """Each event label minus the engagement traded back: events from an engager whom the author
    engaged with in [cutoff - longest window, end)."""
    h = config.horizon_days
    author_engaged = in_window(p.pair_days, cutoff - max(config.windows), end)["pair"]
    traded = (in_window(p.traded_events, cutoff, end, "post_day")
              .filter((pl.col("day") < end) & pl.col("reverse").is_in(author_engaged.implode()))
              .group_by("account_id")
              .agg(pl.col("n").filter(pl.col("kind") == k).sum().alias(f"t_{k}") for k in kinds))
    out = out.join(traded, on="account_id", how="left")
    return out.with_columns((pl.col(_label(k, h)) - pl.col(f"t_{k}").fill_null(0))
                            .alias(_label(k, h, independent=True)) for k in kinds)


def labels_at(p: Partials, tables: Tables, cutoff: int, config: FeatureConfig) -> pl.DataFrame:
    """Labels over [cutoff, cutoff + horizon) for the accounts that exist at the cutoff."""
    h, end = config.horizon_days, cutoff + config.horizon_days
    rows = population(p.first_seen, cutoff)
    kinds = tables.kinds
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
        independent = p.traded_events is not None
        if independent:
            out = _independent_labels(p, out, cutoff, end, config, tables.event_kinds)
        out = out.with_columns(
            ratio(pl.col(_label(k, h, flag)), exposure).alias(_label(k, h, flag, per_post=True))
            for flag, chosen in ((False, kinds), (True, tables.event_kinds if independent else ()))
            for k in chosen)
    else:  # events without posts: everything received in the horizon
        received = in_window(p.received_days, cutoff, end).group_by("account_id").agg(
            pl.col(PLURAL[k]).sum().alias(_label(k, h)) for k in kinds)
        out = rows.join(received, on="account_id", how="left").fill_null(0)
    return out.select("account_id", *label_columns(tables, config))
