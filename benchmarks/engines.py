"""Polars or DuckDB for the heavy aggregations? The same three per-day partials on each engine.

    python benchmarks/engines.py [--data data/raw/bench-large]

Each engine reads the engagements (and posts) Parquet itself and computes:
1. engagement received per (account, day, kind);
2. engagements per (engaged, engager, day), self-engagement left out;
3. engagement on each post per (account, post day, kind, day): the label partial, a join;
and, on Polars, query 2 the way `clout.features` does it (a packed key, sorted, run lengths).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb
import polars as pl

ROOT = Path(__file__).resolve().parents[1]


def polars_queries(events: Path, posts: Path) -> dict:
    e = pl.scan_parquet(events).with_columns(day=pl.col("created_at").dt.epoch("d"))
    p = pl.scan_parquet(posts).select("post_id", pl.col("created_at").dt.epoch("d")
                                      .alias("post_day"))
    n = e.select(pl.max_horizontal(pl.col("account_id", "actor_id").max()) + 1).collect().item()
    return {
        # what clout.features does: (engaged, engager, day) packed in one int64, sort, run lengths
        "pairs per day (packed key)": e.filter(pl.col("actor_id") != pl.col("account_id"))
        .select((pl.col("account_id") * n + pl.col("actor_id")) * 2**16 + pl.col("day"))
        .sort("account_id").select(pl.col("account_id").rle()).unnest("account_id"),
        "received per account-day-kind": e.group_by("account_id", "day", "kind").len(),
        "pairs per day": e.filter(pl.col("actor_id") != pl.col("account_id"))
        .group_by("account_id", "actor_id", "day").len(),
        "label join": e.join(p, on="post_id").group_by("account_id", "post_day", "kind", "day")
        .len(),
    }


def duckdb_queries(events: Path, posts: Path) -> dict:
    day = "CAST(epoch_us(created_at) // 86400000000 AS INTEGER)"  # whole UTC days, as Polars
    e = f"(SELECT *, {day} AS day FROM '{events}')"
    p = f"(SELECT post_id, {day} AS post_day FROM '{posts}')"
    return {
        "received per account-day-kind":
            f"SELECT account_id, day, kind, count(*) FROM {e} GROUP BY ALL",
        "pairs per day": f"SELECT account_id, actor_id, day, count(*) FROM {e} "
                         "WHERE actor_id <> account_id GROUP BY ALL",
        "label join": f"SELECT account_id, post_day, kind, day, count(*) FROM {e} "
                      f"JOIN {p} USING (post_id) GROUP BY ALL",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "raw" / "bench-large",
                        help="a simulated dataset (benchmarks/features.py writes one)")
    args = parser.parse_args()
    events, posts = args.data / "engagements.parquet", args.data / "posts.parquet"
    rows = []
    for name, plan in polars_queries(events, posts).items():
        start = time.perf_counter()
        n = len(plan.collect())
        rows.append(("polars", name, n, time.perf_counter() - start))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, sql in duckdb_queries(events, posts).items():
        start = time.perf_counter()
        n = len(con.execute(sql).to_arrow_table())  # materialised, like the Polars result
        rows.append(("duckdb", name, n, time.perf_counter() - start))
    print(f"{pl.scan_parquet(events).select(pl.len()).collect().item():,} events, "
          f"{pl.thread_pool_size()} threads\n")
    print("engine | query | result rows | seconds")
    print("--- | --- | --- | ---")
    for engine, name, n, seconds in rows:
        print(f"{engine} | {name} | {n:,} | {seconds:.1f}")
    for engine in ("polars", "duckdb"):
        total = sum(r[3] for r in rows if r[0] == engine and "packed" not in r[1])
        print(f"{engine} total of queries 1-3: {total:.1f} s")


if __name__ == "__main__":
    main()
