"""Features on the real datasets (skipped, with the reason, when ../shared/data is absent)."""

import pandas as pd
import pytest

from clout.data.loaders import load_congress, load_higgs, load_upworthy
from clout.features.build import build_features, load_tables
from clout.features.catalogue import FEATURES
from clout.features.config import FeatureConfig
from clout.features.days import weekly_cutoffs
from clout.features.families import feature_columns
from support import shared_dataset, utc

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def congress_tables():
    return load_tables(load_congress(shared_dataset("congress")))


def test_congress_profile_counters_leak_and_stay_out_of_the_honest_set(congress_tables):
    leaking = {f.name for f in FEATURES if f.leaks}
    honest = feature_columns(congress_tables, FeatureConfig())
    assert leaking.isdisjoint(honest)
    with_leaks = feature_columns(congress_tables, FeatureConfig(include_leaking=True))
    assert leaking <= set(with_leaks)  # there, but only on request
    cutoffs = weekly_cutoffs(congress_tables, 4, 14)
    features = build_features(congress_tables, cutoffs)
    assert not leaking & set(features.columns)
    assert features["cutoff"].max() + pd.Timedelta(days=14) <= utc("2016-05-05")


def test_congress_features_use_settled_counts_and_have_labels(congress_tables):
    features = build_features(congress_tables, weekly_cutoffs(congress_tables, 2, 14))
    assert features["account_id"].nunique() >= 500
    for column in ("retweets_per_post_28d", "likes_per_post_decay14d", "label_retweets_14d",
                   "label_retweets_per_post_14d", "retweeted_post_share_28d", "posts_7d"):
        assert features[column].notna().mean() > 0.5, column
    # no events, no graph: none of their features
    assert "unique_engagers_7d" not in features and "followers" not in features
    # labels divide by original posts only (retweet rows carry no counts)
    active = features[features["label_posts_14d"] > 0]
    assert (active["label_retweets_per_post_14d"] >= 0).all()


def test_congress_members_engaging_one_another_are_events_no_rule_discounts():
    from clout.data.validation import validate
    from clout.gaming import discounted_engagement

    dataset = load_congress(shared_dataset("congress"), engagements=True)
    events = dataset.engagements
    # retweets, quotes, replies and mentions among the members, never of oneself, each tweet
    # engaging an account once; on the post when the post is in the timelines
    assert set(events["kind"]) == {"retweet", "quote", "reply", "mention"}
    assert events["account_id"].isin(dataset.accounts["account_id"]).all()
    assert (events["actor_id"] != events["account_id"]).all()
    assert events.groupby(["actor_id", "account_id", "created_at"]).size().max() == 1
    on_posts = events.dropna(subset="post_id")
    assert 0 < len(on_posts) < len(events)
    clean, report = validate(dataset)
    assert not report.failures
    # timelines cut at each member's latest 200 tweets: most members were seen for less than
    # the longest window (365 days), where every pair would look new; the lockstep rule judges
    # only engagers seen over all of it, and Congress members are not found in lockstep
    discounted = discounted_engagement(FeatureConfig(windows=(7, 28, 90, 365)), clean)
    assert len(discounted) > 500 and (discounted["discounted"] == 0).all()


def test_higgs_events_give_engager_features_without_posts():
    tables = load_tables(load_higgs(shared_dataset("higgs")))
    cutoffs = [utc("2012-07-03"), utc("2012-07-05")]
    features = build_features(tables, cutoffs, FeatureConfig(windows=(1, 2), horizon_days=1))
    assert "posts_1d" not in features and "pagerank" in features
    assert {"retweets_2d", "mentions_2d", "label_retweets_1d"} <= set(features.columns)
    day = features[features["cutoff"] == utc("2012-07-05")]
    assert abs(day["pagerank"].mean() - 1) < 1e-6
    assert (day["unique_engagers_2d"] > 0).sum() > 10_000


def test_upworthy_builds_click_features():
    tables = load_tables(load_upworthy(shared_dataset("upworthy")))
    features = build_features(tables, weekly_cutoffs(tables, 3, 14))
    assert {"clicks_per_post_28d", "label_clicks_per_post_14d"} <= set(features.columns)
    assert len(features) == 3  # one account (the site), three cutoffs
