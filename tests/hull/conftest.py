"""Fixtures for the hull room: the bundled ``mp2021`` hull and MP-20 energies (copied data).

``tests/hull/data/mp20_energies.csv.gz``: every distinct MP-20 row of the CDVAE subsets in
``shared/data/cdvae_benchmarks`` (pilot train/val/test and biternary val; 9,344 rows), CIFs
dropped. ``formation_energy_per_atom`` and ``e_above_hull`` are MP2020-corrected MP values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genflow.hull import ReferenceHull, load_mp2021

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def mp2021() -> ReferenceHull:
    """The bundled, MP2020-corrected MP hull with its MP-20 supplement (once per session)."""
    return load_mp2021()


@pytest.fixture(scope="session")
def mp2021_snapshot() -> ReferenceHull:
    """The bundled MP hull without the MP-20 supplement: GNoME's snapshot alone."""
    return load_mp2021(supplement=False)


@pytest.fixture(scope="session")
def mp20() -> pd.DataFrame:
    """MP-20 rows: material_id, pretty_formula, formation_energy_per_atom, e_above_hull."""
    return pd.read_csv(DATA / "mp20_energies.csv.gz")


@pytest.fixture(scope="session")
def mp20_energies(mp20: pd.DataFrame, mp2021: ReferenceHull) -> np.ndarray:
    """MP2020-compatible energies per atom of the MP-20 rows: E_f + Σ x_i μ_i (mp2021 μ)."""
    comps = mp20["pretty_formula"].tolist()
    return mp20["formation_energy_per_atom"].to_numpy() - mp2021.formation_energy(
        comps, np.zeros(len(comps))
    )
