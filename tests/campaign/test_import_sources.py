"""Campaign import sources: folders, zips and gzip files travel to the import job and load."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

from genflow.campaign.flows import structure_sources
from genflow.workflows.generate import import_structures

DATA = Path(__file__).parent / "data"


def test_zip_gz_and_folder_sources_import_row_by_row(stores, tmp_path):
    archive = tmp_path / "samples.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(DATA / "NaCl.cif", "gen/NaCl.cif")
        zf.write(DATA / "malformed.cif", "gen/malformed.cif")
    gz = tmp_path / "Si.cif.gz"
    gz.write_bytes(gzip.compress((DATA / "Si.cif").read_bytes()))
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "MgO.cif").write_text((DATA / "MgO.cif").read_text())
    (folder / "notes.txt").write_text("not a structure")

    sources = structure_sources([archive, gz, folder])
    assert [s["name"] for s in sources] == ["samples.zip", "Si.cif.gz", "more/MgO.cif"]
    assert "base64" in sources[0] and "base64" in sources[1] and "text" in sources[2]

    ids = import_structures(stores, "zip-import", sources)
    docs = {d["candidate_id"]: d for d in stores.candidates.find({"campaign": "zip-import"})}
    assert len(ids) == len(docs) == 4
    by_record = {d["provenance"]["conditioning"]["record"]: d for d in docs.values()}
    assert by_record["samples.zip/gen/malformed.cif"]["state"] == "rejected"
    assert by_record["samples.zip/gen/malformed.cif"]["reject_reason"].startswith("parse: ")
    good = [r for r, d in by_record.items() if d["state"] == "generated"]
    assert sorted(d["reduced_formula"] for d in docs.values() if d["state"] == "generated") == [
        "MgO", "NaCl", "Si",
    ], good  # fmt: skip
    # Importing the same sources again inserts nothing new.
    assert import_structures(stores, "zip-import", sources) == ids
    assert stores.candidates.count_documents({"campaign": "zip-import"}) == 4
