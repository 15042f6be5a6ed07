"""The project's own promises: dependencies listed twice agree, every command has --help."""

import re
import tomllib

import pytest
import typer
import yaml
from typer.testing import CliRunner

from clout.cli import app
from support import ROOT


def _normalise(spec: str) -> str:
    return re.sub(r"\s+", "", spec).lower()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"]
             if isinstance(d, str) and not d.startswith(("python", "pip"))]
    assert sorted(map(_normalise, conda)) == sorted(map(_normalise, wanted))


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
