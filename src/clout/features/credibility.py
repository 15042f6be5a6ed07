"""How much an engager's engagement counts at a cutoff T, from what it showed before T.

An account is *established* at T once it has acted (posted, or engaged with someone) for
`ESTABLISHED_DAYS` (90) before T, or for half of the data's history before T when that is shorter (a
one-week dataset still has established accounts by its fourth day). Its account age does not
count: an aged account that never acted shows nothing, and creation dates can be bought.

Trust then flows from the established accounts along the engagement graph of the longest window
(TrustRank: a PageRank whose restarts all land on them): an account that established accounts
engage with earns trust, an account nobody credible engages with earns none. Credibility is 1 for
an established account, and trust relative to the median established account's, capped at 1, for
the others. Throwaway, dormant, sybil and bot accounts bought for an attack are new or newly
active and engaged by nobody credible: their engagement counts for (almost) nothing.

Engagement that is *coordinated* counts for nothing either, and passes no trust, however
established its engager: an engager that engaged at least `COORDINATED_SHARE` of an author's
posts, from the first it engaged to the last, on at least `COORDINATED_POSTS` posts (a pair
that engages every post, as bought engagement, pods and warmed-up throwaways do); and all the
engagement of an engager that engaged every post of at least `COORDINATED_AUTHORS` authors
who are at least half of those it engaged on two posts or more (throwaways spread over many
targets that each post little). Genuine audiences are selective: on the default simulated world
a genuine engager engages a median 6 % of an author's posts in a window, 0.05 % of genuine
engagement falls in coordinated pairs, and no genuine engager is coordinated with all its
authors. One or two posts say little, so a pod member engaging only an author who posted
twice is not caught.

Nor does engagement in *lockstep* (`lockstep`), however partial, jittered and camouflaged: accounts
that together took up the same small accounts, as a bought group does whatever share of posts it
engages. A pair is new when the engager engaged the author in the recent window (28 days) and not
before it within the longest; an author is small when at most `LOCKSTEP_AUDIENCE` (20) accounts
engaged it before the recent window. Two engagers are in step when they newly engaged at least
`LOCKSTEP_SHARED` (7) of the same small authors (a group of CopyCatch's kind, from two accounts
up), and every new pair of an engager in step with another is in lockstep, whichever author it
engages: the pair lent to a target the other did not engage too. On the default simulated worlds
two genuine engagers share at most 4-6 small authors newly taken up; the red team's best tactic
(two lent accounts engaging half the posts of 20 accounts that posted once or twice) shares enough
for every pair it lent to be in lockstep (tuning worlds 7, 11, 12). Only an engager seen over the
whole longest window can tell a new pair from an old one, so its pairs alone can be new: on a young
dataset, or a timeline cut at its latest posts (Congress), every pair would look new. Where the
longest window is no longer than `ESTABLISHED_DAYS`, the engagers left out are not established and
carry little anyway.

Nor does engagement in a *circle* (`circles`): small accounts that newly took one another up,
as a pod does, whatever share of posts each engages and however it takes turns. A pod's members
each receive engagement from other members, so their new pairs always close into a directed
circle (every member engaged by one before it); genuine audiences discovering small accounts do
not close one. Among new pairs not traded back whose accounts are both small (as above), the
circles are the strongly connected components of two accounts or more; a member too large to be
small joins its circle when a member newly engages it and it newly engages a member. Every such
pair between two members is in the circle. On the default simulated worlds genuine accounts
close no such circle.

Nor does engagement on a *spree* (`sprees`): one account that newly took up at least
`SPREE_AUTHORS` (8) small accounts (as for `lockstep`), engaging at least `COORDINATED_POSTS` of
each one's posts, has every new pair on a small account discounted: a single aged or lent account
serving many targets, with no partner to be in step with (one aged account engaging a random 60 %
of the posts of 20 low-score accounts bought +4.5 points). Genuine readers newly take up many
small accounts, but lightly: on the tuning worlds 7, 11 and 12, at most 3, 7 and 6 of them on
three posts or more (of up to 21-38 newly taken up).

Nor does engagement in a *group* (`groups`): many accounts that newly took up the same small
accounts, each only a few of them, so that no two share `LOCKSTEP_SHARED` (the red team's
best tactic: 37 lent accounts each engaging a random fifth of the posts of 20 accounts that
posted once or twice, +19 points). The new pairs on small accounts (as for `lockstep`) are
peeled into `GROUP_BLOCKS` dense blocks (`dense_blocks`, FRAUDAR, which camouflage cannot hide a
block from); a block is a group when it holds at least `GROUP_LIFT` times the engagement that as
many of the graph's engagers drawn at random would give its authors, and its engagers share
authors: at least `GROUP_SHARING` pairs of engagers that both took up the same two authors per
account in the block. Its engagers are the block's and every engager that took up two of its
authors, and every new pair of a group's engager is in the group. Genuine blocks on
the tuning worlds (7, 11, 12; three cutoffs each) are either the active core, many engagers with
many new pairs (at most 5.6 times chance), or a star, many engagers of one account, who share
no pair of authors; the smallest shared one, four genuine accounts that all took up the same two
accounts, shares 1.0 pair per account. The red team's tactic: 44 times chance, 21 pairs per
account; with 15 accounts, 8 accounts, or 60 engaging a tenth: 125, 128 and 40 times, 7.1, 8.4
and 2.5 pairs.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from clout.features.dense_blocks import dense_blocks
from clout.features.network import member, pagerank

ESTABLISHED_DAYS = 90
TRUST_DAMPING = 0.85
COORDINATED_SHARE = 0.9  # of the author's posts from the first engaged to the last
COORDINATED_POSTS = 3  # fewer engaged posts say little about how selective an engager is
COORDINATED_AUTHORS = 3  # an engager that engages every post of this many authors ...
COORDINATED_AUTHOR_SHARE = 0.5  # ... and of this share of those it engaged on 2+ posts
LOCKSTEP_AUDIENCE = 20  # an author engaged by at most this many before the recent window
LOCKSTEP_SHARED = 7  # small authors two engagers newly engaged both: in step
GROUP_BLOCKS = 10  # dense blocks peeled from the new pairs on small accounts
GROUP_LIFT = 10.0  # a block's engagement over what as many engagers drawn at random give
GROUP_SHARING = 1.5  # pairs of engagers sharing a pair of authors, per account in a block
SPREE_AUTHORS = 8  # small accounts one engager newly took up, each on COORDINATED_POSTS posts
#: what each rule that discounts engagement catches, in words (explanations and the report)
DISCOUNT_RULES = {"coordinated": "engaging nearly every post",
                  "lockstep": "taking up the same small accounts together with others",
                  "circle": "small accounts newly taking one another up in a circle",
                  "group": "a group newly taking up the same small accounts, each a few",
                  "spree": "one account newly taking up many small accounts, each heavily"}


def rules_said() -> str:
    """The discounting rules in one phrase: 'coordinated (engaging ...) or lockstep (...)'."""
    return " or ".join(f"{rule} ({what})" for rule, what in DISCOUNT_RULES.items())


def established(first_active: np.ndarray, cutoff: int) -> np.ndarray:
    """Which accounts (by index) had acted for long enough before `cutoff`. `first_active`:
    each account's first day of activity (a large number when it never acted)."""
    acted = first_active < cutoff
    if not acted.any():
        return acted
    span = min(ESTABLISHED_DAYS, (cutoff - int(first_active[acted].min())) // 2)
    return acted & (first_active <= cutoff - max(span, 1))


def credibility(engaged: np.ndarray, engager: np.ndarray, weight: np.ndarray,
                nodes: np.ndarray, first_active: np.ndarray, cutoff: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Credibility in [0, 1] and trust (TrustRank relative to the median established
    account's) of every account index, NaN outside `nodes` (the accounts that exist at the
    cutoff), from the engagement graph's edges engager -> engaged (account indices) and their
    weights."""
    n_accounts = len(first_active)
    seeds = established(first_active, cutoff)
    credible, trust = np.full(n_accounts, np.nan), np.full(n_accounts, np.nan)
    restart = seeds[nodes]
    credible[nodes], trust[nodes] = restart, 0.0
    if not restart.any():
        return credible, trust
    node_of = np.full(n_accounts, -1)
    node_of[nodes] = np.arange(len(nodes))
    rank = pagerank(node_of[engager], node_of[engaged], weight, len(nodes), TRUST_DAMPING,
                    restart=restart.astype(float))
    trust[nodes] = rank / np.median(rank[restart])  # every seed holds some rank: > 0
    credible[nodes] = np.where(restart, 1.0, np.minimum(trust[nodes], 1.0))
    return credible, trust


def coordinated(engager: np.ndarray, engaged_posts: np.ndarray, span: np.ndarray,
                n_accounts: int) -> np.ndarray:
    """Which (engaged, engager) pairs are coordinated, from each pair's engager (an account
    index), the author's posts it engaged with and the author's posts from the first of those
    to the last (`span`)."""
    several = engaged_posts >= 2  # one post engaged is always "every post" of its span
    every = several & (engaged_posts >= COORDINATED_SHARE * span)
    authors, covered = (np.bincount(engager, weights=w, minlength=n_accounts)
                        for w in (several, every))
    everywhere = (covered >= COORDINATED_AUTHORS) & (covered >= COORDINATED_AUTHOR_SHARE * authors)
    return (every & (engaged_posts >= COORDINATED_POSTS)) | everywhere[engager]


def small_accounts(engaged: np.ndarray, new: np.ndarray, n_accounts: int) -> np.ndarray:
    """Which accounts (by index) are small: engaged by at most `LOCKSTEP_AUDIENCE` accounts
    before the recent window (the pairs engaged in the longest window, not new)."""
    return np.bincount(engaged[~new], minlength=n_accounts) <= LOCKSTEP_AUDIENCE


def _took_up(engaged: np.ndarray, engager: np.ndarray, new: np.ndarray, n_accounts: int
             ) -> sparse.csr_matrix:
    """Engager x small author, 1 where the engager newly engaged the author (see `lockstep`)."""
    small = new & small_accounts(engaged, new, n_accounts)[engaged]
    return sparse.csr_matrix((np.ones(small.sum()), (engager[small], engaged[small])),
                             shape=(n_accounts, n_accounts))


def lockstep(engaged: np.ndarray, engager: np.ndarray, new: np.ndarray, n_accounts: int
             ) -> np.ndarray:
    """Which (engaged, engager) pairs of account indices are in lockstep, from whether each
    pair is new (engaged in the recent window, not before it within the longest); every pair
    engaged in the longest window once."""
    took_up = _took_up(engaged, engager, new, n_accounts)
    shared = (took_up @ took_up.T).tocsr()  # engager x engager: small authors newly engaged both
    shared.setdiag(0)
    in_step = shared.max(axis=1).toarray().ravel() >= LOCKSTEP_SHARED  # with another engager
    return new & in_step[engager]


def groups(engaged: np.ndarray, engager: np.ndarray, new: np.ndarray, n_accounts: int
           ) -> np.ndarray:
    """Which (engaged, engager) pairs of account indices are new pairs of an engager in a
    group (pairs as for `lockstep`)."""
    took_up = _took_up(engaged, engager, new, n_accounts)
    rows, cols = np.flatnonzero(took_up.getnnz(axis=1)), np.flatnonzero(took_up.getnnz(axis=0))
    graph = took_up[rows][:, cols]  # only the accounts with a new pair: peeling visits each
    author_engagers = graph.getnnz(axis=0)
    in_group = np.zeros(n_accounts, dtype=bool)
    for block in dense_blocks(graph, GROUP_BLOCKS):
        inside = graph[block.engagers][:, block.engaged]
        by_chance = author_engagers[block.engaged].sum() * len(block.engagers) / len(rows)
        shared = (inside @ inside.T).tocoo()  # engager x engager: authors both took up
        sharing = (shared.data * (shared.data - 1) / 2)[shared.row < shared.col].sum()
        if (inside.nnz >= GROUP_LIFT * by_chance
                and sharing >= GROUP_SHARING * (len(block.engagers) + len(block.engaged))):
            # with every engager that took up two of its authors (peeling leaves out the ones
            # with a few edges inside): one is a fan's, two are the group's
            in_group[rows[graph[:, block.engaged].getnnz(axis=1) >= 2]] = True
    return new & in_group[engager]


def sprees(engaged: np.ndarray, engager: np.ndarray, new: np.ndarray, n_accounts: int,
           engaged_posts: np.ndarray) -> np.ndarray:
    """Which (engaged, engager) pairs of account indices are new pairs on small accounts of an
    engager on a spree (pairs as for `lockstep`), from the posts of its author each pair
    engaged (`engaged_posts`)."""
    new_small = new & small_accounts(engaged, new, n_accounts)[engaged]
    heavy = new_small & (engaged_posts >= COORDINATED_POSTS)
    on_spree = np.bincount(engager[heavy], minlength=n_accounts) >= SPREE_AUTHORS
    return new_small & on_spree[engager]


def circles(engaged: np.ndarray, engager: np.ndarray, new: np.ndarray, n_accounts: int
            ) -> np.ndarray:
    """Which (engaged, engager) pairs of account indices are in a circle, from whether each
    pair is new (as for `lockstep`); every pair engaged in the longest window once."""
    small = small_accounts(engaged, new, n_accounts)
    key = engaged.astype(np.int64) * n_accounts + engager
    traded = member(engager.astype(np.int64) * n_accounts + engaged, key)
    one_way = new & ~traded
    among_small = one_way & small[engaged] & small[engager]
    graph = sparse.csr_matrix((np.ones(among_small.sum()),
                               (engager[among_small], engaged[among_small])),
                              shape=(n_accounts, n_accounts))
    _, component = connected_components(graph, directed=True, connection="strong")
    in_circle = np.bincount(component)[component] >= 2
    # a member too large to be small: engaged by a member and engaging one, both newly
    engaged_by_member = np.bincount(engaged[one_way & in_circle[engager]], minlength=n_accounts)
    engaging_member = np.bincount(engager[one_way & in_circle[engaged]], minlength=n_accounts)
    in_circle |= (engaged_by_member > 0) & (engaging_member > 0)
    return one_way & in_circle[engaged] & in_circle[engager]
