"""Model quality: the shipped experiments trained end to end, against their baselines.

    python benchmarks/models.py                          # default (simulated) and congress
    python benchmarks/models.py experiments/default.yaml

Each experiment runs in a child process (its own peak memory) and is logged to MLflow as usual
(default: mlflow.db here), so runs of this benchmark can be compared in `make ui`. Prints:
1. per head on the test cutoff: Poisson deviance per post, deviance improvement over the
   constant, account-level Spearman and relative calibration error, for the model and baselines;
2. on simulated data: Spearman of the score against true influence, and the mean score gap of
   each manipulation group (points above genuine accounts of the same true influence, with its
   standard error);
3. fairness: per follower-count band and account-age band, the score's median, the median score
   of highly engaged accounts, and the gap to accounts with the same realised engagement (and
   true influence);
4. wall time and peak memory per experiment, and the time `clout report` takes on the run.
Congress is skipped, with the reason, when ../shared/data/congress is absent.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = [ROOT / "experiments" / "default.yaml", ROOT / "experiments" / "congress.yaml"]


def run(path: str) -> dict:
    """Train one experiment in this process; returns its tables as JSON-ready records."""
    import tempfile

    from clout.audit.report import log_report
    from clout.config import load_experiment
    from clout.pipeline import train

    experiment = load_experiment(path)
    start = time.perf_counter()
    result = train(experiment, say=lambda text: None)
    seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        log_report(result.run_id, Path(folder))
        report_seconds = time.perf_counter() - start
    ev = result.evaluation
    return {"experiment": experiment.name, "seconds": seconds, "run_id": result.run_id,
            "report_seconds": report_seconds, "fairness": ev.fairness.to_dict("records"),
            "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "score_map": result.model.score_map.id,
            "factor_10": result.model.score_map.factor(10),
            "metrics": ev.metrics.to_dict("records"),
            "gaps": None if ev.truth_gaps is None else ev.truth_gaps.to_dict("records"),
            "summary": ev.summary}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(run(sys.argv[2]), default=float))
        return
    paths = [Path(p) for p in sys.argv[1:]] or EXPERIMENTS
    results = []
    for path in paths:
        if path.stem == "congress" and not (ROOT.parent / "shared" / "data" / "congress").is_dir():
            print(f"skipping {path.name}: ../shared/data/congress is absent")
            continue
        print(f"training {path.name} ...", flush=True)
        child = subprocess.run([sys.executable, __file__, "--child", str(path)], cwd=ROOT,
                               capture_output=True, text=True, check=True)
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))

    pd.set_option("display.width", 200)
    metrics = pd.DataFrame([{"experiment": r["experiment"], **m} for r in results
                            for m in r["metrics"]])
    print("\nper-post rates on the test cutoff (deviance: mean Poisson deviance per post)")
    print(metrics[["experiment", "head", "predictor", "accounts", "poisson_deviance",
                   "deviance_improvement", "spearman", "relative_ece", "calibration"]]
          .to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for r in results:
        if r["gaps"] is None:
            continue
        s = r["summary"]
        print(f"\n{r['experiment']}: score vs true influence: Spearman "
              f"{s.score('spearman_true_influence'):.3f} (every account but the fake followers), "
              f"{s.score('spearman_true_influence_genuine'):.3f} (genuine only)")
        print(pd.DataFrame(r["gaps"]).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    for r in results:
        print(f"\n{r['experiment']}: fairness on the test cutoff (accounts with posts in the "
              "horizon; gaps in points ± standard error)")
        fairness = pd.DataFrame(r["fairness"])
        shown = ["dimension", "band", "accounts", "score_median", "engaged_median_score",
                 "gap_realised", "gap_realised_se", "gap_truth", "gap_truth_se"]
        print(fairness[[c for c in shown if c in fairness]].to_string(
            index=False, float_format=lambda v: f"{v:.2f}"))
    print("\ncost")
    print(pd.DataFrame([{k: r[k] for k in ("experiment", "seconds", "peak_gib", "report_seconds",
                                           "score_map", "factor_10", "run_id")}
                        for r in results])
          .to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
