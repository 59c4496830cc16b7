"""Campaign Makers: generate → gate (+ MLIP pre-relax) → relax+static fan-out → score.

atomate2-style ``@dataclass`` Makers. Each job reaches the candidate store through the JobStore
it runs with (:func:`genflow.workflows.job_store.candidate_stores`), so no connection string is
serialised into a workflow, and every write is idempotent so a FireWorks lost-run rerun repeats
a job safely. FireWorks routing is data: each job's ``config.manager_config["_category"]``
comes from the spec's ``categories`` block.

>>> maker = CampaignMaker(score_maker=None)
>>> maker.score_maker is None, maker.gate_maker.name
(True, 'gate')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, JobConfig, Maker, Response, job
from jobflow.core.reference import OnMissing
from pymatgen.core import Structure

from genflow.core.candidates import CandidateKey as K
from genflow.workflows.gate.decisions import gate_candidates
from genflow.workflows.generate import import_structures, sample_candidates
from genflow.workflows.job_store import candidate_stores
from genflow.workflows.score import record_and_score, relax_outputs

__all__ = [
    "CampaignMaker",
    "FanOutMaker",
    "GateMaker",
    "GenerateMaker",
    "ImportStructuresMaker",
    "ScoreMaker",
    "campaign_job",
    "relax_and_score_flow",
    "set_category",
    "tolerate_failed_parents",
]

#: ``@job`` for campaign jobs: jobflow exposes the JobStore to them (``CURRENT_JOB.store``),
#: which is how they find the candidate database. jobflow deep-copies the config per job.
campaign_job = job(config=JobConfig(expose_store=True))


def tolerate_failed_parents(job_: Any) -> Any:
    """Let a job run when parents failed (missing outputs → None; FireWorks:
    ``_allow_fizzled_parents``). Set on the job, not the decorator: only score jobs want it."""
    job_.config.on_missing_references = OnMissing.NONE
    return job_


def set_category(job_or_flow: Any, category: str | None) -> Any:
    """Route a job or every job of a flow to a FireWorks category (in place; returns it)."""
    if category:
        # dynamic=False: a dynamic update would also be applied to every job this one
        # creates at run time (the gate's fan-out would inherit the gate's category).
        job_or_flow.update_config({"manager_config": {"_category": category}}, dynamic=False)
    return job_or_flow


@dataclass
class GenerateMaker(Maker):
    """Sample the generator for each condition and insert candidates in bulk.

    A sample that fails is a ``rejected`` row with its reason; the rest go on.

    Parameters
    ----------
    name
        Job name.
    checkpoint
        Generator checkpoint: bundled name or directory (None = the kind's bundled one).
    kind
        ``unimat``, ``structrepdiff`` or ``random`` (``genflow.model.kinds``).
    options
        Sampling options of the kind (``num_steps``, ``recon``, random-search parameters);
        recorded in every candidate's provenance.
    """

    name: str = "generate"
    checkpoint: str | None = None
    kind: str = "unimat"
    options: dict = field(default_factory=dict)

    @campaign_job
    def make(self, campaign: str, conditions: list[dict]) -> list[str]:
        """Return the ids of the candidates of this batch (new and previously inserted)."""
        with candidate_stores() as stores:
            return sample_candidates(
                stores, campaign, conditions, self.checkpoint, kind=self.kind,
                options=self.options,
            )  # fmt: skip


@dataclass
class ImportStructuresMaker(Maker):
    """Insert given structures as candidates (other generators, re-validation, tests).

    Each unreadable record (malformed, unknown element, partial occupancy) becomes a
    ``rejected`` row with its reason, so a bad record never hides the rest of its file.
    """

    name: str = "import structures"

    @campaign_job
    def make(self, campaign: str, sources: list[dict]) -> list[str]:
        """``sources``: ``{"name": file name, "text": file content}`` dicts."""
        with candidate_stores() as stores:
            return import_structures(stores, campaign, sources)


@dataclass
class GateMaker(Maker):
    """Gate a batch: cheap checks, dedupe, novelty, MLIP pre-relax and pre-screen.

    Parameters
    ----------
    name
        Job name.
    min_distance, smact, dedupe
        Gate checks (see ``genflow.workflows.gate``).
    dedupe_workers
        Processes for the duplicate search against stored candidates (``find_duplicates``).
    novelty
        ``"reject"`` (default), ``"flag"`` or ``"off"``: what a match of a structure in the
        ``references`` collection does (``genflow.workflows.references``).
    prescreen
        MLIP pre-relax of the survivors (and, with ``prescreen_max_ed``, the E_d pre-screen).
    prescreen_max_ed
        Reject survivors whose pre-relaxed E_d (eV/atom) on ``hull`` exceeds this.
    hull
        Hull for the pre-screen.
    prerelax_model, prerelax_kwargs, prerelax_method
        MLIP of the pre-relax (``genflow.workflows.mlips``; None: the registry default), its
        calculator kwargs, and ``"batched"`` or ``"atomate2"``.
    """

    name: str = "gate"
    min_distance: float = 0.5
    smact: bool = True
    dedupe: bool = True
    dedupe_workers: int = 1
    novelty: str = "reject"
    prescreen: bool = True
    prescreen_max_ed: float | None = None
    hull: str = "mp2021"
    prerelax_model: str | None = None
    prerelax_kwargs: dict = field(default_factory=dict)
    prerelax_method: str = "batched"

    @campaign_job
    def make(self, campaign: str, candidate_ids: list[str]) -> dict:
        """Write every decision; return counts and the survivors (id → structure dict)."""
        from genflow.core.progress import stage

        checks = "validity, SMACT, duplicates, novelty" + (", pre-relax" if self.prescreen else "")
        stage(f"gating {len(candidate_ids)} candidates ({checks})")
        with candidate_stores() as stores:
            return gate_candidates(
                stores,
                candidate_ids,
                min_distance=self.min_distance,
                smact=self.smact,
                dedupe=self.dedupe,
                dedupe_workers=self.dedupe_workers,
                novelty=self.novelty,
                prerelax=self.prescreen,
                prescreen_max_ed=self.prescreen_max_ed,
                hull=self.hull,
                prerelax_model=self.prerelax_model,
                prerelax_kwargs=dict(self.prerelax_kwargs),
                prerelax_method=self.prerelax_method,
            )


@dataclass
class ScoreMaker(Maker):
    """Record relax+static results and score them on the campaign's hulls; mark hits.

    Parameters
    ----------
    name
        Job name.
    hulls
        Hull names or files for ``genflow.hull.load_hull``.
    engine
        Engine that produced the energies (``vasp`` energies get MP2020 corrections).
    force
        Score non-MP-compatible (gpaw) energies against MP/GNoME hulls anyway.
    hit_threshold
        E_d (eV/atom) below which a score is a hit (None = ``HIT_THRESHOLD`` setting).
    audit, force_field
        Audit hits with this MLIP (``workflows.hit_audit``); on by default, as in a spec.
    rounds
        Fold stable hits into the next hull round (``hull.rounds``).
    implausible_below
        E_d (eV/atom) below which a score is marked implausible, never a hit (None =
        ``IMPLAUSIBLE_E_D`` setting; ``genflow.hull.records.apply_window``).
    """

    name: str = "score"
    hulls: tuple[str, ...] = ("mp2021",)
    engine: str = "mlip"
    force: bool = False
    hit_threshold: float | None = None
    audit: bool = True
    force_field: str = "CHGNet"
    rounds: bool = False
    implausible_below: float | None = None

    @campaign_job
    def make(self, campaign: str, results: dict[str, dict]) -> dict:
        """``results``: candidate id → {"output": static task doc | None, "uuids": [...]}.

        Meant to run even if some relaxes failed (see :func:`tolerate_failed_parents`):
        their outputs resolve to None and are recorded as failed rows, as the MatterGen
        evaluator counts failed jobs.
        """
        with candidate_stores() as stores:
            return record_and_score(
                stores,
                results,
                hulls=list(self.hulls),
                engine=self.engine,
                force=self.force,
                hit_threshold=self.hit_threshold,
                audit=self.audit,
                force_field=self.force_field,
                rounds=self.rounds,
                implausible_below=self.implausible_below,
            )


@dataclass
class FanOutMaker(Maker):
    """One relax+static flow per gate survivor, then one score job for the batch (dynamic).

    Parameters
    ----------
    name
        Job name.
    relax_maker
        Engine Maker (``relax_static_maker(engine)``) applied to each survivor.
    score_maker
        Scores the batch once all its relaxes have finished (None: stop after relax).
    relax_category, score_category
        FireWorks categories of the jobs it creates.
    """

    name: str = "fan-out"
    relax_maker: Maker | None = None
    score_maker: ScoreMaker | None = field(default_factory=ScoreMaker)
    relax_category: str | None = "hpc"
    score_category: str | None = "cpu"

    @job
    def make(self, campaign: str, gate_summary: dict) -> Response:
        """Add the relax+static flows and the score job; output the gate summary."""
        survivors = gate_summary["survivors"]
        summary = {**gate_summary, "survivors": sorted(survivors)}
        if self.relax_maker is None or not survivors:
            return Response(output=summary)
        flow = relax_and_score_flow(
            campaign, survivors, self.relax_maker, self.score_maker,
            relax_category=self.relax_category, score_category=self.score_category,
        )  # fmt: skip
        return Response(output=summary, addition=flow)


def relax_and_score_flow(
    campaign: str,
    survivors: dict[str, Structure | dict],
    relax_maker: Maker,
    score_maker: ScoreMaker | None,
    *,
    relax_category: str | None = None,
    score_category: str | None = None,
    relax_spec: dict | None = None,
) -> Flow:
    """One relax+static flow per candidate, then one score job over them all.

    The fan-out adds this at run time; ``genflow campaign rerun`` builds it up front.
    ``relax_spec`` goes into every relax job's FireWorks spec (``manager_config``), e.g.
    ``{"_queueadapter": {"walltime": "48:00:00"}}``.
    """
    flows, results = [], {}
    for cid, structure in survivors.items():
        # The gate's output went through the JobStore, where monty revived the dicts.
        if not isinstance(structure, Structure):
            structure = Structure.from_dict(structure)
        flow = relax_maker.make(structure)
        flow.name = f"{flow.name} {cid}"
        flow.update_metadata({"genflow_campaign": campaign, K.CANDIDATE_ID.value: cid})
        set_category(flow, relax_category)
        if relax_spec:  # manager_config is replaced as a whole: keep the category in it
            config = {**({"_category": relax_category} if relax_category else {}), **relax_spec}
            flow.update_config({"manager_config": config}, dynamic=False)
        flows.append(flow)
        results[cid] = relax_outputs(flow)
    if score_maker is not None:
        score = tolerate_failed_parents(score_maker.make(campaign, results))
        set_category(score, score_category)
        score.update_metadata({"genflow_campaign": campaign})
        flows.append(score)
    return Flow(flows, name=f"{campaign} relax+score")


@dataclass
class CampaignMaker(Maker):
    """A campaign batch: generate → gate → fan-out (relax+static per survivor) → score.

    Parameters
    ----------
    name
        Flow name.
    generate_maker
        ``GenerateMaker`` or ``ImportStructuresMaker``.
    gate_maker
        The gate; None keeps only structure validity (NaN, overlapping atoms) and relaxes
        every other candidate.
    relax_maker
        Engine Maker; None stops after the gate.
    score_maker
        Records relax results on the candidates and scores them; None stops after
        relax+static (results then stay in the JobStore only).
    categories
        Stage → FireWorks category (``generate``, ``gate``, ``relax``, ``score``).
    """

    name: str = "campaign"
    generate_maker: Maker = field(default_factory=GenerateMaker)
    gate_maker: GateMaker | None = field(default_factory=GateMaker)
    relax_maker: Maker | None = None
    score_maker: ScoreMaker | None = field(default_factory=ScoreMaker)
    categories: dict[str, str] = field(
        default_factory=lambda: {"generate": "gpu", "gate": "cpu", "relax": "hpc", "score": "cpu"}
    )

    def make(self, campaign: str, inputs: list[dict]) -> Flow:
        """Build the batch flow; ``inputs`` are conditions (generate) or sources (import)."""
        generate = set_category(
            self.generate_maker.make(campaign, inputs), self.categories.get("generate")
        )
        # Without a gate: only structure validity (a NaN or overlapping cell cannot relax).
        gate_maker = self.gate_maker or GateMaker(
            name="validity", smact=False, dedupe=False, novelty="off", prescreen=False
        )
        gate = set_category(gate_maker.make(campaign, generate.output), self.categories.get("gate"))
        fan_out = FanOutMaker(
            relax_maker=self.relax_maker,
            score_maker=self.score_maker,
            relax_category=self.categories.get("relax"),
            score_category=self.categories.get("score"),
        ).make(campaign, gate.output)
        set_category(fan_out, self.categories.get("gate"))
        # jobflow would copy the fan-out's manager_config onto the jobs it adds; keep theirs.
        fan_out.config.pass_manager_config = False
        flow = Flow(
            [generate, gate, fan_out], output=fan_out.output, name=f"{self.name} {campaign}"
        )
        flow.update_metadata({"genflow_campaign": campaign})
        return flow
