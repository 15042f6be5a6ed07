"""Feature build speed and memory, beside the plain pandas reference.

    python benchmarks/features.py                      # large preset, 12 weekly cutoffs
    python benchmarks/features.py --data DIR --subset-data DIR2

1. The fast path (Polars) builds every catalogued feature and label for 12 weekly cutoffs and
   3 windows on the large simulated world (at least 50 million engagement events), from Parquet,
   in a child process so that its peak memory is its own.
2. On a subset (the default-size world), the fast path and the pandas reference
   (`tests/reference.py`, a few features written straight from their definitions) run on
   the same data and cutoffs; the ratio of their times is printed.

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
    seconds = time.perf_counter() - start
    return {"events": len(tables.events), "rows": len(frame), "columns": frame.shape[1] - 2,
            "seconds": seconds, "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            / 2**20}


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
    seconds = time.perf_counter() - start
    return {"events": len(dataset.engagements), "rows": sum(map(len, frames)),
            "columns": frames[0].shape[1], "seconds": seconds,
            "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def child(kind: str, data: Path, cutoffs: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(data), str(cutoffs)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="big dataset (default: large preset)")
    parser.add_argument("--subset-data", type=Path, help="subset (default: default preset)")
    parser.add_argument("--cutoffs", type=int, default=CUTOFFS)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, data, cutoffs = args.child
        print(json.dumps((fast if kind == "fast" else reference)(Path(data), int(cutoffs))))
        return
    big = args.data or ensure_world("large")
    subset = args.subset_data or ensure_world("default")
    runs = [("fast (Polars)", "full", big, child("fast", big, args.cutoffs)),
            ("fast (Polars)", "subset", subset, child("fast", subset, args.cutoffs)),
            ("pandas reference", "subset", subset, child("reference", subset, args.cutoffs))]
    print(f"\n{args.cutoffs} weekly cutoffs, windows {WINDOWS}, 14-day labels; seconds include "
          "reading Parquet\n")
    header = ("path", "data", "events", "rows", "columns", "seconds", "events/s", "peak GiB")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for path, label, _, r in runs:
        print(f"{path} | {label} | {r['events']:,} | {r['rows']:,} | {r['columns']} | "
              f"{r['seconds']:.1f} | {r['events'] / r['seconds']:,.0f} | {r['peak_gib']:.2f}")
    fast_subset, ref_subset = runs[1][3], runs[2][3]
    print(f"\nspeed-up on the subset (same data, same cutoffs): "
          f"{ref_subset['seconds'] / fast_subset['seconds']:.1f}x, while the fast path builds "
          f"{fast_subset['columns']} columns to the reference's {ref_subset['columns']}")


if __name__ == "__main__":
    main()
