"""What the generate jobs do: sample a generator (any kind), or import structures, into candidates.

Plain functions called by the Makers in :mod:`genflow.workflows.campaign`; each takes the
``GenflowStores`` its job opened (:func:`genflow.workflows.job_store.candidate_stores`) and
writes idempotently (a rerun inserts nothing twice).
"""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import TYPE_CHECKING, Any

from genflow.core.candidates import Candidate, insert_candidates
from genflow.core.chem import formula
from genflow.model.registry import checkpoint_hash
from genflow.model.rows import SampleRow

if TYPE_CHECKING:
    from genflow.core.store import GenflowStores

__all__ = ["import_structures", "sample_candidates"]


@cache
def _generator(kind: str, checkpoint: str | None, options_json: str) -> Any:
    """The generator of a kind and options, built once per process (every batch reuses it)."""
    from genflow.core.progress import quiet_batch_chatter, stage
    from genflow.model.kinds import CHECKPOINT_KINDS, make_generator

    quiet_batch_chatter()  # under rlaunch: the generator's warnings to the launch dir's log
    if kind in CHECKPOINT_KINDS:
        stage(f"loading checkpoint {checkpoint or CHECKPOINT_KINDS[kind]} ({kind})")
    generator = make_generator(kind, checkpoint, json.loads(options_json))
    if kind in CHECKPOINT_KINDS:
        stage("compiling the sampler (first batch)")
    return generator


def sample_candidates(
    stores: GenflowStores,
    campaign: str,
    conditions: list[dict],
    checkpoint: str | None = None,
    *,
    kind: str = "unimat",
    options: dict | None = None,
) -> list[str]:
    """Sample every condition, bulk-insert candidates, return their ids.

    Model-agnostic: the generator comes from :func:`genflow.model.kinds.make_generator`
    (``kind``, ``checkpoint``, ``options``) and answers ``sample_rows``. A sample that failed
    (did not decode, reconstruct or place) is a ``rejected`` row, ``"generate: <reason>"``;
    a condition the generator refuses (element outside its table, too many atoms) gives
    ``n_samples`` such rows. The other samples go on.
    """
    generator = _generator(kind, checkpoint, json.dumps(options or {}, sort_keys=True))
    candidates = []
    for cond in conditions:
        composition = cond.get("composition")
        n, seed = int(cond["n_samples"]), int(cond["seed"])
        label = formula(composition) if composition else None  # the one spelling (core.chem)
        prov = {**generator.provenance, "conditioning": {"composition": label}}
        try:
            rows = generator.sample_rows(n, composition=composition, seed=seed)
        except ValueError as exc:  # the whole condition is refused: every sample is a row
            rows = [SampleRow(i, None, str(exc)) for i in range(n)]
        for row in rows:
            if row.structure is None:
                raw = f"{prov['model_name']} sample {row.index} of {label or 'unconditional'}"
                candidates.append(
                    Candidate.from_invalid_input(
                        raw, campaign, prov, seed, row.index, f"generate: {row.error}"
                    )
                )
            else:
                candidates.append(
                    Candidate.from_structure(row.structure, campaign, prov, seed, row.index)
                )
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
        if "error" in src:  # not sent (too large): still a row, with its reason
            prov = {
                "model_name": "import",
                "checkpoint_hash": checkpoint_hash(name.encode(), short=True),
                "conditioning": {"source": name},
            }
            reason = f"parse: {name}: {src['error']}"
            candidates.append(Candidate.from_invalid_input(name, campaign, prov, 0, 0, reason))
            continue
        content = base64.b64decode(src["base64"]) if "base64" in src else src["text"]
        data = content if isinstance(content, bytes) else content.encode()
        prov = {
            "model_name": "import",
            "checkpoint_hash": checkpoint_hash(data, short=True),
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
