"""Dataset loading: CDVAE CSVs, CIF folders, extxyz, bundled names, encoding for training."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from genflow.model.data import (
    BUNDLED,
    DATA_DIR,
    bundled_paths,
    concat,
    load_cif_dir,
    load_csv,
    load_dataset,
    load_extxyz,
)
from genflow.model.unimat.representation import decode, encode_dataset

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
TEST_DATA = Path(__file__).parents[1] / "data" / "model"


def test_bundled_files_exist_and_are_documented():
    readme = (DATA_DIR / "README.md").read_text()
    for splits in BUNDLED.values():
        for files in splits.values():
            for f in files:
                assert (DATA_DIR / f).is_file(), f
                assert f"`{f}`" in readme, f"{f} missing from model/data/README.md"
    assert sum(p.stat().st_size for p in DATA_DIR.rglob("*.csv.gz")) < 8_000_000


def test_bundled_names_and_splits():
    assert [p.name for p in bundled_paths("mp_20:val")] == ["val.csv.gz", "val_biternary.csv.gz"]
    assert len(bundled_paths("perov-5")) == 2 and len(bundled_paths("mp_20")) == 4
    assert bundled_paths("Perov-5/test") == bundled_paths("perov_5:test")
    with pytest.raises(ValueError, match="no bundled split 'train'"):
        bundled_paths("carbon_24:train")
    with pytest.raises(ValueError, match="neither a file, a folder, nor a bundled name"):
        load_dataset("qm9")


def test_load_csv_keeps_ids_and_properties():
    d = load_dataset("perov_5:test", limit=40)
    raw = pd.read_csv(DATA_DIR / "perov_5/test.csv.gz", nrows=40)
    assert len(d) == 40 and not d.failures
    assert list(d.ids) == raw.material_id.astype(str).tolist()
    np.testing.assert_allclose(d.properties["heat_ref"], raw.heat_ref)
    assert {"heat_ref", "heat_all", "dir_gap", "ind_gap"} <= set(d.properties)
    assert not any(k.startswith("Unnamed") for k in d.properties)
    assert d.structures[0].composition.reduced_formula == "TiOsNOF"


def test_malformed_cif_row_is_quarantined_and_others_go_on():
    path = TEST_DATA / "mp20_6rows_one_broken.csv.gz"
    d = load_csv(path)
    raw = pd.read_csv(path)
    assert len(d) == 5 and len(d.failures) == 1
    bad = d.failures[0]
    assert (bad.row, bad.material_id, bad.source) == (3, raw.material_id[3], str(path))
    assert bad.reason.startswith("malformed CIF")
    assert list(d.ids) == [m for i, m in enumerate(raw.material_id) if i != 3]
    np.testing.assert_allclose(d.properties["band_gap"], raw.band_gap.drop(index=3))


def test_missing_cif_column_names_the_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("material_id,structure\n1,abc\n")
    with pytest.raises(ValueError, match=r"x\.csv: no 'cif' column"):
        load_csv(p)


def test_cif_folder():
    d = load_dataset(TEST_DATA / "cifs")
    assert d.ids == ("carbon24_C-13927-8536-14", "mp20_mp-10009", "perov5_3961")
    assert [s.composition.reduced_formula for s in d.structures] == ["C", "GaTe", "TiOsNOF"]
    (bad,) = d.failures
    assert bad.row == "broken.cif" and "malformed CIF" in bad.reason
    single = load_dataset(TEST_DATA / "cifs" / "broken.cif")
    assert len(single) == 0 and len(single.failures) == 1
    with pytest.raises(ValueError, match=r"no \.cif"):
        load_cif_dir(TEST_DATA)


def test_extxyz_matches_the_csv_rows():
    d = load_dataset(TEST_DATA / "mp20_5.extxyz.gz")
    assert d.ids == ("mp-867922", "mp-4073", "mp-11131", "mp-1215627", "mp-1223834")
    ref = load_dataset("mp_20:test", limit=15)
    matcher = StructureMatcher()
    for s, mid in zip(d.structures, d.ids, strict=True):
        i = ref.ids.index(mid)
        assert matcher.fit(s, ref.structures[i])
        assert d.properties["formation_energy_per_atom"][d.ids.index(mid)] == pytest.approx(
            ref.properties["formation_energy_per_atom"][i]
        )


def test_extxyz_bad_frames(tmp_path):
    with gzip.open(TEST_DATA / "mp20_5.extxyz.gz", "rt") as fh:
        good = fh.read().splitlines()
    first = good[: int(good[0]) + 2]  # one complete frame
    molecule = ["2", 'Properties=species:S:1:pos:R:3 pbc="F F F"', "H 0 0 0", "H 0 0 0.74"]
    truncated = ["5", first[1], *first[2:4]]  # promises 5 atoms, has 2
    p = tmp_path / "mixed.extxyz"
    p.write_text("\n".join(first + molecule + first + truncated) + "\n")
    d = load_extxyz(p)
    assert len(d) == 2
    assert [f.row for f in d.failures] == [1, 3]
    assert "not periodic" in d.failures[0].reason
    assert d.failures[1].reason.startswith("malformed extxyz frame")


def test_concat_dedupes_ids_and_pads_properties():
    a = load_dataset("mp_20:test", limit=10)
    b = load_dataset(TEST_DATA / "cifs")
    joined = concat([a, a, b])
    assert len(joined) == 13 and len(set(joined.ids)) == 13
    assert np.isnan(joined.properties["band_gap"][-3:]).all()
    assert len(concat([a, a], dedupe=False)) == 20
    val = load_dataset("mp_20:val", limit=20)
    assert len(val) == len(set(val.ids)) and len(val.sources) == 2


def test_encode_dataset_fits_and_reports_failures():
    d = load_dataset("mp_20:test", limit=60)
    enc = encode_dataset(d)
    assert len(enc) == 60 and not enc.failures
    assert enc.coords.shape == (60, enc.max_atoms, *enc.table.shape, 3)
    assert enc.table.layout == "cropped" and set(enc.table.symbols) == d.elements
    back = decode(enc.coords[7], enc.lattice[7], enc.table)
    assert StructureMatcher().fit(back, d.structures[7])
    small = encode_dataset(d, max_atoms=2, layout="periodic")
    assert small.table.shape == (9, 18)
    assert len(small) + len(small.failures) == 60 and small.failures
    assert all("TooManyAtomsError" in f.reason for f in small.failures)
    kept = set(small.ids)
    assert not kept & {f.material_id for f in small.failures}
    np.testing.assert_allclose(
        small.properties["band_gap"], [d.properties["band_gap"][d.ids.index(i)] for i in small.ids]
    )


def test_loader_rejects_disorder_only_at_encoding():
    s = Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    from genflow.model.data import Dataset

    enc = encode_dataset(Dataset("dis", (s,), ("x",)))
    assert len(enc) == 0 and "disordered" in enc.failures[0].reason
