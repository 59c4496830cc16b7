"""From a campaign spec to jobflow flows: one ``Flow`` per batch, each with a stable key.

:func:`campaign_maker` builds the :class:`~genflow.workflows.campaign.CampaignMaker` a spec
describes; :func:`build_flows` tags each batch's flow with ``name:spec_hash:batch`` in its
metadata, which is how submit recognises a batch already on the LaunchPad.

>>> campaign_key("demo", "0123abcd", 2)
'demo:0123abcd:2'
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobflow import Flow

    from genflow.campaign.spec import CampaignSpec
    from genflow.workflows.campaign import CampaignMaker

__all__ = [
    "build_flows",
    "campaign_key",
    "campaign_maker",
    "expected_samples",
    "structure_sources",
]


def campaign_key(name: str, spec_hash: str, batch: int) -> str:
    """Deterministic key of one submitted workflow (campaign, spec content, batch index)."""
    return f"{name}:{spec_hash}:{batch}"


def campaign_maker(spec: CampaignSpec) -> CampaignMaker:
    """Build the :class:`~genflow.workflows.campaign.CampaignMaker` a spec describes."""
    from genflow.workflows.campaign import (
        CampaignMaker,
        GateMaker,
        GenerateMaker,
        ImportStructuresMaker,
        ScoreMaker,
    )
    from genflow.workflows.relax import relax_static_maker

    relax_kwargs = dict(spec.relax.kwargs)
    if spec.engine != "vasp":
        relax_kwargs.setdefault("fmax", spec.relax.fmax)
        relax_kwargs.setdefault("steps", spec.relax.steps)
    if spec.engine == "mlip":
        relax_kwargs.setdefault("force_field", spec.relax.force_field)
        if spec.relax.calculator_kwargs:
            relax_kwargs.setdefault("calculator_kwargs", dict(spec.relax.calculator_kwargs))
    gen = spec.generator
    generate = (
        ImportStructuresMaker()
        if gen.kind == "structures"
        else GenerateMaker(checkpoint=gen.checkpoint, kind=gen.kind, options=gen.sample_options())
    )
    gate = GateMaker(
        min_distance=spec.gate.min_distance,
        smact=spec.gate.smact,
        dedupe=spec.gate.dedupe,
        dedupe_workers=spec.gate.dedupe_workers,
        novelty=spec.gate.novelty,
        prescreen=spec.gate.prescreen,
        prescreen_max_ed=spec.gate.prescreen_max_ed,
        prerelax_model=spec.gate.prerelax.model,
        prerelax_kwargs=dict(spec.gate.prerelax.calculator_kwargs),
        prerelax_method=spec.gate.prerelax.method,
        hull=spec.hulls[0],
    )
    score = ScoreMaker(
        hulls=tuple(spec.hulls),
        engine=str(spec.engine),
        force=spec.score.force,
        hit_threshold=spec.score.hit_threshold,
        audit=spec.score.audit,
        force_field=spec.score.force_field,
        rounds=spec.hull.rounds,
        implausible_below=spec.score.implausible_below,
    )
    return CampaignMaker(
        generate_maker=generate,
        gate_maker=gate,
        relax_maker=relax_static_maker(str(spec.engine), **relax_kwargs),
        score_maker=score,
        categories=spec.categories.model_dump(),
    )


def structure_sources(paths: list[Path]) -> list[dict]:
    """The import job's inputs: one ``{"name", "text" | "base64"}`` per file.

    A directory contributes every file of a format genflow reads. Text formats travel as
    text (readable in the LaunchPad); binary ones (zip, gzip, ``eval_gen.pt``) as base64. A
    file over ``MAX_INPUT_MB`` travels as ``{"name", "error"}`` only (the import job makes it
    a rejected row with that reason; it would not fit a MongoDB document anyway).
    """
    from genflow.core.structure_io import format_of, too_large

    sources = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and format_of(p.name))
            names = [f.relative_to(path.parent).as_posix() for f in files]
        else:
            files, names = [path], [path.name]
        for file, name in zip(files, names, strict=True):
            if reason := too_large(file):
                sources.append({"name": name, "error": f"unreadable file: {reason}"})
                continue
            data = file.read_bytes()
            try:
                sources.append({"name": name, "text": data.decode("utf-8")})
            except UnicodeDecodeError:
                sources.append({"name": name, "base64": base64.b64encode(data).decode("ascii")})
    return sources


def _batch_inputs(spec: CampaignSpec) -> list[list[dict]]:
    """Per-batch job inputs: conditions (generator) or file sources (kind=structures)."""
    if spec.generator.kind == "structures":
        sources = structure_sources(spec.structure_files())
        size = spec.generator.batch_size
        return [sources[i : i + size] for i in range(0, len(sources), size)]
    return [[c.model_dump() for c in batch] for batch in spec.batches()]


def build_flows(spec: CampaignSpec, name: str | None = None) -> list[tuple[str, Flow]]:
    """Return ``(key, flow)`` per batch; the key also goes into every job's metadata."""
    name = name or spec.name
    maker = campaign_maker(spec)
    out = []
    for i, inputs in enumerate(_batch_inputs(spec)):
        key = campaign_key(name, spec.spec_hash(), i)
        flow = maker.make(name, inputs)
        flow.name = f"{name} batch {i}"
        flow.update_metadata({"genflow_key": key})
        out.append((key, flow))
    return out


def expected_samples(spec: CampaignSpec) -> int | None:
    """Candidates a generator campaign will create (None: imports, unknown until read)."""
    if spec.generator.kind == "structures":
        return None
    return sum(c.n_samples for c in spec.conditions())
