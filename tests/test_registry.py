"""Extending clout in one place: a new engagement kind, or a new feature family, is one
registration, and flows to the feature catalogue, the feature table and a trained head."""

import pandas as pd
import polars as pl
import pytest

from clout.config import Experiment
from clout.data.kinds import KINDS, EngagementKind, registered
from clout.data.validation import validate
from clout.features.build import build_features, load_tables
from clout.features.catalogue import (
    FEATURES,
    POSTS,
    Feature,
    catalogue_frame,
    column,
    column_features,
)
from clout.features.days import weekly_cutoffs
from clout.features.families import FAMILIES, Family, registered_family
from clout.features.partials import PARTIALS, Partial
from clout.features.schema import FeatureTable
from clout.features.window import ratio, window_sums
from clout.models.heads import Split
from clout.pipeline import fit_model

SHARE = EngagementKind("share", "shares", "Sent the post to someone by private message.")


def test_a_registered_kind_flows_to_the_contract_the_catalogue_the_table_and_a_head(
        tiny_world):
    dataset = tiny_world[0]
    # a source that has the new kind: every third like of the tiny world is a share instead
    events = dataset.engagements.copy()
    likes = events.index[events["kind"] == "like"][::3]
    with registered(SHARE):
        events["kind"] = events["kind"].astype(str)
        events.loc[likes, "kind"] = "share"
        clean, report = validate(dataset.__class__(dataset.accounts, dataset.follows,
                                                   dataset.posts, events))
        assert report.rows_quarantined("engagements") == 0
        assert "shares_per_post_90d" in column_features((7, 28, 90))
        tables = load_tables(clean)
        assert "share" in tables.event_kinds
        frame = build_features(tables, weekly_cutoffs(tables, 6, 14))
        for name in ("shares_per_post_7d", "credible_shares_90d",
                     "label_shares_credible_per_post_14d"):
            assert frame[name].notna().any(), name
        experiment = Experiment(name="shares", model={
            "heads": ["shares"], "num_boost_round": 30, "min_boost_rounds": 5,
            "components": False})
        table = FeatureTable.of(frame, experiment.features)
        model = fit_model(experiment, table, Split.of(table), say=lambda _: None)
        head = model.heads["shares"]
        assert head.label == "label_shares_credible_per_post_14d"
        assert head.booster.num_trees() >= 5 and head.offset.rate_column == (
            "credible_shares_per_post_90d")
    assert "share" not in KINDS and "shares_per_post_90d" not in column_features((7, 28, 90))


def test_a_kind_is_registered_once():
    with pytest.raises(ValueError, match="already registered"):
        KINDS.register(EngagementKind("like", "loves"))
    with pytest.raises(ValueError, match="already registered"):
        KINDS.register(EngagementKind("love", "likes"))


WEEKEND = Feature("weekend_post_share_{w}d", "content", "share",
                  "Share of the window's posts published on a Saturday or Sunday (UTC).",
                  (POSTS,))


def _weekend_days(tables, config, planned):
    if tables.posts is None:
        return None
    weekend = (pl.col("day") + 3) % 7 >= 5  # day 0, 1 January 1970, was a Thursday
    return tables.posts.lazy().group_by("account_id", "day").agg(
        pl.len().alias("posts"), weekend.sum().alias("weekend_posts"))


def _weekend_share(at):
    sums = window_sums(at.p.weekend_days, at.day, at.windows, ["posts", "weekend_posts"])
    return sums.select("account_id", *(
        ratio(pl.col(f"weekend_posts@{w}"), pl.col(f"posts@{w}"))
        .alias(column("weekend_post_share_{w}d", window=w)) for w in at.windows))


def test_a_registered_family_flows_to_the_catalogue_the_table_and_a_head(tiny_world):
    family = Family("weekend", (WEEKEND.name,), _weekend_share, ("weekend_days",))
    with registered_family(family, [WEEKEND], [Partial("weekend_days", _weekend_days)]):
        assert "weekend_post_share_28d" in column_features((7, 28, 90))
        assert "weekend_post_share_{w}d" in set(catalogue_frame()["name"])
        tables = load_tables(tiny_world[0])
        frame = build_features(tables, weekly_cutoffs(tables, 6, 14))
        shares = frame["weekend_post_share_28d"]
        assert shares.between(0, 1).any() and shares.dropna().between(0, 1).all()
        # by hand, for one account at one cutoff
        posts, cutoff = tiny_world[0].posts, frame["cutoff"].max()
        one = frame[(frame["cutoff"] == cutoff) & (frame["posts_28d"] > 5)].iloc[0]
        mine = posts[(posts["account_id"] == one["account_id"])
                     & (posts["created_at"] >= cutoff - pd.Timedelta(days=28))
                     & (posts["created_at"] < cutoff)]
        assert one["weekend_post_share_28d"] == pytest.approx(
            (mine["created_at"].dt.day_of_week >= 5).mean())
        experiment = Experiment(name="weekend", model={
            "num_boost_round": 30, "min_boost_rounds": 5, "components": False})
        table = FeatureTable.of(frame, experiment.features)
        model = fit_model(experiment, table, Split.of(table), say=lambda _: None)
        assert all("weekend_post_share_7d" in h.features for h in model.heads.values())
    assert "weekend" not in FAMILIES and "weekend_days" not in PARTIALS
    assert "weekend_post_share_28d" not in column_features((7, 28, 90))


def test_every_catalogued_feature_is_built_by_exactly_one_family():
    built = [name for family in FAMILIES.values() for name in family.features]
    assert sorted(built) == sorted(f.name for f in FEATURES)
    needed = {p for family in FAMILIES.values() for p in family.partials}
    assert needed <= set(PARTIALS)
