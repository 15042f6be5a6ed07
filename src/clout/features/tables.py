"""The contract's tables as Polars frames, in the form the feature code reads.

- Time is whole UTC days since 1970-01-01 (`day`): cutoffs fall on midnights, so "before the
  cutoff" is exactly `day < cutoff_day`.
- Account ids become dense indices 0..n-1 in every id column (`account_id`, `actor_id`,
  `follower_id`, `followee_id`), so that an (account, other account) pair packs into one 64-bit
  key and group-bys stay cheap; `Tables.ids` maps an index back to the original id.
- A directory is scanned with Polars column by column: a large dataset never passes through
  pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import pandas as pd
import polars as pl

from clout.data.dataset import Dataset, table_path
from clout.data.kinds import KINDS
from clout.data.schema import OBSERVED_COUNTERS
from clout.errors import DataError, MissingFile
from clout.features.catalogue import (
    CREATED,
    DEPTH,
    EVENTS,
    FOLLOWS,
    POSTS,
    RECEIVED,
    RETWEETS,
    SNAPSHOT,
    TOPICS,
)

SNAPSHOT_COLUMNS = OBSERVED_COUNTERS["accounts"][0][:4]  # followers, following, listed, posts


def kind_dtype() -> pl.Enum:
    """Engagement kinds as small integers, not strings, in the registry's order."""
    return pl.Enum(list(KINDS))
INDEX = pl.Int32


def _day(column: str) -> pl.Expr:
    return pl.col(column).dt.epoch("d").cast(pl.Int32)


@dataclass
class Tables:
    """What the feature builder reads. Optional tables are None when the source lacks them."""

    ids: pl.Series  # original account id of each dense index
    accounts: pl.DataFrame  # account_id (index), created_day, counters, observed_day, community
    posts: pl.DataFrame | None  # post_id, account_id, day, content flags, counts
    events: pl.DataFrame | None  # actor_id, account_id, post_id, kind, day, cascade_depth
    follows: pl.DataFrame | None  # follower_id, followee_id, day (known times only)
    follows_without_time: int  # left out of the follower graph: when they happened is unknown
    event_kinds: tuple[str, ...]  # kinds present as events
    count_kinds: tuple[str, ...]  # kinds known only as counts on posts

    @property
    def kinds(self) -> list[str]:
        return sorted(set(self.event_kinds) | set(self.count_kinds))

    def with_post_topics(self, topics: pd.DataFrame) -> Tables:
        """These tables with each post's topic from `topics` (post_id, topic; e.g. learned
        from text by `clout.data.text_topics`), none for a post it lacks."""
        given = pl.from_pandas(topics[["post_id", "topic"]]).with_columns(
            pl.col("post_id").cast(self.posts["post_id"].dtype), pl.col("topic").cast(pl.String))
        return replace(self, posts=self.posts.drop("topic").join(given, on="post_id",
                                                                 how="left"))

    @cached_property
    def offers(self) -> frozenset[str]:
        """The catalogue's `needs` this source satisfies (computed once: it scans columns)."""
        def has_values(frame, column):
            return frame is not None and frame[column].null_count() < len(frame)

        have = {
            POSTS: self.posts is not None and len(self.posts) > 0,
            TOPICS: has_values(self.posts, "topic"),
            RECEIVED: bool(self.kinds),
            RETWEETS: "retweet" in self.kinds,
            EVENTS: self.events is not None and len(self.events) > 0,
            DEPTH: has_values(self.events, "cascade_depth"),
            FOLLOWS: self.follows is not None,
            CREATED: has_values(self.accounts, "created_day"),
            SNAPSHOT: any(has_values(self.accounts, c) for c in SNAPSHOT_COLUMNS),
        }
        return frozenset(need for need, met in have.items() if met)

    def _activity_days(self, pick: str) -> int:
        # Polars' own min/max: Python's would iterate every row of the column
        days = [getattr(t["day"], pick)() for t in (self.posts, self.events)
                if t is not None and len(t)]
        if not days:
            raise DataError("the dataset has no posts and no engagement events: nothing to "
                             "build features from")
        return int(min(days) if pick == "min" else max(days))

    @property
    def first_day(self) -> int:
        """The first day with any post or event."""
        return self._activity_days("min")

    @property
    def last_day(self) -> int:
        """The last day with any post or event: labels past it would be incomplete."""
        return self._activity_days("max")


def _prepare(accounts: pl.LazyFrame, posts: pl.LazyFrame | None,
             events: pl.LazyFrame | None, follows: pl.LazyFrame | None) -> Tables:
    accounts = accounts.select(
        "account_id", _day("created_at").alias("created_day"), *SNAPSHOT_COLUMNS,
        _day("observed_at").alias("observed_day"), "community").collect().sort("account_id")
    ids = accounts["account_id"]

    def dense(column: str) -> pl.Expr:
        # every id must be a known account: the contract's validation guarantees it
        return pl.col(column).replace_strict(ids, pl.int_range(len(ids), dtype=INDEX, eager=True),
                                             return_dtype=INDEX)

    accounts = accounts.with_columns(account_id=pl.int_range(len(ids), dtype=INDEX))
    if posts is not None:
        posts = posts.select(
            "post_id", dense("account_id"), _day("created_at").alias("day"),
            *(pl.col(c).fill_null(False) for c in ("has_link", "has_media", "is_reply",
                                                   "is_repost")),
            "length_chars", pl.col("topic").cast(pl.String), *KINDS.counters()).collect()
    event_kinds: tuple[str, ...] = ()
    if events is not None:
        events = events.select(
            dense("actor_id"), dense("account_id"), "post_id",
            pl.col("kind").cast(pl.String).cast(kind_dtype()), _day("created_at").alias("day"),
            "cascade_depth").collect()
        event_kinds = tuple(k for k in KINDS if (events["kind"] == k).any())
    count_kinds = () if posts is None else tuple(
        kind for column, kind in KINDS.counters().items()
        if posts[column].null_count() < len(posts) and kind not in event_kinds)
    untimed = 0
    if follows is not None:
        follows = follows.select(dense("follower_id"), dense("followee_id"),
                                 _day("created_at").alias("day")).collect()
        untimed = follows["day"].null_count()
        follows = follows.drop_nulls("day") if untimed < len(follows) else None
    return Tables(ids, accounts, posts, events, follows, untimed, event_kinds, count_kinds)


def tables_from_dataset(dataset: Dataset) -> Tables:
    """From an in-memory (validated) dataset."""
    def lazy(frame):
        return None if frame is None else pl.from_pandas(frame).lazy()

    return _prepare(lazy(dataset.accounts), lazy(dataset.posts), lazy(dataset.engagements),
                    lazy(dataset.follows))


def tables_from_directory(directory: str | Path) -> Tables:
    """From a dataset directory, scanning Parquet with Polars (no pandas detour)."""
    directory = Path(directory)

    def scan(name):
        path = table_path(directory, name)
        return None if path is None else pl.scan_parquet(path if path.is_file() else
                                                         path / "*.parquet")

    accounts = scan("accounts")
    if accounts is None:
        raise MissingFile(f"{directory} has no accounts table (accounts.parquet)")
    return _prepare(accounts, scan("posts"), scan("engagements"), scan("follows"))
