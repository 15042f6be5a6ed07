"""MLflow tracking: where runs go and how a training run is recorded.

By default runs go to a sqlite database in the working directory (`mlflow.db`) with artifacts
beside it (`mlartifacts/`); `MLFLOW_TRACKING_URI` or an explicit URI overrides that.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from clout.errors import NotFound

DEFAULT_DB = "mlflow.db"


@dataclass(frozen=True)
class RunFiles:
    """Where a training run keeps what it logs: the one list that the pipeline writing them and
    the report, the CLI and the notebooks reading them share."""

    experiment: str = "experiment.yaml"
    metrics: str = "metrics.json"  # per head and predictor on the test cutoff
    data_tables: str = "data/tables.json"
    data_engagement: str = "data/engagement.json"
    importance: str = "importance.json"
    stability: str = "importance_stability.json"
    shap: str = "shap_summary.png"
    fairness: str = "fairness.json"
    fairness_plot: str = "fairness.png"
    explanations: str = "explanations.json"
    score_map: str = "score_map.json"
    distribution: str = "score_distribution.png"
    gaps: str = "score_vs_truth.json"  # simulated data only
    gaming: str = "gaming.png"  # simulated data only
    attacks: str = "attacks.json"  # what each attack buys (clout train --gaming)
    model: str = "clout"  # the pyfunc model: runs:/<run_id>/clout
    report: str = "report"  # folder: report.html and report.png
    calibration_folder: str = "calibration"

    def calibration(self, kind: str, suffix: str) -> str:
        """A head's reliability table (.json) or plot (.png)."""
        return f"{self.calibration_folder}/{kind}.{suffix}"


RUN = RunFiles()


def tracking_uri(uri: str | None = None) -> str:
    """The explicit `uri`, else MLFLOW_TRACKING_URI, else sqlite in the working directory."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or \
        f"sqlite:///{(Path.cwd() / DEFAULT_DB).as_posix()}"


@contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """For a sqlite store, a file lock beside the database: MLflow creates and migrates its
    tables on a process's first use, and two processes doing so at once on a new database
    collide (`duplicate column name`); one at a time, the second finds them made."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    database = Path(uri.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)
    with database.with_name(database.name + ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def use_store(uri: str | None = None) -> str:
    """Point MLflow (tracking and registry) at the store, its tables made; returns its URI."""
    uri = tracking_uri(uri)
    mlflow.set_tracking_uri(uri)
    with _store_lock(uri):
        MlflowClient(uri).search_experiments(max_results=1)  # creates or migrates the tables
    return uri


def _artifact_root(uri: str) -> str | None:
    """Artifacts beside a sqlite database; other stores decide for themselves."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
    return None


def use_experiment(name: str, uri: str | None = None) -> str:
    """Point MLflow at the store and experiment `name` (created when new); returns its id."""
    uri = use_store(uri)
    client = MlflowClient(uri)
    with _store_lock(uri):  # two first runs at once: one creates, the other finds it
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        root = _artifact_root(uri)
        return client.create_experiment(name,
                                        artifact_location=f"{root}/{name}" if root else None)


def git_commit() -> str:
    """The commit of the code that ran, with "-dirty" when it has uncommitted changes (to
    anything but Markdown: documentation, such as docs/quality.md being rewritten by the run
    itself, does not change what runs)."""
    try:
        def git(*args):
            return subprocess.run(["git", *args], capture_output=True, text=True, check=True,
                                  cwd=Path(__file__).parent).stdout.strip()
        dirty = git("status", "--porcelain", "--", ":/", ":(top,exclude,glob)**/*.md")
        return git("rev-parse", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_tags() -> dict[str, str]:
    """Tags saying what a run computed with (`numerics.machine`): library versions, CPU,
    cores, NumPy's and OpenBLAS's kernels, thread pools."""
    from clout.numerics import machine

    return {f"env.{k}": v for k, v in machine().items()}


def flatten(data: dict, prefix: str = "") -> dict[str, str]:
    """Nested parameters as dotted keys, the form MLflow shows and compares."""
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


def process_tags() -> dict[str, str]:
    """Which process a run belongs to, so that a run whose process died can be told apart
    from one still going."""
    return {"clout.host": socket.gethostname(), "clout.pid": str(os.getpid())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def mark_dead_runs(experiment_id: str, client: MlflowClient) -> list[str]:
    """Runs left RUNNING by a clout process of this machine that is gone (SIGKILL, a crash, a
    restart) end FAILED, tagged `clout.died`; returns their ids."""
    host = socket.gethostname()
    dead = [r for r in client.search_runs(
                [experiment_id], "attributes.status = 'RUNNING' and "
                                 f"tags.`clout.host` = '{host}'", max_results=1000)
            if not _alive(int(r.data.tags.get("clout.pid", "0")))]
    for stale in dead:
        client.set_tag(stale.info.run_id, "clout.died",
                       f"process {stale.data.tags['clout.pid']} ended without closing the run; "
                       f"marked by process {os.getpid()}")
        client.set_terminated(stale.info.run_id, "FAILED")
    return [r.info.run_id for r in dead]


@contextmanager
def run(experiment_name: str, run_name: str, uri: str | None = None, tags: dict | None = None):
    """An MLflow run in the given experiment, ended when the block ends, FAILED if it raised
    (SIGINT, and SIGTERM under the CLI, raise). Runs of this experiment whose process died
    are marked FAILED first."""
    experiment_id = use_experiment(experiment_name, uri)
    mark_dead_runs(experiment_id, MlflowClient(tracking_uri(uri)))
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name,
                          tags={**(tags or {}), **process_tags()}) as active:
        yield active


@contextmanager
def child_run(parent, run_name: str, tags: dict | None = None):
    """A run nested in `parent` (an active run), tagged with this process like its parent."""
    with mlflow.start_run(run_name=run_name, nested=True,
                          experiment_id=parent.info.experiment_id,
                          tags={**(tags or {}), **process_tags()}) as active:
        yield active


def latest_run(experiment_name: str | None = None, run_name: str | None = None,
               uri: str | None = None) -> str:
    """The id of the newest finished run, called `run_name` in `experiment_name` when given
    (else in any experiment, of any name)."""
    use_store(uri)
    where = "attributes.status = 'FINISHED'"
    if run_name is not None:
        where += f" and tags.mlflow.runName = '{run_name}'"
    runs = mlflow.search_runs(
        experiment_names=None if experiment_name is None else [experiment_name],
        search_all_experiments=experiment_name is None, max_results=1,
        order_by=["start_time DESC"], filter_string=where)
    if runs.empty:
        wanted = f" {run_name!r}" if run_name else ""
        place = f" in MLflow experiment {experiment_name!r}" if experiment_name else ""
        raise NotFound(f"no finished run{wanted}{place} at {tracking_uri(uri)}: "
                          "train it first")
    return str(runs["run_id"].iloc[0])


def artifact(run_id: str, path: str) -> Path:
    """A file a run logged, downloaded to a local path."""
    return Path(mlflow.MlflowClient().download_artifacts(run_id, path))


def logged_table(run_id: str, path: str) -> pd.DataFrame:
    """A table a run logged with `mlflow.log_table`."""
    return pd.read_json(artifact(run_id, path), orient="split")

