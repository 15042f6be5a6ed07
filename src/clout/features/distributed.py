"""The per-day partials on a Dask cluster, one task per account partition.

Stage 1 of the feature build (`build.partials`: events, posts and follows down to per-day
aggregates) is where the rows are; it runs here per partition, with the same code. Accounts go
to partitions by a hash of their index. A partition holds what its accounts posted and received
and the follows to them, plus a halo: the engagement its accounts gave and the follows they
made. With the halo, everything a partial needs about an account is inside its partition:
when it was first seen (also as an engager or follower) and whom it engaged back (traded
engagement). Each task keeps only its own accounts' rows (pairs by their engaged account), so
the partitions' partials concatenate, in the fixed order, to exactly the single-machine ones.

Stage 2 (windows, PageRank and the engager features at each cutoff) reads those aggregates,
not the events, and runs on the client: PageRank needs the whole engagement graph (see the
README on scaling it out).
"""

from __future__ import annotations

from dataclasses import fields, replace

import polars as pl

from clout import compute
from clout.features.build import FeatureConfig, Partials, in_order, partials
from clout.features.tables import Tables

_MIX = 2654435761  # Knuth's multiplicative hash: neighbouring indices spread over partitions


def partition_of(account: pl.Expr, partitions: int) -> pl.Expr:
    """The partition of each account index (stable across runs and library versions)."""
    return ((account.cast(pl.UInt64) * _MIX) % (2**32)) % partitions


def split(tables: Tables, partitions: int) -> list[Tables]:
    """The tables of each partition: its accounts' rows and their halo."""
    def mine(column: str, k: int) -> pl.Expr:
        return partition_of(pl.col(column), partitions) == k

    def part(k: int) -> Tables:
        def keep(frame, *columns):
            if frame is None:
                return None
            return frame.filter(pl.any_horizontal(mine(c, k) for c in columns))
        return replace(tables, accounts=keep(tables.accounts, "account_id"),
                       posts=keep(tables.posts, "account_id"),
                       events=keep(tables.events, "account_id", "actor_id"),
                       follows=keep(tables.follows, "followee_id", "follower_id"))
    return [part(k) for k in range(partitions)]


# the account each partial's row belongs to
_OWNER = {"pair_days": "pair", "first_pairs": "pair", "follow_days": "followee_id"}


def own_partials(tables: Tables, k: int, config: FeatureConfig, partitions: int
                 ) -> Partials:
    """Partition k's partials, its own accounts' rows only (the halo's are another's)."""
    n = len(tables.ids)
    result = partials(tables, config)

    def own(name, frame):
        if frame is None:
            return None
        column = _OWNER.get(name, "account_id")
        account = pl.col(column) // n if column == "pair" else pl.col(column)
        return frame.filter(partition_of(account, partitions) == k)
    return Partials(**{f.name: own(f.name, getattr(result, f.name)) for f in fields(Partials)})


def distributed_partials(tables: Tables, config: FeatureConfig, client,
                         partitions: int | None = None) -> Partials:
    """`build.partials` computed per account partition on the cluster behind `client`."""
    partitions = compute.partitions(client, partitions)
    parts = client.scatter(split(tables, partitions))
    futures = client.map(own_partials, parts, range(partitions), config=config,
                         partitions=partitions, pure=False)
    results = client.gather(futures)  # raises if a task failed for good: never a partial table

    def combined(name):
        frames = [getattr(r, name) for r in results]
        if frames[0] is None:
            return None
        frame = pl.concat(frames)
        return frame if name == "follow_days" else in_order(name, frame)
    return Partials(**{f.name: combined(f.name) for f in fields(Partials)})
