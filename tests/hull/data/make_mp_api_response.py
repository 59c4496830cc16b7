"""Write ``mp_api_thermo_Cl-Na-O.json.gz``: an MP API ``/materials/thermo/`` response, offline.

Tests never touch the network and this sandbox has none, so the response is assembled in the
API's format rather than captured: one thermo document (``entries`` + ``thermo_type``
GGA_GGA+U) per Na-Cl-O material of MP-20 that GNoME's MP snapshot also holds, with the
snapshot's uncorrected energy, MP-20's structure (same material id, same cell) and the MP2020
adjustments pymatgen computes for it, as MP serves them. The elements (Na, Cl, O) use MP's
reference energies per atom on one-atom prototype cells. Run from the repo root:
``python tests/hull/data/make_mp_api_response.py`` (needs /work/shared/data).
"""

from __future__ import annotations

import glob
import gzip
import json
from pathlib import Path

import pandas as pd
from pymatgen.core import Lattice, Structure
from pymatgen.entries.compatibility import MaterialsProject2020Compatibility
from pymatgen.entries.computed_entries import ComputedStructureEntry

from genflow.hull.paths import MP2021_FILE
from genflow.hull.scheme import mp_run_parameters

SHARED = "/work/shared/data/cdvae_benchmarks/mp_20_*/*.csv.gz"
OUT = Path(__file__).with_name("mp_api_thermo_Cl-Na-O.json.gz")


def main() -> None:
    mp20 = pd.concat(pd.read_csv(f) for f in sorted(glob.glob(SHARED))).drop_duplicates(
        "material_id"
    )
    table = pd.read_csv(MP2021_FILE)
    rows = mp20[mp20["elements"].map(lambda s: set(eval(s)) <= {"Na", "Cl", "O"})]
    rows = rows.merge(table, on="material_id")
    compat = MaterialsProject2020Compatibility(check_potcar=False)
    docs = []
    structures = [
        (r.material_id, Structure.from_str(r.cif, fmt="cif"), r.energy) for r in rows.itertuples()
    ]
    for mid, symbol in (("mp-1186081", "Na"), ("mp-1008394", "Cl"), ("mp-12957", "O")):
        ref = table[table["material_id"] == mid].iloc[0]
        proto = Structure(Lattice.cubic(3.0), [symbol], [[0, 0, 0]])
        structures.append((mid, proto, float(ref["energy"] / ref["n_sites"])))
    for mid, structure, energy in structures:
        entry = ComputedStructureEntry(
            structure,
            energy,
            parameters=mp_run_parameters(structure.composition),
            entry_id=f"{mid}-GGA",
            data={"material_id": mid},
        )
        entry = compat.process_entry(entry)
        docs.append({"entries": {"GGA_GGA+U": entry.as_dict()}, "thermo_type": "GGA_GGA+U"})
    record = {
        "heartbeat": {
            "version": "0.87.3",
            "db_version": "2025_09_25",
            "access_controlled_batch_ids": [],
        },
        "thermo": {"data": docs, "meta": {"total_doc": len(docs)}},
    }
    with open(OUT, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(json.dumps(record).encode())
    print(f"wrote {len(docs)} thermo docs to {OUT}")


if __name__ == "__main__":
    main()
