"""Influence with context: what an account is influential about, and over whom.

**About what.** For each account and each topic it posted on in the longest window, a topic
score on the amplification component's frozen map, so a point means the same as there: the
account's expected credible engagement per post *on that topic*. It is the account's
amplification (the heads' estimate from all its posts) times how its posts on the topic engage
compared with its posts overall, a ratio estimated with shrinkage (empirical Bayes,
gamma-Poisson):

    ratio = (s + e) / (s / prior + x)

`e` is the credible engagement the account's posts on the topic drew, `x` what they would have
drawn at the account's own overall rate, and `prior` what its audience says:
exp(base_t + a x log(1 + share / SHARE_SCALE)), `share` the part of its active followers (its
credible engagers, for a source without follows) who mostly post on the topic, fitted at the
cutoff by a Poisson regression in which every account weighs the same. The strength `s` is the
one with which half of the posts (even ids) best predict the other half's engagement, and back:
where an account's own topic evidence says little, it is trusted little, and one lucky post does
not make an expert. Engagement is counted as the amplification heads count it: each kind by its
weight in the score over its base rate, each engager by its credibility, discounted
(coordinated, lockstep, circle, group, spree) and traded engagement left out
(`features.credibility`); a source known only by counts counts its posts' settled counts.

**Over whom.** The account's credible engagers in the longest window: how many, how many of
them are influential themselves (score at least `INFLUENTIAL_SCORE`), and which topic each
mostly posts about (the audience's topics, each engager weighted by its credibility).

A source without topics has one topic, `NO_TOPIC`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl
from sklearn.linear_model import PoissonRegressor

from clout.data.influence import TOPIC_TRUTH
from clout.data.kinds import KINDS
from clout.features.config import FeatureConfig
from clout.features.families import (
    cutoff_graph,
    discount_partials,
    reverse_active,
    window_pairs,
)
from clout.features.partials import pair_key
from clout.features.tables import Tables
from clout.models.metrics import poisson_deviance, spearman
from clout.scoring.score import InfluenceModel

NO_TOPIC = "(no topic)"  # the one topic of a source without topics
SHARE_SCALE = 0.1  # the audience share at which the prior's audience term is log 2
INFLUENTIAL_SCORE = 50  # an engager scoring at least this counts as influential itself
#: the prior strengths tried, in units of expected engagement: from barely any shrinkage to
#: nearly none of the account's own topic evidence
STRENGTHS = np.geomspace(0.05, 5_000, 81)


@dataclass(frozen=True)
class TopicPrior:
    """The shrinkage prior at one cutoff: an account's ratio on a topic is expected to be
    exp(base_t + audience x log(1 + share / SHARE_SCALE)), share the part of its audience that
    mostly posts on the topic (people react more to what they themselves care about), with a
    gamma spread of strength s around it."""

    base: dict[str, float]  # topic -> log ratio of an account with no audience on it
    audience: float  # log ratio per unit of the audience term
    strength: float  # s: the prior counts as s units of engagement

    @classmethod
    def fit(cls, evidence: pd.DataFrame) -> TopicPrior:
        """A Poisson regression of the engagement of every (account, topic) of accounts that
        drew any (`x` > 0) on its topic and audience share, offset by what it would draw at
        the account's own rate; then the strength s that best predicts the engagement of each
        half of the posts (odd and even ids) from the other half's evidence."""
        seen = evidence[evidence["expected_at_own_rate"] > 0]
        topics = sorted(evidence["topic"].unique())
        if seen.empty:
            return cls(dict.fromkeys(topics, 0.0), 0.0, float(STRENGTHS[-1]))
        x = seen["expected_at_own_rate"].to_numpy(float)
        design = np.column_stack([_audience_term(seen),
                                  *(seen["topic"].to_numpy() == t for t in topics)])
        fit = PoissonRegressor(alpha=1e-8, fit_intercept=False, max_iter=1000).fit(
            design, seen["engagement"].to_numpy(float) / x,
            sample_weight=x / seen.groupby("account_id")["expected_at_own_rate"].transform(
                "sum").to_numpy())  # each account weighs the same: not a few big ones
        prior = cls(dict(zip(topics, map(float, fit.coef_[1:]), strict=True)),
                    float(fit.coef_[0]), 1.0)
        mean, halves = prior.expected(seen), [_half(seen, h) for h in (0, 1)]
        deviance = [sum(_deviance(e, x_other, (s + e_own) / (s / mean + x_own))
                        for (e_own, x_own), (e, x_other) in (halves, halves[::-1]))
                    for s in STRENGTHS]
        return cls(prior.base, prior.audience, float(STRENGTHS[int(np.argmin(deviance))]))

    def expected(self, evidence: pd.DataFrame) -> np.ndarray:
        """Each row's prior mean ratio, before its own evidence."""
        return np.exp(evidence["topic"].map(self.base).fillna(0.0).to_numpy(float)
                      + self.audience * _audience_term(evidence))

    def ratio(self, evidence: pd.DataFrame) -> np.ndarray:
        """The posterior mean of each row's topic ratio."""
        return ((self.strength + evidence["engagement"].to_numpy(float))
                / (self.strength / self.expected(evidence)
                   + evidence["expected_at_own_rate"].to_numpy(float)))


def _audience_term(evidence: pd.DataFrame) -> np.ndarray:
    """log(1 + share / SHARE_SCALE): an audience with none of its people on a topic is not
    one tenth as receptive as one with a tenth of them."""
    return np.log1p(evidence["audience_share"].to_numpy(float) / SHARE_SCALE)


def at_own_rate(evidence: pd.DataFrame, posts: str = "posts",
                engagement: str = "engagement") -> np.ndarray:
    """What each row's `posts` would draw at its account's own rate over all its topics
    (`engagement` summed over `posts`)."""
    own = evidence.groupby("account_id")[[engagement, posts]].transform("sum")
    rate = np.where(own[posts] > 0, own[engagement] / own[posts].clip(lower=1), 0.0)
    return evidence[posts].to_numpy(float) * rate


def _half(evidence: pd.DataFrame, half: int) -> tuple[np.ndarray, np.ndarray]:
    """One half's engagement per row and what it would draw at the account's rate over that
    half."""
    return (evidence[f"engagement_{half}"].to_numpy(float),
            at_own_rate(evidence, f"posts_{half}", f"engagement_{half}"))


def _deviance(observed: np.ndarray, expected: np.ndarray, predicted_ratio: np.ndarray
              ) -> float:
    """Total Poisson deviance of `observed` engagement against `expected` x the ratio."""
    seen = expected > 0
    return poisson_deviance(observed[seen] / expected[seen], predicted_ratio[seen],
                            expected[seen]) * expected[seen].sum()


def kind_weights(weights: dict[str, float], base_rates: dict[str, float]) -> dict[str, float]:
    """Each kind's weight in the amplification (its contribution over its base rate; both by
    the heads' plural names), by kind, scaled so that the weights average 1: engagement then
    stays in units of engagements."""
    kind_of = {KINDS.plural(k): k for k in KINDS}
    raw = {kind_of[k]: weights[k] / base_rates[k] for k in weights}
    mean = sum(raw.values()) / len(raw)
    return {k: w / mean for k, w in raw.items()}


def topic_evidence(tables: Tables, config: FeatureConfig, cutoff: int,
                   kinds: dict[str, float], engagers: pl.DataFrame) -> pd.DataFrame:
    """Per (account index, topic) of the longest window before `cutoff`: its posts there, the
    credible engagement (weighted by `kinds`, each event by its engager's credibility in
    `engagers`, `credible_engagers`' pairs) they drew before the cutoff, and the log1p-mean of
    that engagement per post; a source known only by counts counts its settled posts'."""
    window = max(config.windows)
    posts = (pl.LazyFrame(schema={"post_id": pl.Int64, "account_id": pl.Int32,
                                  "day": pl.Int32, "topic": pl.String})
             if tables.posts is None else tables.posts.lazy())  # no posts: no topics, an audience
    posts = posts.filter(pl.col("day").is_between(cutoff - window, cutoff - 1))
    posts = posts.with_columns(pl.col("topic").fill_null(NO_TOPIC))
    if _has_events(tables):
        events = (tables.events.lazy()
                  .filter(pl.col("day") < cutoff, pl.col("actor_id") != pl.col("account_id"))
                  .join(posts.select("post_id"), on="post_id")
                  .with_columns(pair_key(pl.col("account_id"), pl.col("actor_id"),
                                         len(tables.ids)).alias("pair"))
                  .join(engagers.lazy().select("pair", "credibility"), on="pair")
                  .group_by("post_id").agg((_kind_weight(kinds) * pl.col("credibility")).sum()
                                           .alias("engagement")))
        per_post = posts.join(events, on="post_id", how="left")
    else:  # counts: what settled posts drew
        per_post = _counted(tables, posts.filter(pl.col("day") + config.settle_days < cutoff),
                            kinds)
    halves = [part for half in (0, 1) for part in (  # posts with even and odd ids
        (pl.col("post_id") % 2 == half).sum().alias(f"posts_{half}"),
        pl.col("engagement").filter(pl.col("post_id") % 2 == half).sum()
        .alias(f"engagement_{half}"))]
    evidence = (per_post.with_columns(pl.col("engagement").fill_null(0.0))
                .group_by("account_id", "topic")
                .agg(pl.len().alias("posts"), pl.col("engagement").sum(),
                     pl.col("engagement").log1p().mean().alias("log1p_engagement_per_post"),
                     *halves)
                .sort("account_id", "topic").collect().to_pandas())
    return evidence


def _has_events(tables: Tables) -> bool:
    """Whether the source says who engaged (else its engagement is counts on posts)."""
    return tables.events is not None and len(tables.events) > 0


def _kind_weight(kinds: dict[str, float]) -> pl.Expr:
    """An event's weight, by its kind."""
    return pl.col("kind").cast(pl.String).replace_strict(kinds, default=0.0,
                                                         return_dtype=pl.Float64)


def _counted(tables: Tables, posts: pl.LazyFrame, kinds: dict[str, float]) -> pl.LazyFrame:
    """The `posts` whose engagement is counted, with it weighted by `kinds` (`engagement`)."""
    counted = {c: k for c, k in KINDS.counters().items() if k in tables.count_kinds}
    return posts.filter(pl.any_horizontal(pl.col(list(counted)).is_not_null())).with_columns(
        pl.sum_horizontal(pl.col(c).fill_null(0) * kinds.get(k, 0.0)
                          for c, k in counted.items()).alias("engagement"))


def credible_engagers(tables: Tables, config: FeatureConfig, cutoff: int
                      ) -> tuple[pl.DataFrame, np.ndarray]:
    """Per (account, engager) pair engaged in the longest window before the cutoff: the
    engager's credibility, 0 where a discount rule takes the pair or it is traded back (as the
    credible engagement features count it); and every account's credibility by index. No
    pairs, and no credibility, for a source that does not say who engaged."""
    n = len(tables.ids)
    if not _has_events(tables):
        return pl.DataFrame(schema={"account_id": pl.Int32, "engager": pl.Int32,
                                    "credibility": pl.Float64, "pair": pl.Int64}), np.zeros(n)
    p = discount_partials(tables, config, cutoff)
    graph = cutoff_graph(p, tables, cutoff, config.windows)
    pairs = window_pairs(p, cutoff, config.windows)
    window = max(config.windows)
    pairs = pairs.filter(pl.col(f"n@{window}") > 0)
    key = pairs["pair"].to_numpy()
    engaged, engager = key // n, key % n
    counted = (~graph.is_coordinated(engaged, engager, n)
               & ~reverse_active(pairs, engaged, engager, n, window))
    credibility = graph.credit
    return pl.DataFrame({"account_id": engaged.astype(np.int32), "engager": engager.astype(
        np.int32), "credibility": np.where(counted, credibility[engager], 0.0),
        "pair": key}), credibility


@dataclass
class Topics:
    """Topic scores and audiences of every scored account at one cutoff."""

    scores: pd.DataFrame  # account_id, topic, topic_score, topic_rank, posts, ...
    audience: pd.DataFrame  # account_id, engagers, credible_engagers, influential_engagers, ...
    audience_topics: pd.DataFrame  # account_id, topic, share (of credible engagement)
    audience_communities: pd.DataFrame  # account_id, community, share; empty without them
    prior: TopicPrior

    def summary(self) -> pd.DataFrame:
        """Per topic, most accounts first: how many accounts posted on it, their topic scores'
        quartiles, and the account most influential about it."""
        table = self.scores
        if table.empty:  # a source without posts
            return pd.DataFrame(columns=["topic", "accounts"])
        best = table.sort_values(["topic_score", "expected_engagement"], ascending=False,
                                 kind="stable").drop_duplicates("topic").set_index("topic")
        quartiles = table.groupby("topic")["topic_score"].quantile([0.25, 0.5, 0.75]).unstack()
        out = pd.DataFrame({"accounts": table.groupby("topic").size(),
                            "topic score q1": quartiles[0.25], "median": quartiles[0.5],
                            "q3": quartiles[0.75],
                            "most influential": best["account_id"].astype(str),
                            "its topic score": best["topic_score"]})
        return out.sort_values(["accounts"], ascending=False, kind="stable").rename_axis(
            "topic").reset_index()

    def example(self) -> dict:
        """The account with the best score: its topics and audience, for the report."""
        if self.scores.empty:
            return {}
        account = self.scores.sort_values(["score", "account_id"], ascending=[False, True],
                                          kind="stable")["account_id"].iloc[0]
        about, audience = self.of(account)
        return {"account_id": str(account),
                "topics": about[["topic", "topic_score", "posts"]].to_dict("records"),
                "audience": None if audience is None else {
                    k: None if pd.isna(v) else v.item() if hasattr(v, "item") else v
                    for k, v in audience.items() if k != "account_id"}}

    def of(self, account_id) -> tuple[pd.DataFrame, pd.Series | None]:
        """One account's topics, best first, and its audience (None without credible
        engagers)."""
        about = self.scores[self.scores["account_id"] == account_id]
        audience = self.audience_summary(accounts=[account_id])
        return about.reset_index(drop=True), None if audience.empty else audience.iloc[0]

    def audience_summary(self, top: int = 3, accounts=None) -> pd.DataFrame:
        """One row per account with credible engagers (of `accounts`, default all): the
        audience's size, its influential part, its `top` topics in words ("topic_3 41%,
        topic_1 12%") and, where the source knows them, its `top` communities ("D House 60%,
        R House 25%")."""
        audience = self.audience
        if accounts is not None:
            audience = audience[audience["account_id"].isin(accounts)]
        for column, name, shares in (
                ("topic", "audience_topics", self.audience_topics),
                ("community", "audience_communities", self.audience_communities)):
            if accounts is not None:
                shares = shares[shares["account_id"].isin(accounts)]
            shares = shares.groupby("account_id", sort=False).head(top)
            said = (shares[column] + " " + shares["share"].map("{:.0%}".format)).groupby(
                shares["account_id"], sort=False).agg(", ".join)
            audience = audience.join(said.rename(name), on="account_id")
        return audience


def most_posted(counts: pd.DataFrame) -> pd.Series:
    """Each account's topic with the most posts (ties: the first topic by name), from
    account_id, topic, posts."""
    return (counts.sort_values(["account_id", "posts", "topic"], ascending=[True, False, True],
                               kind="stable")
            .drop_duplicates("account_id").set_index("account_id")["topic"])


def model_kind_weights(model: InfluenceModel) -> dict[str, float]:
    """`kind_weights` of a model's amplification heads."""
    return kind_weights(model.weights, {k: head.base_rate for k, head in model.heads.items()})


def model_topics(model: InfluenceModel, scores: pd.DataFrame, tables: Tables,
                 who: Tables | None = None) -> Topics:
    """Topics and audiences of the accounts `model` scored (`scores`), counting engagement as
    its amplification heads do, on its amplification map (`who`: see `score_topics`)."""
    return score_topics(scores, tables, model.feature_config,
                        model.component_maps.get("amplification", model.score_map),
                        model_kind_weights(model), who)


def score_topics(scores: pd.DataFrame, tables: Tables, config: FeatureConfig,
                 amplification_map, kinds: dict[str, float], who: Tables | None = None
                 ) -> Topics:
    """Topics and audiences of the accounts in `scores` (`InfluenceModel.score`'s output, one
    cutoff), with the amplification component's frozen map and the kinds' weights
    (`kind_weights`). The audience is read from `who` where `tables` only count engagement
    and another table says who engaged (the same accounts: Congress's members engaging one
    another), else from `tables`."""
    cutoff = int(pd.Timestamp(scores["cutoff"].iloc[0]).timestamp() // 86_400)
    if who is None or _has_events(tables):
        who = tables
    elif not who.ids.equals(tables.ids):
        raise ValueError("the tables saying who engaged hold other accounts than the scored "
                         f"ones ({len(who.ids):,} against {len(tables.ids):,})")
    engagers, credibility = credible_engagers(who, config, cutoff)
    evidence = topic_evidence(tables, config, cutoff, kinds, engagers)
    ids = tables.ids.to_numpy()
    evidence["expected_at_own_rate"] = at_own_rate(evidence)
    main_topic = most_posted(evidence)
    audience, audience_topics, audience_communities = _audience(
        engagers.to_pandas(), main_topic, _communities(tables), scores, ids)
    # what the prior reads: the topics of the account's active followers where the source
    # has follows (its potential audience), else of its credible engagers
    shares = (audience_topics if tables.follows is None else
              _follower_topics(tables, cutoff, max(config.windows), main_topic, credibility))
    evidence.insert(0, "account", ids[evidence["account_id"].to_numpy()])
    evidence["audience_share"] = shares.set_index(["account_id", "topic"])["share"].reindex(
        pd.MultiIndex.from_arrays([evidence["account"], evidence["topic"]])).fillna(0.0).to_numpy()
    prior = TopicPrior.fit(evidence)
    ratio = prior.ratio(evidence)
    by_account = scores.set_index("account_id")
    amplification = by_account["expected_engagement"].reindex(evidence["account"]).to_numpy()
    expected = amplification * ratio
    table = pd.DataFrame({
        "account_id": evidence["account"].to_numpy(), "topic": evidence["topic"].to_numpy(),
        "topic_score": np.where(amplification > 0, amplification_map(expected), 1).astype(
            np.int16),
        "expected_engagement": expected,
        "topic_ratio": ratio,
        "posts": evidence["posts"].to_numpy(),
        "credible_engagement": evidence["engagement"].to_numpy(),
        "log1p_engagement_per_post": evidence["log1p_engagement_per_post"].to_numpy(),
        "amplification": amplification,
        "score": by_account["score"].reindex(evidence["account"]).to_numpy(),
    })
    table = table.sort_values(["account_id", "expected_engagement", "topic"],
                              ascending=[True, False, True], kind="stable", ignore_index=True)
    table.insert(3, "topic_rank", table.groupby("account_id").cumcount() + 1)
    return Topics(table, audience, audience_topics, audience_communities, prior)


def _follower_topics(tables: Tables, cutoff: int, window: int, main_topic: pd.Series,
                     credibility: np.ndarray) -> pd.DataFrame:
    """Per (account id, topic): the share of the account's followers (made before the cutoff)
    whose own posts are mostly on the topic, each weighted by the engagement it gave anyone
    in the window times its credibility: followers who never react, or bought, weigh
    nothing."""
    given = (tables.events.lazy().filter(pl.col("day").is_between(cutoff - window, cutoff - 1))
             .group_by("actor_id").len("given").collect().to_pandas())
    activity = np.zeros(len(tables.ids))
    activity[given["actor_id"].to_numpy()] = given["given"].to_numpy()
    follows = tables.follows.filter(pl.col("day") < cutoff)
    follower = follows["follower_id"].to_numpy()
    frame = pd.DataFrame({"account_id": follows["followee_id"].to_numpy(),
                          "topic": main_topic.reindex(follower).to_numpy(),
                          "weight": activity[follower] * credibility[follower]})
    frame = frame[(frame["weight"] > 0) & frame["topic"].notna()]
    weights = frame.groupby(["account_id", "topic"])["weight"].sum()
    shares = (weights / weights.groupby(level=0).transform("sum")).rename("share").reset_index()
    shares["account_id"] = tables.ids.to_numpy()[shares["account_id"].to_numpy()]
    return shares


def _communities(tables: Tables) -> pd.Series | None:
    """Each account's community by index (None where the source knows none)."""
    if "community" not in tables.accounts.columns or \
            tables.accounts["community"].null_count() == len(tables.accounts):
        return None
    return tables.accounts["community"].to_pandas()


def _shares(credible: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per (account index, value of `column`): the part of the account's credible engagement
    from engagers with that value, largest first."""
    weights = credible.groupby(["account_id", column])["credibility"].sum()
    return ((weights / weights.groupby(level=0).transform("sum")).rename("share").reset_index()
            .sort_values(["account_id", "share", column], ascending=[True, False, True],
                         kind="stable", ignore_index=True))


def _audience(engagers: pd.DataFrame, main_topic: pd.Series, communities: pd.Series | None,
              scores: pd.DataFrame, ids: np.ndarray
              ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Who each account's credible engagers are: how many, how many influential, their
    topics (each engager's most-posted topic in the window, `main_topic` by account index)
    and their communities (`communities` by account index), each engager weighted by its
    credibility."""
    credible = engagers[engagers["credibility"] > 0].copy()
    score_of = scores.set_index("account_id")["score"]
    credible["engager_score"] = score_of.reindex(ids[credible["engager"].to_numpy()]).to_numpy()
    credible["topic"] = main_topic.reindex(credible["engager"]).fillna(
        "(posts nothing)").to_numpy()
    credible["community"] = (None if communities is None else
                             communities.reindex(credible["engager"]).fillna("(unknown)")
                             .to_numpy())
    credible["influential"] = credible["engager_score"] >= INFLUENTIAL_SCORE
    audience = credible.groupby("account_id").agg(
        engagers=("credibility", "size"), credible_engagers=("credibility", "sum"),
        influential_engagers=("influential", "sum"),
        median_engager_score=("engager_score", "median")).reset_index()
    topics = _shares(credible, "topic")
    groups = (_shares(credible, "community") if communities is not None else
              pd.DataFrame({"account_id": pd.Series(dtype=np.int64),
                            "community": pd.Series(dtype=object),
                            "share": pd.Series(dtype=float)}))
    for frame in (audience, topics, groups):
        frame["account_id"] = ids[frame["account_id"].to_numpy()]
    return audience, topics, groups


def topic_truth(truth: pd.DataFrame) -> pd.DataFrame:
    """A simulated world's per-topic truth (`TOPIC_TRUTH` columns) as account_id, topic,
    truth."""
    columns = [c for c in truth.columns if c.startswith(TOPIC_TRUTH)]
    long = truth.melt(id_vars="account_id", value_vars=columns, var_name="topic",
                      value_name="truth")
    long["topic"] = long["topic"].str.removeprefix(TOPIC_TRUTH)
    return long


def topic_outcome(tables: Tables, cutoff: int, horizon: int, kinds: dict[str, float]
                  ) -> pd.DataFrame:
    """What each account's posts on each topic drew in the `horizon` days from `cutoff`, per
    post (engagement weighted by `kinds`; a source known only by counts: its posts' counts):
    account_id, topic, posts, truth."""
    posts = tables.posts.lazy().filter(pl.col("day").is_between(cutoff, cutoff + horizon - 1))
    posts = posts.drop_nulls("topic")
    if _has_events(tables):
        drawn = (tables.events.lazy().filter(pl.col("day") < cutoff + horizon,
                                             pl.col("actor_id") != pl.col("account_id"))
                 .group_by("post_id").agg(_kind_weight(kinds).sum().alias("engagement")))
        per_post = posts.join(drawn, on="post_id", how="left").with_columns(
            pl.col("engagement").fill_null(0.0))
    else:
        per_post = _counted(tables, posts, kinds)
    outcome = (per_post.group_by("account_id", "topic")
               .agg(pl.len().alias("posts"), pl.col("engagement").mean().alias("truth"))
               .sort("account_id", "topic").collect().to_pandas())
    outcome["account_id"] = tables.ids.to_numpy()[outcome["account_id"].to_numpy()]
    return outcome


#: what `topic_agreement` ranks accounts by, beside the topic score
TOPIC_BASELINES = {"history mean": "history_mean",
                   "history log1p-mean": "log1p_engagement_per_post",
                   "amplification (every topic)": "amplification",
                   "score (every topic)": "score"}


def topic_agreement(table: pd.DataFrame, truth: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The topic table (`Topics.scores`) against per-topic truth (account_id, topic, truth:
    `topic_truth` or `topic_outcome`): per topic, over the accounts that posted on it, the
    Spearman of the topic score's expected engagement and of each baseline (the topic's own
    history: mean and log1p-mean engagement per post; the account's amplification and its
    score, the same for every topic); and how often an account's true best topic among those
    it posted on is among its top two (accounts with at least three)."""
    rows = table.merge(truth[["account_id", "topic", "truth"]], on=["account_id", "topic"])
    rows["history_mean"] = rows["credible_engagement"] / rows["posts"]
    rated = {"topic score": "expected_engagement", **TOPIC_BASELINES}
    per_topic = pd.DataFrame([
        {"topic": topic, "accounts": len(group),
         **{name: spearman(group[c], group["truth"]) for name, c in rated.items()}}
        for topic, group in rows.groupby("topic", sort=True)])
    topics_of = rows.groupby("account_id")["topic"].transform("size")
    several = rows[topics_of >= 3]
    best = several.loc[several.groupby("account_id")["truth"].idxmax(), ["account_id", "topic"]]
    top_two = several[several["topic_rank"] <= 2][["account_id", "topic"]]
    hits = best.merge(top_two, on=["account_id", "topic"])
    return per_topic, {"accounts with 3+ topics": len(best),
                       "true best topic in top 2": len(hits) / max(len(best), 1)}
