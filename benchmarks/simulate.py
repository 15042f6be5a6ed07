"""Simulator speed and memory: events per second and peak memory per preset.

    python benchmarks/simulate.py                  # default and large presets
    python benchmarks/simulate.py --presets tiny default

Each preset runs in its own process (so peak memory is that run's alone) and streams to a
temporary folder, which is deleted afterwards unless --keep is given.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_one(preset_name: str, out: Path) -> dict:
    from clout.data.simulator import preset, write_simulation

    start = time.perf_counter()
    summary = write_simulation(preset(preset_name), out)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = sum(p.stat().st_size for p in out.rglob("*.parquet"))
    return {"preset": preset_name, "accounts": summary.accounts, "follows": summary.follows,
            "posts": summary.posts, "engagements": summary.engagements, "seconds": seconds,
            "events_per_second": summary.engagements / seconds, "peak_gib": peak_kib / 2**20,
            "parquet_gib": size / 2**30}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["default", "large"])
    parser.add_argument("--keep", type=Path, help="keep the datasets under this folder")
    parser.add_argument("--one", nargs=2, metavar=("PRESET", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], Path(args.one[1]))))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.presets:
            out = (args.keep or Path(tmp)) / name
            child = subprocess.run([sys.executable, __file__, "--one", name, str(out)],
                                   check=True, capture_output=True, text=True)
            rows.append(json.loads(child.stdout.splitlines()[-1]))
    header = ("preset", "accounts", "follows", "posts", "engagements", "seconds",
              "events/s", "peak GiB", "parquet GiB")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for r in rows:
        print(f"{r['preset']} | {r['accounts']:,} | {r['follows']:,} | {r['posts']:,} | "
              f"{r['engagements']:,} | {r['seconds']:.1f} | {r['events_per_second']:,.0f} | "
              f"{r['peak_gib']:.2f} | {r['parquet_gib']:.2f}")


if __name__ == "__main__":
    main()
