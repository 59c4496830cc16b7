"""Structure I/O: one small real file per format, and in each a bad record kept as a row."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from genflow.core.structure_io import (
    StructureRow,
    format_of,
    output_format,
    read_structures,
    read_text,
    write_structures,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _nacl() -> Structure:
    return Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _si() -> Structure:
    return Structure(Lattice.cubic(5.43), ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])


def _disordered() -> Structure:
    return Structure(Lattice.cubic(4.0), [{"Na": 0.5, "K": 0.5}, "Cl"], [[0, 0, 0], [0.5] * 3])


def _cif(s: Structure, name: str) -> str:
    return s.to(fmt="cif").replace("data_", f"data_{name}_", 1)


GOOD_CIF = _cif(_nacl(), "a")
XX_CIF = _cif(_nacl(), "b").replace(" Cl ", " Xx ").replace(" Cl0 ", " Xx0 ")
PARTIAL_CIF = _cif(_disordered(), "c")
MALFORMED_CIF = "data_broken\n_cell_length_a 4.0\nloop_\n_atom_site_label\nX1\n"


def _by_key(rows: list[StructureRow]) -> dict[str, StructureRow]:
    assert len({r.key for r in rows}) == len(rows), [r.key for r in rows]
    return {r.key: r for r in rows}


def _assert_good(row: StructureRow, formula: str) -> None:
    assert row.ok and row.error is None, row.error
    assert row.structure.composition.reduced_formula == formula


def _assert_bad(row: StructureRow, *words: str, stage: str = "parse") -> None:
    assert row.structure is None and row.stage == stage
    assert row.error.startswith(f"{row.key}: "), row.error
    for w in words:
        assert w in row.error, (w, row.error)


def test_cif_blocks_one_row_each_bad_blocks_kept(tmp_path):
    path = tmp_path / "mixed.cif"
    path.write_text(GOOD_CIF + XX_CIF + PARTIAL_CIF + MALFORMED_CIF + _cif(_si(), "e"))
    rows = list(read_structures(path))
    assert [r.key for r in rows] == [f"mixed.cif#{i}" for i in range(1, 6)]
    _assert_good(rows[0], "NaCl")
    _assert_bad(rows[1], "unknown element Xx", stage="elements")
    _assert_bad(rows[2], "partially occupied", "site(s) 0")
    _assert_bad(rows[3], "malformed CIF")
    assert rows[3].raw.startswith("data_broken")
    _assert_good(rows[4], "Si")
    (single,) = read_structures(_write(tmp_path / "one.cif", GOOD_CIF))
    assert single.key == "one.cif" and single.raw.startswith("data_a")


def _write(path, text):
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return path


def test_cif_folder_relative_keys(tmp_path):
    folder = tmp_path / "cifs"
    (folder / "sub").mkdir(parents=True)
    _write(folder / "a.cif", GOOD_CIF)
    _write(folder / "sub" / "b.CIF", PARTIAL_CIF)
    _write(folder / "c.cif.gz", gzip.compress(_cif(_si(), "s").encode()))
    _write(folder / "README.md", "not a structure")
    rows = _by_key(list(read_structures(folder)))
    assert sorted(rows) == ["a.cif", "c.cif.gz", "sub/b.CIF"]
    _assert_good(rows["a.cif"], "NaCl")
    _assert_good(rows["c.cif.gz"], "Si")
    _assert_bad(rows["sub/b.CIF"], "partially occupied")
    with pytest.raises(ValueError, match="no structure files"):
        list(read_structures(_empty(tmp_path)))


def test_zip_archive_gnome_layout(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("by_id/", "")
        z.writestr("by_id/NaCl.CIF", GOOD_CIF)
        z.writestr("by_id/bad.CIF", XX_CIF)
        z.writestr("by_id/two.json", json.dumps([_si().as_dict(), _nacl().as_dict()]))
        z.writestr("__MACOSX/by_id/._NaCl.CIF", "junk")
    path = _write(tmp_path / "gnome.zip", buf.getvalue())
    rows = _by_key(list(read_structures(path)))
    assert list(rows) == [
        "gnome.zip/by_id/NaCl.CIF", "gnome.zip/by_id/bad.CIF",
        "gnome.zip/by_id/two.json#1", "gnome.zip/by_id/two.json#2",
    ]  # fmt: skip
    _assert_good(rows["gnome.zip/by_id/NaCl.CIF"], "NaCl")
    _assert_bad(rows["gnome.zip/by_id/bad.CIF"], "unknown element Xx", stage="elements")
    _assert_good(rows["gnome.zip/by_id/two.json#1"], "Si")
    # the same bytes in memory (a campaign source) give the same rows
    assert [r.key for r in read_text("gnome.zip", buf.getvalue())] == list(rows)
    bad = list(read_text("broken.zip", b"PK not a zip"))
    _assert_bad(bad[0], "unreadable file")


def _xx_dict() -> dict:
    d = _nacl().as_dict()
    d["sites"][1]["species"][0]["element"] = "Xx"
    return d


def test_json_dict_list_wrapped_and_gz(tmp_path):
    nan = _si().as_dict()
    nan["sites"][0]["abc"] = [0.0, float("nan"), 0.0]
    items = [_nacl().as_dict(), _xx_dict(), _disordered().as_dict(), {"lattice": 1}, nan]
    rows = list(read_structures(_write(tmp_path / "list.json", json.dumps(items))))
    assert [r.key for r in rows] == [f"list.json#{i}" for i in range(1, 6)]
    _assert_good(rows[0], "NaCl")
    _assert_bad(rows[1], "unknown element Xx", stage="elements")
    _assert_bad(rows[2], "partially occupied")
    _assert_bad(rows[3], "malformed structure dict")
    assert rows[4].ok and np.isnan(rows[4].structure.frac_coords).any()  # left for the gate
    (one,) = read_text("one.json", json.dumps(_si().as_dict()))
    _assert_good(one, "Si")
    wrapped = json.dumps({"structures": [_si().as_dict(), _xx_dict()]}).encode()
    rows = list(read_structures(_write(tmp_path / "w.json.gz", gzip.compress(wrapped))))
    assert [r.key for r in rows] == ["w.json.gz#1", "w.json.gz#2"]
    _assert_good(rows[0], "Si")
    _assert_bad(rows[1], "unknown element Xx", stage="elements")
    (broken,) = read_text("x.json", "{not json")
    _assert_bad(broken, "malformed JSON")


def _frame(symbols, positions, cell="4 0 0 0 4 0 0 0 4", extra="", pbc="T T T") -> list[str]:
    head = f'Lattice="{cell}" Properties=species:S:1:pos:R:3 {extra}pbc="{pbc}"'
    atoms = [f"{s} {x} {y} {z}" for s, (x, y, z) in zip(symbols, positions, strict=True)]
    return [str(len(symbols)), head, *atoms]


def test_extxyz_frames_bad_ones_kept(tmp_path):
    good = _frame(["Na", "Cl"], [(0, 0, 0), (2, 2, 2)], extra="material_id=mp-1 energy=-7.0 ")
    lines = (
        good
        + _frame(["Na", "Xx"], [(0, 0, 0), (2, 2, 2)])
        + _frame(["H", "H"], [(0, 0, 0), (0, 0, 0.74)], pbc="F F F")
        + _frame(["Si", "Si"], [(0, 0, 0), (1, 1, "abc")])
        + _frame(["Si", "Si"], [(0, 0, 0), (1.3, 1.3, 1.3)], cell="5.4 0 0 0 5.4 0 0 0 5.4")
    )
    path = _write(tmp_path / "samples.extxyz", "\n".join(lines) + "\n")
    rows = list(read_structures(path))
    assert [r.key for r in rows] == [f"samples.extxyz#{i}" for i in range(1, 6)]
    _assert_good(rows[0], "NaCl")
    assert rows[0].structure.properties["material_id"] == "mp-1"
    assert rows[0].structure.properties["energy"] == pytest.approx(-7.0)
    _assert_bad(rows[1], "unknown element Xx", stage="elements")
    _assert_bad(rows[2], "not periodic")
    _assert_bad(rows[3], "malformed extxyz frame")
    _assert_good(rows[4], "Si")
    # a frame promising more atoms than the file holds is the last row, not a crash
    (only,) = read_text("t.xyz", "\n".join(["5", *good[1:]]) + "\n")
    _assert_bad(only, "promises 5 atoms")


POSCAR = "NaCl\n1.0\n5.6 0 0\n0 5.6 0\n0 0 5.6\nNa Cl\n1 1\ndirect\n0 0 0\n0.5 0.5 0.5\n"


def test_poscar_names_and_unknown_element(tmp_path):
    for name in ("POSCAR", "CONTCAR_relaxed", "nacl.vasp"):
        (row,) = read_structures(_write(tmp_path / name, POSCAR))
        assert row.key == name
        _assert_good(row, "NaCl")
    (bad,) = read_text("POSCAR", POSCAR.replace("Na Cl", "Na Xx"))
    _assert_bad(bad, "unknown element Xx", stage="elements")
    (broken,) = read_text("x.vasp", "NaCl\nnot a scale\n")
    _assert_bad(broken, "malformed POSCAR")


def test_csv_with_cif_column_and_ids(tmp_path):
    cifs = [GOOD_CIF, XX_CIF, "garbage", PARTIAL_CIF]
    df = pd.DataFrame({"material_id": ["m-1", "m-2", "m-3", "m-4"], "cif": cifs, "x": range(4)})
    path = tmp_path / "table.csv.gz"
    path.write_bytes(gzip.compress(df.to_csv(index=False).encode()))
    rows = _by_key(list(read_structures(path)))
    assert list(rows) == ["m-1", "m-2", "m-3", "m-4"]
    _assert_good(rows["m-1"], "NaCl")
    _assert_bad(rows["m-2"], "unknown element Xx", stage="elements")
    _assert_bad(rows["m-3"], "malformed CIF")
    _assert_bad(rows["m-4"], "partially occupied")


def test_csv_with_structure_dict_column_row_keys(tmp_path):
    df = pd.DataFrame(
        {"structure": [json.dumps(_si().as_dict()), json.dumps(_xx_dict()), "{",
                       json.dumps(_disordered().as_dict())]}
    )  # fmt: skip
    rows = list(read_structures(_write(tmp_path / "t.csv", df.to_csv(index=False))))
    assert [r.key for r in rows] == [f"t.csv#row-{i}" for i in range(1, 5)]
    _assert_good(rows[0], "Si")
    _assert_bad(rows[1], "unknown element Xx", stage="elements")
    _assert_bad(rows[2], "malformed structure dict")
    _assert_bad(rows[3], "partially occupied")
    (no_column,) = read_text("x.csv", "a,b\n1,2\n")
    _assert_bad(no_column, "no structure column", "(columns: a, b)")


def test_eval_gen_pt_batched_and_flat(tmp_path):
    torch = pytest.importorskip("torch")
    # two evals of three crystals: NaCl (2 atoms), Si (2), one with Z=0 (not an element)
    frac = torch.tensor([[0, 0, 0], [0.5, 0.5, 0.5], [0, 0, 0], [0.25, 0.25, 0.25], [0, 0, 0]])
    types = torch.tensor([11, 17, 14, 14, 0])
    lengths = torch.tensor([[5.6] * 3, [5.43] * 3, [4.0] * 3])
    angles = torch.full((3, 3), 90.0)
    num_atoms = torch.tensor([2, 2, 1])
    batched = {
        "frac_coords": torch.stack([frac, frac]), "atom_types": torch.stack([types, types]),
        "lengths": torch.stack([lengths, lengths]), "angles": torch.stack([angles, angles]),
        "num_atoms": torch.stack([num_atoms, num_atoms]), "time": 1.5,
    }  # fmt: skip
    path = tmp_path / "eval_gen.pt"
    torch.save(batched, path)
    rows = list(read_structures(path))
    assert [r.key for r in rows] == [f"eval_gen.pt#{i}" for i in range(1, 7)]
    for i in (0, 3):
        _assert_good(rows[i], "NaCl")
        _assert_good(rows[i + 1], "Si")
        _assert_bad(rows[i + 2], "unknown element Z=0", stage="elements")
    assert rows[0].structure.lattice.abc == pytest.approx((5.6, 5.6, 5.6), abs=1e-5)
    flat = {k: v[0] for k, v in batched.items() if k != "time"}
    flat["lattices"] = torch.diag_embed(flat.pop("lengths"))
    del flat["angles"]
    buf = io.BytesIO()
    torch.save(flat, buf)
    assert [r.ok for r in read_text("gen.pt", buf.getvalue())] == [True, True, False]
    flat["num_atoms"] = torch.tensor([2, 2, 2])  # sums past the atoms: the file is one row
    buf = io.BytesIO()
    torch.save(flat, buf)
    (bad,) = read_text("gen.pt", buf.getvalue())
    _assert_bad(bad, "unreadable eval_gen file", "num_atoms sums to 6")


def test_eval_gen_never_unpickles_objects(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "evil.pt"
    torch.save({"frac_coords": torch.zeros(1, 3), "payload": _nacl()}, path)  # a pickled object
    (row,) = read_structures(path)
    _assert_bad(row, "unreadable eval_gen file")


def test_unknown_format_and_dispatch(tmp_path):
    assert format_of("x.cif.gz") == "cif" and format_of("POSCAR.gz") == "poscar"
    assert format_of("a/b.XYZ") == "extxyz" and format_of("notes.txt") is None
    assert format_of("poscar_relaxed.csv") == "csv" and format_of("CONTCAR.1") == "poscar"
    assert format_of("gen.parquet") == "parquet"
    (row,) = read_structures(_write(tmp_path / "notes.txt", "hello"))
    _assert_bad(row, "unknown structure format")


@pytest.mark.parametrize("name", ["out.extxyz", "out.json", "out.cif", "outdir"])
def test_writers_round_trip(tmp_path, name):
    structures = [_nacl(), _si()]
    out = tmp_path / name
    fmt = write_structures(structures, out)
    assert fmt == output_format(out)
    rows = list(read_structures(out))
    assert [r.structure.composition.reduced_formula for r in rows] == ["NaCl", "Si"]
    with pytest.raises(ValueError, match="unknown format"):
        output_format(tmp_path / "x.pdf")


def _empty(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"
