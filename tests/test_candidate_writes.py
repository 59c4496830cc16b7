"""Only the candidates repository writes the ``candidates`` collection; ``hull/`` scores and
returns.

A static check over every source module (lazy code included): a MongoDB write method called on
``….candidates`` (or on a name bound to it) outside ``genflow/core/candidates/repository.py``
fails, and so does a module of ``hull/`` importing a repository writer. The checks are shown to
fail on planted code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("genflow", "hull", "workflows", "model")
REPOSITORY = REPO / "genflow/core/candidates/repository.py"
WRITE_METHODS = frozenset({
    "insert_one", "insert_many", "update_one", "update_many", "replace_one", "bulk_write",
    "delete_one", "delete_many", "find_one_and_update", "find_one_and_replace",
    "find_one_and_delete",
})  # fmt: skip
WRITERS = frozenset({
    "insert_candidates", "insert_new", "update_states", "transition", "record_scores",
    "record_rescores", "record_audit",
})  # fmt: skip


def candidate_writes(source: str) -> list[int]:
    """Lines that call a MongoDB write method on the candidates collection."""
    tree = ast.parse(source)
    bound = {  # names assigned from an expression naming ``.candidates``
        t.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and "candidates" in ast.unparse(node.value)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in WRITE_METHODS:
            continue
        receiver = node.func.value
        text = ast.unparse(receiver)
        if text.endswith("candidates") or (isinstance(receiver, ast.Name) and text in bound):
            lines.append(node.lineno)
    return lines


def repository_writers_imported(source: str) -> list[int]:
    """Lines that import a candidates-repository writer."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("genflow.core.candidates")
        and any(a.name in WRITERS for a in node.names)
    ]


def _sources() -> list[Path]:
    return [p for folder in FOLDERS for p in sorted((REPO / folder).rglob("*.py"))]


def test_only_the_repository_writes_candidates() -> None:
    bad = [
        f"{p.relative_to(REPO)}:{line}"
        for p in _sources()
        if p != REPOSITORY
        for line in candidate_writes(p.read_text())
    ]
    assert not bad, "write the candidates collection through genflow.core.candidates: " + str(bad)


def test_hull_scores_and_returns() -> None:
    bad = [
        f"{p.relative_to(REPO)}:{line}"
        for p in sorted((REPO / "hull").rglob("*.py"))
        for line in repository_writers_imported(p.read_text())
    ]
    assert not bad, "hull/ returns scores; the layer above records them: " + str(bad)


@pytest.mark.parametrize(
    "planted",
    [
        "stores.candidates.update_one({'candidate_id': c}, {'$set': u})",
        "def f(stores):\n    coll = stores.candidates\n    coll.bulk_write(ops)",
        "retry_call(lambda: stores.candidates.insert_many(docs), what='x')",
    ],
)
def test_a_planted_write_is_caught(planted: str) -> None:
    assert candidate_writes(planted)


def test_a_planted_writer_import_is_caught() -> None:
    planted = "def fold():\n    from genflow.core.candidates import record_rescores\n"
    assert repository_writers_imported(planted) == [2]
    assert not candidate_writes("stores.db['hull_rounds'].insert_one(doc)")
