"""The data contract: the four tables every source is turned into, defined once.

Everything downstream (validation, loaders, the simulator, `clout data schema`) reads these
definitions; nothing else says what a column means.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd
import pyarrow as pa

from clout.data.kinds import KINDS

Kind = Literal["int", "float", "bool", "string", "timestamp"]

#: Engagement kinds the contract knows (the registry, read live). Sources use the subset they have.
ENGAGEMENT_KINDS = KINDS


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    unit: str
    nullable: bool
    meaning: str
    nonnegative: bool = False  # counts: a negative value is a bad row
    references: str | None = None  # "table.column" this column must point into
    allowed: Sequence[str] | None = None  # closed set of values


@dataclass(frozen=True)
class Table:
    name: str
    meaning: str
    columns: tuple[Column, ...]
    required: bool  # a dataset must have it; optional tables may be absent for a source
    key: tuple[str, ...] = field(default=())  # unique row key, if any

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _count(name: str, meaning: str) -> Column:
    return Column(name, "int", "count", True, meaning, nonnegative=True)


ACCOUNTS = Table(
    "accounts",
    "One row per account. Profile counters are a snapshot taken at `observed_at`: using them at an "
    "earlier cutoff leaks the future.",
    (
        Column("account_id", "int", "id", False, "Account identifier, unique in the dataset."),
        Column("network", "string", "label", False, "Source network, e.g. 'twitter', 'simulated'."),
        Column("created_at", "timestamp", "UTC", True, "When the account was created, if known."),
        _count("followers_count", "Followers at `observed_at`."),
        _count("following_count", "Accounts followed at `observed_at`."),
        _count("listed_count", "Public lists containing the account at `observed_at`."),
        _count("posts_count", "Posts ever published, at `observed_at`."),
        Column("verified", "bool", "flag", True, "Verified badge at `observed_at`."),
        Column("observed_at", "timestamp", "UTC", True,
               "When the profile counters were observed; required when any counter is set."),
        Column("community", "string", "label", True,
               "The community the account belongs to, where known (Congress: party and "
               "chamber, 'D House'): it describes audiences and is never a feature."),
    ),
    required=True,
    key=("account_id",),
)

FOLLOWS = Table(
    "follows",
    "The follower graph: one row per (follower, followee) edge.",
    (
        Column("follower_id", "int", "id", False, "The account that follows.",
               references="accounts.account_id"),
        Column("followee_id", "int", "id", False, "The account followed.",
               references="accounts.account_id"),
        Column("created_at", "timestamp", "UTC", True, "When the follow happened, if known."),
    ),
    required=False,
    key=("follower_id", "followee_id"),
)

POSTS = Table(
    "posts",
    "One row per post. Engagement counts are filled only where a source knows counts but not "
    "individual events; they were observed at `counts_observed_at`.",
    (
        Column("post_id", "int", "id", False, "Post identifier, unique in the dataset."),
        Column("account_id", "int", "id", False, "Author.", references="accounts.account_id"),
        Column("created_at", "timestamp", "UTC", False, "When the post was published."),
        Column("topic", "string", "label", True, "Topic label, if known."),
        Column("has_link", "bool", "flag", True, "The post carries a link (clicks need one)."),
        Column("has_media", "bool", "flag", True, "The post carries an image or video."),
        Column("is_reply", "bool", "flag", True, "The post replies to another post."),
        Column("is_repost", "bool", "flag", True,
               "The post re-shares someone else's post (its counts are not this author's)."),
        Column("is_quote", "bool", "flag", True, "The post quotes another post."),
        Column("length_chars", "int", "characters", True, "Text length.", nonnegative=True),
        Column("campaign_id", "string", "id", True,
               "Group of posts competing for the same audience, e.g. the variants of an A/B test."),
        _count("impressions", "Times the post was shown, at `counts_observed_at`."),
        *(_count(k.plural, k.counter_meaning) for k in map(KINDS.kind, KINDS) if k.counter),
        Column("counts_observed_at", "timestamp", "UTC", True,
               "When the counts were observed; required when any count is set."),
    ),
    required=False,
    key=("post_id",),
)

ENGAGEMENTS = Table(
    "engagements",
    "One row per engagement event: `actor_id` did `kind` to account `account_id` "
    "(on `post_id` when the event is about a post).",
    (
        Column("actor_id", "int", "id", False, "Who engaged.", references="accounts.account_id"),
        Column("account_id", "int", "id", False, "Whose post or profile received it.",
               references="accounts.account_id"),
        Column("post_id", "int", "id", True, "The post engaged with, if known.",
               references="posts.post_id"),
        Column("kind", "string", "label", False, "What happened.", allowed=ENGAGEMENT_KINDS),
        Column("created_at", "timestamp", "UTC", False, "When it happened."),
        Column("cascade_depth", "int", "hops", True,
               "Hops from the author: 1 = saw the post from its author, 2 = from a retweet of it, "
               "...; null when unknown.", nonnegative=True),
    ),
    required=False,
)

TABLES: dict[str, Table] = {t.name: t for t in (ACCOUNTS, FOLLOWS, POSTS, ENGAGEMENTS)}

#: Order in which tables are checked: a table's references point only to tables before it.
TABLE_ORDER: tuple[str, ...] = tuple(TABLES)

#: Counters whose presence requires an observation time, per table.
OBSERVED_COUNTERS: dict[str, tuple[list[str], str]] = {
    "accounts": (["followers_count", "following_count", "listed_count", "posts_count", "verified"],
                 "observed_at"),
    "posts": (["impressions", *KINDS.counters()], "counts_observed_at"),
}

_PANDAS_DTYPE: dict[Kind, tuple[str, str]] = {
    # kind: (dtype when the column has no nulls, dtype when it may have nulls)
    "int": ("int64", "Int64"),
    "float": ("float64", "Float64"),
    "bool": ("bool", "boolean"),
    "string": ("string", "string"),
    "timestamp": ("datetime64[us, UTC]", "datetime64[us, UTC]"),
}


def pandas_dtype(column: Column) -> str:
    """The pandas dtype a contract column is held in."""
    return _PANDAS_DTYPE[column.kind][column.nullable]


def empty_frame(table: str) -> pd.DataFrame:
    """A zero-row frame with the table's columns and dtypes."""
    spec = TABLES[table]
    return pd.DataFrame({c.name: pd.Series(dtype=pandas_dtype(c)) for c in spec.columns})


def conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Reorder `frame` to the table's columns, adding missing nullable ones as nulls and casting
    to contract dtypes. For loaders and the simulator, which build frames they know are right."""
    spec = TABLES[table]
    out = {}
    for col in spec.columns:
        if col.name in frame and isinstance(frame[col.name].dtype, pd.CategoricalDtype):
            out[col.name] = frame[col.name]  # a categorical label column is kept: compact
        elif col.name in frame:
            out[col.name] = frame[col.name].astype(pandas_dtype(col))
        elif col.nullable:
            out[col.name] = pd.Series(pd.NA, index=frame.index, dtype=pandas_dtype(col))
        else:
            raise KeyError(f"{table}.{col.name} is required and was not built")
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


_ARROW_TYPE: dict[Kind, pa.DataType] = {
    "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "string": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def arrow_schema(table: str, dictionary: tuple[str, ...] = ()) -> pa.Schema:
    """The table's Parquet schema; columns in `dictionary` are dictionary-encoded labels."""
    return pa.schema([
        pa.field(c.name, pa.dictionary(pa.int8(), pa.string()) if c.name in dictionary
                 else _ARROW_TYPE[c.kind], nullable=c.nullable)
        for c in TABLES[table].columns])


def schema_frame() -> pd.DataFrame:
    """The whole contract as one table: table, column, type, unit, nullable, meaning."""
    rows = []
    for t in TABLES.values():
        for c in t.columns:
            rules = []
            if c.nonnegative:
                rules.append(">= 0")
            if c.references:
                rules.append(f"-> {c.references}")
            if c.allowed:
                rules.append("one of " + ", ".join(c.allowed))
            if c.name in t.key and len(t.key) == 1:
                rules.append("unique")
            rows.append({"table": t.name, "column": c.name, "type": c.kind, "unit": c.unit,
                         "nullable": c.nullable, "rules": "; ".join(rules), "meaning": c.meaning})
    return pd.DataFrame(rows)
