"""Fixtures for workflow tests: atomate2's fake VASP, an in-memory JobStore, one torch thread."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TEST_DATA = Path(__file__).resolve().parents[1] / "test_data"


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """CHGNet on one thread: 8x faster than two on the shared 2-core machine."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def vasp_test_dir() -> Path:
    """Reference VASP runs (inputs + outputs) copied from atomate2's test data."""
    return TEST_DATA / "vasp"


@pytest.fixture
def mock_vasp(monkeypatch: pytest.MonkeyPatch, vasp_test_dir: Path) -> Iterator[Callable]:
    """atomate2's fake VASP: job name -> reference folder, inputs checked against it."""
    from atomate2.utils.testing.vasp import monkeypatch_vasp

    yield from monkeypatch_vasp(monkeypatch, vasp_test_dir)


@pytest.fixture
def memory_job_store() -> Any:
    """A jobflow JobStore on maggma MemoryStores (docs + a 'data' blob store)."""
    from jobflow import JobStore
    from maggma.stores import MemoryStore

    return JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})


@pytest.fixture
def in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a fresh directory (jobs write their files to the working directory)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
