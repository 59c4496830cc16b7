"""The morning report: one campaign (or night) from the store as Markdown + PNG plots.

Built on :func:`genflow.campaign.status.campaign_report` (counts per stage, rejection reasons,
hits with provenance, throughput); adds the E_d distribution of every scored candidate per
hull and writes ``report.md`` beside ``funnel.png``, ``rejections.png`` and
``e_d_<hull>.png``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from genflow.evaluation.plots import bar_chart, e_d_histograms

__all__ = [
    "build_report",
    "latest_nightly",
    "render_markdown",
    "scored_e_d",
    "write_nightly_report",
]


def scored_e_d(stores: Any, name: str, hull: str) -> list[float]:
    """E_d (eV/atom) of every scored candidate of a campaign on one hull."""
    field = f"scores.{hull}.e_d"
    cur = stores.candidates.find({"campaign": name, field: {"$ne": None}}, {field: 1})
    return [float(d["scores"][hull]["e_d"]) for d in cur]


def build_report(stores: Any, name: str, out: Path | None = None) -> dict[str, Any]:
    """The report of campaign ``name`` as a dict; with ``out``, also Markdown and PNGs there."""
    from genflow.campaign.status import campaign_report

    report = campaign_report(stores, name)
    hulls = sorted({h["hull"] for h in report["hits"]}) or ["mp2021"]
    report["e_d"] = {h: scored_e_d(stores, name, h) for h in hulls}
    if out is not None:
        out = Path(out)
        report["plots"] = {
            "funnel": str(bar_chart(report["stages"], out / "funnel.png", title="campaign funnel")),
            "rejections": str(bar_chart(report["failure_counts"], out / "rejections.png",
                                        title="rejection reasons")),
            **{f"e_d_{h}": str(e_d_histograms({name: v}, out / f"e_d_{h}.png", hull=h))
               for h, v in report["e_d"].items()},
        }  # fmt: skip
        (out / "report.md").write_text(render_markdown(report))
        report["markdown"] = str(out / "report.md")
    return report


def latest_nightly(stores: Any, spec_name: str, *, before: str | None = None) -> str | None:
    """Name of the latest nightly campaign ``<spec_name>-YYYY-MM-DD`` in the store.

    ``before``: only nights earlier than this campaign name (``genflow nightly`` reports the
    night that has run, not the one it just submitted). None when there is none.
    """
    night = re.compile(f"{re.escape(spec_name)}-\\d{{4}}-\\d{{2}}-\\d{{2}}")
    names = sorted(
        d["name"] for d in stores.campaigns.find({}, {"name": 1}) if night.fullmatch(d["name"])
    )
    if before is not None:
        names = [n for n in names if n < before]
    return names[-1] if names else None


def write_nightly_report(
    stores: Any, spec_name: str, out: Path, *, before: str | None = None
) -> Path | None:
    """Write the latest nightly campaign's report to ``out/<campaign>/``; its ``report.md``.

    None when the spec has no nightly campaign (before ``before``) yet.
    """
    name = latest_nightly(stores, spec_name, before=before)
    if name is None:
        return None
    return Path(build_report(stores, name, Path(out) / name)["markdown"])


def render_markdown(report: dict[str, Any]) -> str:
    """Markdown text of a :func:`build_report` dict (plots linked by file name)."""
    lines = [f"# Campaign {report['campaign']}", ""]
    lines += [f"state: {report.get('state')}, mode: {report.get('mode')}", ""]
    lines += ["## Stages", "", "| stage | candidates |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report["stages"].items()]
    tp = report.get("throughput") or {}
    lines += ["", f"throughput: {tp.get('scored_per_hour')} scored/h over "
              f"{tp.get('wall_hours')} h", ""]  # fmt: skip
    lines += ["## Rejections and failures", "", "| reason | n |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in (report.get("failure_counts") or {}).items()]
    lines += ["", "## Hits", "", "| formula | hull | E_d (eV/atom) | engine | checkpoint | id |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for h in report["hits"]:
        lines.append(
            f"| {h['formula']} | {h['hull']} | {h['e_d']:.4f} | {h['engine']} | "
            f"{h['checkpoint_hash']} | {h['candidate_id']} |"
        )
    for name, path in (report.get("plots") or {}).items():
        lines += ["", f"![{name}]({Path(path).name})"]
    return "\n".join(lines) + "\n"
