"""The blocks of a campaign spec: generator, conditioning, gate, relax, score, hull, categories.

Each block is a frozen pydantic model with a description on every field; :mod:`.spec` puts them
together into :class:`~genflow.campaign.spec.CampaignSpec` and loads spec files.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from genflow.core.chem import chemsys_string, formula
from genflow.workflows.mlips import DEFAULT_PRERELAX_MODEL, DEFAULT_RELAX_MODEL

__all__ = [
    "Categories",
    "Condition",
    "Conditioning",
    "ConditioningMode",
    "Engine",
    "GateSettings",
    "GeneratorSettings",
    "HullSettings",
    "PrerelaxSettings",
    "RandomSearchSettings",
    "ReconstructionSettings",
    "RelaxSettings",
    "ScoreSettings",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Engine(StrEnum):
    """Relax+static engines (see ``genflow.workflows.relax``)."""

    VASP = "vasp"
    MLIP = "mlip"
    GPAW = "gpaw"


class ConditioningMode(StrEnum):
    """How the generator is conditioned."""

    UNCONDITIONAL = "unconditional"
    COMPOSITIONS = "compositions"
    CHEMSYS = "chemsys"


class ReconstructionSettings(_Frozen):
    """StructRepDiff's basin-hopping reconstruction; None keeps the checkpoint's config."""

    trials: int | None = Field(None, gt=0, description="Independent random starts (paper: 6).")
    hops: int | None = Field(None, gt=0, description="Descents per trial (paper: 7).")
    iters: int | None = Field(None, gt=0, description="Adam steps per descent (paper: 300).")


class RandomSearchSettings(_Frozen):
    """The AIRSS-style random search (``genflow.model.random_search``)."""

    volume_scale: tuple[float, float] = Field(
        (0.4, 1.2), description="Target volume range, × the summed atomic-sphere volumes."
    )
    sphere_factor: float = Field(0.5, gt=0, description="Soft-sphere radius / atomic radius.")
    max_attempts: int = Field(20, gt=0, description="Draws per structure before it is a row.")

    @field_validator("volume_scale")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1]:
            raise ValueError(f"need 0 < low <= high, got {list(value)}")
        return value


_CHECKPOINT_KINDS = ("unimat", "structrepdiff")


class GeneratorSettings(_Frozen):
    """Which generator runs and how many samples it draws."""

    kind: Literal["unimat", "structrepdiff", "random", "structures"] = Field(
        "unimat",
        description="`unimat` / `structrepdiff`: a diffusion checkpoint; `random`: the "
        "AIRSS-style random-search baseline (needs compositions); `structures`: import the "
        "given structure files as candidates (external generators, tests, re-validation).",
    )
    checkpoint: str | None = Field(
        None,
        description="unimat/structrepdiff: bundled name (`unimat-perov5`, "
        "`structrepdiff-perov5`) or checkpoint directory; None = the kind's bundled one.",
    )
    n_samples: int = Field(
        8, gt=0, description="Samples per condition (per composition; total if unconditional)."
    )
    seed: int = Field(0, ge=0, description="Base seed; batch i samples with seed + i.")
    batch_size: int = Field(
        64, gt=0, description="Maximum samples per FireWorks workflow (one generate job each)."
    )
    steps: int | None = Field(
        None,
        gt=0,
        description="unimat/structrepdiff: ancestral diffusion steps; None = the checkpoint's "
        "config (UniMat 256, StructRepDiff 2000). Fewer is faster and rougher.",
    )
    reconstruction: ReconstructionSettings | None = Field(
        None, description="structrepdiff: reconstruction trials / hops / iters."
    )
    random: RandomSearchSettings | None = Field(
        None, description="random: search parameters (None = defaults)."
    )
    structures: tuple[str, ...] = Field(
        (), description="kind=structures: CIF / JSON / extxyz files, relative to the spec file."
    )

    @field_validator("checkpoint")
    @classmethod
    def _checkpoint_fits_kind(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A checkpoint only for checkpoint kinds, and of the same model as the kind."""
        from pathlib import Path

        from genflow.model.registry import CHECKPOINTS, checkpoint_kind_error

        kind = info.data.get("kind", "unimat")
        if value is None:
            return value
        if kind not in _CHECKPOINT_KINDS:
            raise ValueError(f"kind {kind!r} takes no checkpoint")
        if value not in CHECKPOINTS and not Path(value).expanduser().is_dir():
            raise ValueError(
                f"unknown checkpoint {value!r}: not a bundled name ({', '.join(CHECKPOINTS)}) "
                "and no such directory"
            )
        if err := checkpoint_kind_error(kind, value):
            raise ValueError(f"{err} (generator.kind is {kind!r})")
        return value

    @model_validator(mode="after")
    def _kind_options(self) -> GeneratorSettings:
        if self.kind == "structures" and not self.structures:
            raise ValueError("kind 'structures' needs a non-empty `structures` list of files")
        if self.steps is not None and self.kind not in _CHECKPOINT_KINDS:
            raise ValueError(f"`steps` is for unimat/structrepdiff, not kind {self.kind!r}")
        if self.reconstruction is not None and self.kind != "structrepdiff":
            raise ValueError(f"`reconstruction` is for structrepdiff, not kind {self.kind!r}")
        if self.random is not None and self.kind != "random":
            raise ValueError(f"`random` is for kind random, not kind {self.kind!r}")
        return self

    def sample_options(self) -> dict[str, Any]:
        """Options of ``genflow.model.kinds.make_generator`` (what provenance records)."""
        if self.kind == "random":
            return (self.random or RandomSearchSettings()).model_dump(mode="json")
        options: dict[str, Any] = {}
        if self.steps is not None:
            options["num_steps"] = self.steps
        if self.reconstruction is not None:
            recon = self.reconstruction.model_dump(exclude_none=True)
            if recon:
                options["recon"] = recon
        return options


class Condition(_Frozen):
    """One generation condition: a batch of samples for a composition (or none)."""

    composition: str | None = None
    n_samples: int
    seed: int


class Conditioning(_Frozen):
    """Unconditional, an explicit composition list, or a SMACT-filtered chemical-system scan."""

    mode: ConditioningMode = ConditioningMode.UNCONDITIONAL
    compositions: tuple[str, ...] = ()
    chemsys: str | None = Field(None, description="e.g. 'Li-Fe-O' (mode chemsys).")
    max_coefficient: int = Field(4, gt=0, le=20, description="Largest stoichiometric coefficient.")

    @field_validator("compositions")
    @classmethod
    def _valid_compositions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Each composition checked and spelled the one way (``"Ba1 Ti1 O3"`` → ``"BaTiO3"``)."""
        out = []
        for i, text in enumerate(value):
            try:
                out.append(formula(text))
            except ValueError as err:
                raise ValueError(f"compositions[{i}] {text!r}: {err}") from err
        return tuple(out)

    @field_validator("chemsys")
    @classmethod
    def _valid_chemsys(cls, value: str | None) -> str | None:
        """Checked and spelled sorted, dash-joined (``"Li Fe O"`` → ``"Fe-Li-O"``)."""
        return None if value is None else chemsys_string(value)

    @model_validator(mode="after")
    def _mode_has_inputs(self) -> Conditioning:
        if self.mode == ConditioningMode.COMPOSITIONS and not self.compositions:
            raise ValueError("mode 'compositions' needs a non-empty `compositions` list")
        if self.mode == ConditioningMode.CHEMSYS and not self.chemsys:
            raise ValueError("mode 'chemsys' needs `chemsys`, e.g. 'Li-Fe-O'")
        return self

    def formulas(self) -> list[str | None]:
        """Compositions to condition on (``[None]`` when unconditional)."""
        if self.mode == ConditioningMode.UNCONDITIONAL:
            return [None]
        if self.mode == ConditioningMode.COMPOSITIONS:
            return list(self.compositions)
        from genflow.model.scan import enumerate_compositions

        return enumerate_compositions(self.chemsys, self.max_coefficient).formulas


def _known_mlip(name: str) -> str:
    from genflow.workflows.mlips import resolve_mlip

    resolve_mlip(name)  # raises ValueError listing the known names
    return name


class PrerelaxSettings(_Frozen):
    """The gate's MLIP pre-relax (``genflow.workflows.gate.prerelax``)."""

    # the fast model (CHGNet): why, in genflow.workflows.mlips next to the constant
    model: str = Field(
        DEFAULT_PRERELAX_MODEL,
        description="MLIP registry key or atomate2 force-field name (genflow.workflows.mlips); "
        "default chosen from benchmarks/bench_mlip_accuracy.py.",
    )
    calculator_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Updates the model's calculator kwargs."
    )
    method: Literal["batched", "atomate2"] = Field(
        "batched", description="One batched optimiser for the whole batch, or one job each."
    )

    _check_model = field_validator("model")(classmethod(lambda cls, v: _known_mlip(v)))


class GateSettings(_Frozen):
    """Gate checks; the functions themselves live in ``genflow.workflows.gate``."""

    min_distance: float = Field(0.5, gt=0, description="Minimum interatomic distance (Å).")
    smact: bool = Field(True, description="Require SMACT charge neutrality.")
    dedupe: bool = Field(True, description="Reject duplicates (batch and every earlier campaign).")
    dedupe_workers: int = Field(
        1,
        ge=1,
        description="Processes for the duplicate search against stored candidates (forked; "
        "worth it from about 10^3 new rows; same answers for any value).",
    )
    novelty: Literal["reject", "flag", "off"] = Field(
        "reject",
        description="A match of a reference structure (`genflow refs`): reject it, keep it "
        "flagged (gate.novel = false), or skip the check; true/false mean reject/off.",
    )
    prescreen: bool = Field(True, description="MLIP pre-relax of every survivor.")
    prescreen_max_ed: float | None = Field(
        None,
        description="Reject if the pre-relaxed E_d (eV/atom, MP2020 scale) on the first hull "
        "exceeds this; None keeps all.",
    )
    prerelax: PrerelaxSettings = PrerelaxSettings()

    @field_validator("novelty", mode="before")
    @classmethod
    def _novelty_bool(cls, value: Any) -> Any:
        return ("reject" if value else "off") if isinstance(value, bool) else value


class RelaxSettings(_Frozen):
    """Engine settings passed to ``relax_static_maker(engine, **kwargs)``."""

    # the accurate model (SevenNet 7net-l3i5): why, in genflow.workflows.mlips
    force_field: str = Field(
        DEFAULT_RELAX_MODEL,
        description="mlip engine: MLIP registry key or atomate2 force-field name; default "
        "chosen from benchmarks/bench_mlip_accuracy.py.",
    )
    calculator_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="mlip engine: updates the model's calculator kwargs."
    )
    fmax: float = Field(0.05, gt=0, description="Force convergence (eV/Å) for mlip/gpaw.")
    steps: int = Field(500, gt=0, description="Maximum optimiser steps for mlip/gpaw.")
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra keyword arguments for the engine's maker."
    )

    _check_model = field_validator("force_field")(classmethod(lambda cls, v: _known_mlip(v)))


class ScoreSettings(_Frozen):
    """Scoring options."""

    hit_threshold: float | None = Field(
        None, description="E_d (eV/atom) below which a candidate is a hit; None = settings."
    )
    implausible_below: float | None = Field(
        None,
        description="E_d (eV/atom) below which a score is implausible (a unit slip, a broken "
        "calculation): stored, marked `implausible` with the reason, never a hit; None = "
        "settings (IMPLAUSIBLE_E_D), as `genflow hull score --implausible-below`.",
    )
    force: bool = Field(
        False, description="Score non-MP-compatible (gpaw) energies against MP/GNoME hulls anyway."
    )
    audit: bool = Field(
        True,
        description="Audit each hit before reporting it (workflows.hit_audit): relax the "
        "system's reference structures and prototype decorations with the MLIP and flag "
        "hull_gap_suspected hits. On by default (false turns it off); each (chemical "
        "system, MLIP, hull) is relaxed once and cached, and the cost is logged.",
    )
    force_field: str = Field("CHGNet", description="MLIP the hit audit relaxes with.")

    _check_model = field_validator("force_field")(classmethod(lambda cls, v: _known_mlip(v)))


class HullSettings(_Frozen):
    """Hull options."""

    rounds: bool = Field(
        False,
        description="Fold stable hits into the next round of each hull (hull.rounds) after "
        "scoring and re-score the affected candidates.",
    )


class Categories(_Frozen):
    """FireWorks categories (``_category``) each stage is routed to."""

    generate: str = "gpu"
    gate: str = "cpu"
    relax: str = "hpc"
    score: str = "cpu"
