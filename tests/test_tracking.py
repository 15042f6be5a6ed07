"""MLflow runs that survive faults: a new store shared by processes that start at once, a run
whose process is killed, a command stopped by SIGTERM."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from clout import tracking


@pytest.fixture(autouse=True)
def session_store_kept():
    """These tests point MLflow at stores of their own; the session's is set back after."""
    before = mlflow.get_tracking_uri()
    yield
    mlflow.set_tracking_uri(before)


def _one_run(uri: str) -> str:
    with tracking.run("clout", "together", uri) as active:
        mlflow.log_metric("x", 1.0)
        return active.info.run_id


def test_processes_starting_on_a_new_store_at_once_all_record_their_run(tmp_path):
    # MLflow makes its tables on first use; at once on a new sqlite file that used to fail
    # with `duplicate column name` and lose a run
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        ids = pool.map(_one_run, [uri] * 4)
    runs = MlflowClient(uri).search_runs(
        [MlflowClient(uri).get_experiment_by_name("clout").experiment_id])
    assert sorted(r.info.run_id for r in runs) == sorted(ids)
    assert {r.info.status for r in runs} == {"FINISHED"}


DIES = """
import os, signal, sys
from clout import tracking
with tracking.run("clout", "dies", sys.argv[1]):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_run_whose_process_was_killed_is_marked_failed_by_the_next(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    killed = subprocess.run([sys.executable, "-c", DIES, uri])
    assert killed.returncode == -signal.SIGKILL
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("clout").experiment_id
    [dead] = client.search_runs([experiment])
    assert dead.info.status == "RUNNING"  # nothing of the process ran on its way out
    with tracking.run("clout", "next", uri):
        pass
    dead = client.get_run(dead.info.run_id)
    assert dead.info.status == "FAILED"
    assert "ended without closing the run" in dead.data.tags["clout.died"]
    [after] = client.search_runs([experiment], "tags.`clout.name` = 'next'")
    assert after.info.status == "FINISHED"
    assert after.data.tags["mlflow.runName"] == f"next {after.info.run_id[:8]}"  # unique


WAITS = """
import sys, time
from clout import tracking
from clout.cli import Commands

app = Commands()

@app.command()
def wait(uri: str):
    with tracking.run("clout", "waits", uri):
        time.sleep(60)

app()
"""


def test_sigterm_ends_a_command_and_its_run_as_failed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    process = subprocess.Popen([sys.executable, "-c", WAITS, uri])
    client = MlflowClient(uri)
    for _ in range(300):  # until the run is open
        experiment = Path(tmp_path / "mlflow.db").exists() and \
            client.get_experiment_by_name("clout")
        if experiment and client.search_runs([experiment.experiment_id]):
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"


def test_a_run_is_dirty_only_when_the_code_changed(tmp_path):
    import subprocess

    from clout.tracking import git_commit

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       cwd=tmp_path, check=True, capture_output=True)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "code.py").write_text("x = 1\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    assert not git_commit(tmp_path).endswith("-dirty")
    # a new experiment file and rewritten notes change nothing that runs
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "copy.yaml").write_text("name: copy\n")
    (tmp_path / "notes.md").write_text("# notes\n")
    assert not git_commit(tmp_path).endswith("-dirty")
    (tmp_path / "src" / "more.py").write_text("y = 2\n")  # new code does
    assert git_commit(tmp_path).endswith("-dirty")
    (tmp_path / "src" / "more.py").unlink()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")  # and dependencies
    assert git_commit(tmp_path).endswith("-dirty")
