"""How far Dask training strays from local training, run to run: the spread behind the
tolerances of tests/test_dask.py.

LightGBM's Dask trainer is not reproducible: the order of its machines follows Dask's placement
of the partitions, and each machine bins some features from its own rows. So the test that a
Dask-trained model is "of similar quality" must use a tolerance derived from measured spread.
This trains the test's experiment (the quick tiny world) locally once, then `--runs` times on a
fresh 2-worker LocalCluster, exactly as the test does, and prints per measure the differences
Dask minus local: mean, standard deviation, extremes, and the bound mean ± 6 sd (a normal
difference crosses it about once in 500 million runs) that the test asserts.

    python benchmarks/dask_spread.py [--runs 30] [--doc docs/dask_spread.md]
"""

# ruff: noqa: I001  (clout first: importing it pins NumPy's kernels before NumPy loads)
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from clout.cache import NO_CACHE
from clout.config import load_experiment
from clout.pipeline import train
from clout.quality import markdown_table
from clout.scoring.summary import RunSummary

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support import quick_tiny  # noqa: E402  (the test's own experiment)

SIGMAS = 6


def measures(summary: RunSummary, heads) -> dict[str, float]:
    """What the test compares: the score's rank against truth and each head's deviance
    improvement over a constant."""
    return {"score spearman (truth)": summary.score("spearman_true_influence"),
            **{f"{kind} deviance improvement": summary.head(kind, "deviance_improvement")
               for kind in heads}}


def spread(runs: int) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as folder:
        path = quick_tiny(Path(folder), "tiny-dask")
        local = train(load_experiment(path), log=False, say=lambda _: None, cache=NO_CACHE)
        heads = list(local.model.heads)
        base = measures(local.evaluation.summary, heads)
        differences = []
        for run in range(runs):
            dask = train(load_experiment(path, **{"compute.engine": "dask"}), log=False,
                         say=lambda _: None, cache=NO_CACHE)
            other = measures(dask.evaluation.summary, heads)
            differences.append({k: other[k] - base[k] for k in base})
            print(f"run {run + 1}/{runs} done", file=sys.stderr, flush=True)
    diffs = pd.DataFrame(differences)
    table = pd.DataFrame({"local": pd.Series(base), "mean": diffs.mean(), "sd": diffs.std(),
                          "min": diffs.min(), "max": diffs.max()})
    table[f"mean - {SIGMAS} sd"] = table["mean"] - SIGMAS * table["sd"]
    table[f"mean + {SIGMAS} sd"] = table["mean"] + SIGMAS * table["sd"]
    return table.rename_axis("measure (Dask minus local)").reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--doc", type=Path, help="also write the table to this markdown file")
    args = parser.parse_args()
    table = spread(args.runs)
    shown = table.map(lambda v: f"{v:+.4f}" if isinstance(v, float) else v)
    lines = [f"Dask training minus local training, {args.runs} Dask runs (fresh LocalCluster "
             "of 2 workers each), quick tiny world", "", *markdown_table(shown)]
    print("\n".join(lines))
    if args.doc:
        from clout.tracking import git_commit
        args.doc.write_text(
            "# Dask training spread\n\nWritten by `python benchmarks/dask_spread.py --runs "
            f"{args.runs}` at commit `{git_commit()}`; its output, unedited:\n\n"
            + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
