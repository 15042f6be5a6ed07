"""What each attack buys: attack x size -> the targets' mean gain in points ± se, the controls'
drift and points per 100 actions, on several simulated worlds.

    python benchmarks/gaming.py                          # default world, data seeds 7, 8, 9
    python benchmarks/gaming.py --seeds 7 --preset small --doc docs/gaming.md

For each world the experiment's model is trained on the clean world (as `clout train` trains
it), then every attack of `clout.data.attacks` is injected over the 28 days before the day after
the data ends and the accounts are scored there (see `clout.gaming`). With --doc the tables are
written to that file, stamped with the date and commit.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from clout.config import load_experiment
from clout.features.build import build_features, load_tables
from clout.features.days import from_day
from clout.gaming import SIZES, gaming_table
from clout.models.heads import Split
from clout.pipeline import cutoffs_for, fit_model, load_source

GOAL_MEAN, GOAL_BOUND, GOAL_CHEAP = 2.0, 3.0, 1.0  # points; cheap: under 1,000 actions


def world_table(experiment_path: Path, seed: int, preset: str | None, attacks) -> pd.DataFrame:
    overrides = {"data.seed": seed, **({"data.preset": preset} if preset else {})}
    experiment = load_experiment(experiment_path, **overrides)
    source = load_source(experiment.data)
    tables = load_tables(source.dataset)
    frame = build_features(tables, cutoffs_for(experiment, tables), experiment.features)
    split = Split.by_time(frame["cutoff"].unique(), experiment.features.horizon_days)
    model = fit_model(experiment, frame, split, say=lambda _: None)
    genuine = source.truth.loc[source.truth["role"] == "genuine", "account_id"].to_numpy()
    end = from_day(tables.last_day + 1)
    sizes = {a: SIZES[a] for a in attacks}
    table = gaming_table(model, source.dataset, genuine, end, sizes, seed=seed,
                         say=lambda line: print(f"  seed {seed}: {line}", flush=True))
    return table.assign(world=f"seed {seed}")


def verdict(row) -> str:
    bound = row["gain"] + 2 * row["gain_se"]
    ok = row["gain"] <= GOAL_MEAN and bound <= GOAL_BOUND
    if row["actions"] < 1000:
        ok = ok and row["gain"] <= GOAL_CHEAP
    return "yes" if ok else "**no**"


def markdown(table: pd.DataFrame, header: str) -> str:
    lines = [header, "",
             "| world | attack | size | accounts | actions | gain ± se | max | controls' drift "
             "| points / 100 actions | within goal |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        lines.append(
            f"| {r['world']} | {r['attack']} | {r['size']} | {r['accounts']:,} | "
            f"{r['actions']:,} | {r['gain']:+.2f} ± {r['gain_se']:.2f} | {r['gain_max']:+.0f} | "
            f"{r['control_drift']:+.2f} (max {r['control_max']:.0f}) | "
            f"{r['points_per_100_actions']:+.3f} | {verdict(r)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", type=Path, default=Path("experiments/default.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--preset", help="another simulator preset (tiny, small, default)")
    parser.add_argument("--attacks", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--doc", type=Path, help="write the tables to this markdown file")
    args = parser.parse_args()
    start = time.perf_counter()
    table = pd.concat([world_table(args.experiment, seed, args.preset, args.attacks)
                       for seed in args.seeds], ignore_index=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    header = (f"Measured {datetime.now(UTC):%Y-%m-%d} at commit {commit} by `python "
              f"benchmarks/gaming.py --experiment {args.experiment} --seeds "
              f"{' '.join(map(str, args.seeds))}"
              f"{' --preset ' + args.preset if args.preset else ''}` "
              f"({time.perf_counter() - start:.0f} s). Goal: mean gain ≤ {GOAL_MEAN:g} points "
              f"and mean + 2 se ≤ {GOAL_BOUND:g}; ≤ {GOAL_CHEAP:g} under 1,000 actions.")
    text = markdown(table, header)
    print(text)
    if args.doc:
        args.doc.parent.mkdir(parents=True, exist_ok=True)
        args.doc.write_text("# What an attack buys\n\n" + text)


if __name__ == "__main__":
    main()
