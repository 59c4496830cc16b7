"""Shared test fixtures: a real wire-protocol database (SecantusDB) for storage tests.

``mongo_uri`` (session): a SecantusDB server on ``:memory:`` started as a separate process on a
free port through :func:`genflow.core.embedded.ensure_server`, stopped at session end.
``stores`` (function): :func:`genflow.core.store.connect` on a fresh database name, dropped after
the test. Nothing here is autouse.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest


def missing(reason: str) -> None:
    """A test's extra or server is missing: skip locally, fail under ``CI=true``.

    CI installs every extra and starts every server, so a missing one there is a broken
    setup, never a reason to pass quietly.
    """
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"missing under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture
def require_module():
    """``require_module(name)`` imports an optional extra's module or calls :func:`missing`."""
    import importlib

    def load(name: str):
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            missing(f"optional module {name!r} not importable: {exc}")

    return load


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of a throw-away SecantusDB server (``missing`` if ``secantusd-py`` is not installed)."""
    from genflow.core.embedded import (
        EmbeddedServerError,
        ensure_server,
        find_executable,
        free_port,
        stop_server,
    )

    try:
        find_executable()
    except EmbeddedServerError as exc:
        missing(str(exc))
    run_dir = tmp_path_factory.mktemp("secantusd")
    port = free_port()
    uri = ensure_server(":memory:", port, run_dir=run_dir, timeout=60)
    yield uri
    stop_server(port, run_dir)


@pytest.fixture
def stores(mongo_uri: str) -> Iterator:
    """``GenflowStores`` on a fresh database (``t_<hex>``), dropped afterwards."""
    from genflow.core.store import connect

    db_name = f"t_{uuid.uuid4().hex[:12]}"
    gs = connect(uri=mongo_uri, db_name=db_name)
    try:
        yield gs
    finally:
        gs.client.drop_database(db_name)
        gs.close()


def pytest_configure(config: pytest.Config) -> None:
    """Register a marker that FireWorks' own test modules use when its loader imports them."""
    config.addinivalue_line("markers", "mongodb: used by fireworks' bundled tests (not genflow)")


@pytest.fixture
def reference_copy():
    """``make(ref_id, source)``: a bundled reference structure after a 1 % lattice strain and
    a 0.03 Å rattle of every site (a "new" sample that is really a known material)."""
    import numpy as np

    from genflow.core.structure_io import parse_one
    from genflow.workflows.references import bundled_reference_docs

    def make(ref_id: str = "mp-22862", source: str = "mp_20"):
        doc = next(d for d in bundled_reference_docs((source,)) if d["ref_id"] == ref_id)
        s = parse_one(doc["cif"]).structure
        s.apply_strain(0.01)
        rng = np.random.default_rng(7)
        for i in range(len(s)):
            step = rng.normal(size=3)
            s.translate_sites([i], 0.03 * step / np.linalg.norm(step), frac_coords=False)
        return s

    return make
