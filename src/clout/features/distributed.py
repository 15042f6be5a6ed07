"""The feature build on a Dask cluster, partitioned by account, with the local build's code.

Accounts go to partitions by a hash of their index. A partition holds what its accounts posted
and received and the follows to them, plus a *halo*: the engagement its accounts gave and the
follows they made. With the halo, everything about an account is inside its partition: when it
was first seen (also as an engager or follower), whom it engaged back (traded engagement), whom
it follows.

1. Partials (`partials.partials`): one task per partition, kept on its worker. Rows keyed by an
   account keep only the partition's own accounts; pair and follow rows keep the halo too.
2. Each cutoff, graph-wide first: every partition sends its own pairs' window counts (the
   engagement graph, far smaller than the events) and their coverage of the authors' posts,
   and the client computes PageRank, each engager's number of targets, every account's
   credibility and the coordinated pairs (`families.engagement_graph`),
   broadcast back. Then one task per
   partition builds its accounts' rows (`build.cutoff_table`, given that graph).

The client gathers the rows in account order: the table is the local engine's, bit for bit.
PageRank runs on the client (SciPy): it is the one single-machine step, on the window's pair
counts rather than the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd
import polars as pl

from clout.features.build import cutoff_days, cutoff_table, feature_frame, load_tables
from clout.features.config import FeatureConfig
from clout.features.families import (
    engagement_graph,
    first_active,
    pair_coverage,
    window_pairs,
)
from clout.features.partials import PARTIALS, Partials, partials
from clout.features.tables import Tables
from clout.features.window import population

_MIX = 2654435761  # Knuth's multiplicative hash: neighbouring indices spread over partitions


def partition_of(account: pl.Expr, partitions: int) -> pl.Expr:
    """The partition of each account index (stable across runs and library versions)."""
    return ((account.cast(pl.UInt64) * _MIX) % (2**32)) % partitions


def split(tables: Tables, partitions: int) -> list[Tables]:
    """The tables of each partition: its accounts' rows and their halo."""
    def part(k: int) -> Tables:
        def keep(frame, *columns):
            if frame is None:
                return None
            return frame.filter(pl.any_horizontal(
                partition_of(pl.col(c), partitions) == k for c in columns))
        piece = replace(tables, accounts=keep(tables.accounts, "account_id"),
                        posts=keep(tables.posts, "account_id"),
                        events=keep(tables.events, "account_id", "actor_id"),
                        follows=keep(tables.follows, "followee_id", "follower_id"))
        piece.__dict__["offers"] = tables.offers  # a partition offers what the source offers
        return piece
    return [part(k) for k in range(partitions)]


def partition_partials(tables: Tables, k: int, config: FeatureConfig, partitions: int
                       ) -> Partials:
    """Partition k's partials: its own accounts' rows, and the halo's pairs and follows."""
    result = partials(tables, config)

    def own(name, frame):
        if frame is None or PARTIALS[name].halo:  # kept whole: the halo
            return frame
        return frame.filter(partition_of(pl.col("account_id"), partitions) == k)
    return Partials({name: own(name, frame) for name, frame in result.items()})


def _own_pairs(p: Partials, k: int, partitions: int, n_accounts: int, day: int, windows
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The partition's share of the engagement graph, pairs whose engaged account is its own:
    their window counts and their coverage."""
    def own(frame):
        return frame.filter(partition_of(pl.col("pair") // n_accounts, partitions) == k)
    counts = window_pairs(p, day, windows).select("pair", *(f"n@{w}" for w in windows))
    return (own(counts),  # the graph reads the counts in all, not per kind
            own(pair_coverage(p, day, max(windows), n_accounts)))


def build_features_on(client, partitions: int, source, cutoffs: Sequence,
                      config: FeatureConfig | None = None, labels: bool = True, progress=None
                      ) -> pd.DataFrame:
    """`build.build_features`' table, bit for bit, built on the cluster behind `client` in
    `partitions` account partitions."""
    config = config or FeatureConfig()
    tables = load_tables(source)
    days = cutoff_days(tables, cutoffs, config, labels)
    n, windows = len(tables.ids), config.windows
    parts = client.scatter(split(tables, partitions))
    ks = list(range(partitions))
    # futures: each partition's partials stay on its worker
    kept = client.map(partition_partials, parts, ks, config=config, partitions=partitions,
                      pure=False)
    first_seen = pl.concat(client.gather(client.map(lambda p: p.first_seen, kept)))
    active_since = first_active(pl.concat(client.gather(client.map(
        lambda p: p.first_active, kept))), n)
    frames = []
    for done, day in enumerate(days, start=1):
        graph = None
        if tables.events is not None and len(tables.events):
            pairs, coverage = (pl.concat(part).sort("pair") for part in zip(*client.gather(
                client.map(_own_pairs, kept, ks, partitions=partitions, n_accounts=n, day=day,
                           windows=windows, pure=False)), strict=True))
            nodes = population(first_seen, day)["account_id"].to_numpy()
            graph = client.scatter(engagement_graph(pairs, coverage, nodes, windows, n,
                                                    active_since, day), broadcast=True)
        rows = client.gather(client.map(cutoff_table, kept, parts, day=day, config=config,
                                        labels=labels, graph=graph, pure=False))
        frames.append(pl.concat(rows).sort("account_id"))
        if progress:
            progress(done, len(days))
    return feature_frame(tables, pl.concat(frames))

