"""Generators' tables as they publish them: real MP-20 structures written the way each writes.

CrystalFormer puts ``str(structure.as_dict())`` (a Python literal, not CIF) in a ``cif``
column; FlowMM CIF text in ``relxed_structure`` beside ``formula`` and ``error_str``; others
POSCAR or extxyz text, or JSON in parquet. Every parsed structure is compared with the one
written, site by site.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ase.io import write as ase_write
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.io.vasp import Poscar

from genflow.core.structure_io import (
    StructureRow,
    read_structures,
    read_text,
    rows_from_table,
    summarize_unreadable,
)
from genflow.core.structure_io.literal import python_literal
from genflow.core.structure_io.tables import cell_kind, structure_column

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
MP20 = Path(__file__).parents[2] / "model" / "data" / "mp_20" / "test.csv.gz"


@pytest.fixture(scope="module")
def mp20() -> tuple[list[str], list[Structure]]:
    """Ids and structures of MP-20 test rows 0-4, parsed by pymatgen alone."""
    df = pd.read_csv(MP20, nrows=5)
    return df.material_id.tolist(), [Structure.from_str(c, fmt="cif") for c in df.cif]


def _assert_same(got: StructureRow, want: Structure, atol: float = 1e-6) -> None:
    assert got.ok, got.error
    s = got.structure
    assert [str(x) for x in s.species] == [str(x) for x in want.species]
    np.testing.assert_allclose(s.lattice.matrix, want.lattice.matrix, atol=atol)
    np.testing.assert_allclose(s.frac_coords, want.frac_coords, atol=atol)


def _write_csv(path: Path, df: pd.DataFrame, **kw) -> Path:
    df.to_csv(path, **kw)
    return path


def _numpy2_dict(s: Structure) -> dict:
    """``as_dict()`` with NumPy values, as older pymatgen / generator code left them."""
    d = s.as_dict()
    for k in ("a", "b", "c", "volume"):
        d["lattice"][k] = np.float64(d["lattice"][k])
    d["lattice"]["matrix"] = np.asarray(d["lattice"]["matrix"])
    for site in d["sites"]:
        site["abc"] = np.asarray(site["abc"])
        site["species"][0]["occu"] = np.float64(1.0)
    return d


def test_crystalformer_python_literal_dicts_in_cif_column(tmp_path, mp20):
    _, structures = mp20
    # CrystalFormer's awl2struct: data['cif'] = [struct.as_dict(), ...]; to_csv(index=False)
    path = _write_csv(
        tmp_path / "output_194_struct.csv",
        pd.DataFrame({"cif": [s.as_dict() for s in structures]}),
        index=False,
    )
    assert "'@module': 'pymatgen.core.structure'" in path.read_text()  # not JSON, not CIF
    rows = list(read_structures(path))
    assert [r.key for r in rows] == [f"output_194_struct.csv#row-{i}" for i in range(1, 6)]
    for row, want in zip(rows, structures, strict=True):
        _assert_same(row, want, atol=1e-12)
    assert summarize_unreadable(rows).n_unreadable == 0


def test_numpy2_reprs_read_without_eval(tmp_path, mp20):
    _, structures = mp20
    cells = [str(_numpy2_dict(s)) for s in structures]
    assert "np.float64(" in cells[0] and "array([" in cells[0]  # the NumPy 2 forms
    # CrystalFormer appends with header=True: a second run repeats the header line
    path = tmp_path / "t.csv"
    pd.DataFrame({"cif": cells[:2]}).to_csv(path, index=False, mode="a", header=True)
    pd.DataFrame({"cif": cells[2:]}).to_csv(path, index=False, mode="a", header=True)
    rows = list(read_structures(path))
    assert [r.ok for r in rows] == [True, True, False, True, True, True]
    assert "header line again" in rows[2].error
    # ndarray repr keeps 8 significant digits: equal to that precision
    for row, want in zip(rows[:2] + rows[3:], structures, strict=True):
        _assert_same(row, want, atol=1e-7)


def test_flowmm_relxed_structure_with_error_str(tmp_path, mp20):
    _, structures = mp20
    cifs = [s.to(fmt="cif") for s in structures]
    cifs[2] = None
    errors = [None, None, "RuntimeError: CHGNet relaxation did not converge", None, None]
    df = pd.DataFrame(
        {"formula": [s.formula for s in structures], "relxed_structure": cifs, "error_str": errors}
    )
    path = _write_csv(tmp_path / "flowmm_ehull.csv", df)  # with its index column
    rows = list(read_structures(path))
    assert len(rows) == 5
    assert rows[2].error == (
        "flowmm_ehull.csv#row-3: no structure "
        "(error_str: RuntimeError: CHGNet relaxation did not converge)"
    )
    matcher = StructureMatcher()
    for i in (0, 1, 3, 4):
        _assert_same(rows[i], structures[i], atol=1e-6)
        assert matcher.fit(rows[i].structure, structures[i])
    summary = summarize_unreadable(rows)
    assert (summary.n_rows, summary.n_unreadable) == (5, 1)
    assert summary.first == (("flowmm_ehull.csv#row-3", rows[2].reason),)
    assert str(summary).startswith("1 of 5 rows unreadable")


def test_poscar_and_extxyz_text_columns_found_by_content(tmp_path, mp20):
    ids, structures = mp20
    poscars = [Poscar(s).get_str() for s in structures]
    frames = []
    for s in structures:
        buf = io.StringIO()
        ase_write(buf, AseAtomsAdaptor.get_atoms(s), format="extxyz")
        frames.append(buf.getvalue())
    for cells, kind in ((poscars, "poscar"), (frames, "extxyz")):
        assert {cell_kind(c) for c in cells} == {kind}
        df = pd.DataFrame(
            {
                "material_id": ids,
                "formula": [s.formula for s in structures],
                "text": cells,
                "note": ["relaxed"] * 5,
            }
        )
        assert structure_column(df, "t") == "text"
        rows = list(read_structures(_write_csv(tmp_path / f"{kind}.csv", df, index=False)))
        assert [r.key for r in rows] == ids
        for row, want in zip(rows, structures, strict=True):
            _assert_same(row, want, atol=1e-5)


def test_no_structure_column_names_the_columns(tmp_path, mp20):
    df = pd.read_csv(MP20, nrows=3).drop(columns=["cif"])
    (row,) = read_structures(_write_csv(tmp_path / "props.csv", df, index=False))
    assert not row.ok and row.key == "props.csv"
    assert row.reason.startswith("unreadable file: no structure column")
    assert "material_id, formation_energy_per_atom, band_gap" in row.error
    with pytest.raises(ValueError, match="no structure column"):
        rows_from_table(df, "props")


def test_bad_cells_are_rows_with_reasons_and_nothing_runs(tmp_path, mp20):
    _, structures = mp20
    marker = tmp_path / "ran"
    cells = [str(s.as_dict()) for s in structures]
    cells[1] = cells[1][: len(cells[1]) // 2]  # cut mid-dict
    cells[3] = cells[3].replace("'charge': 0.0", f"'charge': open({str(marker)!r}, 'w')")
    cells[4] = None
    rows = list(read_text("t.csv", pd.DataFrame({"cif": cells}).to_csv(index=False)))
    assert [r.ok for r in rows] == [True, False, True, False, False]
    assert "malformed structure dict" in rows[1].reason and "Python literal" in rows[1].reason
    assert "call of 'open'" in rows[3].reason
    assert not marker.exists()
    assert rows[4].reason == "empty cell in column 'cif'"
    _assert_same(rows[0], structures[0], atol=1e-12)
    _assert_same(rows[2], structures[2], atol=1e-12)
    summary = summarize_unreadable(rows, first=2)
    assert summary.n_unreadable == 3 and [k for k, _ in summary.first] == [
        "t.csv#row-2",
        "t.csv#row-4",
    ]


def test_column_override_and_preference(tmp_path, mp20):
    _, structures = mp20
    scaled = [s.copy() for s in structures]
    for s in scaled:
        s.scale_lattice(s.volume * 1.1)
    df = pd.DataFrame(
        {
            "generated": [json.dumps(s.as_dict()) for s in structures],
            "relaxed_structure": [s.to(fmt="cif") for s in scaled],
        }
    )
    path = _write_csv(tmp_path / "two.csv", df, index=False)
    default = list(read_structures(path))  # the well-known name wins over the leftmost
    for row, want in zip(default, scaled, strict=True):
        _assert_same(row, want, atol=1e-5)
    chosen = list(read_structures(path, column="generated"))
    for row, want in zip(chosen, structures, strict=True):
        _assert_same(row, want, atol=1e-12)
    (missing,) = read_structures(path, column="cifs")
    assert "no column 'cifs' (columns: generated, relaxed_structure)" in missing.error
    df["note"] = "relaxed with CHGNet"
    named = rows_from_table(df, "t", column="note")
    assert [r.reason for r in named] == [
        "not a structure: column 'note' holds neither CIF text, a structure dict, POSCAR nor "
        "extxyz text here ('relaxed with CHGNet')"
    ] * len(structures)


def test_parquet_json_text_and_struct_cells(tmp_path, mp20):
    pytest.importorskip("pyarrow")
    ids, structures = mp20
    df = pd.DataFrame(
        {"material_id": ids, "structure": [json.dumps(s.as_dict()) for s in structures]}
    )
    df.to_parquet(tmp_path / "gen.parquet")
    rows = list(read_structures(tmp_path / "gen.parquet"))
    assert [r.key for r in rows] == ids
    for row, want in zip(rows, structures, strict=True):
        _assert_same(row, want, atol=1e-12)
    # dicts stored as parquet structs come back with ndarrays for lists
    plain = [
        {
            "lattice": {"matrix": s.lattice.matrix.tolist()},
            "sites": [
                {
                    "species": [{"element": x.specie.symbol, "occu": 1.0}],
                    "abc": x.frac_coords.tolist(),
                }
                for x in s
            ],
        }
        for s in structures
    ]
    pd.DataFrame({"atoms": plain}).to_parquet(tmp_path / "structs.parquet")
    back = pd.read_parquet(tmp_path / "structs.parquet")
    assert isinstance(back.atoms[0]["sites"], np.ndarray)
    for row, want in zip(rows_from_table(back, "structs"), structures, strict=True):
        _assert_same(row, want, atol=1e-12)
    (broken,) = read_text("x.parquet", b"PAR1 not parquet")
    assert "unreadable file: not a parquet table" in broken.error


def test_parquet_without_an_engine_says_which_package(tmp_path, monkeypatch, mp20):
    pytest.importorskip("pyarrow")
    pd.DataFrame({"cif": [s.to(fmt="cif") for s in mp20[1]]}).to_parquet(tmp_path / "g.parquet")

    def no_engine(*args, **kwargs):
        raise ImportError("Unable to find a usable engine; tried using: 'pyarrow', 'fastparquet'.")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    (row,) = read_structures(tmp_path / "g.parquet")
    assert "needs pyarrow or fastparquet" in row.reason


def test_python_literal_accepts_data_only():
    text = "{'a': (1, -2.5), 'b': np.float64(nan), 'c': array([[0., 1.]], dtype=float32), 'd': {}}"
    value = python_literal(text)
    assert value["a"] == [1, -2.5] and value["c"] == [[0.0, 1.0]] and value["d"] == {}
    assert np.isnan(value["b"])
    for bad in (
        "__import__('os').system('true')",
        "x",
        "{**x}",
        "1 + 2",
        "array([1, ...])",
        "np.load('f')",
        "[",
        "os.path.join('a')",
    ):
        with pytest.raises(ValueError):
            python_literal(bad)
