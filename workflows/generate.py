"""What the generate jobs do: sample the generator, or import structures, into candidates.

Plain functions called by the Makers in :mod:`genflow.workflows.campaign`; each takes the
``GenflowStores`` its job opened (:func:`genflow.workflows.job_store.candidate_stores`) and
writes idempotently (a rerun inserts nothing twice).
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from typing import TYPE_CHECKING, Any

from genflow.core.candidate import Candidate
from genflow.core.candidates_repo import insert_candidates
from genflow.core.chem import formula

if TYPE_CHECKING:
    from genflow.core.store import GenflowStores

__all__ = ["import_structures", "sample_candidates"]


@cache
def _generator(checkpoint: str | None) -> Any:
    """The generator of ``checkpoint``, loaded once per process (every batch reuses it)."""
    from genflow.model import load_generator

    return load_generator(checkpoint)


def sample_candidates(
    stores: GenflowStores, campaign: str, conditions: list[dict], checkpoint: str | None
) -> list[str]:
    """Sample every condition with the generator, bulk-insert candidates, return their ids.

    A sample the decoder cannot read is stored as a rejected candidate (``decode: <why>``)
    with its seed and index; the rest of the batch goes on.
    """
    generator = _generator(checkpoint)
    candidates = []
    for cond in conditions:
        composition = cond.get("composition")
        seed = int(cond["seed"])
        samples = generator.sample(
            int(cond["n_samples"]), composition=composition, seed=seed, keep_failures=True
        )
        label = formula(composition) if composition else None  # the one spelling (core.chem)
        prov = {**generator.provenance, "conditioning": {"composition": label}}
        for i, sample in enumerate(samples):
            if hasattr(sample, "reason"):  # model.SampleFailure: a rejected row, the rest go on
                raw = f"undecodable sample {i} (seed {seed})"
                candidates.append(
                    Candidate.from_invalid_input(raw, campaign, prov, seed, i, sample.reason)
                )
            else:
                candidates.append(Candidate.from_structure(sample, campaign, prov, seed, i))
    insert_candidates(stores.candidates, candidates)
    return [c.candidate_id for c in candidates]


def import_structures(stores: GenflowStores, campaign: str, sources: list[dict]) -> list[str]:
    """Insert every structure of each source file; each unreadable record is a rejected row.

    Parameters
    ----------
    stores
        The job's candidate store.
    campaign
        Campaign name.
    sources
        ``{"name": file name, "text": content}`` (or ``"base64"`` for a binary file, see
        ``genflow.campaign.flows.structure_sources``); the name picks the reader
        (:func:`genflow.core.structure_io.read_text`). One bad record is one rejected row,
        ``"<stage>: <key>: <reason>"`` with stage ``parse`` (malformed, partially occupied)
        or ``elements`` (unknown element); the file's other records go on.
    """
    from genflow.core.structure_io import read_text

    candidates = []
    for src in sources:
        name = src["name"]
        content = base64.b64decode(src["base64"]) if "base64" in src else src["text"]
        data = content if isinstance(content, bytes) else content.encode()
        prov = {
            "model_name": "import",
            "checkpoint_hash": hashlib.sha256(data).hexdigest()[:16],
            "conditioning": {"source": name},
        }
        for i, row in enumerate(read_text(name, content)):
            row_prov = {**prov, "conditioning": {"source": name, "record": row.key}}
            if row.structure is None:
                raw = row.raw or (content if isinstance(content, str) else row.key)
                candidates.append(
                    Candidate.from_invalid_input(
                        raw, campaign, row_prov, 0, i, f"{row.stage}: {row.error}"
                    )
                )
            else:
                candidates.append(Candidate.from_structure(row.structure, campaign, row_prov, 0, i))
    insert_candidates(stores.candidates, candidates)
    return [c.candidate_id for c in candidates]
