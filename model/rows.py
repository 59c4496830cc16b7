"""One sample's outcome, shared by every generator kind: :class:`SampleRow`.

Every generator (UniMat, StructRepDiff, random search) answers ``sample_rows`` with these rows
and ``sample`` with :func:`structures_or_raise` of them. This module sits below all of them
and imports nothing from genflow, so the generators and the kind dispatch
(:mod:`genflow.model.kinds`) both import it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = ["SampleRow", "structures_or_raise"]


@dataclass(frozen=True)
class SampleRow:
    """One sample: its structure, or ``error`` saying why there is none."""

    index: int
    structure: Structure | None = None
    error: str | None = None
    label: str | None = field(default=None, compare=False)


def structures_or_raise(rows: list[SampleRow]) -> list[Structure]:
    """The structures of ``rows``; the first failed sample raises ``RuntimeError`` with its reason.

    ``sample()`` of every generator is ``structures_or_raise(sample_rows(...))``: callers that
    must not lose a batch to one bad sample call ``sample_rows`` instead.
    """
    for row in rows:
        if row.structure is None:
            raise RuntimeError(f"sample {row.index} {row.error}")
    return [row.structure for row in rows]
