"""Point-in-time features: hand-computed values, the pandas reference, the catalogue, sources."""

from dataclasses import replace

import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from clout.data.kinds import KINDS
from clout.data.schema import conform
from clout.data.simulator import preset, simulate
from clout.data.validation import validate
from clout.features.build import build_features, load_tables
from clout.features.catalogue import FEATURES, LABELS, catalogue_frame, column, markdown
from clout.features.config import FeatureConfig
from clout.features.days import weekly_cutoffs
from clout.features.families import feature_columns
from clout.features.labels import label_columns
from clout.features.partials import in_order, pair_key, partials
from reference import REFERENCE_FEATURES, reference_features
from support import ROOT, utc

CONFIG = FeatureConfig(windows=(1, 7), horizon_days=1)


def row(frame, account, cutoff):
    return frame[(frame["account_id"] == account) & (frame["cutoff"] == utc(cutoff))].iloc[0]


def test_hand_computed_values_on_three_rows(three_rows):
    # cutoff 2024-01-03: posts 10, 11 (account 1) are before it, post 12 (account 3) is not
    features = build_features(three_rows, [utc("2024-01-03")], CONFIG)
    one = row(features, 1, "2024-01-03")
    assert one["posts_7d"] == 2 and one["posts_1d"] == 1  # 11 is on 2 Jan, 10 on 1 Jan
    assert one["active_days_7d"] == 2 and one["days_since_last_post"] == 1
    assert one["followers"] == 2 and one["following"] == 0
    assert one["unique_engagers_7d"] == 2  # accounts 2 (click) and 3 (retweet)
    assert one["retweets_per_post_7d"] == 0.5 and one["clicks_per_post_7d"] == 0.5
    assert one["retweets_per_post_1d"] == 0  # no engagement on 2 Jan, one post that day
    assert one["engaged_follower_share_7d"] == 1.0 and one["silent_follower_share"] == 0.0
    assert one["engager_concentration_7d"] == 0.5  # two engagers, one event each
    assert one["link_share_7d"] == 0.5
    assert one["account_age_days"] == 367  # created 2023-01-01
    # labels over [3 Jan, 4 Jan): account 3 posts post 12 and gets a like on it
    three = row(features, 3, "2024-01-03")
    assert three["label_posts_1d"] == 1 and three["label_likes_1d"] == 1
    assert three["label_likes_per_post_1d"] == 1.0
    assert pd.isna(three["retweets_per_post_7d"])  # no posts in the window: unknown, not 0
    assert pd.isna(row(features, 1, "2024-01-03")["label_retweets_per_post_1d"])


def test_credible_labels_leave_out_engagement_traded_back(three_rows):
    # Account 1 likes post 12 of account 3 on 3 Jan; account 3 retweeted account 1 on 1 Jan.
    # Within the 7-day window that like is traded back, so it is not credible engagement;
    # with a 1-day window, 1 Jan is too long ago and the like counts.
    three = row(build_features(three_rows, [utc("2024-01-03")], CONFIG), 3, "2024-01-03")
    assert three["label_likes_1d"] == 1 and three["label_likes_credible_1d"] == 0
    assert three["label_likes_credible_per_post_1d"] == 0.0
    short = FeatureConfig(windows=(1,), horizon_days=1)
    three = row(build_features(three_rows, [utc("2024-01-03")], short), 3, "2024-01-03")
    assert three["label_likes_credible_1d"] == 1


def test_credible_engagement_counts_engagers_that_acted_before_or_are_trusted(three_rows):
    # Two throwaways (created long ago, never active: dormant) like post 12 on 3 Jan.
    throwaways = conform(pd.DataFrame({"account_id": [8, 9], "network": "test",
                                       "created_at": [utc("2020-01-01")] * 2}), "accounts")
    likes = conform(pd.DataFrame({
        "actor_id": [8, 9], "account_id": [3, 3], "post_id": [12, 12], "kind": "like",
        "created_at": [utc("2024-01-03 02:00")] * 2, "cascade_depth": 1}), "engagements")
    dataset = replace(three_rows, accounts=pd.concat([three_rows.accounts, throwaways],
                                                     ignore_index=True),
                      engagements=pd.concat([three_rows.engagements, likes], ignore_index=True))
    short = FeatureConfig(windows=(1,), horizon_days=1)
    three = row(build_features(dataset, [utc("2024-01-03")], short), 3, "2024-01-03")
    # at the cutoff they had never acted and nobody credible engaged them: their likes count
    # for nothing, account 1's (established: it posted on 1 Jan) counts whole
    assert three["label_likes_1d"] == 3 and three["label_likes_credible_1d"] == 1
    at = build_features(dataset, [utc("2024-01-03"), utc("2024-01-05")], short, labels=False)
    assert row(at, 8, "2024-01-03")["credibility"] == 0.0
    assert row(at, 1, "2024-01-03")["credibility"] == 1.0
    # by 5 Jan they acted 2 days before: established on a 4-day history (half of it)
    assert row(at, 8, "2024-01-05")["credibility"] == 1.0


def test_reach_and_network_labels_count_credible_engagers_once_and_their_standing(three_rows):
    # Account 1 (established, followed by 2 and 3) likes post 12 of account 3 twice over (a
    # like and a retweet) and follows account 3; two dormant throwaways like it too. Account 2
    # liked account 1's post 11 on 2 Jan: account 1's standing is log(1 + 1 credible engager).
    throwaways = conform(pd.DataFrame({"account_id": [8, 9], "network": "test",
                                       "created_at": [utc("2020-01-01")] * 2}), "accounts")
    events = conform(pd.DataFrame({
        "actor_id": [2, 1, 8, 9], "account_id": [1, 3, 3, 3], "post_id": [11, 12, 12, 12],
        "kind": ["like", "retweet", "like", "like"],
        "created_at": [utc("2024-01-02 12:00")] + [utc("2024-01-03 02:00")] * 3,
        "cascade_depth": 1}), "engagements")
    follows = conform(pd.DataFrame({"follower_id": [1], "followee_id": [3],
                                    "created_at": [utc("2023-08-01")]}), "follows")
    dataset = replace(three_rows, accounts=pd.concat([three_rows.accounts, throwaways],
                                                     ignore_index=True),
                      engagements=pd.concat([three_rows.engagements, events], ignore_index=True))
    short = FeatureConfig(windows=(1,), horizon_days=1)

    def account_3(data):
        return row(build_features(data, [utc("2024-01-03")], short), 3, "2024-01-03")
    three = account_3(dataset)
    assert three["label_engagement_1d"] == 4  # every engagement on post 12, bought or not
    assert three["label_engagers_credible_1d"] == 1.0  # account 1, once for two engagements
    # account 1 does not follow account 3 yet: nobody of its own audience reacted
    assert three["label_engaged_followers_credible_1d"] == 0.0
    assert pd.isna(three["label_engager_standing_1d"])
    three = account_3(replace(dataset, follows=pd.concat([dataset.follows, follows],
                                                         ignore_index=True)))
    assert three["label_engaged_followers_credible_1d"] == 1.0
    assert three["label_engager_standing_1d"] == pytest.approx(np.log1p(1))
    one = row(build_features(dataset, [utc("2024-01-03")], short, labels=False), 1,
              "2024-01-03")
    assert one["credible_engagers_1d"] == 1.0
    assert one["engager_standing_1d"] == 0.0  # account 2 itself: nobody engaged it


def test_trust_flows_from_established_accounts_to_those_they_engage():
    from clout.features.credibility import credibility, established

    first_active = np.array([0, 0, 0, 95, 95, 95])  # 0-2 established at day 100, 3-5 not
    assert established(first_active, 100).tolist() == [True] * 3 + [False] * 3
    # 0, 1 and 2 each engage 3 (an established audience); 4 and 5 engage each other
    engager = np.array([0, 1, 2, 4, 5])
    engaged = np.array([3, 3, 3, 5, 4])
    credible, trust = credibility(engaged, engager, np.ones(5), np.arange(6), first_active, 100)
    assert credible[:3].tolist() == [1.0] * 3
    assert credible[3] > 0.5 and credible[4] == credible[5] == 0.0  # no trust, only a ring
    assert trust[3] > 1.0  # three established accounts vouch for it


def test_coordinated_pairs_engage_every_post_of_an_author_or_of_every_author():
    from clout.features.credibility import coordinated

    # engager 0: 5 of author A's 5 posts in its span; 1: 3 of 10; 2: 2 of 2 posts of each of
    # three authors (every post, everywhere); 3: 1 post each of three authors (says nothing);
    # 4: 2 of 2 posts of one author only (too few to tell)
    engager = np.array([0, 1, 2, 2, 2, 3, 3, 3, 4])
    engaged_posts = np.array([5, 3, 2, 2, 2, 1, 1, 1, 2])
    span = np.array([5, 10, 2, 2, 2, 1, 1, 1, 2])
    assert coordinated(engager, engaged_posts, span, 5).tolist() == [
        True, False, True, True, True, False, False, False, False]
    # a genuine fan engaging most posts but skipping some stays credible
    assert not coordinated(np.array([0]), np.array([8]), np.array([10]), 1)[0]


def _lockstep_by_brute_force(engaged, engager, new):
    """The lockstep rule written out with sets, pair by pair."""
    from clout.features.credibility import LOCKSTEP_AUDIENCE, LOCKSTEP_SHARED

    before = {a: {e for e, b, n in zip(engager, engaged, new, strict=True) if b == a and not n}
              for a in set(engaged)}
    small = {a for a in before if len(before[a]) <= LOCKSTEP_AUDIENCE}
    took_up = {e: {b for x, b, n in zip(engager, engaged, new, strict=True) if x == e and n}
               for e in set(engager)}
    in_step = {e for e in took_up for other in took_up
               if other != e and len(took_up[e] & took_up[other] & small) >= LOCKSTEP_SHARED}
    return [bool(n) and e in in_step for e, n in zip(engager, new, strict=True)]


def test_lockstep_is_two_accounts_taking_up_the_same_small_accounts_together():
    from clout.features.credibility import LOCKSTEP_AUDIENCE, LOCKSTEP_SHARED, lockstep

    # engagers 10 and 11 newly engage small authors 0-6 together, and 10 newly engages 7 alone:
    # all their new pairs are in lockstep; 12 and 13 take up 20-25 together (one author too
    # few); 14 takes up 0-6 a month before the recent window (not new)
    shared = LOCKSTEP_SHARED
    rows = [(a, e) for e in (10, 11) for a in range(shared)] + [(shared, 10)]
    group = len(rows)
    rows += [(a, e) for e in (12, 13) for a in range(20, 20 + shared - 1)]
    rows += [(a, 14) for a in range(shared)]
    engaged, engager = (np.array(c) for c in zip(*rows, strict=True))
    new = np.arange(len(rows)) < len(rows) - shared
    flags = lockstep(engaged, engager, new, 30)
    assert flags.tolist() == [True] * group + [False] * (len(rows) - group)
    # author 0 with a large audience before the recent window is not small: 10 and 11 share
    # one small author too few
    audience = np.arange(30, 30 + LOCKSTEP_AUDIENCE + 1)
    engaged2 = np.r_[engaged, np.zeros(len(audience), int)]
    engager2 = np.r_[engager, audience]
    new2 = np.r_[new, np.zeros(len(audience), bool)]
    assert not lockstep(engaged2, engager2, new2, 60)[:group].any()
    # no new pair, no lockstep
    assert not lockstep(engaged, engager, np.zeros(len(rows), bool), 30).any()
    # and on random graphs, dense enough for groups, it is the rule written out by hand
    rng = np.random.default_rng(0)
    flagged, judged = 0, 0
    for _ in range(20):
        pairs = np.unique(rng.integers(0, [10, 6], size=(90, 2)), axis=0)
        engaged, engager = pairs[:, 0], 10 + pairs[:, 1]
        new = rng.random(len(pairs)) < 0.9
        flags = lockstep(engaged, engager, new, 16)
        assert flags.tolist() == _lockstep_by_brute_force(engaged, engager, new)
        flagged, judged = flagged + flags.sum(), judged + new.sum()
    assert 0 < flagged < judged


def _circles_by_brute_force(engaged, engager, new):
    """The circle rule written out with sets: a small account is in a circle when an account it
    newly engages (one way) reaches it back through such pairs among small accounts."""
    from clout.features.credibility import LOCKSTEP_AUDIENCE

    rows = list(zip(engaged, engager, new, strict=True))
    pairs = {(a, e) for a, e, _ in rows}
    small = {x for x in set(engaged) | set(engager)
             if sum(1 for a, _, n in rows if a == x and not n) <= LOCKSTEP_AUDIENCE}
    one_way = {(a, e) for a, e, n in rows if n and (e, a) not in pairs}
    step = {e: {a for a, x in one_way if x == e and a in small and e in small} for e in small}

    def reaches(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in step.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen
    member = {x for x in small if x in reaches(x)}
    member |= {x for x in set(engaged) | set(engager)
               if any(e in member for a, e in one_way if a == x)
               and any(a in member for a, e in one_way if e == x)}
    return [(a, e) in one_way and a in member and e in member for a, e, _ in rows]


def test_a_circle_is_small_accounts_newly_taking_one_another_up():
    from clout.features.credibility import LOCKSTEP_AUDIENCE, circles

    # a pod of five taking turns: each newly engages the next two round the circle (never both
    # ways); 10 and 11 newly engage 0 and 1 as an audience does (no circle back); 5 -> 6 -> 7
    # is a chain, not a circle; 8 and 9 trade engagement (traded, not a circle)
    rows = [((i + j) % 5, i) for i in range(5) for j in (1, 2)]
    pod = len(rows)
    rows += [(0, 10), (1, 10), (1, 11), (6, 5), (7, 6), (8, 9), (9, 8)]
    engaged, engager = (np.array(c) for c in zip(*rows, strict=True))
    new = np.ones(len(rows), bool)
    assert circles(engaged, engager, new, 12).tolist() == [True] * pod + [False] * 7
    # pairs engaged before the recent window are no circle
    assert not circles(engaged, engager, np.zeros(len(rows), bool), 12).any()
    # member 0 with a large audience before the recent window is not small, yet it is engaged
    # by members and engages members: it stays in the circle with the others
    audience = np.arange(20, 20 + LOCKSTEP_AUDIENCE + 1)
    flags = circles(np.r_[engaged, np.zeros(len(audience), int)], np.r_[engager, audience],
                    np.r_[new, np.zeros(len(audience), bool)], 20 + len(audience))
    assert flags[:pod].all() and not flags[pod:].any()
    # and on random graphs it is the rule written out by hand
    rng = np.random.default_rng(0)
    flagged = 0
    for _ in range(30):
        pairs = np.unique(rng.integers(0, 12, size=(25, 2)), axis=0)
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        engaged, engager = pairs[:, 0], pairs[:, 1]
        new = rng.random(len(pairs)) < 0.9
        flags = circles(engaged, engager, new, 12)
        assert flags.tolist() == _circles_by_brute_force(engaged, engager, new)
        flagged += flags.sum()
    assert flagged > 0

def _group_world(camouflage: int = 0, seed: int = 0):
    """New pairs (engaged, engager) among 400 small authors: 300 honest engagers taking up 1-3
    authors at random, a star of 40 engagers of author 0, and a group of 30 engagers (1000+)
    each taking up a random 30 % of authors 380-399, plus `camouflage` honest authors each."""
    rng = np.random.default_rng(seed)
    pairs = [(a, e) for e in range(400, 700)
             for a in rng.choice(380, rng.integers(1, 4), replace=False)]
    pairs += [(0, e) for e in range(700, 740)]
    group = [(a, e) for e in range(1000, 1030)
             for a in 380 + np.flatnonzero(rng.random(20) < 0.3)]
    group += [(a, e) for e in range(1000, 1030)
              for a in rng.choice(380, camouflage, replace=False)]
    pairs = np.unique(np.array(pairs + group), axis=0)
    in_group = pairs[:, 1] >= 1000
    return pairs[:, 0], pairs[:, 1], in_group


def test_a_group_is_many_accounts_each_taking_up_a_few_of_the_same_small_accounts():
    from clout.features.credibility import groups, lockstep

    for camouflage in (0, 10):  # camouflage, honest pairs of the group, does not hide it
        engaged, engager, in_group = _group_world(camouflage)
        new = np.ones(len(engaged), dtype=bool)
        flags = groups(engaged, engager, new, 1100)
        # every engager of the group took up two of its authors or more: all caught, with
        # its camouflage; no honest engager, the star's neither
        took = np.bincount(engager[in_group & (engaged >= 380)], minlength=1100)
        assert (took[1000:1030] >= 2).all()
        assert flags[in_group].all() and not flags[~in_group].any()
        # each pair of them shares too few authors to be in lockstep
        assert not lockstep(engaged, engager, new, 1100)[in_group & (engaged >= 380)].any()
    # the same pairs, none new: no group
    assert not groups(engaged, engager, np.zeros(len(engaged), bool), 1100).any()
    # honest engagers alone form none
    honest = ~in_group
    assert not groups(engaged[honest], engager[honest], new[honest], 1100).any()


def test_a_spree_is_one_account_taking_up_many_small_accounts_each_heavily():
    from clout.features.credibility import COORDINATED_POSTS, SPREE_AUTHORS, sprees

    # honest engagers (400-699) take up 1-3 of 380 small authors, a few posts each at most;
    # one busy reader (800) takes up 40 of them lightly and SPREE_AUTHORS - 1 heavily; one
    # account (900) takes up SPREE_AUTHORS authors on COORDINATED_POSTS posts each, and likes a
    # post of 30 others (camouflage)
    rng = np.random.default_rng(0)
    honest = [(a, e, rng.integers(1, COORDINATED_POSTS + 1)) for e in range(400, 700)
              for a in rng.choice(380, rng.integers(1, 4), replace=False)]
    busy = [(a, 800, COORDINATED_POSTS if i < SPREE_AUTHORS - 1 else 1)
            for i, a in enumerate(rng.choice(380, 40, replace=False))]
    spree = [(a, 900, COORDINATED_POSTS) for a in range(SPREE_AUTHORS)]
    spree += [(a, 900, 1) for a in range(100, 130)]
    engaged, engager, posts = np.array(honest + busy + spree).T
    new = np.ones(len(engaged), bool)
    flags = sprees(engaged, engager, new, 1000, posts)
    # all of the spree's new pairs, its camouflage too; none of anyone else's
    assert flags[engager == 900].all() and not flags[engager != 900].any()
    # one heavy author fewer is no spree; pairs not new never are
    fewer = ~((engager == 900) & (engaged == 0))
    assert not sprees(engaged[fewer], engager[fewer], new[fewer], 1000, posts[fewer]).any()
    assert not sprees(engaged, engager, ~new, 1000, posts).any()


def test_traded_engagement_share_by_hand(three_rows):
    # by 4 Jan: account 1 got a click (from 2) and a retweet (from 3), and liked 3's post, so
    # half of its engagement was traded back; all of account 3's (1's like) was
    features = build_features(three_rows, [utc("2024-01-04")], CONFIG, labels=False)
    assert row(features, 1, "2024-01-04")["traded_engagement_share_7d"] == 0.5
    assert row(features, 3, "2024-01-04")["traded_engagement_share_7d"] == 1.0
    # the like came on 3 Jan, after the cutoff of 3 Jan: nothing was traded back before it
    before = build_features(three_rows, [utc("2024-01-03")], CONFIG, labels=False)
    assert row(before, 1, "2024-01-03")["traded_engagement_share_7d"] == 0.0


def test_population_is_accounts_existing_before_the_cutoff(three_rows):
    newcomer = conform(pd.DataFrame({"account_id": [4], "network": "test",
                                     "created_at": [utc("2024-01-02 12:00")]}), "accounts")
    dataset = replace(three_rows, accounts=pd.concat([three_rows.accounts, newcomer],
                                                     ignore_index=True))
    validate(dataset)
    features = build_features(dataset, [utc("2024-01-02"), utc("2024-01-03")], CONFIG)
    assert set(features.loc[features["cutoff"] == utc("2024-01-02"), "account_id"]) == {1, 2, 3}
    assert set(features.loc[features["cutoff"] == utc("2024-01-03"), "account_id"]) == {
        1, 2, 3, 4}


def test_cutoffs_must_be_midnights_and_labels_complete(three_rows):
    with pytest.raises(ValueError, match="not a UTC midnight"):
        build_features(three_rows, [utc("2024-01-03 12:00")], CONFIG)
    with pytest.raises(ValueError, match="labels would be incomplete"):
        build_features(three_rows, [utc("2024-01-03")], FeatureConfig(horizon_days=14))
    # without labels any cutoff goes
    features = build_features(three_rows, [utc("2024-01-03")], FeatureConfig(horizon_days=14),
                              labels=False)
    assert not any(c.startswith("label_") for c in features.columns)


def test_fast_path_matches_the_pandas_reference(tiny_world):
    dataset, _ = tiny_world
    tables = load_tables(dataset)
    cutoffs = weekly_cutoffs(tables, 3, 14)
    config = FeatureConfig(windows=(7, 28), horizon_days=14)
    fast = build_features(tables, cutoffs, config).set_index(["cutoff", "account_id"])
    for cutoff in cutoffs:
        expected = reference_features(dataset, cutoff, config.windows, config.horizon_days)
        got = fast.loc[cutoff].loc[expected.index, expected.columns]
        pd.testing.assert_frame_equal(got.astype(float), expected.astype(float), atol=1e-9,
                                      check_names=False)
    assert {n.replace("{w}", "7").replace("{h}", "14") for n in REFERENCE_FEATURES} <= set(
        fast.columns)


def test_same_input_same_features_to_the_last_bit():
    """Float sums must add in a fixed order: Polars group-bys return groups in any order."""
    tables = load_tables(simulate(preset("small"))[0])
    cutoffs = weekly_cutoffs(tables, 4, 14)
    pd.testing.assert_frame_equal(build_features(tables, cutoffs), build_features(tables, cutoffs),
                                  check_exact=True)


def test_packed_partials_count_what_their_definitions_count(tiny_world):
    """pair_days, pair_posts and actor_events pack their keys into one int64 where they fit:
    their rows are those of the plain group-bys that define them, also when post ids are too
    large to pack, and for engagements of posts not in the posts table."""
    tables = load_tables(tiny_world[0])
    others = tables.events.lazy().filter(pl.col("actor_id") != pl.col("account_id"))
    pair = pair_key(pl.col("account_id"), pl.col("actor_id"), len(tables.ids)).alias("pair")
    pair_days = others.group_by(pair, "day").agg(
        (pl.col("kind") == k).sum().cast(pl.Int32).alias(KINDS.plural(k))
        for k in tables.event_kinds)
    pair_posts = (others.drop_nulls("post_id").group_by("account_id", "actor_id", "post_id")
                  .agg(pl.col("day").min())
                  .join(tables.posts.lazy().select("post_id", pl.col("day").alias("post_day")),
                        on="post_id")
                  .group_by(pair, "post_day", "day").len("posts"))

    def actor_events(source):
        return in_order("actor_events", others.join(
            source.posts.lazy().select("post_id", pl.col("day").alias("post_day")),
            on="post_id", how="left").group_by("account_id", "actor_id", "kind", "post_day",
                                               "day").len("n").with_columns(pl.col("n").cast(pl.Int64))
        ).collect()
    far = pl.col("post_id") + 2**62
    shifted = replace(tables, posts=tables.posts.with_columns(far),
                      events=tables.events.with_columns(far))
    for source in (tables, shifted):
        got = partials(source, FeatureConfig(), ("pair_days", "pair_posts", "actor_events"))
        assert_frame_equal(got.pair_days, in_order("pair_days", pair_days).collect())
        assert_frame_equal(got.pair_posts, in_order("pair_posts", pair_posts).collect())
        assert_frame_equal(got.actor_events, actor_events(tables))
    unknown_posts = replace(tables, posts=tables.posts.filter(pl.col("post_id") % 3 != 0))
    got = partials(unknown_posts, FeatureConfig(), ("actor_events",)).actor_events
    assert got["post_day"].null_count() > 0
    assert_frame_equal(got, actor_events(unknown_posts))


def test_built_columns_are_exactly_the_catalogued_ones(tiny_world):
    tables = load_tables(tiny_world[0])
    config = FeatureConfig()
    features = build_features(tables, weekly_cutoffs(tables, 1, 14), config)
    expected = ["account_id", "cutoff", *feature_columns(tables, config),
                *label_columns(tables, config)]
    assert list(features.columns) == expected
    templates = {f.name for f in (*FEATURES, *LABELS)}
    assert len(templates) == len(FEATURES) + len(LABELS)  # one definition per name
    # the simulator has every table, so every honest template is built
    honest = {f.name for f in FEATURES if not f.leaks}
    built = set(features.columns)
    for name in honest:
        assert any(f.columns(config.windows, tables.kinds)[0] == c for f in FEATURES
                   if f.name == name for c in built), name


def test_catalogue_documents_every_feature_and_docs_are_current():
    frame = catalogue_frame()
    assert frame["definition"].str.len().min() > 20
    assert set(frame["family"]) >= {"activity", "reach", "amplification", "network",
                                    "audience", "content", "label"}
    docs = (ROOT / "docs" / "features.md").read_text()
    assert docs == markdown(), ("docs/features.md is stale: run `clout features catalogue "
                                "--write docs/features.md`")


def test_a_source_without_events_or_graph_simply_lacks_those_features(three_rows):
    only_posts = replace(three_rows, engagements=None, follows=None)
    features = build_features(only_posts, [utc("2024-01-03")], CONFIG)
    assert "posts_7d" in features and "unique_engagers_7d" not in features
    assert "followers" not in features and "pagerank" not in features


def test_follows_without_times_are_left_out_of_the_graph(three_rows):
    untimed = three_rows.follows.assign(created_at=pd.Series([pd.NaT, pd.NaT],
                                                             dtype="datetime64[us, UTC]"))
    tables = load_tables(replace(three_rows, follows=untimed))
    assert tables.follows is None and tables.follows_without_time == 2
    assert "followers" not in feature_columns(tables, CONFIG)


def test_count_only_sources_use_settled_counts(three_rows):
    """Counts observed later count only for posts older than settle_days."""
    posts = three_rows.posts.assign(retweets=pd.array([4, 2, 0], "Int64"),
                                    counts_observed_at=utc("2024-02-01"))
    dataset = replace(three_rows, posts=conform(posts, "posts"), engagements=None)
    config = FeatureConfig(windows=(7,), horizon_days=1, settle_days=1)
    features = build_features(dataset, [utc("2024-01-03")], config)
    one = row(features, 1, "2024-01-03")
    # post 10 (1 Jan) has settled by 3 Jan, post 11 (2 Jan) has not: 4 retweets / 1 post
    assert one["retweets_per_post_7d"] == 4.0
    assert one["retweeted_post_share_7d"] == 0.5  # post 10 known retweeted; post 11 not yet


def test_the_catalogue_names_every_column_and_refuses_what_it_does_not_define():
    assert column("{kinds}_per_post_{w}d", window=90, kind="retweets") == "retweets_per_post_90d"
    assert column("label_posts_{h}d", horizon=14) == "label_posts_14d"
    with pytest.raises(KeyError, match="not a catalogue template"):
        column("retweets_per_post_{w}d", window=90)
    with pytest.raises(TypeError, match="window missing"):
        column("posts_{w}d")
    with pytest.raises(TypeError, match="kind given"):
        column("posts_{w}d", window=7, kind="likes")
