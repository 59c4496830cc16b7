"""UniMat's :class:`Generator`: sample pymatgen Structures from a loaded UniMat checkpoint.

:func:`genflow.model.kinds.load_generator` reads the checkpoint (:mod:`genflow.model.registry`)
and builds this class for a UniMat ``meta.json``.

Conditioning modes of :meth:`Generator.sample`:

* ``composition="Si4C4"``: exact composition — every sample has exactly these atoms.
* ``elements="Ba Ti O", n_atoms=5``: the compositions of exactly these elements (each ≥ 1 atom)
  with ``n_atoms`` atoms are enumerated, SMACT-valid ones preferred, and each sample draws one
  and is sampled with exact-composition conditioning, so both constraints hold exactly.
* ``elements`` alone: composition-types conditioning (the model picks the counts).
* nothing: unconditional. When the checkpoint carries its training compositions
  (``meta["compositions"]``, or ``compositions.json`` beside ``meta.json`` for checkpoints
  exported before it), each sample draws one of them (weighted by how many training rows have
  it) and is sampled with exact-composition conditioning, so its atom count is one the data
  has (issue 24: the model alone got the count wrong in most samples; see
  :func:`genflow.model.unimat.train.composition_prior`). ``composition_prior=False`` gives the
  model-only unconditional mode.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from pymatgen.core import Composition

from genflow.core.chem import formula, parse_chemsys, to_composition
from genflow.core.progress import progress_bar
from genflow.model.checkpoint_generator import CheckpointGenerator
from genflow.model.diffusion import schedule_from_config
from genflow.model.rows import SampleRow
from genflow.model.unimat.network import LatticeNorm, build_model, empty_condition
from genflow.model.unimat.representation import ElementTable, decode_many
from genflow.model.unimat.sampler import make_sampler

__all__ = ["Generator"]


class Generator(CheckpointGenerator):
    """A trained UniMat model ready to sample (see the module docstring for the modes)."""

    def __init__(
        self, params: Any, meta: dict, *, path: Path, checkpoint_hash: str, step: int
    ) -> None:
        super().__init__(params, meta, path=path, checkpoint_hash=checkpoint_hash, step=step)
        self.table = ElementTable.from_dict(meta["table"])
        self.max_atoms = int(meta["max_atoms"])
        self.lattice_norm = LatticeNorm.from_dict(meta["lattice_norm"])
        self.aux_names = list(meta["aux"]["names"])
        self.model = build_model(self.config.model, self.table.shape, len(self.aux_names))
        self._samplers: dict[tuple, Any] = {}
        prior = meta.get("compositions")
        prior_file = Path(path) / "compositions.json"
        if prior is None and prior_file.is_file():
            prior = json.loads(prior_file.read_text())
        #: training compositions and their row counts (None: model-only unconditional mode)
        self.composition_prior: dict[str, int] | None = prior or None

    @property
    def parameterization(self) -> str:
        """What the network predicts, ``"eps"`` or ``"v"`` (checkpoints before v: ``"eps"``)."""
        return str(self.config.diffusion.get("parameterization", "eps"))

    @property
    def grid(self) -> tuple[int, int, int]:
        """(L, H, W)."""
        return (self.max_atoms, *self.table.shape)

    @property
    def elements(self) -> list[str]:
        """The element table's symbols."""
        return list(self.table.symbols)

    # ------------------------------------------------------------------ conditioning
    def _exact_grid(self, composition: Composition) -> np.ndarray:
        """(L, H, W) ±1 ``ElementTable.occupancy``: the exact-composition channel."""
        occ = self.table.occupancy(composition, self.max_atoms)  # TooManyAtomsError beyond L
        return np.where(occ, 1.0, -1.0).astype(np.float32)

    def compositions_for(self, elements: Sequence[str], n_atoms: int) -> list[Composition]:
        """Compositions using every one of ``elements`` with ``n_atoms`` atoms in total.

        SMACT-valid compositions (charge neutral, Pauling test) are returned if there are any,
        otherwise all; each element's count is between 1 and L.
        """
        from genflow.model.validity import smact_validity

        els = list(parse_chemsys(elements))
        for e in els:
            self.table.position(e)  # clear error for an element outside the table
        options = [
            Composition(dict(zip(els, c, strict=True)))
            for c in itertools.product(range(1, self.max_atoms + 1), repeat=len(els))
            if sum(c) == n_atoms
        ]
        if not options:
            raise ValueError(
                f"no composition of {' '.join(els)} has exactly {n_atoms} atoms with 1..."
                f"{self.max_atoms} atoms per element"
            )
        valid = [c for c in options if smact_validity(c)]
        return valid or options

    def _conditions(
        self,
        n: int,
        composition: Any,
        elements: Any,
        n_atoms: int | None,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Per-sample ``exact`` (n, L, H, W) and ``types`` (n, H, W) channels + labels."""
        n_l, n_h, n_w = self.grid
        exact = np.zeros((n, n_l, n_h, n_w), np.float32)
        types = np.zeros((n, n_h, n_w), np.float32)
        if elements is not None:
            elements = list(parse_chemsys(elements))
        if composition is not None:
            if elements is not None or n_atoms is not None:
                raise ValueError("give either composition or elements/n_atoms, not both")
            many = not isinstance(composition, str | Composition | dict)
            comps = (
                [to_composition(c) for c in composition]
                if many
                else [to_composition(composition)] * n
            )
            if len(comps) != n:
                raise ValueError(f"{len(comps)} compositions given for n={n} samples")
            for i, comp in enumerate(comps):
                exact[i] = self._exact_grid(comp)
            types = np.where(exact.max(axis=1) > 0, 1.0, -1.0).astype(np.float32)
            return exact, types, [formula(c) for c in comps]
        if n_atoms is not None and not elements:
            raise ValueError("n_atoms needs elements (e.g. elements='Ba Ti O', n_atoms=5)")
        if elements and n_atoms is not None:
            options = self.compositions_for(elements, int(n_atoms))
            picks = rng.integers(len(options), size=n)
            for i, k in enumerate(picks):
                exact[i] = self._exact_grid(options[k])
            types = np.where(exact.max(axis=1) > 0, 1.0, -1.0).astype(np.float32)
            return exact, types, [formula(options[k]) for k in picks]
        if elements:
            present = np.zeros((n_h, n_w), bool)
            for e in elements:
                present[self.table.position(e)] = True
            types[:] = np.where(present, 1.0, -1.0)
            return exact, types, ["-".join(elements)] * n
        return exact, types, ["unconditional"] * n

    # ------------------------------------------------------------------ sampling
    def _sampler(self, num_steps: int, guidance: float):
        key = (num_steps, guidance)
        if key not in self._samplers:
            d = self.config.diffusion
            schedule = schedule_from_config(d)
            self._samplers[key] = make_sampler(
                self.model,
                schedule=schedule,
                num_steps=num_steps,
                gamma=d.gamma,
                guidance=guidance,
                parameterization=self.parameterization,
            )
        return self._samplers[key]

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
        composition_prior: bool = True,
    ) -> list[SampleRow]:
        """Draw ``n`` crystals, one :class:`~genflow.model.rows.SampleRow` per sample: a sample
        that does not decode is a row with its reason, the others go on.

        Parameters
        ----------
        n
            Number of samples.
        composition, elements, n_atoms
            Conditioning (module docstring); ``composition`` may also be a list of ``n``
            compositions, one per sample.
        seed
            Same seed, same checkpoint, same device type -> same structures.
        progress
            Show a rich progress bar over batches.
        num_steps
            Ancestral steps (default ``config.diffusion.num_steps``, 256).
        batch_size
            Samples per compiled call; the last batch is padded so one program serves all.
        properties
            Target auxiliary properties by name (e.g. ``{"heat_ref": -1.0}``) for
            classifier-free guidance.
        guidance
            ω of Eq. 2 (default ``config.diffusion.guidance``).
        composition_prior
            With no conditioning, draw each sample's composition from the training
            compositions when the checkpoint has them (module docstring); False: model only.

        Returns
        -------
        list[SampleRow]
            ``n`` rows; ``structure.properties`` records seed, index, conditioning.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        steps = int(num_steps or self.config.diffusion.num_steps)
        omega = float(self.config.diffusion.guidance if guidance is None else guidance)
        rng = np.random.default_rng(seed)
        unconditional = composition is None and elements is None and n_atoms is None
        if unconditional and composition_prior and self.composition_prior:
            keys = list(self.composition_prior)
            weights = np.asarray([self.composition_prior[k] for k in keys], np.float64)
            picks = rng.choice(len(keys), size=n, p=weights / weights.sum())
            composition = [keys[k].replace(" ", "") for k in picks]
        exact, types, labels = self._conditions(n, composition, elements, n_atoms, rng)
        aux = self._aux(properties)
        bs = min(batch_size, n)
        sampler = self._sampler(steps, omega)
        key = jax.random.key(seed)
        out: list[SampleRow] = []
        bar = progress_bar("sampling", total=n, enabled=progress)
        for start in range(0, n, bs):
            idx = np.arange(start, start + bs) % n  # pad the last batch by wrapping
            cond = empty_condition(bs, self.grid, len(self.aux_names))
            cond["exact"], cond["types"] = jnp.asarray(exact[idx]), jnp.asarray(types[idx])
            if aux is not None:
                cond["aux"] = jnp.broadcast_to(jnp.asarray(aux), (bs, len(aux)))
                cond["aux_mask"] = jnp.ones((bs,), jnp.float32)
            x = sampler(self.params, cond, jax.random.fold_in(key, start))
            coords = np.asarray(x["coords"])
            lattice = np.asarray(self.lattice_norm.denormalize(np.asarray(x["lattice"])))
            keep = min(bs, n - start)
            occupancy = exact[idx] > 0 if exact[idx].any() else None
            structures, errors = decode_many(
                coords[:keep], lattice[:keep], self.table, occupancy=occupancy
            )
            for j, (s, err) in enumerate(zip(structures, errors, strict=True)):
                label = labels[start + j]
                if s is None:
                    out.append(SampleRow(start + j, None, f"did not decode: {err}", label))
                    continue
                out.append(self.stamped_row(s, seed=seed, index=start + j, label=label))
            bar.update(completed=len(out))
        bar.close()
        return out

    def _aux(self, properties: dict[str, float] | None) -> np.ndarray | None:
        if not properties:
            return None
        unknown = set(properties) - set(self.aux_names)
        if unknown:
            raise ValueError(f"unknown properties {sorted(unknown)}; model has {self.aux_names}")
        missing = set(self.aux_names) - set(properties)
        if missing:
            raise ValueError(f"properties {sorted(missing)} missing; give all of {self.aux_names}")
        mean, std = np.asarray(self.meta["aux"]["mean"]), np.asarray(self.meta["aux"]["std"])
        raw = np.array([properties[k] for k in self.aux_names], np.float64)
        return ((raw - mean) / std).astype(np.float32)
