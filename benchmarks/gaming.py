"""What each attack buys: attack x size -> the targets' mean gain in points ± se, the controls'
drift and points per 100 actions, on several simulated worlds.

    python benchmarks/gaming.py                          # default world, data seeds 7, 8, 9
    python benchmarks/gaming.py --seeds 7 --preset small --doc docs/gaming.md
    python benchmarks/gaming.py --seeds 7 --attacks warmed pod   # some attacks only

Each world's model is trained on the clean world as `clout train` trains it (this is `clout
evaluate --gaming` without the bootstrap), then every attack of `clout.data.attacks` is injected
over the 28 days before the day after the data ends and the accounts are scored there (see
`clout.gaming`). With --doc the table is written to that file, stamped with date and commit.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from clout import tracking  # first: importing clout pins NumPy's kernels before NumPy loads
from clout.config import load_experiment
from clout.gaming import display, goal_text
from clout.quality import evaluate, markdown_table


def main() -> None:
    import pandas as pd  # after clout (see the imports)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", type=Path, default=Path("experiments/default.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--preset", help="another simulator preset (tiny, small, default)")
    parser.add_argument("--attacks", nargs="+", help="only these attacks (default: all)")
    parser.add_argument("--doc", type=Path, help="write the table to this markdown file")
    args = parser.parse_args()
    start = time.perf_counter()
    experiment = load_experiment(args.experiment,
                                 **({"data.preset": args.preset} if args.preset else {}))
    result = evaluate(experiment, seeds=args.seeds, bootstrap=0, gaming=args.attacks or True,
                      say=lambda line: print(line, flush=True))
    table = pd.concat([c.gaming.assign(world=c.name) for c in result.cases], ignore_index=True)
    command = (f"python benchmarks/gaming.py --experiment {args.experiment} --seeds "
               f"{' '.join(map(str, args.seeds))}"
               f"{' --preset ' + args.preset if args.preset else ''}"
               f"{' --attacks ' + ' '.join(args.attacks) if args.attacks else ''}")
    lines = [f"Measured {result.date} at commit `{tracking.git_commit()[:12]}` by `{command}` "
             f"({time.perf_counter() - start:.0f} s). Models: "
             + ", ".join(f"{c.name} `{c.model_version}`" for c in result.cases) + ". "
             + goal_text(), "", *markdown_table(display(table))]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.doc:
        args.doc.parent.mkdir(parents=True, exist_ok=True)
        args.doc.write_text("# What an attack buys\n\n" + text)


if __name__ == "__main__":
    main()
