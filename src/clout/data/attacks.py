"""Manipulations an attacker can inject into any dataset in the contract, simulated or real.

Each attack works on a list of target accounts over the `days` before a date `end` (the cutoff
the attacked accounts are scored at) and returns an `Injection`: the attacked dataset; the
dataset with only the attacker's own presence (for attacks whose targets are accounts the
attacker creates, so that a gain is measured against those accounts without the manipulation);
the accounts whose gain is measured; and the cost in accounts and actions (engagements, follows,
unfollows and posts). Every injected row is a row the contract accepts: this is what an attacker
can produce, and it passes validation.

Attacks (`ATTACKS`), `size` meaning:
- `one_way`: `size` fresh throwaway accounts each retweet and like every post of every target.
- `dormant`: the same from `size` accounts created two years earlier that never acted before.
- `warmed`: the same from `size` accounts that first pass for readers: each likes two random
  posts a day for the 120 days before (patience that buys an engagement history).
- `followers`: `size` fresh accounts follow each target (bought followers).
- `ring`: the targets in groups of `size` retweet and like each other's every post.
- `pod`: groups of `size`; each member engages the next members round the circle, never one
  that engages it (A -> B -> C -> A), so no pair trades engagement both ways.
- `sybil`: `size` accounts created on the same day engage each other's posts and every target's.
- `burst`: `size` fresh bots retweet each target's posts of the last week within minutes.
- `churn`: the target follows `size` accounts, the share that follows back stays, the target
  unfollows them (follow/unfollow churn): followers that never engage.
- `new_poster`: five new accounts each post `size` times a day and are engaged by nobody;
  measured against the same accounts without posts.
- `new_ring`: `size` new accounts post daily and retweet and like each other's every post;
  measured against the same accounts and posts without the engagement.
- `noise`: each target posts `size` times its window's posts again, engaged by nobody (size 2
  triples its posts): posting more without more people reacting.

Attacks by someone who has read the defences (every threshold is public) stay under each of them:
each engager engages a random `PARTIAL_SHARE` (60 %) of each target's posts, hours after it
(`PARTIAL_HOURS`, exponential), and camouflages as a reader (`CAMOUFLAGE_PER_DAY` likes a day of
honest posts by others, during the attack):
- `aged`: `size` accounts created two years before that first pass for readers (liking two
  random posts a day for the 120 days before, long enough to be established), then engage.
- `lent`: `size` real established accounts of the world (engagers for months, drawn at random
  among those that are not targets) lend the same engagement: paid or compromised accounts
  with honest histories.
- `aged_followers`: the `aged` accounts also follow every target (followers and engagement
  bought from the same accounts).
- `lent_followers`: the `lent` accounts also follow every target: an audience of established
  accounts, which is what the network component reads.
- `pod_turns`: `pod` (established accounts taking turns, never both ways), each member
  engaging a random 60 % of the posts of those it engages.
- `spread`: `size` aged accounts spread thin: each engages a random 20 % (`SPREAD_SHARE`) of
  every target's posts, so that no pair stands out.
- `lent_spread`: `size` lent accounts spread thin the same way, following every target: the red
  team's best tactic on world 7 (37 of them on accounts that posted once or twice, +19 points
  before the group rule of `features.credibility`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from clout.data.dataset import Dataset
from clout.data.schema import conform, empty_frame
from clout.errors import ConfigError, DataError

_DAY = pd.Timedelta(days=1)
#: The kinds bought engagement uses, in order of preference; a source gets those it has.
BOUGHT_KINDS = ("retweet", "like")
NEW_POSTERS = 5  # accounts of the new_poster attack
FOLLOW_BACK = 0.3  # churn: the share of the accounts followed that follow back
WARM_UP_DAYS = 120  # warmed: days the throwaways act as readers before the attack
PARTIAL_SHARE = 0.6  # of a target's posts each engager of a doc-aware attack engages
SPREAD_SHARE = 0.2  # ... and of `spread`, thinner over the same targets
PARTIAL_HOURS = 6.0  # mean delay of a doc-aware engagement after the post
CAMOUFLAGE_PER_DAY = 2.0  # honest likes a day by each doc-aware account during the attack


@dataclass(frozen=True)
class Injection:
    """An attack's outcome: `attacked` is the dataset with the manipulation, `baseline` the
    dataset the targets' gain is measured against (the original, plus the attacker's own accounts
    and posts when it created the targets)."""

    attack: str
    size: int
    attacked: Dataset
    baseline: Dataset
    targets: np.ndarray  # account ids whose gain is measured
    accounts: int  # accounts the attacker created or used
    actions: int  # rows it had to produce: engagements, follows, unfollows, posts


@dataclass
class _Rows:
    """What an attack adds, table by table (contract frames)."""

    accounts: list[pd.DataFrame]
    follows: list[pd.DataFrame]
    posts: list[pd.DataFrame]
    engagements: list[pd.DataFrame]
    unfollows: int = 0  # follows made and removed again: cost, but no row left
    used: int | None = None  # existing accounts the attack uses (None: only the new ones)
    targets: np.ndarray | None = None  # the targets it reached, when not all of them

    @classmethod
    def none(cls) -> _Rows:
        return cls([], [], [], [])

    def actions(self) -> int:
        return (sum(map(len, self.follows)) + sum(map(len, self.posts))
                + sum(map(len, self.engagements)) + self.unfollows)

    def onto(self, dataset: Dataset) -> Dataset:
        """`dataset` with these rows added (`dataset` itself when there are none)."""
        if not (self.accounts or self.follows or self.posts or self.engagements):
            return dataset
        def extend(name, original, added):
            if not added:
                return original
            parts = [original if original is not None else empty_frame(name), *added]
            return conform(pd.concat([conform(p, name) for p in parts], ignore_index=True), name)
        return Dataset(
            accounts=extend("accounts", dataset.accounts, self.accounts),
            follows=extend("follows", dataset.follows, self.follows),
            posts=extend("posts", dataset.posts, self.posts),
            engagements=extend("engagements", dataset.engagements, self.engagements))


class _World:
    """The dataset being attacked: fresh ids, the targets' posts, the kinds the source has."""

    def __init__(self, dataset: Dataset, end: pd.Timestamp, days: int, seed: int,
                 topics: dict | None = None):
        self.dataset, self.end, self.start = dataset, end, end - days * _DAY
        self.topics = topics  # target -> the one topic whose posts the attack engages
        self.rng = np.random.default_rng(seed)
        self.network = str(dataset.accounts["network"].mode().iloc[0])
        self._next_account = int(dataset.accounts["account_id"].max()) + 1
        posts = dataset.posts
        self._next_post = 1 if posts is None or not len(posts) else int(posts["post_id"].max()) + 1
        events = dataset.engagements
        kinds = set() if events is None else set(events["kind"].astype(str))
        self.created = dataset.accounts.set_index("account_id")["created_at"]
        self.kinds = [k for k in BOUGHT_KINDS if k in kinds] or sorted(kinds)[:2] or ["retweet"]

    def new_accounts(self, n: int, created: pd.Timestamp) -> pd.DataFrame:
        ids = np.arange(self._next_account, self._next_account + n)
        self._next_account += n
        accounts = pd.DataFrame({"account_id": ids, "network": self.network,
                                 "created_at": pd.Series(created, index=range(n))})
        self.created = pd.concat([self.created, accounts.set_index("account_id")["created_at"]])
        return accounts

    def new_posts(self, authors: np.ndarray, per_day: float) -> pd.DataFrame:
        """`per_day` posts a day per author, at random times in the window."""
        n_each = int(round(per_day * (self.end - self.start) / _DAY))
        return self.posts_by(np.repeat(authors, n_each))

    def posts_by(self, author: np.ndarray) -> pd.DataFrame:
        """One post per entry of `author`, at random times in the window."""
        seconds = (self.end - self.start).total_seconds()
        at = self.start + pd.to_timedelta(self.rng.uniform(0, seconds - 3600, len(author)), "s")
        ids = np.arange(self._next_post, self._next_post + len(author))
        self._next_post += len(author)
        return pd.DataFrame({"post_id": ids, "account_id": author,
                             "created_at": at.floor("s"), "has_link": True, "has_media": False,
                             "is_reply": False, "is_repost": False, "is_quote": False})

    def posts_of(self, authors, since: pd.Timestamp | None = None) -> pd.DataFrame:
        """The authors' posts in the window (from `since` if later), or one stand-in per author
        and day when the source has no posts (engagement is then about the account)."""
        since = max(self.start, since or self.start)
        posts = self.dataset.posts
        if posts is None:
            days = pd.date_range(since, self.end - _DAY, freq="D")
            grid = pd.MultiIndex.from_product([authors, days], names=["account_id", "created_at"])
            return grid.to_frame(index=False).assign(post_id=pd.NA)
        at = posts["created_at"]
        chosen = posts["account_id"].isin(authors) & (at >= since) & (at < self.end)
        if self.topics is not None:  # aimed at one topic: that topic's posts of each target
            aimed = posts["account_id"].map(self.topics)
            chosen &= aimed.notna() & (posts["topic"].astype(object) == aimed)
        return posts.loc[chosen, ["post_id", "account_id", "created_at"]]

    def engage(self, actors: np.ndarray, posts: pd.DataFrame, minutes: float = 10.0,
               kinds: list[str] | None = None, share: float = 1.0) -> pd.DataFrame:
        """Every actor does every kind to every post (never its own), minutes after it; with
        `share` below 1, to a random share of the posts, each actor its own."""
        if not len(actors) or not len(posts):
            return empty_frame("engagements")
        kinds = kinds or self.kinds
        pairs = posts.merge(pd.DataFrame({"actor_id": actors}), how="cross")
        if share < 1:
            pairs = pairs[self.rng.random(len(pairs)) < share]
        # never its own post, never one made before the actor existed
        born = self.created.reindex(pairs["actor_id"]).to_numpy()
        pairs = pairs[(pairs["actor_id"].to_numpy() != pairs["account_id"].to_numpy())
                      & ~(pairs["created_at"].to_numpy() < born)]
        rows = pd.concat([pairs.assign(kind=k) for k in kinds], ignore_index=True)
        delay = pd.to_timedelta(self.rng.exponential(minutes, len(rows)), "min")
        # never after the window, never before the post
        at = np.maximum((rows["created_at"] + delay).clip(upper=self.end - pd.Timedelta(seconds=1)),
                        rows["created_at"])
        return pd.DataFrame({"actor_id": rows["actor_id"].to_numpy(),
                             "account_id": rows["account_id"].to_numpy(),
                             "post_id": rows["post_id"].to_numpy(), "kind": rows["kind"],
                             "created_at": at, "cascade_depth": 1})

    def read(self, actors: np.ndarray, targets, since: pd.Timestamp, until: pd.Timestamp,
             per_day: float) -> pd.DataFrame:
        """Each actor likes `per_day` random posts a day by others than `targets` made between
        `since` and `until`, half an hour after each: passing for a reader."""
        posts = self.dataset.posts
        if posts is None or not len(actors):
            return empty_frame("engagements")
        pool = posts[(posts["created_at"] >= since) & (posts["created_at"] < until)
                     & ~posts["account_id"].isin(targets) & ~posts["account_id"].isin(actors)]
        n_each = int(round(per_day * (until - since) / _DAY))
        if not len(pool) or not n_each:
            return empty_frame("engagements")
        picked = pool.iloc[self.rng.choice(len(pool), (len(actors), n_each)).ravel()]
        read = picked[["post_id", "account_id", "created_at"]].assign(
            actor_id=np.repeat(actors, n_each)).drop_duplicates(["post_id", "actor_id"])
        # never a post made before the actor existed
        read = read[~(read["created_at"].to_numpy()
                      < self.created.reindex(read["actor_id"]).to_numpy())]
        return pd.DataFrame({
            "actor_id": read["actor_id"].to_numpy(), "account_id": read["account_id"].to_numpy(),
            "post_id": read["post_id"].to_numpy(), "kind": self.kinds[-1],
            "created_at": (read["created_at"] + pd.Timedelta(minutes=30)).clip(
                upper=until - pd.Timedelta(seconds=1)), "cascade_depth": 1})

    def warm_up(self, actors: np.ndarray, targets) -> pd.DataFrame:
        """Two likes a day, as a reader, for the `WARM_UP_DAYS` before the attack."""
        return self.read(actors, targets, self.start - WARM_UP_DAYS * _DAY, self.start - _DAY,
                         2.0)

    def follow(self, followers, followees) -> pd.DataFrame:
        """Each follower follows each followee at a random time in the window."""
        grid = pd.MultiIndex.from_product(
            [followers, followees], names=["follower_id", "followee_id"]).to_frame(index=False)
        grid = grid[grid["follower_id"] != grid["followee_id"]]
        seconds = (self.end - self.start).total_seconds()
        at = pd.Series(self.start + pd.to_timedelta(self.rng.uniform(0, seconds, len(grid)), "s"),
                       index=grid.index)
        for side in ("follower_id", "followee_id"):  # not before either account existed
            born = self.created.reindex(grid[side]).fillna(self.start).set_axis(grid.index)
            at = at.where(at >= born, born)
        follows = self.dataset.follows
        if follows is not None:  # an edge that exists already is not a new follow
            known = pd.MultiIndex.from_frame(follows[["follower_id", "followee_id"]])
            keep = ~pd.MultiIndex.from_frame(grid).isin(known)
            grid, at = grid[keep], at[keep]
        return grid.assign(created_at=at)


def _groups(targets: np.ndarray, size: int) -> list[np.ndarray]:
    if size < 2:
        raise ConfigError(f"a ring or pod needs at least 2 members, got size {size}")
    return [targets[i:i + size] for i in range(0, len(targets) - size + 1, size)]


def _one_way(w: _World, targets, size, created) -> tuple[_Rows, _Rows]:
    rows = _Rows.none()
    actors = w.new_accounts(size, created)
    rows.accounts.append(actors)
    rows.engagements.append(w.engage(actors["account_id"].to_numpy(), w.posts_of(targets)))
    return _Rows.none(), rows


def _throwaway(w, targets, size):
    return _one_way(w, targets, size, w.start - _DAY)


def _dormant(w, targets, size):
    return _one_way(w, targets, size, w.start - 730 * _DAY)


def _warmed(w, targets, size):
    """Throwaways that first pass for readers: created 150 days before, each likes two random
    posts a day for the 120 days before the attack, then engages like `one_way`."""
    own, rows = _one_way(w, targets, size, w.start - 150 * _DAY)
    actors = rows.accounts[0]["account_id"].to_numpy()
    rows.engagements.append(w.warm_up(actors, targets))
    return own, rows


@dataclass(frozen=True)
class Tactic:
    """An attack by someone who has read the defences, by its parameters (what `clout redteam`
    searches): `engagers` accounts, aged (two years old, passing for readers for the 120 days
    before) or lent (real established accounts), each engaging a random `share` of each
    target's posts `hours` after them on average, liking `camouflage_per_day` honest posts by
    others a day meanwhile, and following every target when `follow`."""

    accounts: Literal["aged", "lent"] = "aged"
    engagers: int = 15
    share: float = PARTIAL_SHARE
    hours: float = PARTIAL_HOURS
    camouflage_per_day: float = CAMOUFLAGE_PER_DAY
    follow: bool = False

    def play(self, w: _World, targets) -> tuple[_Rows, _Rows]:
        rows = _Rows.none()
        if self.accounts == "aged":
            accounts = w.new_accounts(self.engagers, w.start - 730 * _DAY)
            actors = accounts["account_id"].to_numpy()
            rows.accounts.append(accounts)
            rows.engagements.append(w.warm_up(actors, targets))
        else:
            actors = _established(w, targets, self.engagers)
            rows.used = len(actors)
        rows.engagements += [
            w.engage(actors, w.posts_of(targets), minutes=60 * self.hours, share=self.share),
            w.read(actors, targets, w.start, w.end, self.camouflage_per_day)]
        if self.follow and w.dataset.follows is not None:
            rows.follows.append(w.follow(actors, targets))
        return _Rows.none(), rows


def _established(w, targets, size) -> np.ndarray:
    """`size` real established engagers that are not targets, drawn at random: accounts that
    first engaged 120 days before the attack or in the first half of the data before it, and
    engaged in the 28 days before it."""
    events = w.dataset.engagements
    before = events[events["created_at"] < w.start]
    first = before.groupby("actor_id")["created_at"].min()
    last = before.groupby("actor_id")["created_at"].max()
    old = max(w.start - WARM_UP_DAYS * _DAY, first.min() + (w.start - first.min()) / 2)
    pool = np.setdiff1d(first.index[(first <= old) & (last >= w.start - 28 * _DAY)], targets)
    return w.rng.choice(pool, min(size, len(pool)), replace=False)


def _pod_turns(w, targets, size):
    return _pod(w, targets, size, doc_aware=True)


def _followers(w, targets, size):
    rows = _Rows.none()
    fakes = w.new_accounts(size, w.start - _DAY)
    rows.accounts.append(fakes)
    if w.dataset.follows is None:
        raise DataError("followers: the dataset has no follows table to add followers to")
    rows.follows.append(w.follow(fakes["account_id"].to_numpy(), targets))
    return _Rows.none(), rows


def _ring(w, targets, size):
    rows = _Rows.none()
    groups = _groups(targets, size)
    for group in groups:
        rows.engagements.append(w.engage(group, w.posts_of(group)))
    rows.targets = np.concatenate(groups)
    rows.used = len(rows.targets)
    return _Rows.none(), rows


def _pod(w, targets, size, doc_aware=False):
    rows = _Rows.none()
    reach = max(1, (size - 1) // 2)  # the next `reach` members: never both ways
    timing = {"minutes": 60 * PARTIAL_HOURS, "share": PARTIAL_SHARE} if doc_aware else {}
    groups = _groups(targets, size)
    for group in groups:
        for i, author in enumerate(group):
            engagers = np.array([group[(i - j) % len(group)] for j in range(1, reach + 1)])
            rows.engagements.append(w.engage(engagers, w.posts_of([author]), **timing))
        if doc_aware:
            rows.engagements.append(w.read(group, group, w.start, w.end, CAMOUFLAGE_PER_DAY))
    rows.targets = np.concatenate(groups)
    rows.used = len(rows.targets)
    return _Rows.none(), rows


def _cluster(w, size, presence: _Rows, rows: _Rows) -> np.ndarray:
    """`size` accounts created on the same day that post daily (accounts and posts into
    `presence`) and retweet and like each other's every post (into `rows`); their ids."""
    accounts = w.new_accounts(size, w.start - _DAY)
    ids = accounts["account_id"].to_numpy()
    presence.accounts.append(accounts)
    if w.dataset.posts is not None:
        presence.posts.append(w.new_posts(ids, 1.0))
        rows.engagements.append(w.engage(ids, presence.posts[-1]))
    else:  # engagement about the accounts themselves
        rows.engagements.append(w.engage(ids, w.posts_of(ids)))
    return ids


def _sybil(w, targets, size):
    rows = _Rows.none()
    ids = _cluster(w, size, rows, rows)
    rows.engagements.append(w.engage(ids, w.posts_of(targets)))
    return _Rows.none(), rows


def _burst(w, targets, size):
    rows = _Rows.none()
    bots = w.new_accounts(size, w.start - _DAY)
    rows.accounts.append(bots)
    recent = w.posts_of(targets, since=w.end - 7 * _DAY)
    rows.engagements.append(w.engage(bots["account_id"].to_numpy(), recent, minutes=2.0,
                                     kinds=["retweet"] if "retweet" in w.kinds else w.kinds[:1]))
    return _Rows.none(), rows


def _churn(w, targets, size):
    rows = _Rows.none()
    if w.dataset.follows is None:
        raise DataError("churn: the dataset has no follows table")
    pool = np.setdiff1d(w.dataset.accounts["account_id"].to_numpy(), targets)
    followed = w.rng.choice(pool, min(size, len(pool)), replace=False)
    back = followed[:int(np.ceil(FOLLOW_BACK * len(followed)))]  # those who follow back stay
    rows.follows.append(w.follow(back, targets))
    rows.unfollows = 2 * len(followed) * len(targets)  # each target follows, then unfollows
    rows.used = len(followed)
    return _Rows.none(), rows


def _new_poster(w, targets, size):
    own, rows = _Rows.none(), _Rows.none()
    accounts = w.new_accounts(NEW_POSTERS, w.start - _DAY)
    own.accounts.append(accounts)
    rows.posts.append(w.new_posts(accounts["account_id"].to_numpy(), float(size)))
    rows.used = NEW_POSTERS
    return own, rows


def _noise(w, targets, size):
    if w.dataset.posts is None:
        raise DataError("noise: the dataset has no posts")
    rows = _Rows.none()
    posted = w.posts_of(targets).groupby("account_id").size()
    rows.posts.append(w.posts_by(np.repeat(posted.index.to_numpy(), posted.to_numpy() * size)))
    rows.used = 0
    return _Rows.none(), rows


def _new_ring(w, targets, size):
    own, rows = _Rows.none(), _Rows.none()
    _cluster(w, size, own, rows)
    rows.used = size
    return own, rows


#: attack name -> the rows of the attacker's own presence and the rows of the manipulation
ATTACKS: dict[str, Callable] = {
    "one_way": _throwaway, "dormant": _dormant, "warmed": _warmed, "followers": _followers,
    "ring": _ring, "pod": _pod, "sybil": _sybil, "burst": _burst, "churn": _churn,
    "new_poster": _new_poster, "new_ring": _new_ring, "noise": _noise,
    "aged": lambda w, targets, size: Tactic("aged", size).play(w, targets),
    "lent": lambda w, targets, size: Tactic("lent", size).play(w, targets),
    "aged_followers": lambda w, targets, size: Tactic("aged", size, follow=True).play(w, targets),
    "lent_followers": lambda w, targets, size: Tactic("lent", size, follow=True).play(w, targets),
    "spread": lambda w, targets, size: Tactic("aged", size, SPREAD_SHARE).play(w, targets),
    "lent_spread": lambda w, targets, size: Tactic("lent", size, SPREAD_SHARE,
                                                   follow=True).play(w, targets),
    "pod_turns": _pod_turns,
}


def inject(dataset: Dataset, attack: str | Tactic, targets, size: int, end, days: int = 28,
           seed: int = 0, topics: dict | None = None) -> Injection:
    """`attack` (a name of `ATTACKS`, or a `Tactic`, whose size is its own) of `size` on
    `targets` (account ids) over the `days` before `end`; with `topics` (target -> topic), on
    each target's posts on that topic only."""
    if isinstance(attack, Tactic):
        play, size = attack.play, attack.engagers
    elif attack in ATTACKS:
        play = functools.partial(ATTACKS[attack], size=size)
    else:
        raise ConfigError(f"unknown attack {attack!r}; choose one of {', '.join(ATTACKS)}")
    if size < 1:
        raise ConfigError(f"attack size must be at least 1, got {size}")
    end = pd.Timestamp(end)
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    world = _World(dataset, end, days, seed, topics)
    targets = np.asarray(targets, dtype=np.int64)
    own, bought = play(world, targets)
    if own.accounts:  # the attacker's own accounts are the targets
        targets = np.concatenate([a["account_id"].to_numpy() for a in own.accounts])
    elif bought.targets is not None:
        targets = bought.targets
    baseline = own.onto(dataset)
    used = bought.used if bought.used is not None else sum(map(len, bought.accounts))
    return Injection(str(attack), size, bought.onto(baseline), baseline, targets, used,
                     bought.actions())


def manipulate(dataset: Dataset, truth: pd.DataFrame | None, specs, seed: int = 0
               ) -> tuple[Dataset, pd.DataFrame | None]:
    """Play `specs` (`config.ManipulationSpec`s: attack, targets, size, days) into the data,
    each ending when the data ends, on distinct accounts that post in its window (genuine ones
    where the truth is known). In the truth the targets become role "attacked" (with the attack
    in `attack`) and the accounts an attack creates role "attacker", with no true influence."""
    rng = np.random.default_rng(seed)
    posts = dataset.posts
    if posts is None or not len(posts):
        raise DataError("data.manipulation: the attacks need a posts table to aim at")
    end = posts["created_at"].max().normalize() + _DAY
    if truth is not None:
        truth = truth.assign(attack=pd.Series(pd.NA, index=truth.index, dtype="string"))
    used: set[int] = set()
    for i, spec in enumerate(specs):
        recent = posts.loc[posts["created_at"] >= end - spec.days * _DAY, "account_id"]
        pool = np.setdiff1d(recent.unique(), list(used))
        if truth is not None:
            pool = np.intersect1d(pool, truth.loc[truth["role"] == "genuine", "account_id"])
        if len(pool) < spec.targets:
            raise DataError(f"data.manipulation[{i}] ({spec.attack}): {spec.targets} targets "
                            f"asked, {len(pool)} accounts post in its window")
        targets = np.sort(rng.choice(np.sort(pool), spec.targets, replace=False))
        injection = inject(dataset, spec.attack, targets, spec.size, end, spec.days,
                           seed + i)
        used |= set(targets.tolist())
        if truth is not None:
            hit = truth["account_id"].isin(injection.targets)
            truth.loc[hit, "role"], truth.loc[hit, "attack"] = "attacked", spec.attack
            new = np.setdiff1d(injection.attacked.accounts["account_id"], truth["account_id"])
            truth = pd.concat([truth, pd.DataFrame({
                "account_id": new, "role": "attacker", "attack": spec.attack,
                **{c: 0.0 for c in truth.columns if c.startswith("true_")}})],
                ignore_index=True)
        dataset = injection.attacked
    return dataset, truth
