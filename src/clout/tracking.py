"""MLflow tracking: where runs go and how a training run is recorded.

By default runs go to a sqlite database at the project's root (`mlflow.db`, found from the
working directory up) with artifacts beside it (`mlartifacts/`); `MLFLOW_TRACKING_URI` or an
explicit URI overrides that.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from clout.errors import ConfigError, NotFound
from clout.files import project_root
from clout.scoring.summary import MODEL, metric_name

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
    topics: str = "topics/summary.json"  # per topic, at the test cutoff
    topic_example: str = "topics/example.json"  # the best account's topics and audience
    topic_truth: str = "topics/vs_truth.json"  # simulated data only
    topic_terms: str = "topics/learned.json"  # topics learned from text: label, top terms
    model: str = "clout"  # the pyfunc model: runs:/<run_id>/clout
    report: str = "report"  # folder: report.html and report.png
    calibration_folder: str = "calibration"

    def calibration(self, kind: str, suffix: str) -> str:
        """A head's reliability table (.json) or plot (.png)."""
        return f"{self.calibration_folder}/{kind}.{suffix}"


RUN = RunFiles()


def tracking_uri(uri: str | None = None) -> str:
    """The explicit `uri`, else MLFLOW_TRACKING_URI, else sqlite at the project's root (one
    store per project, whatever the working directory)."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or \
        f"sqlite:///{(project_root() / DEFAULT_DB).as_posix()}"


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


# What decides what a run computes, besides its experiment (which the run records whole):
# the package and the pinned dependencies.
CODE_PATHS = (":(top)src", ":(top)pyproject.toml", ":(top)requirements.lock")


def git_commit(where: Path = Path(__file__).parent) -> str:
    """The commit of the code that ran, with "-dirty" when the code has uncommitted changes
    (`CODE_PATHS`: a new experiment file, notes or docs rewritten by the run itself do not
    change what runs)."""
    try:
        def git(*args):
            return subprocess.run(["git", *args], capture_output=True, text=True, check=True,
                                  cwd=where).stdout.strip()
        dirty = git("status", "--porcelain", "--", *CODE_PATHS)
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


NAME_TAG = "clout.name"  # the name a run was started under, without its id


@contextmanager
def run(experiment_name: str, run_name: str, uri: str | None = None, tags: dict | None = None,
        note: str = ""):
    """An MLflow run in the given experiment, named `run_name`, the start of its id (so two
    runs of one experiment are told apart in the UI) and `note`, ended when the block ends,
    FAILED if it raised (SIGINT, and SIGTERM under the CLI, raise). Runs of this experiment
    whose process died are marked FAILED first."""
    experiment_id = use_experiment(experiment_name, uri)
    mark_dead_runs(experiment_id, MlflowClient(tracking_uri(uri)))
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name,
                          tags={**(tags or {}), **process_tags(), NAME_TAG: run_name}) as active:
        mlflow.set_tag("mlflow.runName", f"{run_name} {active.info.run_id[:8]}{note}")
        yield active


KIND_TAG = "clout.kind"  # evaluate, tune and their children; a training run has none
PARENT_TAG, CHANGES_TAG = "clout.parent_run", "clout.changes"
# what names a run rather than what it computes: never a change
_LABELS = ("name", "description", "mlflow_experiment")


def _is_training(run) -> bool:
    return not {KIND_TAG, "mlflow.parentRunId"} & set(run.data.tags)


def nearest_run(experiment_name: str, params: dict[str, str], file: str | None = None,
                uri: str | None = None, candidates: int = 200
                ) -> tuple[str, dict[str, tuple[str | None, str | None]]] | None:
    """A new training run's parent: the finished training run of `experiment_name` whose
    experiment parameters (`params`, flattened) differ least from these, ties going to a run
    of the same experiment `file`, then to the newest. Returns its id and the differences,
    {parameter: (parent's value, this run's)}; None when the experiment has no such run."""
    client = MlflowClient(use_store(uri))
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    fields = {key.split(".")[0] for key in params}  # the experiment's, not the run's results
    best = None
    for other in client.search_runs([experiment.experiment_id],
                                    "attributes.status = 'FINISHED'", max_results=candidates,
                                    order_by=["attributes.start_time DESC"]):
        if not _is_training(other):
            continue
        theirs = {k: v for k, v in other.data.params.items() if k.split(".")[0] in fields}
        changes = {k: (theirs.get(k), params.get(k)) for k in sorted(set(theirs) | set(params))
                   if k.split(".")[0] not in _LABELS and theirs.get(k) != params.get(k)}
        rank = (len(changes), other.data.tags.get(FILE_TAG) != file)
        if best is None or rank < best[0]:  # newest first: the first of equals stays
            best = rank, other.info.run_id, changes
    return None if best is None else best[1:]


def describe_changes(parent: str, changes: dict[str, tuple[str | None, str | None]],
                     shown: int = 3) -> str:
    """A run name's note: the parameters that changed from the parent, each by the last part
    of its name unless two changed ones share it."""
    if not changes:
        return f" (as {parent[:8]})"
    leaves = [key.split(".")[-1] for key in changes]
    names = [leaf if leaves.count(leaf) == 1 else key
             for key, leaf in zip(changes, leaves, strict=True)]
    parts = [f"{name} {before}→{after}" for name, (before, after)
             in zip(names, changes.values(), strict=True)]
    more = f", +{len(parts) - shown} more" if len(parts) > shown else ""
    return f" ({', '.join(parts[:shown])}{more} vs {parent[:8]})"


@contextmanager
def child_run(parent, run_name: str, tags: dict | None = None):
    """A run nested in `parent` (an active run), tagged with this process like its parent."""
    with mlflow.start_run(run_name=run_name, nested=True,
                          experiment_id=parent.info.experiment_id,
                          tags={**(tags or {}), **process_tags()}) as active:
        yield active


FILE_TAG = "clout.experiment_file"


def experiment_file(path: Path) -> str:
    """How a run names the experiment file it ran: its path from the project's root."""
    path = Path(path).resolve()
    root = project_root(path.parent)
    return (path.relative_to(root) if path.is_relative_to(root) else path).as_posix()


def latest_run(experiment_name: str | None = None, run_name: str | None = None,
               uri: str | None = None, source: Path | None = None) -> str:
    """The id of the newest finished run, called `run_name` in `experiment_name` when given
    (else in any experiment, of any name), and run from the experiment file `source` when
    given (two files may share a name; a run is the file's)."""
    use_store(uri)
    where = "attributes.status = 'FINISHED'"
    if run_name is not None:
        where += f" and tags.`{NAME_TAG}` = '{run_name}'"
    if source is not None:
        where += f" and tags.`{FILE_TAG}` = '{experiment_file(source)}'"
    runs = mlflow.search_runs(
        experiment_names=None if experiment_name is None else [experiment_name],
        search_all_experiments=experiment_name is None, max_results=1,
        order_by=["start_time DESC"], filter_string=where)
    if runs.empty:
        wanted = f" of {experiment_file(source)}" if source else \
            f" {run_name!r}" if run_name else ""
        place = f" in MLflow experiment {experiment_name!r}" if experiment_name else ""
        command = f" (clout train {experiment_file(source)})" if source else ""
        raise NotFound(f"no finished run{wanted}{place} at {tracking_uri(uri)}: "
                       f"train it first{command}")
    return str(runs["run_id"].iloc[0])


RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def resolve_run(text: str | None, uri: str | None = None, experiment_name: str | None = None,
                run_name: str | None = None, source: Path | None = None) -> str:
    """A run id from what a user typed: a whole id, a unique prefix of one (as git takes
    commits), or nothing for the newest finished run (see `latest_run`)."""
    if text is None:
        return latest_run(experiment_name, run_name, uri, source)
    use_store(uri)
    if RUN_ID.match(text):
        return text
    if not re.fullmatch(r"[0-9a-f]{4,31}", text):
        raise ConfigError(f"run {text!r}: a run id or a prefix of at least 4 of its hex digits "
                          "(clout runs lists them)")
    found = sorted(r.info.run_id for r in mlflow.search_runs(
        search_all_experiments=True, filter_string=f"attributes.run_id LIKE '{text}%'",
        max_results=6, output_format="list"))
    if not found:
        raise NotFound(f"no run starts with {text} at {tracking_uri(uri)} (clout runs lists "
                       "them)")
    if len(found) > 1:
        raise ConfigError(f"run {text} is ambiguous: {', '.join(found[:5])}"
                          f"{' ...' if len(found) > 5 else ''}; give more of it")
    return found[0]


# The columns of `clout runs`: a headline per kind of run
HEADLINES = {"vs truth": "metrics." + metric_name(MODEL, "spearman_truth"),
             "vs realised": "metrics." + metric_name(MODEL, "spearman_realised")}


def recent_runs(experiment_name: str | None = None, limit: int = 20,
                uri: str | None = None) -> pd.DataFrame:
    """The newest top-level runs, newest first: short id, name (without the id), kind (and
    its status, unless finished), start (UTC, month-day hour:minute), minutes, the headline
    metrics and the model version."""
    use_store(uri)
    runs = mlflow.search_runs(
        experiment_names=None if experiment_name is None else [experiment_name],
        search_all_experiments=experiment_name is None, max_results=limit * 20,
        order_by=["start_time DESC"])
    if "tags.mlflow.parentRunId" in runs:  # children (cases, trials) are shown by their parent
        runs = runs[runs["tags.mlflow.parentRunId"].isna()]
    runs = runs.head(limit)
    columns = ["run", "name", "kind", "started", "minutes", *HEADLINES, "model"]
    if runs.empty:  # a new store: MLflow's empty answer has none of the columns
        return pd.DataFrame(columns=columns)

    def column(name):
        return runs[name] if name in runs else pd.Series(pd.NA, index=runs.index)
    short = runs["run_id"].str[:8]
    names = [str(n).replace(f" {i}", "") if isinstance(n, str) else n
             for n, i in zip(column("tags.mlflow.runName"), short, strict=True)]
    status = runs["status"].where(runs["status"] != "FINISHED", "")
    minutes = (column("end_time") - column("start_time")).dt.total_seconds() / 60
    return pd.DataFrame({
        "run": short, "name": names,
        "kind": (column(f"tags.{KIND_TAG}").fillna("train") + " " + status).str.strip(),
        "started": column("start_time").dt.strftime("%m-%d %H:%M"),
        "minutes": minutes.round(1),
        **{label: column(metric) for label, metric in HEADLINES.items()},
        "model": column("tags.model_version")}, columns=columns).reset_index(drop=True)


def artifact(run_id: str, path: str) -> Path:
    """A file a run logged, downloaded to a local path."""
    return Path(mlflow.MlflowClient().download_artifacts(run_id, path))


def logged_table(run_id: str, path: str) -> pd.DataFrame:
    """A table a run logged with `mlflow.log_table`."""
    return pd.read_json(artifact(run_id, path), orient="split")

