"""Failures by reason, and reruns of the relax failures a reason selects, with edited settings.

:func:`failure_groups` groups a campaign's failed and rejected candidates by their reason
(:func:`genflow.core.candidates.failures`), numbers masked so ``min_distance: 0.31 Å`` and
``min_distance: 0.42 Å`` are one group. :func:`rerun_failures` reruns the candidates whose
reason matches a regular expression:

- **what reruns**: candidates rejected by their relaxation (``relax_failed: ...``: the job
  raised, hit its walltime, was killed). Gate decisions are results, and a scored candidate
  is scored once, so both are listed as skipped with why.
- **settings**: ``--set key=value`` edits the campaign's stored spec (``relax.steps=500``,
  ``relax.fmax=0.02``, ``relax.kwargs.incar_updates.NELM=200``); the edited spec is validated
  like a spec file. ``fw.<key>=value`` goes into the FireWorks spec of every relax job
  (``fw._queueadapter.walltime=48:00:00``, ``fw._category=hpc_long``).
- **geometry**: each relaxation restarts from its last ionic step when its job directory
  holds one (:func:`genflow.workflows.restart.last_geometry`: CONTCAR, or the force field's
  per-step trajectory), else from the gate's structure.
- **path**: the campaign's own: a ``local`` campaign runs the relax+static and score jobs here
  under the campaign's lease; a ``fireworks`` campaign gets one new workflow on the LaunchPad
  (``metadata.genflow_rerun``), whose relax fireworks carry the edited spec. A new workflow,
  not ``rerun_fws`` on the fizzled fireworks: their serialised jobs hold the old settings and
  their batch's score job already ran.
- **once**: each candidate is reopened ``rejected → gated`` by one conditional update
  (:func:`genflow.core.candidates.reopen_for_rerun`), history kept with a note naming the
  rerun, reason, settings and start geometry; the rerun's score job then scores it once.

>>> reason_group("min_distance: 0.31 Å < 0.5 Å")
'min_distance: # Å < # Å'
>>> parse_sets(["relax.steps=500", "fw._queueadapter.walltime=48:00:00"])
({'relax.steps': 500}, {'_queueadapter.walltime': '48:00:00'})
"""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genflow.core.candidates import CandidateKey as K
from genflow.core.candidates import (
    by_ids,
    count_states,
    failures,
    get_path,
    reopen_for_rerun,
)
from genflow.core.retry import retry_call

if TYPE_CHECKING:
    from genflow.core.store import GenflowStores

__all__ = [
    "RerunReport",
    "failure_groups",
    "failure_lines",
    "parse_sets",
    "reason_group",
    "rerun_failures",
    "rerun_lines",
]

RELAX_FAILED = "relax_failed"
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def reason_group(reason: str) -> str:
    """A reason with its numbers masked (``#``): the key failures are grouped on."""
    return _NUMBER.sub("#", str(reason))


def failure_groups(stores: GenflowStores, name: str) -> list[dict[str, Any]]:
    """Failed and rejected candidates of ``name`` grouped by reason, largest group first.

    Each group: ``reason`` (numbers masked), ``code`` (text before the first ``:``), ``count``,
    ``rerunnable`` (relax failures not yet scored), ``states`` and up to 5 ``examples`` ids.
    """
    groups: dict[str, dict[str, Any]] = {}
    for row in failures(stores.candidates, name):
        key = reason_group(row["reason"])
        group = groups.setdefault(
            key,
            {
                "reason": key,
                "code": key.split(":", 1)[0].strip(),
                "count": 0,
                "rerunnable": 0,
                "states": {},
                "examples": [],
            },
        )
        group["count"] += 1
        state = row[K.STATE.value]
        group["states"][state] = group["states"].get(state, 0) + 1
        group["rerunnable"] += _rerunnable(state, row["reason"]) is None
        if len(group["examples"]) < 5:
            group["examples"].append(row[K.CANDIDATE_ID.value])
    return sorted(groups.values(), key=lambda g: (-g["count"], g["reason"]))


def _rerunnable(state: str, reason: str) -> str | None:
    """None if a failure can rerun, else why not."""
    if state == "scored":
        return "scored (a candidate is scored once; its relaxation did not converge)"
    if state != "rejected" or not str(reason).startswith(RELAX_FAILED):
        return "a gate decision, not a relax failure (rerun relaxes relax failures only)"
    return None


def failure_lines(name: str, groups: list[dict[str, Any]]) -> list[str]:
    """Plain-text table of :func:`failure_groups` for the terminal."""
    if not groups:
        return [f"{name}: no failed or rejected candidates"]
    total = sum(g["count"] for g in groups)
    lines = [f"{name}: {total} failed or rejected candidate(s) in {len(groups)} group(s)"]
    lines.append(f"{'count':>6} {'rerun':>6}  reason")
    for g in groups:
        lines.append(f"{g['count']:>6} {g['rerunnable']:>6}  {g['reason']}")
    lines.append(
        f"rerun a group: genflow campaign rerun {name} --reason REGEX [--set relax.steps=1000]"
        " [--dry-run]"
    )
    return lines


def rerun_lines(report: RerunReport) -> list[str]:
    """Plain-text summary of a :class:`RerunReport`."""
    verb = "would rerun" if report.dry_run else "reran"
    n = len(report.selected) if report.dry_run else len(report.reopened)
    how = "as a FireWorks workflow" if report.mode == "fireworks" else "here"
    settings = {**report.settings, **_fw_flat(report)}
    lines = [
        f"{report.campaign}: {verb} {n} candidate(s) matching {report.reason!r} {how}"
        + (f" with {', '.join(f'{k}={v}' for k, v in settings.items())}" if settings else "")
    ]
    for cid in report.selected if report.dry_run else report.reopened:
        start = report.resumed.get(cid)
        lines.append(f"  {cid}" + (f"  from last geometry {start}" if start else ""))
    if report.skipped:
        lines.append(f"skipped {len(report.skipped)}:")
        lines += [f"  {cid}: {why}" for cid, why in report.skipped.items()]
    if report.fw_ids:
        lines.append(f"fireworks {report.fw_ids[0]}..{report.fw_ids[-1]}: run workers (deploy/)")
    if report.counts:
        lines.append("states: " + ", ".join(f"{k} {v}" for k, v in report.counts.items() if v))
    return lines


def parse_sets(items: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``key=value`` strings → (spec edits, FireWorks spec edits).

    A value is read as JSON (``500``, ``0.02``, ``true``, ``{"NELM": 200}``), else kept as
    text: ``48:00:00`` stays a walltime (YAML would read it as the integer 172800).
    """
    import json

    spec_sets: dict[str, Any] = {}
    fw_sets: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected key=value (e.g. relax.steps=500)")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        if key.startswith("fw."):
            fw_sets[key[3:]] = value
        else:
            spec_sets[key] = value
    return spec_sets, fw_sets


def _set_path(target: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ValueError(f"--set {dotted}: {part!r} is not a block")
    target[parts[-1]] = value


def edited_spec(spec_doc: dict, spec_sets: dict[str, Any]) -> Any:
    """The stored spec with the edits applied, validated (``CampaignSpecError`` if bad)."""
    import copy

    from genflow.campaign.spec import CampaignSpec

    data = copy.deepcopy(spec_doc)
    for key, value in spec_sets.items():
        _set_path(data, key, value)
    return CampaignSpec.model_validate(data)


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        _set_path(out, key, value)
    return out


@dataclass
class RerunReport:
    """What a rerun selected, reopened, skipped and how it ran."""

    campaign: str
    rerun_id: str
    mode: str
    reason: str
    settings: dict[str, Any]
    fw_spec: dict[str, Any]
    dry_run: bool
    selected: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    reopened: list[str] = field(default_factory=list)
    resumed: dict[str, str] = field(default_factory=dict)
    fw_ids: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``--json``."""
        return dict(self.__dict__)


def rerun_failures(
    stores: GenflowStores,
    name: str,
    reason: str,
    sets: list[str] | None = None,
    *,
    dry_run: bool = False,
    root_dir: str | Path | None = None,
) -> RerunReport:
    """Rerun the relax failures of ``name`` whose reason matches ``reason`` (a regex).

    See the module docstring. Raises ``KeyError`` for an unknown campaign, ``ValueError`` for
    a bad regex or ``--set``, and ``CampaignSpecError`` for an edited spec that does not
    validate, all before anything is written.
    """
    from genflow.campaign.flows import campaign_maker
    from genflow.campaign.ledger import record_rerun

    doc = retry_call(
        lambda: stores.campaigns.find_one({"name": name}, {"_id": 0}), what="read campaign"
    )
    if doc is None:
        raise KeyError(f"no campaign named {name!r}")
    try:
        pattern = re.compile(reason)
    except re.error as exc:
        raise ValueError(f"--reason {reason!r}: not a regular expression: {exc}") from exc
    spec_sets, fw_sets = parse_sets(list(sets or []))
    spec = edited_spec(doc["spec"], spec_sets)
    report = RerunReport(
        campaign=name, rerun_id=uuid.uuid4().hex[:12], mode=doc.get("mode", "local"),
        reason=reason, settings=spec_sets, fw_spec=_nested(fw_sets), dry_run=dry_run,
    )  # fmt: skip
    for row in failures(stores.candidates, name):
        if not pattern.search(str(row["reason"])):
            continue
        cid = row[K.CANDIDATE_ID.value]
        if why := _rerunnable(row[K.STATE.value], row["reason"]):
            report.skipped[cid] = why
        else:
            report.selected.append(cid)
    if dry_run or not report.selected:
        return report
    maker = campaign_maker(spec)  # a spec that cannot build its makers fails before writes
    # Local: the campaign's lease first, so a running campaign is never reopened under it.
    with _lease(stores, name, report.mode):
        starts, notes = _start_geometries(stores, name, report, root_dir)
        report.reopened = reopen_for_rerun(stores.candidates, notes)
        survivors = {cid: starts[cid] for cid in report.reopened}
        if not survivors:
            return report
        record = {
            "rerun_id": report.rerun_id, "reason": reason, "settings": spec_sets,
            "fw_spec": report.fw_spec, "candidates": report.reopened,
        }  # fmt: skip
        record_rerun(stores, name, record)
        if report.mode == "fireworks":
            report.fw_ids = _submit(stores, name, spec, maker, survivors, report)
        else:
            _run_here(stores, name, spec, maker, survivors, report, root_dir)
    report.counts = count_states(stores.candidates, name)
    return report


def _lease(stores: GenflowStores, name: str, mode: str) -> Any:
    """The campaign's lease for a local rerun; nothing to hold for a FireWorks one."""
    if mode == "fireworks":
        return contextlib.nullcontext()
    from genflow.campaign.lease import acquire_lease

    return acquire_lease(stores, name)


def _start_geometries(
    stores: GenflowStores, name: str, report: RerunReport, root_dir: str | Path | None
) -> tuple[dict[str, dict], dict[str, str]]:
    """Each selected candidate's start structure (last geometry if any) and history note."""
    from genflow.workflows.restart import find_job_dirs, last_geometry

    proj = [str(k) for k in (K.CANDIDATE_ID, K.STRUCTURE, K.PRERELAX, K.RELAX, K.REJECT_REASON)]
    docs = retry_call(
        lambda: list(stores.candidates.find(by_ids(report.selected), proj)),
        what="read rerun candidates",
    )
    roots = _job_roots(stores, name, root_dir)
    settings = ", ".join(f"{k}={v}" for k, v in {**report.settings, **_fw_flat(report)}.items())
    starts, notes = {}, {}
    for doc in docs:
        cid = doc[K.CANDIDATE_ID.value]
        start = get_path(doc, "prerelax.structure") or doc[K.STRUCTURE.value]
        uuids = get_path(doc, K.RELAX_TASK_UUIDS) or []
        geometry = None
        from pymatgen.core import Structure

        dirs = find_job_dirs(roots, uuids, start=Structure.from_dict(start))
        for job_dir in dirs + _launch_dirs(stores, report, uuids):
            if geometry := last_geometry(job_dir):
                break
        origin = "start: gate structure"
        if geometry is not None:
            start = geometry.structure.as_dict()
            origin = geometry.note()
            report.resumed[cid] = geometry.path
        notes[cid] = (
            f"rerun {report.rerun_id} (--reason {report.reason!r}; {settings or 'same settings'})"
            f"; was: {doc.get(K.REJECT_REASON.value)}; {origin}"
        )
        starts[cid] = start
    return starts, notes


def _fw_flat(report: RerunReport) -> dict[str, Any]:
    return {f"fw.{k}": v for k, v in report.fw_spec.items()}


def _job_roots(stores: GenflowStores, name: str, root_dir: str | Path | None) -> list[Path]:
    """Where the campaign's local job directories are: its run dir (and ``root_dir``)."""
    roots = [Path(root_dir)] if root_dir is not None else []
    doc = stores.campaigns.find_one({"name": name}, {"run_dir": 1})
    if doc and doc.get("run_dir"):
        roots.append(Path(doc["run_dir"]))
    from genflow.campaign.runner import run_dir

    roots.append(run_dir(name))
    return roots


def _launch_dirs(stores: GenflowStores, report: RerunReport, uuids: list[str]) -> list[Path]:
    """FireWorks launch directories of the jobs ``uuids`` (newest launch first)."""
    if report.mode != "fireworks" or not uuids:
        return []
    lpad = stores.launchpad
    query = {"spec._tasks.job.uuid": {"$in": uuids}}  # jobflow's JobFiretask holds the job
    fws = list(lpad.fireworks.find(query, {"launches": 1}))
    ids = [lid for fw in fws for lid in fw.get("launches", [])]
    launches = lpad.launches.find({"launch_id": {"$in": ids}}, {"launch_dir": 1, "launch_id": 1})
    return [Path(d["launch_dir"]) for d in sorted(launches, key=lambda d: -d["launch_id"])]


def _flow(name: str, spec: Any, maker: Any, survivors: dict, report: RerunReport) -> Any:
    from genflow.workflows.campaign import relax_and_score_flow

    cats = spec.categories.model_dump()
    flow = relax_and_score_flow(
        name, survivors, maker.relax_maker, maker.score_maker,
        relax_category=cats.get("relax"), score_category=cats.get("score"),
        relax_spec=report.fw_spec,
    )  # fmt: skip
    flow.name = f"{name} rerun {report.rerun_id}"
    flow.update_metadata({"genflow_rerun": report.rerun_id})
    return flow


def _run_here(
    stores: GenflowStores,
    name: str,
    spec: Any,
    maker: Any,
    survivors: dict,
    report: RerunReport,
    root_dir: str | Path | None,
) -> None:
    """Run the rerun flow in this process (the caller holds the campaign's lease)."""
    from jobflow.managers.local import run_locally

    from genflow.campaign.runner import run_dir

    root = Path(root_dir) if root_dir is not None else run_dir(name)
    root = root / f"rerun-{report.rerun_id}"
    root.mkdir(parents=True, exist_ok=True)
    run_locally(
        _flow(name, spec, maker, survivors, report),
        store=stores.job_store,
        create_folders=True,
        root_dir=str(root),
        log=False,
    )


def _submit(
    stores: GenflowStores, name: str, spec: Any, maker: Any, survivors: dict, report: RerunReport
) -> list[int]:
    """Add the rerun flow to the LaunchPad as one workflow; return its fw ids."""
    from jobflow.managers.fireworks import flow_to_workflow

    from genflow.campaign.ledger import set_state

    wf = flow_to_workflow(
        _flow(name, spec, maker, survivors, report),
        store=None,
        name=f"{name} rerun {report.rerun_id}",
        metadata={"genflow_campaign": name, "genflow_rerun": report.rerun_id},
    )
    stores.launchpad.add_wf(wf)
    set_state(stores, name, "submitted")  # the status follows the fireworks again
    return sorted(wf.id_fw)
