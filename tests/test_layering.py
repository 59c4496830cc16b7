"""The package's layers, checked on every import statement (module level and lazy ones).

``genflow.core`` imports no other part of genflow; ``genflow.model`` and ``genflow.hull`` import
only the core (and themselves); ``genflow.workflows`` imports the core, model and hull; only
the campaign layer, the evaluation layer (on top of it), the CLI root and the web view may import
``genflow.campaign``; only the CLI root and the web view (``genflow.web``, beside it) import
``genflow.evaluation``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# source folder → the genflow package it installs as
ROOMS = {
    "genflow/core": "genflow.core",
    "genflow/campaign": "genflow.campaign",
    "genflow/evaluation": "genflow.evaluation",
    "model": "genflow.model",
    "hull": "genflow.hull",
    "workflows": "genflow.workflows",
    "genflow/web": "genflow.web",
}
ALLOWED = {
    "genflow.core": {"genflow.core"},
    "genflow.model": {"genflow.core", "genflow.model"},
    "genflow.hull": {"genflow.core", "genflow.hull"},
    "genflow.workflows": {"genflow.core", "genflow.model", "genflow.hull", "genflow.workflows"},
    "genflow.campaign": {
        "genflow.core", "genflow.model", "genflow.hull", "genflow.workflows", "genflow.campaign",
    },
    # the evaluation layer sits on the campaign layer (its report reads campaign status)
    "genflow.evaluation": {
        "genflow.core", "genflow.model", "genflow.hull", "genflow.workflows", "genflow.campaign",
        "genflow.evaluation",
    },
    # the web view sits beside the CLI, on top of every room
    "genflow.web": {
        "genflow.core", "genflow.model", "genflow.hull", "genflow.workflows", "genflow.campaign",
        "genflow.evaluation", "genflow.web",
    },
}  # fmt: skip


def _room(module: str) -> str | None:
    """The room a ``genflow.*`` module belongs to (``genflow`` itself for the package root)."""
    parts = module.split(".")
    if parts[0] != "genflow":
        return None
    if len(parts) == 1:
        return "genflow"
    candidate = ".".join(parts[:2])
    return candidate if candidate in ALLOWED else module


def genflow_imports(path: Path) -> list[tuple[int, str]]:
    """Every ``genflow`` module a file imports, wherever the statement sits (line, module)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("genflow")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "genflow":
                found += [(node.lineno, f"genflow.{a.name}") for a in node.names]
            elif node.module.startswith("genflow."):
                found.append((node.lineno, node.module))
    return found


def _sources() -> list[tuple[Path, str]]:
    return [
        (p, room) for folder, room in ROOMS.items() for p in sorted((REPO / folder).rglob("*.py"))
    ]


@pytest.mark.parametrize("folder", sorted(ROOMS))
def test_rooms_import_only_downward(folder: str) -> None:
    room = ROOMS[folder]
    bad = [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in sorted((REPO / folder).rglob("*.py"))
        for line, module in genflow_imports(path)
        if _room(module) not in ALLOWED[room]
    ]
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_nothing_below_imports_evaluation() -> None:
    """Only the evaluation layer itself and the top (CLI root, web view) import it."""
    assert all("genflow.evaluation" not in allowed for room, allowed in ALLOWED.items()
               if room not in ("genflow.evaluation", "genflow.web"))  # fmt: skip
    cli = [m for p in (REPO / "genflow" / "cli").glob("*.py") for _, m in genflow_imports(p)]
    assert "genflow.evaluation.report" in cli


def test_the_checker_sees_lazy_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "def f():\n    from genflow.campaign.runner import run_campaign\n"
        "    import genflow.workflows.campaign\n"
    )
    modules = [m for _, m in genflow_imports(probe)]
    assert modules == ["genflow.campaign.runner", "genflow.workflows.campaign"]
    assert _room(modules[0]) not in ALLOWED["genflow.core"]


def test_every_source_file_is_in_a_room() -> None:
    """No module sits beside the two layers in genflow/ except the package root and CLI."""
    loose = sorted(p.name for p in (REPO / "genflow").glob("*.py"))
    assert loose == ["__init__.py"]
    assert len(_sources()) > 50
