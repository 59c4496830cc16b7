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
import re
from pathlib import Path

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from genflow.campaign.spec_blocks import (
    Categories,
    Condition,
    Conditioning,
    Engine,
    GateSettings,
    GeneratorSettings,
    HullSettings,
    RelaxSettings,
    ScoreSettings,
    _Frozen,
)
from genflow.hull.loaders import MP_COMPATIBLE_HULLS, hull_name_error

# The blocks (GeneratorSettings, GateSettings, ...) live in genflow.campaign.spec_blocks.
__all__ = [
    "CAMPAIGN_NAME_MAX",
    "CampaignSpec",
    "CampaignSpecError",
    "check_campaign_name",
    "load_spec",
]

#: Longest campaign name: a spec name (<= 100) plus a nightly ``-YYYY-MM-DD`` suffix fits.
CAMPAIGN_NAME_MAX = 128
# A campaign name becomes a directory name (DATA_DIR/runs/<name>) and a database key: letters,
# digits and ``._-`` only, never a path (no ``/``, no leading dot: ``..`` cannot escape).
_NAME_RE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{CAMPAIGN_NAME_MAX - 1}}}")


class CampaignSpecError(ValueError):
    """A campaign spec that cannot be used; the message names the file and the field."""


def check_campaign_name(name: str, field: str = "name") -> str:
    """Return ``name`` if it is a safe campaign name, else raise naming ``field``.

    A safe name is 1 to :data:`CAMPAIGN_NAME_MAX` letters, digits, ``.``, ``_`` or ``-``,
    starting with a letter or digit: it can never name a path outside the run directory.

    Raises
    ------
    CampaignSpecError
        ``"<field>: '<name>' is not a campaign name: ..."`` (long names are shortened).
    """
    if isinstance(name, str) and _NAME_RE.fullmatch(name):
        return name
    shown = repr(name) if len(str(name)) <= 60 else f"{str(name)[:40]!r}... ({len(name)} chars)"
    raise CampaignSpecError(
        f"{field}: {shown} is not a campaign name: use 1-{CAMPAIGN_NAME_MAX} letters, digits, "
        "'.', '_' or '-', starting with a letter or digit (a name, never a path)"
    )


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
        # every hull resolved now: a typo must fail before a candidate is written, not leave
        # the candidates unscored in a campaign that says "completed"
        errors = [err for name in value if (err := hull_name_error(name))]
        if errors:
            raise ValueError("; ".join(errors))
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
