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
"""

from __future__ import annotations

import numpy as np

from clout.features.network import pagerank

ESTABLISHED_DAYS = 90
TRUST_DAMPING = 0.85


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
