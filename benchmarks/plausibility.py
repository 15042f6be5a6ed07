"""Is the simulated world plausible? Its followers and retweets per post against Congress data.

    python benchmarks/plausibility.py [--congress ../shared/data/congress] [--preset default]

Prints one row per statistic with the stated tolerance; exits 1 when a row is outside it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from clout.data.loaders import load_congress
from clout.data.plausibility import NOTABLE_SHARE, compare
from clout.data.simulator import preset, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--congress", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared/data/congress")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    config = preset(args.preset, seed=args.seed)
    sim, truth = simulate(config)
    table = compare(sim, truth, load_congress(args.congress), pd.Timestamp(config.start, tz="UTC"))
    print(f"simulated preset {args.preset!r} (seed {args.seed}; notable = top {NOTABLE_SHARE:.0%}"
          " of established genuine accounts by followers) vs Congress\n")
    print(table.round(3).to_string(index=False))
    sys.exit(0 if table["ok"].all() else 1)


if __name__ == "__main__":
    main()
