"""The stages depend one way: a module imports from its own stage or an earlier one, and no
imports go round in a circle (the design guide's stage order, with the top-level modules)."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter

from support import ROOT

SRC = ROOT / "src"
# earliest first: a module may import only from its own stage or one before it
# compute (where the heavy steps run) owns its part of the experiment, so it comes before the
# config that composes every stage's part
# privacy (the do-not-score list and pseudonyms) acts on the data before anything else sees it;
# erasure reaches into what the later stages wrote (releases, runs)
STAGES = ["errors", "files", "cache", "numerics", "data", "privacy", "features", "models",
          "scoring", "tracking", "audit", "export", "erasure", "compute", "config", "prepare",
          "pipeline", "gaming", "redteam", "quality", "tuning", "cli"]


def modules() -> dict[str, set[str]]:
    """Every clout module and the clout modules it imports (anywhere in it)."""
    found = {}
    for path in sorted((SRC / "clout").rglob("*.py")):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
        found[name] = imported
    return {name: {i for i in imported if i in found and i != name}
            for name, imported in found.items()}


def stage(module: str) -> int:
    parts = module.split(".")
    return -1 if len(parts) == 1 else STAGES.index(parts[1])


def test_every_module_is_in_a_stage():
    assert all(stage(m) >= 0 or m == "clout" for m in modules())


def test_no_stage_imports_a_later_one():
    upward = [f"{m} -> {i}" for m, imported in modules().items() for i in imported
              if m != "clout" and stage(i) > stage(m)]
    assert not upward, upward


def test_no_imports_go_round_in_a_circle():
    try:
        TopologicalSorter(modules()).prepare()
    except CycleError as err:
        raise AssertionError(f"import circle: {' -> '.join(err.args[1])}") from None
