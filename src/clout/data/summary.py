"""What a dataset holds, in two small tables: per table, and per engagement kind."""

from __future__ import annotations

import pandas as pd

from clout.data.dataset import Dataset
from clout.data.kinds import KINDS


def table_summary(dataset: Dataset) -> pd.DataFrame:
    """Rows, distinct accounts and time span of each table present."""
    rows = []
    for name, frame in dataset.tables().items():
        when = frame["created_at"].dropna()
        account_cols = [c for c in ("account_id", "follower_id", "actor_id") if c in frame]
        rows.append({
            "table": name, "rows": len(frame),
            "accounts": frame[account_cols[0]].nunique(),
            "first": when.min() if len(when) else pd.NaT,
            "last": when.max() if len(when) else pd.NaT,
        })
    return pd.DataFrame(rows)


def engagement_summary(dataset: Dataset) -> pd.DataFrame:
    """Events per kind, from individual events or, where only counts exist, post counters."""
    rows = []
    if dataset.engagements is not None:
        counts = dataset.engagements["kind"].value_counts()
        rows += [{"kind": k, "source": "events", "total": int(n)} for k, n in counts.items() if n]
    if dataset.posts is not None:
        for column, kind in {"impressions": "impression", **KINDS.counters()}.items():
            known = dataset.posts[column].dropna()
            if len(known):
                rows.append({"kind": kind, "source": f"post counts ({len(known):,} posts)",
                             "total": int(known.sum())})
    return pd.DataFrame(rows, columns=["kind", "source", "total"])
