"""Sample crystals from a StructRepDiff checkpoint: DDPM in R-space, then reconstruction.

:class:`StructRepDiffGenerator` has :class:`genflow.model.unimat.generator.Generator`'s ``sample``
signature and provenance, so ``load_generator`` returns it for a checkpoint whose
``meta.json`` says ``"model_name": "structrepdiff"`` and campaigns can use either model.

Conditioning: ``composition`` (one, or one per sample) is imposed by the replacement method
— before every denoiser call the composition entries of z_t (fractions and N, Eq. R-1) are
overwritten by a fresh draw of q(z_t | known values) — and decoded exactly. Element-set
(``elements``/``n_atoms``) and property conditioning are not supported by this model.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from pymatgen.core import Composition

import genflow.model.diffusion as diffusion
from genflow.model.checkpoint_generator import CheckpointGenerator
from genflow.model.rows import SampleRow
from genflow.model.structrepdiff.reconstruct import ReconSettings, reconstruct
from genflow.model.structrepdiff.representation import RepNorm, RepSpec
from genflow.model.structrepdiff.train import build_model

__all__ = ["StructRepDiffGenerator"]


class StructRepDiffGenerator(CheckpointGenerator):
    """A trained StructRepDiff model ready to sample."""

    def __init__(
        self, params: Any, meta: dict, *, path: Path, checkpoint_hash: str, step: int
    ) -> None:
        super().__init__(params, meta, path=path, checkpoint_hash=checkpoint_hash, step=step)
        self.spec = RepSpec.from_dict(meta["spec"])
        self.norm = RepNorm.from_dict(meta["norm"])
        self.model = build_model(self.config.model)
        r = self.config.recon
        self.recon = ReconSettings(int(r.trials), int(r.hops), int(r.iters), r.lr, r.hop)
        self.max_atoms = self.spec.max_atoms

    @property
    def model_name(self) -> str:
        """Always ``"structrepdiff"`` (what :func:`~genflow.model.kinds.load_generator` read)."""
        return "structrepdiff"

    @property
    def elements(self) -> list[str]:
        """The representation's element list."""
        return list(self.spec.elements)

    # ------------------------------------------------------------------ conditioning
    def _known(self, comps: Sequence[Composition]) -> tuple[np.ndarray, np.ndarray]:
        """Standardised known entries (n, D) and their mask (D,) for exact compositions."""
        spec, known = self.spec, np.zeros((len(comps), self.spec.dim))
        mask = np.zeros(spec.dim, bool)
        mask[spec.comp_slice] = True
        mask[spec.natoms_index] = True
        raw = np.tile(self.norm.mean, (len(comps), 1))
        for i, comp in enumerate(comps):
            amounts = comp.get_el_amt_dict()
            unknown = set(amounts) - set(spec.elements)
            if unknown:
                raise ValueError(f"element(s) {sorted(unknown)} not in this model's elements")
            n = comp.num_atoms
            if n != int(n) or not 1 <= n <= spec.max_atoms:
                raise ValueError(f"composition {comp.formula}: need 1..{spec.max_atoms} atoms")
            raw[i, spec.comp_slice] = [amounts.get(e, 0.0) / n for e in spec.elements]
            raw[i, spec.natoms_index] = n
        known = self.norm.normalize(raw)
        return known.astype(np.float32), mask

    @functools.cache  # noqa: B019 (one generator per checkpoint, kept for the process)
    def _sampler(self, num_steps: int, batch: int):
        d = self.config.diffusion
        schedule = diffusion.schedule_from_config(d)
        clip = float(d.get("clip", 10.0))

        def run(params, known, mask, rng):
            def model_fn(z, logsnr):
                return {"rep": self.model.apply(params, z["rep"], logsnr)}

            def project(z, logsnr, key):
                eps = jax.random.normal(key, known.shape)
                noisy = diffusion.diffuse(x=known, logsnr=logsnr, eps=eps)  # q(z_t | known)
                return {"rep": jnp.where(mask, noisy, z["rep"])}

            x = diffusion.sample_loop(
                model_fn=model_fn,
                shape_like={"rep": jax.ShapeDtypeStruct((batch, self.spec.dim), jnp.float32)},
                rng=rng,
                schedule=schedule,
                num_steps=num_steps,
                gamma=float(d.gamma),
                clip_x=lambda x: {"rep": jnp.clip(x["rep"], -clip, clip)},
                project=project,
            )
            return jnp.where(mask, known, x["rep"])

        return jax.jit(run)

    # ------------------------------------------------------------------ sampling
    def sample_reps(
        self,
        n: int,
        *,
        composition: Any = None,
        seed: int = 0,
        num_steps: int | None = None,
        batch_size: int = 64,
    ) -> tuple[np.ndarray, list[str]]:
        """``n`` unnormalised representations R and their conditioning labels."""
        steps = int(num_steps or self.config.diffusion.num_steps)
        if composition is None:
            known = np.zeros((n, self.spec.dim), np.float32)
            mask = np.zeros(self.spec.dim, bool)
            labels = ["unconditional"] * n
        else:
            many = not isinstance(composition, str | Composition | dict)
            comps = (
                [Composition(c) for c in composition] if many else [Composition(composition)] * n
            )
            if len(comps) != n:
                raise ValueError(f"{len(comps)} compositions given for n={n} samples")
            known, mask = self._known(comps)
            labels = [c.formula for c in comps]
        bs = min(batch_size, n)
        run = self._sampler(steps, bs)
        key = jax.random.key(seed)
        out = []
        for start in range(0, n, bs):
            idx = np.arange(start, start + bs) % n
            z = run(
                self.params,
                jnp.asarray(known[idx]),
                jnp.asarray(mask),
                jax.random.fold_in(key, start),
            )
            out.append(np.asarray(z)[: min(bs, n - start)])
        return self.norm.denormalize(np.concatenate(out).astype(np.float64)), labels

    def sample_rows(
        self,
        n: int,
        *,
        composition: str | Composition | Sequence[str | Composition] | None = None,
        elements: str | Sequence[str] | None = None,
        n_atoms: int | None = None,
        seed: int = 0,
        progress: bool = False,
        num_steps: int | None = None,
        batch_size: int = 64,
        properties: dict[str, float] | None = None,
        guidance: float | None = None,
        recon: ReconSettings | dict | None = None,
    ) -> list[SampleRow]:
        """Draw ``n`` crystals: sample R (``num_steps`` ancestral steps, default 2000), then
        reconstruct positions (``recon``: settings, or a dict of fields replacing the config's
        basin-hopping defaults, e.g. ``{"trials": 2, "hops": 1, "iters": 50}``).

        One :class:`~genflow.model.rows.SampleRow` per sample; a representation that
        describes no cell is a row with its reason. ``structure.properties`` records
        generator, checkpoint_hash, seed, index, conditioning and the reconstruction loss.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if elements is not None or n_atoms is not None:
            raise ValueError("StructRepDiff supports composition conditioning only, not elements")
        if properties or guidance:
            raise ValueError("StructRepDiff has no property conditioning or guidance")
        settings = dataclasses.replace(self.recon, **recon) if isinstance(recon, dict) else recon
        settings = settings or self.recon
        reps, labels = self.sample_reps(
            n, composition=composition, seed=seed, num_steps=num_steps, batch_size=batch_size
        )
        out: list[SampleRow] = []
        for i, rep in enumerate(reps):
            res = reconstruct(rep, self.spec, settings, seed=seed * 1_000_003 + i)
            if res.structure is None:
                out.append(SampleRow(i, None, f"did not reconstruct: {res.error}", labels[i]))
                continue
            row = self.stamped_row(
                res.structure, seed=seed, index=i, label=labels[i], recon_loss=res.loss
            )
            out.append(row)
            if progress:
                print(f"reconstructed {i + 1}/{n}", flush=True)
        return out
