"""A social-network simulator that writes datasets in the contract: the embedded default source.

The world (all randomness from one seed):
- accounts with latent traits: posting rate (heavy-tailed), content quality, audience activity,
  a topic mix with one primary topic, a taste for links and media;
- a follower graph grown by preferential attachment (batched Price model: newcomers follow
  earlier accounts with probability ~ (followers + a0) x fitness, fitness rising with quality),
  with topic homophily; each follow has a time, so audiences grow during the window;
- posts with time of day, topic, link, media; a post's followers see it and click (links only),
  retweet, reply and like with probability ~ base rate x post quality x the follower's activity
  x topic match; a retweet shows the post to the retweeter's followers, down to `max_depth` hops;
- manipulation: accounts that buy followers from a farm of fake accounts that never engage,
  engagement rings whose members retweet and like each other's every post, and bots that retweet
  most of what the accounts they follow post.

Ground truth (`truth/ground_truth.parquet`, never a model input) gives each account's role and
its true influence in three parts (see `clout.data.influence`), all from its own followers'
genuine engagement (the first hop: before cascades carry a post further, and before rings, bots
and bought followers add anything):
- `true_reach`: the expected number of distinct genuine accounts that engage in 14 days;
- `true_amplification`: the expected engagements per post, every kind summed (`true_influence`,
  the per-post truth earlier numbers were measured against, is the same column kept by name);
- `true_network`: the typical engager's own true reach (expm1 of their mean log1p);
- `true_overall`: their weighted geometric mean (`influence.INFLUENCE_WEIGHTS`);
- `true_amplification@topic_<t>`: the expected engagements per post on topic t (a topic's
  followers engage it more), what a per-topic score estimates.

Each follower engages at most once per post and kind, with probability 1 - exp(-rate); see
`World._engagers` for the two exact ways this is drawn fast. Events from a follow made after the
event are dropped, as that follower had not seen the post yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from clout.data.dataset import TRUTH_DIR, Dataset
from clout.data.influence import TOPIC_TRUTH, log10_influence
from clout.data.kinds import KINDS
from clout.data.schema import arrow_schema, conform
from clout.errors import ConfigError

_DAY = np.timedelta64(86_400_000_000, "us")
_US = np.timedelta64(1, "us")
TRUTH_HORIZON_DAYS = 14  # the default experiment's label horizon
_DENSE_SHARE = 0.05  # expected draws above this share of the audience: one Bernoulli per follower
_MINUTE = 60_000_000  # microseconds
# Share of posts by hour of day (UTC): quiet nights, a morning and an evening peak.
_DIURNAL = np.array([2, 1, 1, 1, 1, 2, 3, 5, 6, 7, 7, 6, 6, 6, 6, 6, 6, 7, 7, 7, 6, 5, 4, 3], float)


class SimulationConfig(BaseModel):
    """Parameters of a simulated world. Rates are per day; probabilities per exposed follower."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 7
    n_accounts: int = Field(5_000, ge=50, description="genuine accounts (bots and fakes extra)")
    days: int = Field(182, ge=7, description="length of the observed window")
    start: str = "2024-01-01"
    chunk_days: int = Field(7, ge=1, description="posts are simulated and written per chunk")
    n_topics: int = Field(8, ge=1)
    history_years: float = Field(4.0, gt=0, description="accounts exist up to this long before")
    new_account_share: float = Field(0.15, ge=0, lt=1, description="created inside the window")
    # graph
    mean_following: float = Field(100.0, gt=0)
    attachment_offset: float = Field(60.0, gt=0, description="a0 of preferential attachment")
    fitness_quality_power: float = Field(0.5, ge=0)
    fitness_sigma: float = Field(0.5, ge=0, description="lognormal noise on fitness")
    homophily: float = Field(4.0, ge=0, description="extra weight of a same-topic account")
    audience_exponent: float = Field(
        0.85, gt=0, le=1, description="past `audience_knee`, engagements grow as "
        "audience^this: followers of big accounts see each post less (crowded feeds)")
    audience_knee: float = Field(20.0, gt=0, description="activity-weighted audience size")
    follow_delay_days: float = Field(90.0, gt=0, description="mean delay from arrival to follow")
    # behaviour
    posts_per_day_median: float = Field(0.5, gt=0)
    posts_per_day_sigma: float = Field(1.2, ge=0)
    quality_sigma: float = Field(0.9, ge=0)
    activity_sigma: float = Field(1.0, ge=0)
    post_quality_sigma: float = Field(1.2, ge=0)
    media_boost: float = Field(1.5, gt=0)
    # what the simulated audience does, and how often (the registry's kinds with a rate)
    base_rates: dict[str, float] = Field(default_factory=KINDS.simulated_rates)
    cascade_decay: float = Field(0.35, ge=0, le=1, description="hop n+1 engages this x hop n")
    max_depth: int = Field(3, ge=1)
    # manipulation
    buyer_share: float = Field(0.02, ge=0, le=1)
    bought_followers: tuple[int, int] = (500, 3000)
    ring_count: int = Field(10, ge=0)
    ring_size: tuple[int, int] = (5, 12)
    ring_engage_probability: float = Field(0.85, ge=0, le=1)
    bot_share: float = Field(0.005, ge=0, le=1)
    bot_following: tuple[int, int] = (50, 200)
    bot_targets_share: float = Field(0.25, gt=0, le=1, description="bots follow the most-followed")
    bot_retweet_probability: tuple[float, float] = (0.4, 0.9)

    @property
    def start_ts(self) -> np.datetime64:
        return np.datetime64(pd.Timestamp(self.start, tz="UTC").tz_convert(None), "us")

    @property
    def end_ts(self) -> np.datetime64:
        return self.start_ts + self.days * _DAY


PRESETS: dict[str, dict] = {
    "tiny": {"n_accounts": 300, "days": 70, "ring_count": 3, "bought_followers": (100, 300)},
    "small": {"n_accounts": 1_500, "days": 126, "ring_count": 5},
    "default": {},
    "large": {"n_accounts": 21_000, "days": 182, "ring_count": 50,
              "bought_followers": (1_000, 8_000)},
}

def topic_label(topic: int) -> str:
    """A simulated topic's label, as posts and the truth carry it."""
    return f"topic_{topic}"


def preset(name: str, **overrides) -> SimulationConfig:
    """A named configuration, with `overrides` on top."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return SimulationConfig(**{**PRESETS[name], **overrides})


@dataclass
class Chunk:
    posts: pd.DataFrame
    engagements: pd.DataFrame


class World:
    """The accounts, their traits and the follower graph; `chunks()` then plays out the posts."""

    def __init__(self, config: SimulationConfig):
        self.config = c = config
        self.rng = np.random.default_rng(c.seed)
        self.kinds = tuple(c.base_rates)  # an event's kind is its position here
        n = c.n_accounts
        n_bots = int(round(c.bot_share * n))
        n_buyers = int(round(c.buyer_share * n))
        # one farm big enough that no buyer gets all of it
        n_fakes = int(c.bought_followers[1] * 1.5) if n_buyers else 0
        self.n_total = n + n_bots + n_fakes
        genuine, bots = np.arange(n), np.arange(n, n + n_bots)
        fakes = np.arange(n + n_bots, self.n_total)
        self._draw_traits(genuine, bots, fakes)
        self._draw_creation_times(genuine)
        buyers = self._assign_roles(genuine, bots, fakes, n_buyers)

        follows = [self._grow_graph(genuine)]
        follows += self._ring_follows() + self._sold_follows(buyers, fakes)
        # stable sorts throughout: NumPy's default sort orders ties by the CPU's SIMD kernels,
        # which would make the world differ between an AVX-512 machine and an AVX2 one
        by_followers = np.argsort(-np.bincount(follows[0][1], minlength=n), kind="stable")
        follows += self._bot_follows(bots, popular=by_followers[
            : max(50, int(c.bot_targets_share * n))])
        follower, followee, follow_at = (
            np.concatenate(parts) for parts in zip(*follows, strict=True))
        keep = (follower != followee) & ~pd.DataFrame(
            {"a": follower, "b": followee}).duplicated().to_numpy()
        follower, followee, follow_at = follower[keep], followee[keep], follow_at[keep]
        if n_fakes:  # a fake account appears shortly before its first sale
            first_sale = pd.Series(follow_at).groupby(follower).min().reindex(fakes).to_numpy()
            sold = ~pd.isna(first_sale)
            self.created_at[fakes[sold]] = first_sale[sold] - self.rng.integers(
                1, 30, sold.sum()) * _DAY
        self._index_graph(follower, followee, follow_at)
        self.account_id = self.rng.permutation(self.n_total).astype(np.int64) + 1_000  # no order


    def _code(self, kind: str) -> int:
        """An event's kind code: its position in the simulated kinds."""
        return self.kinds.index(kind)
    def _draw_traits(self, genuine, bots, fakes):
        c, rng, total = self.config, self.rng, self.n_total
        self.quality = rng.lognormal(-c.quality_sigma**2 / 2, c.quality_sigma, total)
        self.activity = rng.lognormal(-c.activity_sigma**2 / 2, c.activity_sigma, total)
        self.activity[bots] = self.activity[fakes] = 0.0  # they never engage genuinely
        self.posts_per_day = np.minimum(
            rng.lognormal(np.log(c.posts_per_day_median), c.posts_per_day_sigma, total), 40.0)
        self.posts_per_day[bots] = rng.uniform(5, 20, len(bots))
        self.posts_per_day[fakes] = 0.0
        self.quality[bots] *= 0.1
        k = c.n_topics
        self.primary_topic = rng.integers(0, k, total)
        mix = 0.3 * rng.dirichlet(np.ones(k), total)
        mix[np.arange(total), self.primary_topic] += 0.7
        self.topic_cdf = np.cumsum(mix, axis=1)
        self.link_share = rng.beta(2, 3, total)
        self.media_share = rng.beta(1.5, 4, total)

    def _draw_creation_times(self, genuine):
        """Most accounts predate the window by up to `history_years`; some arrive inside it."""
        c, rng = self.config, self.rng
        start, end = c.start_ts, c.end_ts
        history = int(c.history_years * 365 * 86_400 * 1e6)
        created = start - rng.integers(0, history, self.n_total).astype("timedelta64[us]")
        newcomers = rng.random(self.n_total) < c.new_account_share
        newcomers[len(genuine):] = False
        created[newcomers] = start + rng.integers(0, (end - start) // _US,
                                                  newcomers.sum()).astype("timedelta64[us]")
        self.created_at = created

    def _assign_roles(self, genuine, bots, fakes, n_buyers):
        """Mark bots, fakes, follower buyers and ring members; returns the buyers."""
        c, rng = self.config, self.rng
        self.role = np.array(["genuine"] * self.n_total, dtype=object)
        self.role[bots], self.role[fakes] = "bot", "fake_follower"
        self.ring_id = np.full(self.n_total, -1)
        self.bought = np.zeros(self.n_total, np.int64)
        # manipulators are drawn from accounts that exist when the window opens
        pool = rng.permutation(genuine[self.created_at[genuine] < c.start_ts])
        buyers, pool = pool[:n_buyers], pool[n_buyers:]
        self.role[buyers] = "bought_followers"
        self.rings = []
        for r in range(c.ring_count):
            size = int(rng.integers(c.ring_size[0], c.ring_size[1] + 1))
            members, pool = pool[:size], pool[size:]
            if len(members) < 2:
                break
            self.ring_id[members], self.role[members] = r, "ring"
            self.rings.append(members)
        return buyers

    def _ring_follows(self):
        """Ring members follow each other."""
        out = []
        for members in self.rings:
            a, b = np.meshgrid(members, members)
            a, b = a[a != b], b[a != b]
            out.append((a, b, np.maximum(self.created_at[a], self.created_at[b]) + _DAY))
        return out

    def _sold_follows(self, buyers, fakes):
        """A farm sells each buyer followers in one burst, at some time up to the window's end."""
        c, rng = self.config, self.rng
        out = []
        for buyer in buyers:
            m = min(int(rng.integers(c.bought_followers[0], c.bought_followers[1] + 1)), len(fakes))
            earliest = max(self.created_at[buyer], c.start_ts - 60 * _DAY)
            at = earliest + np.timedelta64(int(rng.integers(0, (c.end_ts - earliest) // _US)), "us")
            jitter = rng.integers(0, 2 * 86_400, m) * 1_000_000
            out.append((rng.choice(fakes, m, replace=False), np.full(m, buyer), at + jitter))
            self.bought[buyer] = m
        return out

    def _bot_follows(self, bots, popular):
        """Bots follow popular accounts, whose posts they will retweet."""
        c, rng = self.config, self.rng
        self.bot_retweet_probability = np.zeros(self.n_total)
        self.bot_retweet_probability[bots] = rng.uniform(*c.bot_retweet_probability, len(bots))
        out = []
        for bot in bots:
            m = min(int(rng.integers(*c.bot_following)), len(popular))
            followed = rng.choice(popular, m, replace=False)
            at = np.maximum(self.created_at[bot], self.created_at[followed]) + _DAY
            out.append((np.full(m, bot), followed, at))
        return out

    # ------------------------------------------------------------------------------------------
    def _grow_graph(self, genuine: np.ndarray):
        """Batched Price model with fitness and topic homophily among genuine accounts."""
        c, rng = self.config, self.rng
        order = genuine[np.argsort(self.created_at[genuine], kind="stable")]
        n = len(order)
        fitness = self.quality[:n] ** c.fitness_quality_power * rng.lognormal(0, c.fitness_sigma, n)
        out_degree = np.maximum(
            1, rng.lognormal(np.log(c.mean_following) - 0.5, 1.0, n)).astype(int)
        indegree = np.zeros(n)
        core = max(20, n // 100)
        src, dst = [], []
        arrived = core
        # the first accounts follow each other at random
        k = np.minimum(out_degree[order[:core]], core - 1)
        src.append(np.repeat(order[:core], k))
        dst.append(order[:core][rng.integers(0, core, k.sum())])
        np.add.at(indegree, dst[-1], 1)
        for batch in np.array_split(order[core:], 60):
            if not len(batch):
                continue
            existing = order[:arrived]
            weight = (indegree[existing] + c.attachment_offset) * fitness[existing]
            for topic in range(c.n_topics):
                members = batch[self.primary_topic[batch] == topic]
                if not len(members):
                    continue
                k = np.minimum(out_degree[members], len(existing))
                w = weight * np.where(self.primary_topic[existing] == topic, 1 + c.homophily, 1.0)
                cdf = np.cumsum(w)
                picks = np.searchsorted(cdf, rng.random(k.sum()) * cdf[-1], side="right")
                src.append(np.repeat(members, k))
                dst.append(existing[np.minimum(picks, len(existing) - 1)])
                np.add.at(indegree, dst[-1], 1)
            arrived += len(batch)
        src, dst = np.concatenate(src), np.concatenate(dst)
        # follows happen some time after the follower arrives (and after the followee exists)
        delay = rng.exponential(c.follow_delay_days * 86_400, len(src)).astype(np.int64) * 1_000_000
        when = np.maximum(self.created_at[src], self.created_at[dst]) + delay
        return src, dst, when

    def _index_graph(self, follower, followee, follow_at):
        """Edges sorted by (followee, follower's topic) with a cumulative activity table, so a
        follower can be drawn ~ activity, optionally within one topic, by binary search."""
        k, total = self.config.n_topics, self.n_total
        observed = follow_at < self.config.end_ts  # follows after the window are not data
        follower, followee, follow_at = follower[observed], followee[observed], follow_at[observed]
        self.follows = (follower, followee, follow_at)
        bots = self.role[follower] == "bot"
        self.bot_edges = (follower[bots], followee[bots], follow_at[bots])
        order = np.lexsort((self.primary_topic[follower], followee))
        self.edge_follower, self.edge_owner, self.edge_time = \
            follower[order], followee[order], follow_at[order]
        key = followee[order] * k + self.primary_topic[self.edge_follower]
        self.ptr_topic = np.searchsorted(key, np.arange(total * k + 1))
        self.ptr = self.ptr_topic[::k]
        self.cum_activity = np.concatenate([[0.0], np.cumsum(self.activity[self.edge_follower])])
        # audience weight per (account, topic): sum over followers of activity x topic match
        all_ = self._segment_sum(self.ptr[:-1], self.ptr[1:])
        same = self._segment_sum(self.ptr_topic[:-1], self.ptr_topic[1:]).reshape(total, k)
        self.audience = all_[:, None] + self.config.homophily * same
        # expected engagers: linear in the audience while small, ~audience^exponent when big
        c = self.config
        self.reach = self.audience * (1 + self.audience / c.audience_knee) ** (
            c.audience_exponent - 1)
        # bots: CSR by followee over bot edges
        bf, be, bt = self.bot_edges
        order = np.argsort(be, kind="stable")
        self.bot_follower, self.bot_time = bf[order], bt[order]
        self.bot_ptr = np.searchsorted(be[order], np.arange(total + 1))

    def _segment_sum(self, lo, hi):
        return self.cum_activity[hi] - self.cum_activity[lo]

    # ------------------------------------------------------------------------------------------
    def _saturation(self):
        """F(x) = E_Q[1 - exp(-x Q)] over a post's quality spread Q (lognormal, mean 1),
        tabulated by Gauss-Hermite: the chance a follower whose draw weight is x engages."""
        c = self.config
        z, weight = np.polynomial.hermite_e.hermegauss(32)
        weight = weight / weight.sum()
        log_grid = np.linspace(np.log(1e-9), np.log(1e4), 600)
        spread = np.exp(c.post_quality_sigma * z - c.post_quality_sigma**2 / 2)
        table = -np.expm1(-np.exp(log_grid)[:, None] * spread[None, :]) @ weight
        return lambda x: np.interp(np.log(np.maximum(x, 1e-12)), log_grid, table)

    def _first_hop(self):
        """Per follower edge, the ways a post of the owner reaches that follower: yields (topic,
        share of the owner's posts, per-edge draw weight x before the base rate) for each topic
        and media flag. Follower f of owner o engages a post of quality Q with probability
        1 - exp(-base x Q), x = quality_o x reach per unit audience x f's activity and topic
        match (as `_engagers` draws)."""
        c = self.config
        mix = np.diff(self.topic_cdf, axis=1, prepend=0.0)
        per_draw = np.divide(self.reach, self.audience, out=np.zeros_like(self.reach),
                             where=self.audience > 0)  # lam per unit of audience weight
        edges = np.arange(len(self.edge_follower))
        owner = self.edge_owner
        for t in range(c.n_topics):
            x_topic = self.quality[owner] * per_draw[owner, t] * self._edge_weight(edges, t)
            for boost, share in ((1.0, 1 - self.media_share), (c.media_boost, self.media_share)):
                yield t, (mix[:, t] * share)[owner], boost * x_topic

    def _per_owner(self, per_edge: np.ndarray) -> np.ndarray:
        cum = np.concatenate([[0.0], np.cumsum(per_edge)])
        return cum[self.ptr[1:]] - cum[self.ptr[:-1]]

    def true_rates(self) -> dict[str, np.ndarray]:
        """Expected genuine engagements per post of each kind from the author's own followers
        (the first hop), per account, on the follower graph at the end of the window. Clicks
        need a link."""
        saturated, base = self._saturation(), self.config.base_rates
        link = self.link_share[self.edge_owner]
        out = {kind: np.zeros(len(self.edge_follower)) for kind in self.kinds}
        for _, share, x in self._first_hop():
            for kind in self.kinds:
                out[kind] += share * (link if kind == "click" else 1.0) * saturated(base[kind] * x)
        return {kind: self._per_owner(v) for kind, v in out.items()}

    def true_topic_rates(self) -> np.ndarray:
        """Expected genuine engagements per post on each topic, every kind summed, per account
        (accounts x topics): what `true_rates` sums over the author's topic mix, topic by
        topic. An account's followers of a topic engage its posts on that topic more
        (homophily), so the best topic is mostly, not always, the primary one."""
        c, saturated, base = self.config, self._saturation(), self.config.base_rates
        link = self.link_share[self.edge_owner]
        mix = np.diff(self.topic_cdf, axis=1, prepend=0.0)
        out = np.zeros((self.n_total, c.n_topics))
        for topic, share, x in self._first_hop():
            of_topic = np.divide(share, mix[self.edge_owner, topic],
                                 out=np.zeros_like(share), where=mix[self.edge_owner, topic] > 0)
            per_edge = sum(of_topic * (link if kind == "click" else 1.0)
                           * saturated(base[kind] * x) for kind in self.kinds)
            out[:, topic] += self._per_owner(per_edge)
        return out

    def true_audience(self, horizon_days: float) -> tuple[np.ndarray, np.ndarray]:
        """True reach and true network per account, over `horizon_days` of posting.

        Reach: the expected number of distinct genuine followers that engage (any kind) with
        at least one post. A follower engages a post with probability p_f (any kind: every
        kind's draws fail together with probability exp(-sum of their rates)); posts arrive as
        a Poisson process of m = posts per day x horizon, so the follower engages at least
        once with probability 1 - exp(-m E[p_f]). Network: over those engagers (weighted by
        that probability), expm1 of the mean log1p of their own true reach: the typical
        engager's own audience (0 without engagers)."""
        saturated, base = self._saturation(), self.config.base_rates
        link = self.link_share[self.edge_owner]
        every = sum(base.values())
        no_click = every - base.get("click", 0.0)  # a post without a link gets no clicks
        p_post = np.zeros(len(self.edge_follower))
        for _, share, x in self._first_hop():
            p_post += share * (link * saturated(every * x) + (1 - link) * saturated(no_click * x))
        engages = -np.expm1(-self.posts_per_day[self.edge_owner] * horizon_days * p_post)
        reach = self._per_owner(engages)
        standing = self._per_owner(engages * np.log1p(reach[self.edge_follower]))
        network = np.expm1(np.divide(standing, reach, out=np.zeros_like(reach), where=reach > 0))
        return reach, network

    def ground_truth(self, horizon_days: float = TRUTH_HORIZON_DAYS) -> pd.DataFrame:
        rates = self.true_rates()
        reach, network = self.true_audience(horizon_days)
        truth = pd.DataFrame({
            "account_id": self.account_id,
            "role": self.role.astype(str),
            "ring_id": pd.array(np.where(self.ring_id >= 0, self.ring_id, None), "Int64"),
            "bought_followers": self.bought,
            "quality": self.quality,
            "activity": self.activity,
            "posts_per_day": self.posts_per_day,
            "primary_topic": [topic_label(t) for t in self.primary_topic],
            **{f"true_{k}s_per_post": v for k, v in rates.items()},
        })
        # the per-post truth of earlier releases, kept so their numbers stay comparable
        truth["true_influence"] = sum(rates.values())
        truth["true_reach"], truth["true_network"] = reach, network
        truth["true_amplification"] = truth["true_influence"]
        truth["true_overall"] = 10 ** log10_influence(
            {"reach": reach, "amplification": truth["true_amplification"], "network": network})
        per_topic = self.true_topic_rates()
        for t in range(self.config.n_topics):
            truth[f"{TOPIC_TRUTH}{topic_label(t)}"] = per_topic[:, t]
        return truth

    def accounts(self) -> pd.DataFrame:
        return conform(pd.DataFrame({
            "account_id": self.account_id, "network": "simulated",
            "created_at": pd.to_datetime(self.created_at).tz_localize("UTC"),
        }), "accounts")

    def follows_frame(self) -> pd.DataFrame:
        follower, followee, at = self.follows
        return conform(pd.DataFrame({
            "follower_id": self.account_id[follower], "followee_id": self.account_id[followee],
            "created_at": pd.to_datetime(at).tz_localize("UTC"),
        }), "follows")

    # ------------------------------------------------------------------------------------------
    def chunks(self) -> Iterator[Chunk]:
        """Play out the window chunk by chunk; each chunk's posts and all their engagements."""
        c = self.config
        next_post_id = 1
        chunk_start = c.start_ts
        while chunk_start < c.end_ts:
            chunk_end = min(chunk_start + c.chunk_days * _DAY, c.end_ts)
            posts = self._posts(chunk_start, chunk_end, next_post_id)
            next_post_id += len(posts["author"])
            events = self._engagements(posts)
            yield self._frames(posts, events)
            chunk_start = chunk_end

    def _posts(self, lo, hi, first_id) -> dict[str, np.ndarray]:
        c, rng = self.config, self.rng
        alive_from = np.maximum(self.created_at, lo)
        span = np.clip((hi - alive_from) / _DAY, 0, None)
        count = rng.poisson(self.posts_per_day * span)
        author = np.repeat(np.arange(self.n_total), count)
        m = len(author)
        day_us = (rng.random(m) * span[author] // 1).astype(np.int64)
        hour = rng.choice(24, m, p=_DIURNAL / _DIURNAL.sum())
        at = alive_from[author].astype("datetime64[D]").astype("datetime64[us]") \
            + day_us * _DAY + hour * 3_600_000_000 + rng.integers(0, 3_600_000_000, m)
        at = np.clip(at, alive_from[author], hi - 1)
        order = np.argsort(at, kind="stable")
        author, at = author[order], at[order]
        topic = (self.topic_cdf[author] < rng.random(m)[:, None]).sum(axis=1)
        has_link = rng.random(m) < self.link_share[author]
        has_media = rng.random(m) < self.media_share[author]
        quality = self.quality[author] * np.where(has_media, c.media_boost, 1.0) * rng.lognormal(
            -c.post_quality_sigma**2 / 2, c.post_quality_sigma, m)
        return {"post_id": np.arange(first_id, first_id + m), "author": author, "at": at,
                "topic": np.minimum(topic, c.n_topics - 1), "has_link": has_link,
                "has_media": has_media, "quality": quality,
                "is_reply": rng.random(m) < 0.1,
                "length": np.clip(rng.normal(140, 60, m), 5, 280).astype(np.int64)}

    def _engagers(self, owner, topic, lam):
        """Followers of owner[j] who engage with post j, where lam[j] is the expected number of
        engagement draws: follower f of owner i engages with probability 1 - exp(-lam r_f), with
        r_f = activity_f (1 + homophily [same topic]) / audience[i, topic].

        Two exact ways to draw that: Poisson(lam) draws ~ r_f then merging repeats (cheap when
        lam is small against the audience), or one Bernoulli per follower (cheap when it is not).
        Returns (row index into owner, edge index)."""
        rng = self.rng
        degree = self.ptr[owner + 1] - self.ptr[owner]
        dense = lam > _DENSE_SHARE * degree
        rows, edges = [], []
        # sparse rows: Poisson draws, repeats merged later
        sparse = np.flatnonzero(~dense)
        row = np.repeat(sparse, rng.poisson(lam[sparse]))
        rows.append(row)
        edges.append(self._draw_edges(owner[row], topic[row]))
        # dense rows: walk every follower once
        dense = np.flatnonzero(dense)
        row, edge = self._expand(dense, self.ptr[owner[dense]], degree[dense])
        weight = self._edge_weight(edge, topic[row]) / self.audience[owner[row], topic[row]]
        hit = rng.random(len(row)) < -np.expm1(-lam[row] * weight)
        rows.append(row[hit])
        edges.append(edge[hit])
        return np.concatenate(rows), np.concatenate(edges)

    @staticmethod
    def _expand(rows, start, count):
        """Every (row, start + k) for k < count: the edges of a set of CSR segments."""
        row = np.repeat(rows, count)
        offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        return row, np.repeat(start, count) + offset

    def _edge_weight(self, edge, topic):
        follower = self.edge_follower[edge]
        return self.activity[follower] * (
            1 + self.config.homophily * (self.primary_topic[follower] == topic))

    def _draw_edges(self, owner, topic):
        """One follower edge of each owner[j], drawn ~ activity x (1 + homophily x same topic):
        a mixture of 'any follower ~ activity' and 'a same-topic follower ~ activity'."""
        c, rng = self.config, self.rng
        k = c.n_topics
        lo_all, hi_all = self.ptr[owner], self.ptr[owner + 1]
        lo_t, hi_t = self.ptr_topic[owner * k + topic], self.ptr_topic[owner * k + topic + 1]
        all_w = self._segment_sum(lo_all, hi_all)
        same_w = c.homophily * self._segment_sum(lo_t, hi_t)
        in_topic = rng.random(len(owner)) * (all_w + same_w) < same_w
        lo, hi = np.where(in_topic, lo_t, lo_all), np.where(in_topic, hi_t, hi_all)
        cum = self.cum_activity
        u = cum[lo] + rng.random(len(owner)) * (cum[hi] - cum[lo])
        return np.clip(np.searchsorted(cum, u, side="right") - 1, lo, hi - 1)

    def _delays(self, n, median_minutes=45.0):
        return (self.rng.lognormal(np.log(median_minutes), 1.3, n) * _MINUTE).astype(np.int64)

    def _engagements(self, posts) -> dict[str, np.ndarray]:
        c = self.config
        base = np.array([c.base_rates[k] for k in self.kinds])
        pieces = []  # (post row, actor, kind, time, depth)
        # hop 1 from the author's followers, then each retweet opens the next hop
        src_row = np.arange(len(posts["author"]))
        src_account, src_time = posts["author"], posts["at"]
        for depth in range(1, c.max_depth + 1):
            if not len(src_row):
                break
            t = posts["topic"][src_row]
            weight = posts["quality"][src_row] * self.reach[src_account, t] \
                * c.cascade_decay ** (depth - 1)
            retweets = None
            click, retweet = self._code("click"), self._code("retweet")
            for code in range(len(self.kinds)):
                lam = base[code] * weight
                if code == click:
                    lam = lam * posts["has_link"][src_row]
                row, edge = self._engagers(src_account, t, lam)
                when = src_time[row] + self._delays(len(row), 20.0 if code == click else 45.0)
                seen = self.edge_time[edge] <= when  # the follow predates the event
                row, edge, when = row[seen], edge[seen], when[seen]
                pieces.append((src_row[row], self.edge_follower[edge], code, when, depth))
                if code == retweet:
                    retweets = (src_row[row], self.edge_follower[edge], when)
            src_row, src_account, src_time = retweets
        pieces += self._ring_events(posts) + self._bot_events(posts)
        post_row = np.concatenate([p[0] for p in pieces])
        actor = np.concatenate([p[1] for p in pieces])
        kind = np.concatenate([np.full(len(p[0]), p[2], np.int8) for p in pieces])
        when = np.concatenate([p[3] for p in pieces])
        depth = np.concatenate([np.full(len(p[0]), p[4], np.int8) for p in pieces])
        # one engagement of a kind per (post, actor): seeing a post twice does not double it
        frame = pd.DataFrame({"row": post_row, "actor": actor, "kind": kind, "when": when,
                              "depth": depth}).sort_values(["when"], kind="stable")
        frame = frame[~frame.duplicated(["row", "actor", "kind"])]
        frame = frame[frame["when"].to_numpy() < c.end_ts]  # not yet happened when observed
        return {k: frame[k].to_numpy() for k in frame}

    def _ring_events(self, posts):
        """Every other ring member retweets and likes a member's post within minutes."""
        c, rng = self.config, self.rng
        rows = np.flatnonzero(self.ring_id[posts["author"]] >= 0)
        if not len(rows):
            return []
        ring_members = [self.rings[self.ring_id[posts["author"][r]]] for r in rows]
        row = np.repeat(rows, [len(m) for m in ring_members])
        actor = np.concatenate(ring_members)
        keep = actor != posts["author"][row]
        row, actor = row[keep], actor[keep]
        out = []
        for code in (self._code("retweet"), self._code("like")):
            hit = rng.random(len(row)) < c.ring_engage_probability
            when = posts["at"][row[hit]] + self._delays(hit.sum(), 5.0)
            out.append((row[hit], actor[hit], code, when, 1))
        return out

    def _bot_events(self, posts):
        """Bots retweet what the accounts they follow post, most of the time, fast."""
        rng = self.rng
        lo, hi = self.bot_ptr[posts["author"]], self.bot_ptr[posts["author"] + 1]
        n = hi - lo
        if not n.sum():
            return []
        row, edge = self._expand(np.arange(len(n)), lo, n)
        bot = self.bot_follower[edge]
        when = posts["at"][row] + self._delays(len(row), 3.0)
        hit = (rng.random(len(row)) < self.bot_retweet_probability[bot]) \
            & (self.bot_time[edge] <= when)
        return [(row[hit], bot[hit], self._code("retweet"), when[hit], 1)]

    def _frames(self, posts, events) -> Chunk:
        ids = self.account_id
        post_frame = pd.DataFrame({
            "post_id": posts["post_id"],
            "account_id": ids[posts["author"]],
            "created_at": pd.to_datetime(posts["at"]).tz_localize("UTC"),
            "topic": pd.Categorical.from_codes(posts["topic"], [topic_label(t) for t in
                                                               range(self.config.n_topics)]),
            "has_link": posts["has_link"], "has_media": posts["has_media"],
            "is_reply": posts["is_reply"], "is_repost": False, "is_quote": False,
            "length_chars": posts["length"],
        })
        row = events["row"]
        engagement_frame = pd.DataFrame({
            "actor_id": ids[events["actor"]],
            "account_id": ids[posts["author"][row]],
            "post_id": posts["post_id"][row],
            "kind": pd.Categorical.from_codes(events["kind"], self.kinds),
            "created_at": pd.to_datetime(events["when"]).tz_localize("UTC"),
            "cascade_depth": events["depth"],
        })
        return Chunk(conform(post_frame, "posts"), engagement_frame)


def simulate(config: SimulationConfig) -> tuple[Dataset, pd.DataFrame]:
    """Simulate in memory: the dataset and its ground truth. For small configs and tests."""
    world = World(config)
    chunks = list(world.chunks())
    dataset = Dataset(
        accounts=world.accounts(), follows=world.follows_frame(),
        posts=pd.concat([ch.posts for ch in chunks], ignore_index=True),
        engagements=pd.concat([ch.engagements for ch in chunks], ignore_index=True))
    return dataset, world.ground_truth()


@dataclass
class SimulationSummary:
    directory: Path
    accounts: int
    follows: int
    posts: int
    engagements: int


def write_simulation(config: SimulationConfig, directory: str | Path,
                     on_chunk: Callable[[int, int], None] | None = None) -> SimulationSummary:
    """Simulate straight to Parquet, one row group per chunk, so memory stays flat however many
    events there are. `on_chunk(done, total)` reports progress."""
    directory = Path(directory)
    (directory / TRUTH_DIR).mkdir(parents=True, exist_ok=True)
    world = World(config)
    accounts, follows = world.accounts(), world.follows_frame()
    accounts.to_parquet(directory / "accounts.parquet", index=False)
    follows.to_parquet(directory / "follows.parquet", index=False)
    world.ground_truth().to_parquet(directory / TRUTH_DIR / "ground_truth.parquet", index=False)
    n_chunks = -(-config.days // config.chunk_days)
    n_posts = n_events = 0
    post_schema = arrow_schema("posts", dictionary=("topic",))
    event_schema = arrow_schema("engagements", dictionary=("kind",))
    with pq.ParquetWriter(directory / "posts.parquet", post_schema) as post_writer, \
            pq.ParquetWriter(directory / "engagements.parquet", event_schema) as event_writer:
        for done, chunk in enumerate(world.chunks(), start=1):
            post_writer.write_table(pa.Table.from_pandas(chunk.posts, post_schema,
                                                         preserve_index=False))
            event_writer.write_table(pa.Table.from_pandas(chunk.engagements, event_schema,
                                                          preserve_index=False))
            n_posts += len(chunk.posts)
            n_events += len(chunk.engagements)
            if on_chunk:
                on_chunk(done, n_chunks)
    return SimulationSummary(directory, len(accounts), len(follows), n_posts, n_events)
