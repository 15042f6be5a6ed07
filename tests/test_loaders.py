"""Real datasets into the contract (skipped, with the reason, when ../shared/data is absent)."""

import pandas as pd
import pytest

from clout.data.loaders import load_congress, load_higgs, load_upworthy
from clout.data.validation import validate
from support import shared_dataset

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def congress():
    return load_congress(shared_dataset("congress"))


def test_congress_loads_valid_with_counts_marked_as_observed_at_collection(congress):
    clean, report = validate(congress)
    assert report.ok
    assert len(congress.accounts) == 520 and len(congress.posts) == 102_434
    assert congress.engagements is None and congress.follows is None
    # profile counters and post counts carry the time they were seen: the May 2016 crawl
    assert congress.accounts["observed_at"].notna().all()
    assert congress.accounts["observed_at"].nunique() == 1
    assert congress.accounts["observed_at"].iloc[0] > pd.Timestamp("2016-05-01", tz="UTC")
    originals = congress.posts[~congress.posts["is_repost"]]
    assert originals["retweets"].notna().all() and originals["counts_observed_at"].notna().all()
    assert (originals["counts_observed_at"] >= originals["created_at"]).all()
    # a retweet row's counts are the original tweet's, so they are not this account's
    reposts = congress.posts[congress.posts["is_repost"]]
    assert len(reposts) == 102_434 - 80_179 and reposts["retweets"].isna().all()
    # party and chamber from legislators.csv: the two accounts it lacks have none
    communities = congress.accounts["community"].value_counts(dropna=False)
    assert communities.to_dict() == {"R House": 241, "D House": 186, "R Senate": 50,
                                     "D Senate": 39, "I Senate": 2, pd.NA: 2}


def test_higgs_loads_events_without_posts():
    higgs = load_higgs(shared_dataset("higgs"))
    clean, report = validate(higgs)
    assert report.ok
    assert higgs.posts is None and higgs.follows is None
    kinds = higgs.engagements["kind"].value_counts()
    assert kinds["retweet"] == 354_930 and kinds["mention"] == 171_237 and kinds["reply"] == 36_902
    span = higgs.engagements["created_at"]
    assert span.min() >= pd.Timestamp("2012-07-01", tz="UTC")
    assert span.max() < pd.Timestamp("2012-07-08", tz="UTC")
    assert set(higgs.accounts["account_id"]) == (set(higgs.engagements["actor_id"])
                                                 | set(higgs.engagements["account_id"]))


def test_upworthy_loads_packages_as_posts_of_one_site():
    upworthy = load_upworthy(shared_dataset("upworthy"))
    clean, report = validate(upworthy)
    assert report.ok
    posts = upworthy.posts
    assert len(upworthy.accounts) == 1 and len(posts) == 22_666
    assert posts["campaign_id"].nunique() == 4_873
    assert (posts["clicks"] <= posts["impressions"]).all()
    # the Monday of the test week (week 00 of a year starts on 1 January)
    start = posts["created_at"]
    assert (start.dt.day_of_week.eq(0) | (start.dt.month.eq(1) & start.dt.day.eq(1))).all()
