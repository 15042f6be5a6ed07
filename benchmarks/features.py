"""Feature build speed and memory, beside the floor any build must pay and the plain pandas
reference.

    python benchmarks/features.py                      # large preset, 12 weekly cutoffs
    python benchmarks/features.py --data DIR --subset-data DIR2
    python benchmarks/features.py --subset-only        # the default-size world alone (minutes)

1. The fast path (Polars) builds every catalogued feature and label for 12 weekly cutoffs and
   3 windows on the large simulated world (at least 50 million engagement events), from Parquet,
   in a child process so that its peak memory and CPU time are its own.
2. The floor, on the same data and cutoffs, in its own child: a few lines of plain Polars over
   the same Parquet, per account, kind, cutoff and window, the events' count, the sum of their
   cascade depths and the distinct engagers. The build's CPU time over the floor's is the
   ratio to watch (goal: at most 3).
3. On a subset (the default-size world), the same two and the pandas reference
   (`tests/reference.py`, a few features written straight from their definitions).

Simulated worlds are written once under data/raw/bench-<preset> and reused.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WINDOWS = (7, 28, 90)
CUTOFFS = 12


def ensure_world(preset_name: str) -> Path:
    from clout.data.simulator import preset, write_simulation

    out = ROOT / "data" / "raw" / f"bench-{preset_name}"
    if not (out / "engagements.parquet").exists():
        print(f"simulating the {preset_name} preset into {out} (once) ...", flush=True)
        write_simulation(preset(preset_name), out)
    return out


def fast(data: Path, cutoffs: int) -> dict:
    """Load + build, timed, in this process (run as a child for a clean peak)."""
    from clout.features.build import build_features, load_tables
    from clout.features.config import FeatureConfig
    from clout.features.days import weekly_cutoffs

    start = time.perf_counter()
    tables = load_tables(data)
    chosen = weekly_cutoffs(tables, cutoffs, 14)
    frame = build_features(tables, chosen, FeatureConfig(windows=WINDOWS))
    return _measured(start, len(tables.events), len(frame), frame.shape[1] - 2)


def floor(data: Path, cutoffs: int) -> dict:
    """The least any build does: per account, kind, cutoff and window, count, sum and
    distinct engagers, in plain Polars from the Parquet."""
    import polars as pl

    from clout.features.build import load_tables
    from clout.features.days import from_day, to_day, weekly_cutoffs

    chosen = [from_day(to_day(c)) for c in weekly_cutoffs(load_tables(data), cutoffs, 14)]
    start = time.perf_counter()
    events = pl.scan_parquet(data / "engagements.parquet")
    queries = [events.filter(pl.col("created_at").is_between(
                   c - pl.duration(days=w), c, closed="left"))
               .group_by("account_id", "kind")
               .agg(pl.len().alias("events"), pl.col("cascade_depth").sum().alias("depth"),
                    pl.col("actor_id").n_unique().alias("engagers"))
               .with_columns(cutoff=pl.lit(c), window=pl.lit(w))
               for c in chosen for w in WINDOWS]
    frame = pl.concat(pl.collect_all(queries))
    return _measured(start, events.select(pl.len()).collect().item(), len(frame),
                     frame.width - 4)


def _measured(start: float, events: int, rows: int, columns: int) -> dict:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"events": events, "rows": rows, "columns": columns,
            "seconds": time.perf_counter() - start, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_gib": usage.ru_maxrss / 2**20}


def reference(data: Path, cutoffs: int) -> dict:
    from clout.data.dataset import read_dataset
    from clout.features.build import load_tables
    from clout.features.days import weekly_cutoffs
    sys.path.insert(0, str(ROOT / "tests"))  # the test oracle is not part of the package
    from reference import reference_features

    chosen = weekly_cutoffs(load_tables(data), cutoffs, 14)
    start = time.perf_counter()
    dataset = read_dataset(data)
    frames = [reference_features(dataset, c, WINDOWS, 14) for c in chosen]
    return _measured(start, len(dataset.engagements), sum(map(len, frames)),
                     frames[0].shape[1])


def child(kind: str, data: Path, cutoffs: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(data), str(cutoffs)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="big dataset (default: large preset)")
    parser.add_argument("--subset-data", type=Path, help="subset (default: default preset)")
    parser.add_argument("--cutoffs", type=int, default=CUTOFFS)
    parser.add_argument("--subset-only", action="store_true",
                        help="the default-size world alone")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, data, cutoffs = args.child
        print(json.dumps(CHILDREN[kind](Path(data), int(cutoffs))))
        return
    subset = args.subset_data or ensure_world("default")
    runs = []
    if not args.subset_only:
        big = args.data or ensure_world("large")
        runs += [("fast (Polars)", "full", child("fast", big, args.cutoffs)),
                 ("floor (plain Polars)", "full", child("floor", big, args.cutoffs))]
    runs += [("fast (Polars)", "subset", child("fast", subset, args.cutoffs)),
             ("floor (plain Polars)", "subset", child("floor", subset, args.cutoffs)),
             ("pandas reference", "subset", child("reference", subset, args.cutoffs))]
    print(f"\n{args.cutoffs} weekly cutoffs, windows {WINDOWS}, 14-day labels; seconds include "
          "reading Parquet; CPU: user + system seconds of the child\n")
    header = ("path", "data", "events", "rows", "columns", "seconds", "CPU s", "events/s",
              "peak GiB")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for path, label, r in runs:
        print(f"{path} | {label} | {r['events']:,} | {r['rows']:,} | {r['columns']} | "
              f"{r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
              f"{r['events'] / r['seconds']:,.0f} | {r['peak_gib']:.2f}")
    by = {(path, label): r for path, label, r in runs}
    for label in dict.fromkeys(label for _, label, _ in runs):
        build, least = by[("fast (Polars)", label)], by[("floor (plain Polars)", label)]
        print(f"\n{label}: the build takes {build['cpu_seconds'] / least['cpu_seconds']:.1f}x "
              f"the floor's CPU time and {build['peak_gib'] / least['peak_gib']:.1f}x its peak "
              f"memory (goal: at most 3x the CPU, 4 GiB), for {build['columns']} columns to "
              f"its {least['columns']}")
    fast_subset, ref_subset = by[("fast (Polars)", "subset")], by[("pandas reference", "subset")]
    print(f"\nspeed-up on the subset (same data, same cutoffs): "
          f"{ref_subset['seconds'] / fast_subset['seconds']:.1f}x, while the fast path builds "
          f"{fast_subset['columns']} columns to the reference's {ref_subset['columns']}")


CHILDREN = {"fast": fast, "floor": floor, "reference": reference}


if __name__ == "__main__":
    main()
