"""Reference structures for the novelty gate: the bundled set, user files, mp-api.

The bundled set is every row genflow already ships (``genflow.model.data``: MP-20, Perov-5 and
Carbon-24, each row with its id), read from those CSVs, never copied. A bundled row keeps its
CIF text and gets its reduced formula from the CIF's ``_chemical_formula_sum`` line, so
loading the ~22k rows parses no CIF; a structure is parsed, and fingerprinted, only when a
candidate of its formula meets it. User files (any format
:func:`genflow.core.structure_io.read_structures` reads, GNoME's CIF archive included) are
parsed and fingerprinted when added to the ``references`` collection
(:mod:`genflow.core.references`). The gate sees the bundled set plus that collection
(:func:`reference_index`).

>>> docs = list(bundled_reference_docs(("perov_5",), limit=2))  # doctest: +SKIP
>>> docs[0]["source"], sorted(docs[0])  # doctest: +SKIP
('perov_5', ['cif', 'ref_id', 'reduced_formula', 'source'])
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genflow.core.references import (
    LoadSummary,
    insert_references,
    reference_key,
    references_for_formulas,
    set_fingerprints,
)
from genflow.core.structure_io import StructureRow, parse_one, read_structures
from genflow.core.structure_io.formats import cif_formula_sum
from genflow.workflows.gate.dedupe import StructureIndex
from genflow.workflows.gate.fingerprint import fingerprint

if TYPE_CHECKING:
    from pymatgen.core import Structure
    from pymongo.collection import Collection

__all__ = [
    "BUNDLED_SOURCES",
    "BundledReferences",
    "bundled_reference_docs",
    "file_reference_docs",
    "index_references",
    "load_bundled",
    "mp_api_reference_docs",
    "ref_id_of_key",
    "reference_doc",
    "reference_docs",
    "reference_index",
    "reference_set_sizes",
    "store_fingerprints",
]

#: The datasets of ``genflow.model.data.BUNDLED`` that make the bundled reference set.
BUNDLED_SOURCES = ("mp_20", "perov_5", "carbon_24")
_SUFFIXES = (".gz", ".cif", ".CIF", ".mcif", ".json", ".extxyz", ".xyz", ".vasp", ".poscar")


def _formula_of_cif(cif: str) -> str | None:
    """Reduced formula from the ``_chemical_formula_sum`` line (no CIF parse), or None."""
    from genflow.core.chem import reduced_formula

    formula_sum = cif_formula_sum(cif)
    if formula_sum is None:
        return None
    try:  # "Mg4 O4": chem's formula parser reads pymatgen's spaced formulas too
        return reduced_formula(formula_sum)
    except (ValueError, KeyError):
        return None


def bundled_reference_docs(
    sources: Iterable[str] = BUNDLED_SOURCES, *, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """Reference documents (``ref_id``, ``source``, ``reduced_formula``, ``cif``) of the
    bundled datasets, every split, first occurrence of an id kept; ``limit`` rows per file."""
    import pandas as pd

    from genflow.model.data import bundled_paths

    for source in sources:
        seen: set[str] = set()
        for path in bundled_paths(source):
            df = pd.read_csv(path, usecols=["material_id", "cif"], nrows=limit)
            for ref_id, cif in zip(df["material_id"].astype(str), df["cif"], strict=True):
                formula = _formula_of_cif(cif) if isinstance(cif, str) else None
                if ref_id in seen or formula is None:
                    continue
                seen.add(ref_id)
                yield {"ref_id": ref_id, "source": source, "reduced_formula": formula, "cif": cif}


def ref_id_of_key(key: str) -> str:
    """A record key (``by_id.zip/by_id/0a1b.CIF``, ``x.cif#2``, ``mp-1``) → its id (``0a1b``)."""
    name = key.rsplit("/", 1)[-1]
    stem, hash_, index = name.partition("#")
    for _ in range(2):  # x.cif.gz
        for suffix in _SUFFIXES:
            stem = stem.removesuffix(suffix)
    return stem + hash_ + index


def reference_doc(
    structure: Structure, ref_id: str, source: str, *, fingerprints: bool = True
) -> dict[str, Any]:
    """The stored document of one parsed reference (:mod:`genflow.core.references` fields).

    ``fingerprints=False`` leaves ``fingerprint`` None: the gate computes it the first time a
    candidate of that formula meets the reference, and stores it (:func:`store_fingerprints`).
    """
    composition = structure.composition
    return {
        "ref_id": ref_id,
        "source": source,
        "reduced_formula": composition.reduced_formula,
        "chemsys": composition.chemical_system,
        "nsites": len(structure),
        "structure": structure.as_dict(),
        "fingerprint": fingerprint(structure) if fingerprints else None,
    }


def _doc_of_row(row: StructureRow, source: str) -> dict[str, Any]:
    return reference_doc(row.structure, ref_id_of_key(row.key), source)


def file_reference_docs(
    path: str | Path, source: str
) -> tuple[list[dict[str, Any]], list[StructureRow]]:
    """Parsed, fingerprinted reference documents of a file/folder/archive, and its bad rows.

    Ids are file stems (GNoME's ``by_id/<id>.CIF`` members give the GNoME id), a table's id
    column, or ``file#n`` for the n-th record of a multi-record file.
    """
    from genflow.core.progress import track

    docs, bad = [], []
    for row in track(read_structures(path), f"reading {Path(path).name}", transient=True):
        if row.ok:
            docs.append(_doc_of_row(row, source))
        else:
            bad.append(row)
    return docs, bad


def mp_api_reference_docs(chemsys: str, api_key: str | None = None) -> list[dict[str, Any]]:
    """Structures of a chemical system from the Materials Project (needs ``mp-api`` and a key)."""
    from genflow.core.chem import chemsys_string
    from genflow.core.settings import get_settings

    key = api_key or get_settings().MP_API_KEY
    if not key:
        raise ValueError("mp-api references: set GENFLOW_MP_API_KEY")
    try:
        from mp_api.client import MPRester
    except ImportError as exc:
        raise ImportError("mp-api references: pip install 'genflow[mp]'") from exc
    with MPRester(key, mute_progress_bars=True) as mpr:
        docs = mpr.materials.summary.search(
            chemsys=chemsys_string(chemsys), fields=["material_id", "structure"]
        )
    rows = [parse_one(d.structure, key=str(d.material_id)) for d in docs]
    return [_doc_of_row(r, "mp-api") for r in rows if r.ok]


def load_bundled(collection: Collection, sources: Iterable[str] = BUNDLED_SOURCES) -> LoadSummary:
    """Copy the bundled set into ``collection`` (``genflow refs add --bundled``; idempotent).

    Not needed for novelty (the gate reads the bundled set from the package); useful to query
    it next to one's own references, or to keep its fingerprints in the database.
    """
    return insert_references(collection, bundled_reference_docs(sources))


class BundledReferences:
    """The bundled set in memory, bucketed by reduced formula (no database needed)."""

    def __init__(self, docs: Iterable[dict[str, Any]] | None = None) -> None:
        self.by_formula: dict[str, list[dict]] = defaultdict(list)
        for doc in bundled_reference_docs() if docs is None else docs:
            self.by_formula[doc["reduced_formula"]].append(doc)

    def by_source(self) -> dict[str, list[dict]]:
        """Documents per source."""
        out: dict[str, list[dict]] = defaultdict(list)
        for docs in self.by_formula.values():
            for doc in docs:
                out[doc["source"]].append(doc)
        return out

    def for_formulas(self, formulas: Iterable[str]) -> list[dict]:
        """Documents of these reduced formulas."""
        return [d for f in sorted(set(formulas)) for d in self.by_formula.get(f, ())]


@cache
def bundled_in_memory() -> BundledReferences:
    """The bundled set, read once per process."""
    return BundledReferences()


def _structure_of(doc: dict) -> Any:
    if doc.get("structure") is not None:
        return doc["structure"]
    row = parse_one(doc.get("cif"), key=reference_key(doc["source"], doc["ref_id"]))
    return row.structure  # None if the stored CIF does not parse


def reference_docs(formulas: Iterable[str], collection: Collection | None = None) -> list[dict]:
    """Reference documents of ``formulas``: the bundled set plus, with a ``collection``, every
    reference stored there (a bundled source loaded there with ``refs add --bundled``
    replaces the in-memory copy). Each has ``ref_id``, ``source``, ``reduced_formula`` and a
    ``structure`` or ``cif``."""
    formulas = [f for f in formulas if f]
    docs = references_for_formulas(collection, formulas) if collection is not None else []
    in_db = {d["source"] for d in docs}  # a bundled source stored there: the same rows
    docs += [d for d in bundled_in_memory().for_formulas(formulas) if d["source"] not in in_db]
    return docs


def index_references(docs: Iterable[dict]) -> StructureIndex:
    """A :class:`StructureIndex` of reference documents, keyed by ``source/ref_id``."""
    index = StructureIndex()
    for doc in docs:
        structure = _structure_of(doc)
        if structure is not None:
            key = reference_key(doc["source"], doc["ref_id"])
            index.add(key, structure, doc.get("fingerprint"))
    return index


def reference_index(
    formulas: Iterable[str], collection: Collection | None = None
) -> StructureIndex:
    """A :class:`StructureIndex` of the references of ``formulas`` (:func:`reference_docs`),
    keyed by ``source/ref_id``, so every worker of a campaign has the same set. After the
    novelty check, :func:`store_fingerprints` keeps the fingerprints it computed."""
    return index_references(reference_docs(formulas, collection))


def reference_set_sizes(collection: Collection | None = None) -> dict[str, int]:
    """The named reference set novelty compares against: source → number of structures
    (the bundled sources, replaced by the same source stored in ``collection``)."""
    from genflow.core.references import reference_sources

    sizes = {src: len(docs) for src, docs in bundled_in_memory().by_source().items()}
    if collection is not None:
        sizes.update({src: row["n"] for src, row in reference_sources(collection).items()})
    return dict(sorted(sizes.items()))


def store_fingerprints(collection: Collection, index: StructureIndex) -> int:
    """Write back the fingerprints ``index`` computed for references stored without one."""
    return set_fingerprints(collection, index.computed_fingerprints())
