"""Influence by topic: the simulator's per-topic truth, the shrunk topic ratios, the topic table
and the audience (`clout.scoring.topics`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from clout.data.influence import TOPIC_TRUTH
from clout.features.build import load_tables
from clout.prepare import current_features
from clout.scoring.topics import TopicPrior, model_topics, topic_agreement, topic_truth


def test_the_per_post_truth_is_a_mix_of_the_per_topic_truths(tiny_world):
    _, truth = tiny_world
    per_topic = truth[[c for c in truth.columns if c.startswith(TOPIC_TRUTH)]].to_numpy()
    assert per_topic.shape[1] == 8
    overall = truth["true_influence"].to_numpy()
    # an account's posts are a mix of topics: its per-post truth lies between its topics'
    assert (per_topic.min(axis=1) <= overall * (1 + 1e-9)).all()
    assert (overall <= per_topic.max(axis=1) * (1 + 1e-9)).all()
    engaged = truth["true_reach"] > 1
    spread = per_topic[engaged].max(axis=1) / per_topic[engaged].min(axis=1)
    assert np.median(spread) > 1.2  # topics differ within an account: there is something to find


def _evidence(ratios: np.ndarray, rng, posts: int = 60, rate: float = 5.0) -> pd.DataFrame:
    """Two topics per account, `posts` posts on each, half with odd ids; engagement Poisson
    around the account's rate times its true ratio on the topic."""
    rows = []
    for account, pair in enumerate(ratios):
        for topic, ratio in zip(("a", "b"), pair, strict=True):
            halves = rng.poisson(rate * ratio * posts / 2, 2).astype(float)
            rows.append({"account_id": account, "topic": topic, "posts": posts,
                         "engagement": halves.sum(), "posts_0": posts / 2,
                         "posts_1": posts / 2, "engagement_0": halves[0],
                         "engagement_1": halves[1], "audience_share": 0.5})
    frame = pd.DataFrame(rows)
    own = frame.groupby("account_id")[["engagement", "posts"]].transform("sum")
    frame["expected_at_own_rate"] = frame["posts"] * own["engagement"] / own["posts"]
    return frame


def test_the_prior_trusts_topic_evidence_only_as_far_as_it_predicts_held_out_posts():
    rng = np.random.default_rng(0)
    real = _evidence(np.exp(rng.normal(0, 0.6, (300, 2))), rng)
    noise = _evidence(np.ones((300, 2)), rng)
    strong, weak = TopicPrior.fit(real), TopicPrior.fit(noise)
    assert strong.strength < 50 < weak.strength  # real differences: little shrinkage
    # each ratio lies between the prior's and what the account's own posts say
    raw = real["engagement"] / real["expected_at_own_rate"]
    prior = strong.expected(real)
    ratio = strong.ratio(real)
    assert ((ratio - prior) * (raw - ratio) >= -1e-12).all()
    assert np.corrcoef(ratio, raw)[0, 1] > 0.9
    assert np.ptp(weak.ratio(noise)) < np.ptp(noise["engagement"] / noise[
        "expected_at_own_rate"]) / 5  # noise: everyone kept near the prior


@pytest.fixture(scope="module")
def topics(tiny_run):
    result, _ = tiny_run
    scores = result.model.score(current_features(result.source, result.model.feature_config))
    tables = load_tables(result.source.dataset)
    return result, scores, tables, model_topics(result.model, scores, tables)


def test_the_topic_table_has_a_row_per_topic_an_account_posted_on(topics):
    result, scores, tables, found = topics
    table = found.scores
    window = max(result.model.feature_config.windows)
    cutoff = tables.last_day + 1
    posted = (tables.posts.filter(pl.col("day").is_between(cutoff - window, cutoff - 1))
              .group_by("account_id", "topic").len("posts").to_pandas())
    posted["account_id"] = tables.ids.to_numpy()[posted["account_id"]]
    merged = table.merge(posted, on=["account_id", "topic"], how="outer", indicator=True,
                         suffixes=("", "_posted"))
    assert (merged["_merge"] == "both").all() and (merged["posts"] == merged[
        "posts_posted"]).all()
    ranks = table.groupby("account_id")["topic_rank"].agg(["min", "max", "size"])
    assert (ranks["min"] == 1).all() and (ranks["max"] == ranks["size"]).all()
    assert table["topic_score"].between(1, 100).all()
    # the topic score is the amplification component's map of the topic's expected engagement
    amplification_map = result.model.component_maps["amplification"]
    shown = table["amplification"] > 0
    assert (table.loc[shown, "topic_score"].to_numpy()
            == amplification_map(table.loc[shown, "expected_engagement"])).all()
    # an account that showed nothing shows nothing on any topic
    silent = scores.loc[scores["why_score_1"].str.startswith("no "), "account_id"]
    assert (table.loc[table["account_id"].isin(silent), "topic_score"] == 1).all()


def test_the_audience_says_who_reacts(topics):
    _, scores, _, found = topics
    shares = found.audience_topics.groupby("account_id")["share"].sum()
    assert np.allclose(shares, 1.0)
    audience = found.audience_summary()
    assert (audience["influential_engagers"] <= audience["engagers"]).all()
    assert (audience["credible_engagers"] <= audience["engagers"] + 1e-9).all()
    assert audience["influential_engagers"].sum() > 0
    assert audience["audience_topics"].str.fullmatch(r"[^,]+ \d+%(, [^,]+ \d+%)*").all()
    assert set(audience["account_id"]) <= set(scores["account_id"])
    # the simulator knows no communities: none said
    assert found.audience_communities.empty and audience["audience_communities"].isna().all()


def test_topic_scores_rank_accounts_by_their_per_topic_truth(topics):
    result, _, _, found = topics
    per_topic, best = topic_agreement(found.scores, topic_truth(result.source.truth))
    means = per_topic.drop(columns=["topic", "accounts"]).mean()
    assert means["topic score"] > 0.8
    assert means["topic score"] > max(means["history mean"], means["history log1p-mean"])
    assert 0 < best["true best topic in top 2"] <= 1 and best["accounts with 3+ topics"] > 50


@pytest.mark.realdata
def test_congress_topics_are_learned_before_the_cutoff_and_audiences_have_communities():
    from clout.config import load_experiment
    from clout.prepare import load_source, topic_context
    from clout.scoring.topics import score_topics
    from support import ROOT, shared_dataset

    experiment = load_experiment(ROOT / "experiments/congress.yaml",
                                 **{"data.path": str(shared_dataset("congress"))})
    tables = load_tables(load_source(experiment.data).dataset)
    cutoff = pd.Timestamp("2016-04-18", tz="UTC")
    context = topic_context(experiment.data, tables, cutoff)
    # topics learned from the text before the cutoff, named by their top terms
    assert tables.posts["topic"].is_null().all()
    assert context.tables.posts["topic"].n_unique() == 21  # 20 learned, and none
    terms = context.terms()
    assert len(terms) == 20
    assert all(top.startswith(label) for label, top in zip(terms["topic"], terms["top_terms"],
                                                           strict=True))
    assert context.who is not None and len(context.who.events) > 10_000
    scores = pd.DataFrame({"account_id": tables.ids.to_numpy(), "cutoff": cutoff,
                           "expected_engagement": 1.0, "score": 50})
    found = score_topics(scores, context.tables, experiment.features, lambda x: x * 0 + 50,
                         {"retweet": 1.0, "like": 1.0}, context.who)
    # the audiences come from the members' engagement of one another
    shares = found.audience_communities
    assert np.allclose(shares.groupby("account_id")["share"].sum(), 1.0)
    community = pd.Series(tables.accounts["community"].to_numpy(), index=tables.ids.to_numpy())
    own = shares[shares["community"].to_numpy()
                 == community.reindex(shares["account_id"]).to_numpy()]
    # members are mostly engaged by their own party and chamber: far above its share of members
    house_d = own[community.reindex(own["account_id"]).eq("D House").to_numpy()]["share"]
    assert house_d.mean() > 0.6 > (community == "D House").mean()
    said = found.audience_summary()["audience_communities"].dropna()
    assert len(said) > 400 and said.str.fullmatch(r"[DRI] (House|Senate) \d+%(, .+)?").all()
    # without the members' engagement, a source that only counts has no audience
    alone = score_topics(scores, context.tables, experiment.features, lambda x: x * 0 + 50,
                         {"retweet": 1.0, "like": 1.0})
    assert alone.audience.empty
