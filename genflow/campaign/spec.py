"""Campaign specification: one YAML/JSON file describes a generate → gate → relax → score run.

A spec is validated once, up front, and every error names the spec file and the field, e.g.
``quick.yaml: gate.min_distance: Input should be greater than 0``. The validated spec is a frozen
pydantic model; its :meth:`CampaignSpec.spec_hash` keys idempotent submission.

>>> spec = CampaignSpec.model_validate({"name": "demo", "generator": {"n_samples": 4}})
>>> str(spec.engine), spec.hulls, spec.categories.generate
('mlip', ('mp2021',), 'gpu')
>>> [sum(c.n_samples for c in batch) for batch in spec.batches()]
[4]
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from genflow.core.chem import chemsys_string, formula
from genflow.hull.loaders import MP_COMPATIBLE_HULLS
from genflow.workflows.mlips import DEFAULT_PRERELAX_MODEL, DEFAULT_RELAX_MODEL

__all__ = [
    "CampaignSpec",
    "CampaignSpecError",
    "Categories",
    "Condition",
    "Conditioning",
    "ConditioningMode",
    "Engine",
    "GateSettings",
    "GeneratorSettings",
    "RandomSearchSettings",
    "ReconstructionSettings",
    "RelaxSettings",
    "ScoreSettings",
    "load_spec",
]


class CampaignSpecError(ValueError):
    """A campaign spec that cannot be used; the message names the file and the field."""


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
        from genflow.model.kinds import checkpoint_kind_error

        kind = info.data.get("kind", "unimat")
        if value is None:
            return value
        if kind not in _CHECKPOINT_KINDS:
            raise ValueError(f"kind {kind!r} takes no checkpoint")
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
    force: bool = Field(
        False, description="Score non-MP-compatible (gpaw) energies against MP/GNoME hulls anyway."
    )
    audit: bool = Field(
        False,
        description="Audit each hit before reporting it (workflows.hit_audit): relax the "
        "system's reference structures and prototype decorations with the MLIP and flag "
        "hull_gap_suspected hits.",
    )
    force_field: str = Field("CHGNet", description="MLIP the hit audit relaxes with.")


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


class CampaignSpec(_Frozen):
    """A complete campaign description (see ``examples/quick.yaml``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    description: str = ""
    generator: GeneratorSettings = GeneratorSettings()
    conditioning: Conditioning = Conditioning()
    hulls: tuple[str, ...] = Field(("mp2021",), min_length=1)
    gate: GateSettings = GateSettings()
    engine: Engine = Engine.MLIP
    relax: RelaxSettings = RelaxSettings()
    score: ScoreSettings = ScoreSettings()
    hull: HullSettings = HullSettings()
    categories: Categories = Categories()
    source: str | None = Field(None, description="Spec file it was read from (set by loader).")

    @field_validator("hulls")
    @classmethod
    def _no_duplicate_hulls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"duplicate hull names in {list(value)}")
        return value

    @model_validator(mode="after")
    def _gpaw_needs_force(self) -> CampaignSpec:
        mp_like = MP_COMPATIBLE_HULLS & set(self.hulls)
        if self.engine == Engine.GPAW and mp_like and not self.score.force:
            raise ValueError(
                f"engine 'gpaw' energies are not MP2020-compatible; scoring them against "
                f"{sorted(mp_like)} is refused unless score.force is true"
            )
        return self

    @model_validator(mode="after")
    def _random_needs_compositions(self) -> CampaignSpec:
        if self.generator.kind == "random" and self.conditioning.mode == "unconditional":
            raise ValueError(
                "generator.kind 'random' needs compositions: set conditioning.mode to "
                "'compositions' or 'chemsys'"
            )
        return self

    def spec_hash(self) -> str:
        """SHA-256 (16 hex) of the spec's content, independent of name, source and key order."""
        payload = self.model_dump(mode="json", exclude={"name", "source", "description"})
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_name(self, name: str) -> CampaignSpec:
        """A copy under another campaign name (nightly: ``name-YYYY-MM-DD``)."""
        return self.model_copy(update={"name": name})

    def conditions(self) -> list[Condition]:
        """Every generation condition, each with its own seed (recorded in provenance)."""
        out = []
        for i, text in enumerate(self.conditioning.formulas()):
            out.append(
                Condition(
                    composition=text,
                    n_samples=self.generator.n_samples,
                    seed=self.generator.seed + i,
                )
            )
        return out

    def batches(self) -> list[list[Condition]]:
        """Split conditions into workflow-sized batches of at most ``batch_size`` samples."""
        size = self.generator.batch_size
        batches: list[list[Condition]] = [[]]
        count = 0
        for cond in self.conditions():
            remaining, offset = cond.n_samples, 0
            while remaining:
                if count == size:
                    batches.append([])
                    count = 0
                take = min(remaining, size - count)
                seed = cond.seed + 1000 * offset  # distinct seeds when a condition is split
                batches[-1].append(cond.model_copy(update={"n_samples": take, "seed": seed}))
                count += take
                remaining -= take
                offset += 1
        return batches

    def structure_files(self) -> list[Path]:
        """kind=structures: the files, resolved against the spec file's folder."""
        base = Path(self.source).parent if self.source else Path.cwd()
        return [(base / p).resolve() for p in self.generator.structures]


def _format_errors(path: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {field}: {msg}")
    return "\n".join(lines)


def load_spec(path: str | Path) -> CampaignSpec:
    """Read and validate a campaign spec (YAML or JSON).

    Parameters
    ----------
    path
        Spec file; ``.json`` is read as JSON, anything else as YAML.

    Returns
    -------
    CampaignSpec
        The validated spec with ``source`` set to the absolute path.

    Raises
    ------
    CampaignSpecError
        Missing/unreadable file, bad YAML/JSON, or invalid fields (one line per field).
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise CampaignSpecError(f"{path}: cannot read campaign spec: {err.strerror}") from err
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        kind = path.suffix.lstrip(".") or "YAML"
        raise CampaignSpecError(f"{path}: not valid {kind}: {err}") from None
    if not isinstance(data, dict):
        raise CampaignSpecError(f"{path}: expected a mapping of campaign fields, got {data!r}")
    data["source"] = str(path.resolve())
    try:
        spec = CampaignSpec.model_validate(data)
    except ValidationError as err:
        raise CampaignSpecError(_format_errors(str(path), err)) from None
    for file in spec.structure_files():
        if not file.exists():
            raise CampaignSpecError(f"{path}: generator.structures: {file} does not exist")
    return spec
