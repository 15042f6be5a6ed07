"""Property: what happens at or after a cutoff T never changes a feature at T.

Random small datasets with events (the point-in-time sources), a random cutoff, then a random
rewrite of the future: rows dated at or after T are changed, dropped or added. Every feature at T
must stay the same, the credible-engagement features (engagers' credibility, TrustRank) among
them. (A kind first seen after T adds a column; another future adding it gives it the same values.)
Count-only sources are outside this property by design: their counts are observed later, as the
catalogue states (see `settle_days`).
"""

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clout.data.dataset import Dataset
from clout.data.schema import conform
from clout.data.validation import validate
from clout.features.build import build_features
from clout.features.config import FeatureConfig

BASE = pd.Timestamp("2024-01-01", tz="UTC")
KINDS = ("click", "retweet", "reply", "like")
CONFIG = FeatureConfig(windows=(2, 5), horizon_days=1)
HOURS = 20 * 24


def account(n):
    return st.integers(0, n - 1)


@st.composite
def worlds(draw):
    """Rows with absolute times in hours from BASE: posts (account, hour, link, topic), events
    (actor, post, kind, hour, depth), follows (follower, followee, hour)."""
    n = draw(st.integers(2, 6))
    posts = draw(st.lists(st.tuples(account(n), st.integers(0, HOURS), st.booleans(),
                                    st.sampled_from(["a", "b", None])), min_size=1, max_size=25))
    events = []
    for _ in range(draw(st.integers(0, 60))):
        p = draw(st.integers(0, len(posts) - 1))
        events.append((draw(account(n)), p, draw(st.sampled_from(KINDS)),
                       posts[p][1] + draw(st.integers(0, 72)), draw(st.integers(1, 3))))
    follows = draw(st.lists(st.tuples(account(n), account(n), st.integers(-48, HOURS)),
                            max_size=15))
    return n, posts, events, follows


def rewrite_future(world, cutoff, draw):
    """Change, drop and add rows dated at or after `cutoff` (hours); leave the past alone."""
    n, posts, events, follows = world
    posts = [p if p[1] < cutoff else (draw(account(n)), p[1], not p[2], "c") for p in posts]
    posts += draw(st.lists(st.tuples(account(n), st.integers(cutoff, cutoff + 200),
                                     st.booleans(), st.just("c")), max_size=4))
    events = [e if e[3] < cutoff else (draw(account(n)), e[1], draw(st.sampled_from(KINDS)),
                                       e[3], e[4])
              for e in events if e[3] < cutoff or draw(st.booleans())]
    for _ in range(draw(st.integers(0, 8))):
        p = draw(st.integers(0, len(posts) - 1))
        events.append((draw(account(n)), p, draw(st.sampled_from(KINDS)),
                       max(cutoff, posts[p][1]) + draw(st.integers(0, 48)), 1))
    follows = [f for f in follows if f[2] < cutoff] + draw(st.lists(
        st.tuples(account(n), account(n), st.integers(cutoff, cutoff + 100)), max_size=5))
    return n, posts, events, follows


def dataset(world) -> Dataset:
    n, posts, events, follows = world

    def at(hours):
        return BASE + pd.Timedelta(hours=hours)

    accounts = pd.DataFrame({"account_id": range(n), "network": "test",
                             "created_at": [at(-24 * 30)] * n})
    post_frame = pd.DataFrame(
        [(i, a, at(h), link, topic) for i, (a, h, link, topic) in enumerate(posts)],
        columns=["post_id", "account_id", "created_at", "has_link", "topic"])
    event_frame = pd.DataFrame(
        [(actor, posts[p][0], p, kind, at(h), depth) for actor, p, kind, h, depth in events],
        columns=["actor_id", "account_id", "post_id", "kind", "created_at", "cascade_depth"]
    ).drop_duplicates()  # the same event twice is a row loaded twice: not a valid dataset
    first_follow = {}  # a pair follows once: from its earliest time
    for a, b, h in follows:
        if a != b:
            first_follow[a, b] = min(h, first_follow.get((a, b), h))
    follow_frame = pd.DataFrame([(a, b, at(h)) for (a, b), h in first_follow.items()],
                                columns=["follower_id", "followee_id", "created_at"])
    data = Dataset(conform(accounts, "accounts"), conform(follow_frame, "follows"),
                   conform(post_frame, "posts"), conform(event_frame, "engagements"))
    validate(data, as_of=at(10_000))  # the worlds are valid datasets
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds(), cutoff_day=st.integers(1, 20), draw=st.data())
def test_the_future_never_changes_features_at_the_cutoff(world, cutoff_day, draw):
    cutoff = BASE + pd.Timedelta(days=cutoff_day)
    before = build_features(dataset(world), [cutoff], CONFIG, labels=False)
    changed = rewrite_future(world, cutoff_day * 24, draw.draw)
    after = build_features(dataset(changed), [cutoff], CONFIG, labels=False)
    shared = [c for c in before.columns if c in after.columns]
    pd.testing.assert_frame_equal(before[shared], after[shared])
    # A kind or table first seen after T adds columns. At T they carry nothing of the future:
    # another future that adds them gives them the same values (credibility, say, is then
    # computed, from who acted before T).
    new = sorted(set(after.columns) - set(before.columns))
    if new:
        other = build_features(dataset(rewrite_future(world, cutoff_day * 24, draw.draw)),
                               [cutoff], CONFIG, labels=False)
        both = [c for c in new if c in other.columns]
        pd.testing.assert_frame_equal(after[both], other[both])
