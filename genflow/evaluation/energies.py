"""Energies per atom for proxy metrics: an MLIP single point (or short relax), cached, and E_d.

CDVAE's property Wasserstein (``wdist_prop``) compared a *learned property model*'s
predictions; genflow has no such model and uses a universal MLIP instead (CHGNet by default,
any key of :data:`genflow.workflows.mlips.MLIPS`), through the same batched path as the gate
pre-relax (:func:`genflow.workflows.gate.prerelax.prerelax_structures`): ``steps=0`` is one
batched single point (CHGNet: energies only, no forces), ``steps>0`` a short FIRE relax.
Energies land on the MP2020 scale of the ``mp2021`` hull (raw-PBE models are corrected), so
the same numbers give E_d for MatterGen's S.U.N. rate (:func:`hull_e_d`).

A reference split is evaluated again and again, so every result is cached per structure
(content hash, model, steps) as one small JSON file under
``DATA_DIR/eval_cache/energies-v1/<model>-<steps>/``; a failed row is cached with its reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymatgen.core import Structure

from genflow.core.progress import track
from genflow.evaluation.features import structure_hash

if TYPE_CHECKING:
    from genflow.evaluation.sets import StructureSet

__all__ = [
    "CACHE_VERSION",
    "MLIPEnergies",
    "hull_e_d",
    "mlip_energies",
    "parse_energy_source",
    "with_mlip_energies",
]

CACHE_VERSION = "energies-v1"


class MLIPEnergies(list):
    """Energies per atom (eV/atom, MP2020 scale; None where the model failed), in input order.

    ``label`` names the model as results record it (e.g. ``CHGNet``), ``steps`` the relax
    steps (0: single point), ``errors`` one reason per failed row (None where it worked).
    """

    def __init__(
        self, values: list[float | None], label: str, steps: int, errors: list[str | None]
    ) -> None:
        super().__init__(values)
        self.label, self.steps, self.errors = label, steps, errors


def parse_energy_source(text: str | None) -> tuple[str, str | None]:
    """``--energies`` → (kind, model): ``none``, ``file`` or ``mlip`` (``mlip:7net-l3i5``).

    >>> parse_energy_source("mlip"), parse_energy_source("mlip:7net-0"), parse_energy_source(None)
    (('mlip', 'CHGNet'), ('mlip', '7net-0'), ('none', None))
    """
    if text is None or text.strip().lower() in ("", "none"):
        return "none", None
    kind, _, model = text.strip().partition(":")
    kind = kind.lower()
    if kind == "file" and not model:
        return "file", None
    if kind == "mlip":
        from genflow.workflows.mlips import resolve_mlip

        return "mlip", resolve_mlip(model or "CHGNet").name  # unknown names raise here
    raise ValueError(f"--energies {text!r}: want none, file, mlip or mlip:MODEL")


def _cache_root(cache_dir: Path | bool | None, model: str, steps: int) -> Path | None:
    if cache_dir is False:
        return None
    if cache_dir is None or cache_dir is True:
        from genflow.core.settings import get_settings

        cache_dir = Path(get_settings().DATA_DIR) / "eval_cache"
    return Path(cache_dir) / CACHE_VERSION / f"{model}-{steps}"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # missing or torn: recompute


def _write(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)  # atomic: parallel runs never read half a file


def mlip_energies(
    structures: Sequence[Structure | None],
    *,
    model: str = "CHGNet",
    steps: int = 0,
    batch_size: int = 8,
    cache_dir: Path | bool | None = None,
    progress: bool = True,
    description: str = "MLIP energies",
) -> MLIPEnergies:
    """MLIP energy per atom of every structure (eV/atom, MP2020 scale), cached per structure.

    Parameters
    ----------
    structures
        Structures (None rows stay None: an unreadable record has no energy).
    model
        MLIP registry key or atomate2 name (:func:`genflow.workflows.mlips.resolve_mlip`).
    steps
        0: single point on the given structure (what a generator produced); n > 0: at most
        n FIRE steps of a cell + position relax first (the gate pre-relax's optimiser).
    batch_size
        Structures per model call; the bar advances once per batch. Memory grows with it
        and with density: CHGNet energies of 32 dense AIRSS cells at once peaked at 3.1 GB
        (8: 1.5 GB); forces and stress (``steps > 0``) cost about 4x more.
    cache_dir
        Folder above ``energies-v1`` (default ``DATA_DIR/eval_cache``; False: no cache).
    """
    from genflow.workflows.gate.prerelax import prerelax_structures
    from genflow.workflows.mlips import resolve_mlip

    spec = resolve_mlip(model)
    label = spec.label
    root = _cache_root(cache_dir, model, steps)
    values: list[float | None] = [None] * len(structures)
    errors: list[str | None] = [None] * len(structures)
    todo: dict[str, list[int]] = {}
    for i, s in enumerate(structures):
        if s is None:
            errors[i] = "unreadable record"
            continue
        key = structure_hash(s)
        hit = _read(root / key[:2] / f"{key}.json") if root else None
        if hit is not None:
            values[i], errors[i] = hit["energy_per_atom"], hit["error"]
        else:
            todo.setdefault(key, []).append(i)
    jobs = list(todo.items())
    batches = [jobs[k : k + batch_size] for k in range(0, len(jobs), batch_size)]
    for batch in track(batches, f"{description} ({label})", enabled=progress):
        todo_structures = [structures[idx[0]] for _, idx in batch]
        # model banners (CHGNet prints on load) go to stderr: stdout may be --json
        with contextlib.redirect_stdout(sys.stderr):
            if steps == 0 and spec.force_field == "CHGNet" and not spec.calculator_kwargs:
                results = _chgnet_energies(todo_structures, batch_size)
            else:
                results = [(r.energy_per_atom, r.error) for r in prerelax_structures(
                    todo_structures, model=model, steps=steps, batch_size=batch_size,
                    method="batched",
                )]  # fmt: skip
        for (key, idx), (e, res_error) in zip(batch, results, strict=True):
            if e is not None and not math.isfinite(e):
                e, res_error = None, f"non-finite energy {e}"
            if root:
                _write(root / key[:2] / f"{key}.json", {"energy_per_atom": e, "error": res_error})
            for i in idx:
                values[i], errors[i] = e, res_error
    return MLIPEnergies(values, label, steps, errors)


def _chgnet_energies(
    structures: Sequence[Structure], batch_size: int
) -> list[tuple[float | None, str | None]]:
    """CHGNet energies only (no forces or stress): one batched forward pass per batch.

    The same model and energies as the gate's batched pre-relax at zero steps, without the
    backward pass: 4x faster and less than half the memory for Perov-5 cells (32 rows: 6 s
    and 0.75 GB against 25 s and 1.7 GB, load ~10 on 2 cores). A batch that raises is
    retried row by row so one bad structure fails alone. CHGNet is on the MP2020 scale.
    """
    from genflow.workflows.mlips import load_chgnet

    model = load_chgnet()
    try:
        preds = model.predict_structure(list(structures), task="e", batch_size=batch_size)
        return [(float(p["e"]), None) for p in preds]
    except Exception:
        out: list[tuple[float | None, str | None]] = []
        for s in structures:
            try:
                out.append((float(model.predict_structure(s, task="e")["e"]), None))
            except Exception as exc:  # this structure only
                out.append((None, f"CHGNet: {type(exc).__name__}: {exc}"))
        return out


def with_mlip_energies(
    samples: StructureSet,
    reference: StructureSet,
    *,
    model: str | None,
    steps: int = 0,
    batch_size: int = 8,
    progress: bool = True,
) -> tuple[StructureSet, StructureSet, str]:
    """Both sets with MLIP energies per atom in place of theirs, and a label of the source.

    One :func:`mlip_energies` call per set (cached; ``description`` names the set); the label
    (e.g. ``"MLIP CHGNet (single point, MP2020 scale)"``) is ``proxy_metrics``'
    ``energy_source``.
    """
    e_s, e_r = (
        mlip_energies(x.structures, model=model, steps=steps, batch_size=batch_size,
                      progress=progress, description=f"MLIP energies ({what})")
        for x, what in ((samples, "samples"), (reference, "reference"))
    )  # fmt: skip
    how = f"relax of {steps} FIRE steps" if steps else "single point"
    return (
        dataclasses.replace(samples, energies=tuple(e_s)),
        dataclasses.replace(reference, energies=tuple(e_r)),
        f"MLIP {e_s.label} ({how}, MP2020 scale)",
    )


def hull_e_d(
    structures: Sequence[Structure | None], energies: Sequence[float | None], hull: Any
) -> list[float | None]:
    """E_d (eV/atom) of each row on ``hull`` (a name or a ``ReferenceHull``); None if unscored.

    A row without a structure or energy, or one the hull cannot score (an element it lacks),
    gets None: it cannot count as stable.
    """
    if isinstance(hull, str):
        from genflow.hull import load_hull

        hull = load_hull(hull)
    live = [
        i for i, (s, e) in enumerate(zip(structures, energies, strict=True))
        if s is not None and e is not None
    ]  # fmt: skip
    out: list[float | None] = [None] * len(structures)
    scores = hull.score([structures[i].composition for i in live], [energies[i] for i in live])
    for i, score in zip(live, scores, strict=True):
        if score.error is None and score.e_d is not None and math.isfinite(score.e_d):
            out[i] = float(score.e_d)
    return out
