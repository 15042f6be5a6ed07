"""Why scores move from one week to the next: the experiment's model trained on each simulated
world, its genuine accounts scored at the day after the data ends and a week before, and every
move split into causes (`audit.changes.score_changes`: own posts, engagement received, engagers'
standing, audience and discounted engagement, the model and its map, rounding). One model, so
the model's part is 0: every move is the account's own data.

    python benchmarks/changes.py [--experiment experiments/default.yaml] [--seeds 7 8]
        [--doc docs/changes.md]

Prints, per world: how far genuine accounts move (median, p95, max of |move|); the largest
error of the parts' sum against the move; and for the accounts that move 10 points or more,
which cause is the largest part, and the mean |points| of each cause.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from clout.audit.changes import ROUNDING, score_changes  # first: clout pins NumPy's kernels
from clout.config import load_experiment
from clout.gaming import attack_date, genuine_accounts
from clout.pipeline import fit_model, scored_batch
from clout.prepare import prepare
from clout.quality import markdown_table

ROOT = Path(__file__).resolve().parents[1]
LARGE = 10  # points: a move a person notices


def world(experiment: Path, seed: int) -> tuple[dict, dict]:
    import numpy as np
    import pandas as pd

    spec = load_experiment(experiment, **{"data.seed": seed})
    prepared = prepare(spec, say=lambda text: None)
    model = fit_model(spec, prepared.table, prepared.split, say=lambda text: None)
    source, end = prepared.source, attack_date(prepared.source.dataset)
    batches = []
    for cutoff in (end - pd.Timedelta(days=7), end):
        scores, rows = scored_batch(model, source, cutoff)
        batches.append((model, rows.set_index("account_id"),
                        scores.set_index("account_id")["score"]))
    parts = score_changes(*batches)
    parts = parts[parts.index.isin(genuine_accounts(source.truth))]
    causes = [c for c in parts.columns if c != "move"]
    large = parts[parts["move"].abs() >= LARGE]
    largest = large[[c for c in causes if c != ROUNDING]].abs().idxmax(axis=1)
    moved = parts["move"].abs()
    summary = {"world": f"seed {seed}", "genuine accounts": len(parts),
               "median |move|": f"{moved.median():.0f}", "p95": f"{moved.quantile(0.95):.0f}",
               "max": f"{moved.max():.0f}",
               "parts' sum - move, max":
                   f"{np.abs(parts[causes].sum(axis=1) - parts['move']).max():.1e}",
               f"moving {LARGE}+": len(large)}
    by_cause = {"world": f"seed {seed}", **{
        cause: f"{(largest == cause).mean():.0%} / {large[cause].abs().mean():.1f}"
        for cause in causes if cause != ROUNDING}}
    return summary, by_cause


def main() -> None:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", type=Path, default=Path("experiments/default.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8])
    parser.add_argument("--doc", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    rows = [world(args.experiment, seed) for seed in args.seeds]
    moves = "\n".join(markdown_table(pd.DataFrame([r[0] for r in rows])))
    causes = "\n".join(markdown_table(pd.DataFrame([r[1] for r in rows])))
    print(moves, causes, sep="\n\n")
    if args.doc:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=ROOT).stdout.strip()
        args.doc.write_text(
            "# Why scores move from one week to the next\n\n"
            f"Written by `python benchmarks/changes.py --experiment {args.experiment} --seeds "
            f"{' '.join(map(str, args.seeds))} --doc {args.doc}` at {commit}, "
            f"{datetime.now(UTC):%Y-%m-%d} ({time.perf_counter() - started:.0f} s): each "
            "world's model scores its genuine accounts at the day after the data ends and a "
            "week before; `audit.changes.score_changes` splits every move into causes that add "
            "up to it (one model: its part is 0).\n\n"
            f"## How far genuine accounts move\n\n{moves}\n\n"
            f"## Accounts moving {LARGE} points or more: share whose largest part is each "
            f"cause / its mean |points|\n\n{causes}\n")


if __name__ == "__main__":
    main()
