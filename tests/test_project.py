"""The project's own promises: dependencies listed twice agree and are locked, every command
has --help, notebooks are committed without outputs."""

import re
import tomllib
from importlib import metadata

import pytest
import typer
import yaml
from packaging.requirements import Requirement
from typer.testing import CliRunner

from clout.cli import app
from support import ROOT


def _normalise(spec: str) -> str:
    return re.sub(r"\s+", "", spec).lower()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"]  # all but the interpreter and pip themselves
             if isinstance(d, str) and re.split(r"[=<>]", d)[0] not in ("python", "pip")]
    assert sorted(map(_normalise, conda)) == sorted(map(_normalise, wanted))


def _locked() -> dict[str, tuple[str, list[str]]]:
    """requirements.lock as name -> (version, hashes)."""
    text = (ROOT / "requirements.lock").read_text().replace("\\\n", " ")
    locked = {}
    for line in text.splitlines():
        if match := re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)\s+(.*)$", line):
            name = re.sub(r"[-_.]+", "-", match[1]).lower()
            locked[name] = (match[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", match[3]))
    return locked


def test_the_lock_pins_every_dependency_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = project["project"]["dependencies"] + sum(
        project["project"]["optional-dependencies"].values(), [])
    wanted += project["build-system"]["requires"]
    locked = _locked()
    for spec in map(Requirement, wanted):
        name = re.sub(r"[-_.]+", "-", spec.name).lower()
        assert name in locked, f"{spec.name} is not in requirements.lock: run make lock"
        version, hashes = locked[name]
        assert spec.specifier.contains(version, prereleases=True), (spec, version)
    assert all(hashes for _, hashes in locked.values())


def test_this_environment_is_the_locked_one():
    # make install builds .venv from the lock: a version that differs means it was not used
    locked = _locked()
    for name in ("numpy", "pandas", "polars", "lightgbm", "scikit-learn", "scipy", "mlflow"):
        assert metadata.version(name) == locked[name][0], name


def _commands(group: typer.Typer, prefix=()):
    for command in group.registered_commands:
        yield prefix + (command.name or command.callback.__name__.replace("_", "-"),)
    for sub in group.registered_groups:
        yield prefix + (sub.name,)
        yield from _commands(sub.typer_instance, prefix + (sub.name,))


@pytest.mark.parametrize("path", list(_commands(app)), ids=" ".join)
def test_every_command_has_help(path):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and len(result.output.splitlines()) > 4


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path):
    # outputs carry data and bloat diffs: the tests run the notebooks, git keeps only the code
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code)
