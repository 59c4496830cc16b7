"""Each published reference set's importer reads a small file in that set's own layout, built
here from bundled MP-20 rows (ids kept, structures equal to the originals); the import is
idempotent and resumable, keeps bad records as reasons, and indexes formula and chemsys."""

from __future__ import annotations

import bz2
import gzip
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Structure

from genflow.workflows.reference_sources import detect_format, import_references, read_source

N_ROWS = 4


@pytest.fixture(scope="module")
def mp20() -> list[tuple[str, Structure, str]]:
    """``(material_id, structure, cif)`` of the first bundled MP-20 validation rows."""
    from genflow.model.data import bundled_paths

    path = next(p for p in bundled_paths("mp_20") if p.name.startswith("val."))
    df = pd.read_csv(path, usecols=["material_id", "cif"], nrows=N_ROWS)
    return [
        (mid, Structure.from_str(cif, fmt="cif"), cif)
        for mid, cif in zip(df["material_id"], df["cif"], strict=True)
    ]


def parsed(path, fmt="auto") -> tuple[str, dict[str, Structure], dict[str, str]]:
    """``(format, {id: structure}, {id: reason})`` of everything ``path`` holds."""
    good, bad, formats = {}, {}, set()
    for _, file_fmt, src in read_source(path, fmt):
        formats.add(file_fmt)
        for record in src.records:
            row = record.parse()
            if row.ok:
                good[record.ref_id] = row.structure
            else:
                bad[record.ref_id] = row.reason
    assert len(formats) == 1, formats
    return formats.pop(), good, bad


def assert_same(got: dict[str, Structure], rows) -> None:
    assert list(got) == [mid for mid, _, _ in rows]
    for mid, original, _ in rows:
        s = got[mid]
        assert [str(x) for x in s.species] == [str(x) for x in original.species], mid
        assert np.allclose(s.lattice.matrix, original.lattice.matrix, atol=1e-6), mid
        assert np.allclose(s.cart_coords, original.cart_coords, atol=1e-5), mid


def _entry(mid: str, structure: Structure, *, alexandria: bool = False) -> dict:
    """A ComputedStructureEntry dict as MP (``mp-1-GGA``) or Alexandria (``data.mat_id``)."""
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    if alexandria:
        data = {"mat_id": mid, "e_above_hull": 0.0}
        entry_id = mid
    else:
        data = {"material_id": mid, "run_type": "GGA"}
        entry_id = f"{mid}-GGA"
    return ComputedStructureEntry(
        structure, -5.0 * len(structure), data=data, entry_id=entry_id
    ).as_dict()


def test_mp_json_entries_and_summary_docs(tmp_path, mp20):
    from pymatgen.entries.computed_entries import ComputedEntry

    entries = [_entry(mid, s) for mid, s, _ in mp20]
    no_structure = ComputedEntry("NaCl", -3.0, entry_id="mp-22862-GGA").as_dict()
    path = tmp_path / "mp_entries.json.gz"
    path.write_bytes(gzip.compress(json.dumps([*entries, no_structure]).encode()))
    fmt, good, bad = parsed(path)
    assert fmt == "mp-json"
    assert_same(good, mp20)
    assert (
        list(bad) == ["mp-22862-GGA"] and "ComputedEntry without a structure" in bad["mp-22862-GGA"]
    )

    docs = {"data": [{"material_id": mid, "formula_pretty": s.composition.reduced_formula,
                      "structure": s.as_dict()} for mid, s, _ in mp20]}  # fmt: skip
    (tmp_path / "summary.json").write_text(json.dumps(docs))
    fmt, good, bad = parsed(tmp_path / "summary.json")
    assert (fmt, bad) == ("mp-json", {})
    assert_same(good, mp20)


def test_alexandria_entries_bz2(tmp_path, mp20):
    path = tmp_path / "alexandria_000.json.bz2"
    doc = {"entries": [_entry(mid, s, alexandria=True) for mid, s, _ in mp20]}
    path.write_bytes(bz2.compress(json.dumps(doc).encode()))
    fmt, good, bad = parsed(path)
    assert (fmt, bad) == ("alexandria", {})
    assert_same(good, mp20)


def _optimade_attributes(s: Structure, *, lemat: bool = False) -> dict:
    """OPTIMADE ``structures`` attributes; species named ``<El>1`` to need the species list."""
    names = [f"{el.symbol}1" for el in s.species]
    species = [
        {"name": f"{el.symbol}1", "chemical_symbols": [el.symbol], "concentration": [1.0]}
        for el in s.composition.elements
    ]
    return {
        "lattice_vectors": s.lattice.matrix.tolist(),
        "cartesian_site_positions": s.cart_coords.tolist(),
        "species_at_sites": names,
        "species": json.dumps(species) if lemat else species,
        "dimension_types": [1, 1, 1],
        "nsites": len(s),
        "chemical_formula_reduced": s.composition.reduced_formula,
    }


def test_optimade_response(tmp_path, mp20):
    data = [{"id": mid, "type": "structures", "attributes": _optimade_attributes(s)}
            for mid, s, _ in mp20]  # fmt: skip
    partial = _optimade_attributes(mp20[0][1])
    partial["species"][0]["concentration"] = [0.5]
    data.append({"id": "oqmd-1", "type": "structures", "attributes": partial})
    data.append({"id": "ref-1", "type": "references", "attributes": {}})
    path = tmp_path / "page_1.json"
    path.write_text(json.dumps({"data": data, "meta": {"more_data_available": False}}))
    fmt, good, bad = parsed(path)
    assert fmt == "optimade"
    assert_same(good, mp20)
    assert list(bad) == ["oqmd-1"] and "partially occupied" in bad["oqmd-1"]


def test_lemat_bulk_parquet(tmp_path, mp20):
    rows = [
        {"immutable_id": mid, **_optimade_attributes(s, lemat=True), "energy": -1.0,
         "functional": "pbe"}
        for mid, s, _ in mp20
    ]  # fmt: skip
    path = tmp_path / "train-00000-of-00001.parquet"
    pd.DataFrame(rows).to_parquet(path)
    fmt, good, bad = parsed(path)
    assert (fmt, bad) == ("lemat", {})
    assert_same(good, mp20)


def test_gnome_cif_zip(tmp_path, mp20):
    path = tmp_path / "by_id.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for mid, _, cif in mp20:
            zf.writestr(f"by_id/{mid}.CIF", cif)
        zf.writestr("by_id/broken.CIF", "data_broken\n")
        zf.writestr("__MACOSX/by_id/._x.CIF", "junk")
    fmt, good, bad = parsed(path)
    assert fmt == "cif-zip"
    assert_same(good, mp20)
    assert list(bad) == ["broken"]


def test_alex_mp_20_csv(tmp_path, mp20):
    df = pd.DataFrame(
        {"material_id": [mid for mid, _, _ in mp20] + ["agm-bad"],
         "cif": [cif for _, _, cif in mp20] + ["data_x\n_cell_length_a 4\n"],
         "energy_above_hull": 0.0}
    )  # fmt: skip
    path = tmp_path / "train.csv"
    df.to_csv(path, index=False)
    fmt, good, bad = parsed(path)
    assert fmt == "csv"
    assert_same(good, mp20)
    assert list(bad) == ["agm-bad"] and "malformed CIF" in bad["agm-bad"]


def test_detect_format_plain_structures(tmp_path, mp20):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps([s.as_dict() for _, s, _ in mp20]))
    assert detect_format(path) == "structures"


def test_import_is_idempotent_resumable_and_indexed(stores, tmp_path, mp20):
    from genflow.core.references import references_for_chemsys, references_for_formulas

    path = tmp_path / "by_id.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for mid, _, cif in mp20[:2]:
            zf.writestr(f"by_id/{mid}.CIF", cif)
    first = import_references(stores.references, path, "gnome", batch_size=1, progress=False)
    assert (first.inserted, first.existing, first.rejected) == (2, 0, 0)
    # the archive grew (or the first run stopped half way): only the rest is parsed and added
    with zipfile.ZipFile(path, "w") as zf:
        for mid, _, cif in mp20:
            zf.writestr(f"by_id/{mid}.CIF", cif)
        zf.writestr("by_id/broken.CIF", "data_broken\n")
    again = import_references(stores.references, path, "gnome", batch_size=3, progress=False)
    assert (again.read, again.inserted, again.existing, again.rejected) == (
        N_ROWS + 1,
        N_ROWS - 2,
        2,
        1,
    )
    assert again.reasons and again.first_rejected[0]["key"] == "broken"
    assert stores.references.count_documents({}) == N_ROWS

    mid, s, _ = mp20[0]
    doc = stores.references.find_one({"ref_id": mid})
    assert doc["source"] == "gnome" and doc["fingerprint"]["n_sites"] > 0
    assert (doc["reduced_formula"], doc["chemsys"]) == (
        s.composition.reduced_formula, s.composition.chemical_system
    )  # fmt: skip
    assert mid in [
        d["ref_id"] for d in references_for_formulas(stores.references, [doc["reduced_formula"]])
    ]
    assert mid in [d["ref_id"] for d in references_for_chemsys(stores.references, [doc["chemsys"]])]
    keys = [list(info["key"]) for info in stores.references.index_information().values()]
    assert [("chemsys", 1)] in [[tuple(k) for k in key] for key in keys]


def test_refs_cli_alexandria_folder_default_source(stores, tmp_path, mp20, monkeypatch):
    """A folder of Alexandria's files, as downloaded: no --source needed, one row per file."""
    from typer.testing import CliRunner

    from genflow.cli import app

    monkeypatch.setenv("GENFLOW_DB_URI", stores.uri)
    monkeypatch.setenv("GENFLOW_DB_NAME", stores.db_name)
    folder = tmp_path / "alexandria"
    folder.mkdir()
    entries = [_entry(mid, s, alexandria=True) for mid, s, _ in mp20]
    for n, part in enumerate((entries[:2], [*entries[2:], {"entry_id": "x"}])):
        path = folder / f"alexandria_{n:03d}.json.bz2"
        path.write_bytes(bz2.compress(json.dumps({"entries": part}).encode()))
    (folder / "alexandria_002.json.bz2").write_bytes(b"BZh91AY&SY truncated download")
    args = ["refs", "add", str(folder), "--no-fingerprints", "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["source"], out["inserted"], out["n_rejected"]) == ("alexandria", N_ROWS, 2)
    assert out["rejected"][0] == {"key": "x", "reason": "document without a structure"}
    assert out["rejected"][1]["key"] == "alexandria_002.json.bz2"
    assert out["rejected"][1]["reason"].startswith("unreadable file: ")
    assert [(f["file"], f["inserted"]) for f in out["files"]] == [
        ("alexandria_000.json.bz2", 2), ("alexandria_001.json.bz2", N_ROWS - 2),
        ("alexandria_002.json.bz2", 0),
    ]  # fmt: skip
    again = json.loads(CliRunner().invoke(app, args).stdout)
    assert (again["inserted"], again["existing"]) == (0, N_ROWS)
    assert stores.references.find_one({"ref_id": mp20[0][0]})["fingerprint"] is None


def test_stored_ref_ids_and_probe(stores):
    from genflow.core.references import insert_references, stored_ref_ids

    docs = [{"ref_id": f"id-{i:03d}", "source": "s", "reduced_formula": "NaCl"} for i in range(50)]
    insert_references(stores.references, docs)
    ids = ["new-1", "id-010", "id-011", "new-2"]
    assert stored_ref_ids(stores.references, "s", ids) == {"id-010", "id-011"}
    # probe: neither end stored -> "none" (an import stores batches whole; a miss costs a parse)
    assert stored_ref_ids(stores.references, "s", ids, probe=True) == set()
    assert stored_ref_ids(stores.references, "s", ids[1:], probe=True) == {"id-010", "id-011"}
    assert stored_ref_ids(stores.references, "other", ["id-000"]) == set()
    assert stores.references.find_one({"ref_id": "id-000"})["chemsys"] == "Cl-Na"
