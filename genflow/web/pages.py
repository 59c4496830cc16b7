"""The pages of ``genflow web``: each view calls the library the CLI calls and renders it.

==========================  ===========================================================
``/``                       campaigns: state, mode, funnel (generated → gated → relaxed
                            → scored, rejected at the gate)
``/campaign/<name>``        one campaign: funnel, states, throughput, rejections by reason,
                            failures grouped by reason, FireWorks states, its hits
``/failures``               failures of every campaign, grouped by reason
``/hits``                   the hits table (``genflow hits``): filter by hull, campaign,
                            E_d threshold, audit; sortable and searchable in the browser
``/candidate/<id>``         a hit's trace (``genflow trace``) and its relaxed structure in 3D
``/candidate/<id>.cif``     that structure as CIF
``/campaign/<name>/report`` the morning report's tables and plots (``genflow report``)
==========================  ===========================================================

Queries live in the library (:mod:`genflow.campaign.status`, :mod:`genflow.campaign.hits`,
:mod:`genflow.core.candidates`, :mod:`genflow.evaluation.report`); this module only
shapes their results for the templates.
"""

from __future__ import annotations

import base64
import json
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, abort, current_app, render_template, request

if TYPE_CHECKING:
    from genflow.core.store import GenflowStores

__all__ = ["group_failures", "register"]

#: matplotlib's pyplot is not thread-safe and the server is threaded: one report at a time
_REPORT_LOCK = threading.Lock()
#: seconds between reloads of the live pages (campaigns, one campaign)
REFRESH_S = 30
#: rows of the hits table unless ``?limit=`` asks for more (most stable first)
HITS_LIMIT = 1000


def _stores() -> GenflowStores:
    return current_app.config["GENFLOW_STORES"]


def group_failures(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failure rows grouped by reason code (the text before the first ':'), largest first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        code = str(row["reason"]).split(":", 1)[0].strip()
        groups.setdefault(code, []).append(row)
    return [
        {"reason": code, "n": len(items), "rows": items}
        for code, items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]


def _funnel(stages: dict[str, int]) -> list[dict[str, Any]]:
    """Funnel bars: each stage's count and its width relative to ``generated``."""
    top = max(stages.get("generated", 0), 1)
    order = ("generated", "gated", "rejected_at_gate", "relaxed", "scored")
    labels = {"rejected_at_gate": "rejected at gate"}
    return [
        {"stage": labels.get(k, k), "n": stages.get(k, 0), "pct": 100.0 * stages.get(k, 0) / top}
        for k in order
    ]


def campaigns_page() -> str:
    """Every campaign with its state and funnel."""
    from genflow.campaign.status import campaign_summaries

    rows = campaign_summaries(_stores())
    for row in rows:
        row["funnel"] = _funnel(row["stages"])
    return render_template("campaigns.html", rows=rows, refresh=REFRESH_S)


def campaign_page(name: str) -> str:
    """One campaign: funnel, states, rejection reasons, failures by reason, hits."""
    from genflow.campaign.status import campaign_report

    stores = _stores()
    report = campaign_report(stores, name)
    if not report["known"] and not report["stages"]["generated"]:
        abort(404, f"no campaign named {name!r}")
    return render_template(
        "campaign.html",
        r=report,
        bars=_funnel(report["stages"]),
        groups=group_failures(report["failures"]),
        refresh=REFRESH_S,
    )


def failures_page() -> str:
    """Failures of every campaign (newest 500), grouped by reason."""
    from genflow.core.candidates import failure_counts, failures

    coll = _stores().candidates
    return render_template(
        "failures.html",
        counts=failure_counts(coll),
        groups=group_failures(failures(coll, limit=500)),
    )


def hits_page() -> str:
    """The hits table with the same filters as ``genflow hits``."""
    from genflow.campaign.hits import campaign_hit_threshold, find_hits
    from genflow.campaign.status import campaign_summaries
    from genflow.core.settings import get_settings

    stores = _stores()
    hull = request.args.get("hull") or "mp2021"
    campaign = request.args.get("campaign") or None
    hide_gaps = request.args.get("hide_gaps") in ("1", "on", "true")
    raw_max = request.args.get("max_ed") or ""
    errors = []
    try:
        max_ed = float(raw_max) if raw_max else None
    except ValueError:
        errors.append(f"max E_d {raw_max!r} is not a number; using the default")
        max_ed = None
    if max_ed is None and campaign is not None:
        max_ed = campaign_hit_threshold(stores, campaign)  # one meaning of "hit" per campaign
    if max_ed is None:
        max_ed = get_settings().HIT_THRESHOLD
    try:
        limit = max(1, int(request.args.get("limit") or HITS_LIMIT))
    except ValueError:
        limit = HITS_LIMIT
    try:
        found = find_hits(
            stores, hull=hull, max_ed=max_ed, campaign=campaign, hide_gaps=hide_gaps, limit=limit
        )
    except ValueError as exc:  # a hull name that keeps no letter or digit
        errors.append(str(exc))
        found = []
    hits = [h.as_dict() for h in found]
    names = [r["campaign"] for r in campaign_summaries(stores)]
    return render_template(
        "hits.html",
        hits=hits,
        hull=hull,
        campaign=campaign,
        campaigns=names,
        max_ed=max_ed,
        hide_gaps=hide_gaps,
        errors=errors,
        limit=limit,
    )


def _trace_or_404(candidate_id: str):
    from genflow.campaign.hits import trace_hit

    try:
        return trace_hit(_stores(), candidate_id)
    except KeyError:
        abort(404, f"no candidate {candidate_id!r}")


def candidate_page(candidate_id: str) -> str:
    """A candidate's trace (score → task → gate → candidate → checkpoint) and 3D structure."""
    from genflow.web.structure3d import lattice_summary, structure_figure

    trace = _trace_or_404(candidate_id)
    cand = trace.candidate
    relaxed = cand.relax.structure if cand.relax and cand.relax.structure else None
    shown = relaxed or cand.structure
    figure = lattice = None
    if shown is not None:
        # "</" keeps the JSON from closing the <script type="application/json"> it sits in
        figure = json.dumps(structure_figure(shown)).replace("</", "<\\/")
        lattice = lattice_summary(shown)
    return render_template(
        "candidate.html",
        chain=trace.chain(),
        cand=cand,
        which="relaxed" if relaxed else "generated (no relaxed structure recorded)",
        figure=figure,
        lattice=lattice,
    )


def candidate_cif(candidate_id: str) -> Response:
    """The candidate's relaxed (else generated) structure as a CIF download."""
    from pymatgen.core import Structure
    from pymatgen.io.cif import CifWriter

    cand = _trace_or_404(candidate_id).candidate
    shown = (cand.relax.structure if cand.relax else None) or cand.structure
    if shown is None:
        abort(404, f"candidate {candidate_id!r} has no structure")
    text = str(CifWriter(Structure.from_dict(shown)))
    name = f"{cand.reduced_formula or 'structure'}_{candidate_id}.cif"
    return Response(
        text,
        mimetype="chemical/x-cif",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def report_page(name: str) -> str:
    """The morning report of a campaign: its tables and its plots."""
    from genflow.evaluation.report import build_report
    from genflow.evaluation.report_render import sections

    stores = _stores()
    with _REPORT_LOCK, tempfile.TemporaryDirectory(prefix="genflow-web-") as tmp:
        report = build_report(stores, name, Path(tmp))
        if not report["known"] and not report["stages"]["generated"]:
            abort(404, f"no campaign named {name!r}")
        plots = [
            {
                "name": key,
                "src": "data:image/png;base64,"
                + base64.b64encode(Path(path).read_bytes()).decode(),
            }
            for key, path in report["plots"].items()
        ]
    return render_template("report.html", name=name, sections=sections(report), plots=plots)


def register(app: Flask) -> None:
    """Add the pages to ``app`` (GET only; :func:`genflow.web.app.create_app` refuses others)."""
    app.add_url_rule("/", "campaigns", campaigns_page)
    app.add_url_rule("/campaign/<path:name>/report", "report", report_page)
    app.add_url_rule("/campaign/<path:name>", "campaign", campaign_page)
    app.add_url_rule("/failures", "failures", failures_page)
    app.add_url_rule("/hits", "hits", hits_page)
    app.add_url_rule("/candidate/<candidate_id>.cif", "candidate_cif", candidate_cif)
    app.add_url_rule("/candidate/<candidate_id>", "candidate", candidate_page)
