"""What each attack buys: attack x size -> the targets' mean gain in points ± se, the controls'
drift and points per 100 actions, on several simulated worlds (what the defences cost genuine
accounts: benchmarks/false_positives.py).

    python benchmarks/gaming.py                          # default world, data seeds 7, 8, 9
    python benchmarks/gaming.py --seeds 7 --preset small --doc docs/gaming.md
    python benchmarks/gaming.py --seeds 7 --attacks warmed pod   # some attacks only
    python benchmarks/gaming.py --jobs 3                  # the three worlds side by side

Each world's model is trained on the clean world as `clout train` trains it (this is `clout
evaluate --gaming` without the bootstrap), then every attack of `clout.data.attacks` is injected
over the 28 days before the day after the data ends and the accounts are scored there (see
`clout.gaming`). With --doc the table is written to that file, stamped with date and commit.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from clout import tracking  # first: importing clout pins NumPy's kernels before NumPy loads
from clout.config import load_experiment
from clout.gaming import cost_curve, display, goal_text
from clout.quality import evaluate, markdown_table


def _world(experiment: Path, preset: str | None, seed: int, attacks: list[str] | None):
    """One world's date and cases (`clout evaluate --gaming` without the bootstrap)."""
    experiment = load_experiment(experiment, **({"data.preset": preset} if preset else {}))
    result = evaluate(experiment, seeds=[seed], bootstrap=0, gaming=attacks or True,
                      say=lambda line: print(line, flush=True))
    return result.date, result.cases


def main() -> None:
    import pandas as pd  # after clout (see the imports)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", type=Path, default=Path("experiments/default.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--preset", help="another simulator preset (tiny, small, default)")
    parser.add_argument("--attacks", nargs="+", help="only these attacks (default: all)")
    parser.add_argument("--doc", type=Path, help="write the table to this markdown file")
    parser.add_argument("--jobs", type=int, default=1,
                        help="worlds measured at once, each in its own process (memory: a few "
                             "GiB each on the default world)")
    args = parser.parse_args()
    start = time.perf_counter()
    jobs = [(args.experiment, args.preset, seed, args.attacks) for seed in args.seeds]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            worlds = list(pool.map(_world, *zip(*jobs, strict=True)))
    else:
        worlds = [_world(*job) for job in jobs]
    date = worlds[0][0]
    cases = [case for _, world_cases in worlds for case in world_cases]
    table = pd.concat([c.gaming.assign(world=c.name) for c in cases], ignore_index=True)
    command = (f"python benchmarks/gaming.py --experiment {args.experiment} --seeds "
               f"{' '.join(map(str, args.seeds))}"
               f"{' --preset ' + args.preset if args.preset else ''}"
               f"{' --attacks ' + ' '.join(args.attacks) if args.attacks else ''}"
               f"{f' --jobs {args.jobs}' if args.jobs > 1 else ''}")
    lines = [f"Measured {date} at commit `{tracking.git_commit()[:12]}` by `{command}` "
             f"({time.perf_counter() - start:.0f} s). Models: "
             + ", ".join(f"{c.name} `{c.model_version}`" for c in cases) + ". "
             + goal_text(), "", "## Gain against cost", "",
             "Each attack's sizes, cheapest first, averaged over the worlds.", "",
             *markdown_table(cost_curve(table)), "",
             "## Every world, attack and size", "", *markdown_table(display(table))]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.doc:
        args.doc.parent.mkdir(parents=True, exist_ok=True)
        args.doc.write_text("# What an attack buys\n\n" + text)


if __name__ == "__main__":
    main()
