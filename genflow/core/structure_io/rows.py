"""The row every reader yields, the one check a parsed structure passes, and file text.

A reader never raises for a bad record: it yields a :class:`StructureRow` whose ``error``
names the record (``"NaCl.cif#2: malformed CIF: ValueError: ..."``) and the next record goes on.
"""

from __future__ import annotations

import gzip
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pymatgen.core import Structure

from genflow.core.chem import unknown_elements_message, unknown_symbols

__all__ = [
    "StructureRow",
    "UnreadableSummary",
    "check_structure",
    "decode_text",
    "error_row",
    "parsed_row",
    "read_file_text",
    "record_key",
    "summarize_unreadable",
]

#: pymatgen's complaint about a symbol that is not an element (``Structure.from_dict``, ...).
_NOT_ELEMENT = re.compile(r"'([^']{1,8})' is not a valid Element")


@dataclass(frozen=True)
class StructureRow:
    """One record of an input: its structure, or why there is none.

    Attributes
    ----------
    key
        Stable, human name of the record: ``file.cif``, ``file.cif#2`` (second of several
        records, 1-based), ``archive.zip/dir/x.cif``, ``table.csv#row-3`` or the table's id.
    structure
        The ordered pymatgen ``Structure``; None when ``error`` is set. NaN coordinates are
        kept (the gate's validity stage reports them).
    error
        ``"<key>: <reason>"`` or None.
    raw
        The record's own text when the format has one (a CIF block, a JSON object, a CSV
        cell), else None.
    source
        The file (or archive member) the record came from.
    stage
        Which check failed: ``"parse"`` (malformed, partially occupied) or ``"elements"``
        (a symbol that is not an element); None for a good row.
    """

    key: str
    structure: Structure | None
    error: str | None
    raw: str | None
    source: str
    stage: str | None = None

    @property
    def ok(self) -> bool:
        """True when the record parsed."""
        return self.structure is not None

    @property
    def reason(self) -> str | None:
        """``error`` without the leading ``"<key>: "``."""
        return None if self.error is None else self.error.removeprefix(f"{self.key}: ")


@dataclass(frozen=True)
class UnreadableSummary:
    """How many rows of a batch have no structure, and the first distinct reasons.

    Attributes
    ----------
    n_rows
        Rows read.
    n_unreadable
        Rows with no structure (malformed, unknown elements, disordered, empty cells, ...).
    first
        ``(key, reason)`` of the first row with each distinct reason, in row order, at most
        as many as asked for.
    """

    n_rows: int
    n_unreadable: int
    first: tuple[tuple[str, str], ...]

    def lines(self) -> list[str]:
        """``"3 of 999 rows unreadable; the first reasons:"`` then one indented line each."""
        if not self.n_unreadable:
            return [f"all {self.n_rows} rows readable"]
        head = f"{self.n_unreadable} of {self.n_rows} rows unreadable"
        if not self.first:
            return [head]
        return [f"{head}; the first reasons:", *(f"  {key}: {why}" for key, why in self.first)]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def summarize_unreadable(rows: Iterable[StructureRow], first: int = 3) -> UnreadableSummary:
    """Count the rows with no structure and keep the ``first`` distinct reasons (≤ 300 chars).

    >>> rows = [error_row("t#row-1", "empty cell", source="t"), error_row("t#row-2",
    ...         "empty cell", source="t"), error_row("t#row-3", "no atoms", source="t")]
    >>> print(summarize_unreadable(rows, first=3))
    3 of 3 rows unreadable; the first reasons:
      t#row-1: empty cell
      t#row-3: no atoms
    """
    n_rows = n_bad = 0
    shown: dict[str, str] = {}
    for row in rows:
        n_rows += 1
        if row.ok:
            continue
        n_bad += 1
        reason = (row.reason or "no structure")[:300]
        if len(shown) < first and reason not in shown:
            shown[reason] = row.key
    return UnreadableSummary(n_rows, n_bad, tuple((k, r) for r, k in shown.items()))


def record_key(name: str, index: int, count: int) -> str:
    """``name`` for a file's only record, else ``name#<index + 1>``."""
    return name if count == 1 else f"{name}#{index + 1}"


def error_row(
    key: str, reason: str, *, source: str, raw: str | None = None, stage: str = "parse"
) -> StructureRow:
    """A row for a record that has no structure; ``reason`` is prefixed with the key."""
    return StructureRow(key, None, f"{key}: {reason}", raw, source, stage)


def check_structure(structure: Structure) -> tuple[str, str] | None:
    """The one check every parsed structure passes: ``(stage, reason)`` or None.

    Rejects symbols that are not elements (pymatgen reads ``Xx`` as a ``DummySpecies``),
    empty structures and disordered (partially occupied) sites, which nothing downstream
    supports (``Structure.species`` raises on them).
    """
    if len(structure) == 0:
        return "parse", "no atoms"
    if unknown := unknown_symbols(structure.composition.elements):
        return "elements", unknown_elements_message(unknown)
    if not structure.is_ordered:
        bad = [
            f"{i} ({site.species.formula})"
            for i, site in enumerate(structure)
            if not site.is_ordered
        ]
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        return "parse", f"partially occupied / disordered site(s) {shown}: not supported"
    return None


def parsed_row(
    key: str,
    source: str,
    raw: str | None,
    kind: str,
    parse: Callable[[], Structure],
) -> StructureRow:
    """Run ``parse`` and turn the result or its failure into a row.

    ``kind`` names the format in the reason (``"malformed CIF: ValueError: ..."``); a parser's
    complaint about an unknown element becomes the unknown-element reason.
    """
    with _quiet() as caught:
        try:
            structure = parse()
        except Exception as exc:  # parsers raise many types for bad input: a row, not a crash
            text = str(exc)
            if match := _NOT_ELEMENT.search(text):
                return error_row(
                    key, unknown_elements_message([match[1]]), source=source, raw=raw,
                    stage="elements",
                )  # fmt: skip
            notes = "; ".join(dict.fromkeys(str(w.message) for w in caught))[:300]
            detail = f"{type(exc).__name__}: {text[:300]}" + (f" ({notes})" if notes else "")
            return error_row(key, f"malformed {kind}: {detail}", source=source, raw=raw)
    if problem := check_structure(structure):
        stage, reason = problem
        return error_row(key, reason, source=source, raw=raw, stage=stage)
    return StructureRow(key, structure, None, raw, source)


@contextmanager
def _quiet() -> Iterator[list[warnings.WarningMessage]]:
    """Record (not print) parser warnings: pymatgen warns per rounded coordinate."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def decode_text(data: bytes | str, name: str) -> str:
    """Text of plain or gzipped content (by ``name`` ending in ``.gz`` or the gzip magic)."""
    if isinstance(data, str):
        return data
    if name.lower().endswith(".gz") or data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8")


def read_file_text(path: str | Path) -> str:
    """Text of a plain or gzipped (``.gz``) file: the one gzip text reader of genflow."""
    path = Path(path)
    return decode_text(path.read_bytes(), path.name)
