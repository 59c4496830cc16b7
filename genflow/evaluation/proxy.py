"""Proxy metrics of a generated set against a reference set (CDVAE's, plus S.U.N.).

Every definition follows the code that produced the published tables:

* validity (CDVAE ``scripts/compute_metrics.py``, ``GenEval.get_validity``): fraction of *all*
  generated rows (unreadable ones count as invalid) passing
  :func:`~genflow.model.validity.cdvae_structure_validity` (structure), CDVAE's
  :func:`~genflow.model.validity.smact_validity` (composition), and both plus a buildable
  structure fingerprint (``valid``);
* coverage (CDVAE ``scripts/eval_utils.py::compute_cov``): :func:`coverage`;
* Wasserstein distances (``GenEval.get_density_wdist`` / ``get_num_elem_wdist``): density
  (g/cm³) and number of distinct elements of the *valid* samples against the reference.
  CDVAE subsampled 1,000 valid samples; here every valid sample is used. The property
  Wasserstein of CDVAE used a learned property model; ``wdist_energy`` here compares energies
  per atom from whatever energies the sets carry (e.g. an MLIP's) and says so;
* uniqueness and novelty (DiffCSP/MatterGen usage, pymatgen ``StructureMatcher`` defaults via
  :class:`~genflow.workflows.gate.dedupe.StructureIndex`): ``uniqueness`` = unique valid
  samples / valid samples (a sample is unique if it matches no earlier valid sample);
  ``novelty`` = unique samples matching no reference structure / unique samples;
* sites per sample against the reference (``sites_*`` keys,
  :mod:`genflow.evaluation.atom_counts`);
* S.U.N. and M.S.U.N. (MatterGen, Zeni et al. 2025; the one rule,
  :func:`genflow.core.candidates.sun_flags`): E_d ≤ 0 (≤ 0.1) eV/atom on the named hull,
  unique and novel against the named reference set of stated size, over all generated rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist
from scipy.stats import wasserstein_distance

from genflow.core.candidates import MSUN_MAX_ED, SUN_MAX_ED, sun_counts
from genflow.evaluation.atom_counts import site_count_metrics
from genflow.evaluation.features import Fingerprints, featurise, standardise_composition
from genflow.evaluation.sets import StructureSet, dataset_of
from genflow.model.validity import cdvae_structure_validity, smact_validity

__all__ = ["COV_CUTOFFS", "PUBLISHED_TABLES", "coverage", "proxy_metrics"]

# CDVAE ``scripts/compute_metrics.py`` ``COV_Cutoffs`` (structure, composition)
COV_CUTOFFS = {
    "mp20": {"struc": 0.4, "comp": 10.0},
    "carbon": {"struc": 0.2, "comp": 4.0},
    "perovskite": {"struc": 0.2, "comp": 4.0},
}
PUBLISHED_TABLES = (
    "CDVAE (Xie et al. 2022) Table 3 and UniMat (Yang et al. 2023) Table 1, generation task on "
    "the {dataset} test split; DiffCSP (Jiao et al. 2023) Table 4 for validity/COV/Wasserstein"
)


def coverage(
    gen_fps: Sequence[Fingerprints | None],
    ref_fps: Sequence[Fingerprints],
    *,
    struc_cutoff: float,
    comp_cutoff: float,
) -> dict[str, float]:
    r"""COV-R, COV-P, AMSD and AMCD (CDVAE ``compute_cov``).

    With structure distances :math:`d^s_{ij} = \lVert f^s_i - g^s_j \rVert_2` (raw CrystalNN
    means) and composition distances :math:`d^c_{ij}` between standardised Magpie vectors
    (:func:`~genflow.evaluation.features.standardise_composition`), for generated i and
    reference j:

    .. math::
        \mathrm{COV\text{-}R} = \frac{1}{N_{ref}} \sum_j \mathbb 1[\min_i d^s_{ij} \le \delta_s
            \wedge \min_i d^c_{ij} \le \delta_c], \quad
        \mathrm{COV\text{-}P} = \frac{1}{N_{gen}} \sum_i \mathbb 1[\min_j d^s_{ij} \le \delta_s
            \wedge \min_j d^c_{ij} \le \delta_c]

    AMSD/AMCD-R (-P) are the means of :math:`\min_i d_{ij}` (:math:`\min_j d_{ij}`).
    Generated rows without fingerprints are dropped from the distances but stay in
    :math:`N_{gen}` (CDVAE: "use number of crystal before filtering"). The minimum over each
    structure and over each composition are taken separately, as CDVAE does.
    """
    n_gen = len(gen_fps)
    kept = [f for f in gen_fps if f is not None and f.structure is not None]
    refs = [f for f in ref_fps if f.structure is not None]
    if not kept or not refs:
        nan = math.nan
        return dict.fromkeys(
            ("cov_recall", "cov_precision", "amsd_recall", "amsd_precision", "amcd_recall",
             "amcd_precision"), nan)  # fmt: skip
    s_gen = np.array([f.structure for f in kept])
    s_ref = np.array([f.structure for f in refs])
    c_gen = standardise_composition([f.composition for f in kept])
    c_ref = standardise_composition([f.composition for f in refs])
    d_s, d_c = cdist(s_gen, s_ref), cdist(c_gen, c_ref)
    s_rec, s_prec = d_s.min(axis=0), d_s.min(axis=1)
    c_rec, c_prec = d_c.min(axis=0), d_c.min(axis=1)
    return {
        "cov_recall": float(np.mean((s_rec <= struc_cutoff) & (c_rec <= comp_cutoff))),
        "cov_precision": float(np.sum((s_prec <= struc_cutoff) & (c_prec <= comp_cutoff)) / n_gen),
        "amsd_recall": float(s_rec.mean()),
        "amsd_precision": float(s_prec.mean()),
        "amcd_recall": float(c_rec.mean()),
        "amcd_precision": float(c_prec.mean()),
    }


def _unique_novel(
    valid_idx: list[int], samples: StructureSet, reference: StructureSet, progress: bool
) -> tuple[list[int], list[int]]:
    """Indices of unique valid samples, and of those matching no reference structure."""
    from genflow.core.progress import track
    from genflow.workflows.gate.dedupe import StructureIndex

    seen, ref_index = StructureIndex(), StructureIndex()
    ref_index.add_many(
        (k, s) for k, s in zip(reference.keys, reference.structures, strict=True) if s
    )
    unique, novel = [], []
    for i in track(valid_idx, "uniqueness/novelty", enabled=progress):
        s = samples.structures[i]
        if seen.find(s) is not None:
            continue
        seen.add(str(i), s)
        unique.append(i)
        if ref_index.find(s) is None:
            novel.append(i)
    return unique, novel


def proxy_metrics(
    samples: StructureSet,
    reference: StructureSet,
    *,
    dataset: str | None = None,
    e_d: Sequence[float | None] | None = None,
    energy_source: str | None = None,
    sun_hull: str | None = None,
    processes: int | None = None,
    cache_dir: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """All proxy metrics of ``samples`` against ``reference`` (see the module docstring).

    Parameters
    ----------
    samples, reference
        The generated set and the reference (CDVAE: the dataset's test split).
    dataset
        ``perovskite``, ``carbon`` or ``mp20`` (CDVAE names; picks COV cutoffs). Default:
        from the reference's bundled name, else ``mp20``.
    e_d
        Decomposition energies (eV/atom) aligned with ``samples`` for S.U.N.; None skips it.
    energy_source
        Where the sets' energies come from, for the output's note (e.g. ``"MLIP CHGNet,
        single point"``); None: the energies the input files carry.
    sun_hull
        Name of the hull ``e_d`` was computed on (recorded with the S.U.N. rate).
    """
    dataset = dataset or dataset_of(reference.name) or "mp20"
    if dataset not in COV_CUTOFFS:
        raise ValueError(f"dataset {dataset!r}: want one of {', '.join(COV_CUTOFFS)}")
    n = len(samples)
    if n == 0:
        raise ValueError(f"{samples.name}: no samples")
    # 1. validity of every row
    struct_ok = [s is not None and cdvae_structure_validity(s) for s in samples.structures]
    comp_ok = []
    for s in samples.structures:
        try:
            comp_ok.append(s is not None and smact_validity(s.composition))
        except ValueError:
            comp_ok.append(False)
    # 2. fingerprints (cached, parallel) of every readable sample and the reference
    # an empty cell (a sample that decoded to no atoms) has no fingerprint: invalid, not a crash
    readable = [i for i, s in enumerate(samples.structures) if s is not None and len(s)]
    fps = featurise(
        [samples.structures[i] for i in readable], processes=processes, cache_dir=cache_dir,
        progress=progress, description="fingerprints (samples)",
    )  # fmt: skip
    gen_fps: list[Fingerprints | None] = [None] * n
    for i, fp in zip(readable, fps, strict=True):
        gen_fps[i] = fp
    ref_fps = featurise(
        reference.ok, processes=processes, cache_dir=cache_dir, progress=progress,
        description="fingerprints (reference)",
    )  # fmt: skip
    valid = [
        struct_ok[i] and comp_ok[i] and gen_fps[i] is not None and gen_fps[i].structure is not None
        for i in range(n)
    ]
    valid_idx = [i for i in range(n) if valid[i]]
    out: dict[str, Any] = {
        "samples": samples.name,
        "reference": reference.name,
        "dataset": dataset,
        "compare_with": PUBLISHED_TABLES.format(dataset=dataset),
        "n_samples": n,
        "n_unreadable": sum(s is None for s in samples.structures),
        "n_reference": len(reference.ok),
        "struct_valid": float(np.mean(struct_ok)),
        "comp_valid": float(np.mean(comp_ok)),
        "valid": float(np.mean(valid)),
    }
    # sites per sample vs the reference (atom-count diagnostics, issue 24)
    out.update(site_count_metrics(samples.structures, reference.ok))
    # 3. coverage with CDVAE's cutoffs
    cut = COV_CUTOFFS[dataset]
    out.update(coverage(gen_fps, ref_fps, struc_cutoff=cut["struc"], comp_cutoff=cut["comp"]))
    out["cov_cutoffs"] = dict(cut)
    # 4. Wasserstein distances of valid samples to the reference
    vs = [samples.structures[i] for i in valid_idx]
    ref = reference.ok
    if vs and ref:
        out["wdist_density"] = float(
            wasserstein_distance([s.density for s in vs], [s.density for s in ref])
        )
        out["wdist_num_elems"] = float(
            wasserstein_distance(
                [len(s.composition) for s in vs], [len(s.composition) for s in ref]
            )
        )
    else:
        out["wdist_density"] = out["wdist_num_elems"] = math.nan
    e_gen = [samples.energies[i] for i in valid_idx if samples.energies[i] is not None]
    e_ref = [e for e, s in zip(reference.energies, reference.structures, strict=True) if s and e]
    if e_gen and e_ref:
        out["wdist_energy"] = float(wasserstein_distance(e_gen, e_ref))
        source = energy_source or "the energies the input files carry"
        out["wdist_energy_note"] = (
            f"energy per atom (eV/atom) from {source}, on valid samples vs the reference; "
            "CDVAE's wdist_prop used a learned property model instead"
        )
        out["n_energies"] = [len(e_gen), len(e_ref)]
    # 5. uniqueness, novelty, S.U.N.
    unique, novel = _unique_novel(valid_idx, samples, reference, progress)
    out["n_valid"], out["n_unique"], out["n_novel"] = len(valid_idx), len(unique), len(novel)
    out["uniqueness"] = len(unique) / len(valid_idx) if valid_idx else math.nan
    out["novelty"] = len(novel) / len(unique) if unique else math.nan
    if e_d is not None:
        if len(e_d) != n:
            raise ValueError(f"e_d has {len(e_d)} values for {n} samples")
        # the one S.U.N. rule (genflow.core.candidates.sun_flags): a row that is no unique
        # valid sample counts as a duplicate, one matching a reference as known
        unique_set, novel_set = set(unique), set(novel)
        rows = [
            (e_d[i], None if i in unique_set else "not unique",
             "novel" if i in novel_set else "known")
            for i in range(n)
        ]  # fmt: skip
        out.update(sun_counts(rows, n))
        out["sun_hull"] = sun_hull
        out["sun_reference"] = {"name": reference.name, "n": len(reference.ok)}
        out["sun_note"] = (
            f"S.U.N.: E_d ≤ {SUN_MAX_ED} eV/atom (M.S.U.N.: ≤ {MSUN_MAX_ED}) on "
            f"{sun_hull or 'the given hull'}{' from ' + energy_source if energy_source else ''}, "
            f"unique among the samples and matching none of the {len(reference.ok)} structures "
            f"of {reference.name}, over all {n} rows"
        )
    return out
