"""Render a morning report dict as Markdown and as one self-contained HTML file.

Both renderings come from the same :class:`Section` list, so a table in the Markdown is the
same table in the HTML. The HTML is what a person opens in the morning from a mail or a
shared folder: every plot is embedded as a base64 ``data:image/png`` URI and the styles are
inline, so the file references nothing outside itself (no links, scripts or stylesheets).
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genflow.core.candidates import CandidateKey as K

__all__ = ["Section", "render_html", "render_markdown", "sections"]


@dataclass(frozen=True)
class Section:
    """One titled table with optional text above it."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    text: str = ""


def _num(x: Any, fmt: str = ".4f") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return format(x, fmt) if isinstance(x, float) else str(x)


def sections(report: dict[str, Any]) -> list[Section]:
    """The report's tables, in reading order."""
    tp = report.get("throughput") or {}
    out = [
        Section("Stages", ["stage", "candidates"],
                [[k, str(v)] for k, v in report["stages"].items()],
                f"throughput: {tp.get('scored_per_hour')} scored/h over {tp.get('wall_hours')} h"),
        Section("Rejections and failures", ["reason", "n"],
                [[k, str(v)] for k, v in (report.get("failure_counts") or {}).items()]),
        Section("Hits", ["formula", "hull", "E_d (eV/atom)", "S U N", "verdict",
                         "space group (generated → relaxed)", "prototype", "engine",
                         "checkpoint", "id"],
                [[h["formula"], h["hull"], f"{h['e_d']:.4f}", _sun_cell(h), _verdict_cell(h),
                  f"{h.get('spacegroup_generated') or '?'} → {h.get('spacegroup_relaxed') or '?'}",
                  str(h.get("prototype_name") or h.get("prototype") or "–"), str(h["engine"]),
                  str(h["checkpoint_hash"]), h[K.CANDIDATE_ID]] for h in report["hits"]]),
    ]  # fmt: skip
    if report.get("sun"):
        out.append(_sun_section(report["sun"]))
    if report.get("sets"):
        out.append(Section(
            "Sets on each hull (Table 3 style)",
            ["set", "kind", "hull", "rows", "scored", "# stable", "# metastable",
             "median E_d (eV/atom)"],
            [[r["set"], r["kind"], r["hull"], str(r["n_rows"]), str(r["n_scored"]),
              str(r["n_stable"]), str(r["n_metastable"]), _num(r["median_e_d"])]
             for r in report["sets"]],
            "Stable: E_d < 0; metastable: E_d < 25 meV/atom (Yang et al. 2023, Eq. 5); "
            "failed and unscored rows count in rows, never as stable.",
        ))  # fmt: skip
    if report.get("pairs"):
        out.append(Section(
            "Pairs of sets (Table 2 style)",
            ["A", "B", "hull", "ΔE_f(A, B) (eV/atom)", "E_f reduction rate", "matched",
             "only A", "only B"],
            [[r["a"], r["b"], r["hull"], _num(r["delta_e_form"]),
              _num(r["e_form_reduction_rate"], ".3f"), str(r["n_matched"]), str(r["n_only_a"]),
              str(r["n_only_b"])] for r in report["pairs"]],
            "ΔE_f (Eq. 3) and reduction rate (Eq. 4) over compositions both sets hold, each "
            "set's lowest E_f per reduced formula; negative ΔE_f: A is lower.",
        ))  # fmt: skip
    if report.get("rounds"):
        out.append(Section(
            "Per hull round", ["hull", "round", "scored", "# stable", "# metastable"],
            [[r["hull"], str(r["round"]), str(r["n_scored"]), str(r["n_stable"]),
              str(r["n_metastable"])] for r in report["rounds"]],
            "each candidate's score against round r of the hull (round 0: the reference; "
            "later rounds add earlier stable hits, `genflow hull fold`).",
        ))  # fmt: skip
    if report.get("sites"):
        out.append(_sites_section(report["sites"]))
    cond = report.get("conditional")
    if cond:
        out.append(Section(
            "Conditional generation: best of N per composition",
            ["composition", "N", "relax attempted", "converged", f"best E_d on {cond['hull']}"],
            [[r["composition"], str(r["n"]), str(r["attempted"]), str(r["converged"]),
              _num(r["best_e_d"])] for r in cond["rows"]],
            f"grouped by {cond['grouped_by']}; convergence rate (converged / relax attempted): "
            f"{_num(cond['convergence_rate'], '.3f')}" + _strata_text(cond.get("stratified")),
        ))  # fmt: skip
    return out


def _sun_cell(hit: dict[str, Any]) -> str:
    if hit.get("novelty") is None:
        return "unjudged"
    return " ".join(f"{k[0].upper()}{'✓' if hit.get(k) else '✗'}"
                    for k in ("stable", "unique", "novel"))  # fmt: skip


def _verdict_cell(hit: dict[str, Any]) -> str:
    if hit.get("novelty") is None:
        return "–"
    return f"{hit['novelty']}: {hit.get('novelty_reason') or ''}"


def _sun_section(rows: list[dict[str, Any]]) -> Section:
    """S.U.N. / M.S.U.N. per hull (``genflow.core.candidates.sun_flags``)."""
    refs = rows[0]["references"]
    named = ", ".join(f"{k} {v:,}" for k, v in refs.items())
    return Section(
        "S.U.N.", ["hull", "candidates", "judged", "# SUN", "SUN rate", "# MSUN", "MSUN rate"],
        [[r["hull"], str(r["n_total"]), str(r["n_judged"]), str(r["n_sun"]),
          _num(r["sun_rate"], ".3f"), str(r["n_msun"]), _num(r["msun_rate"], ".3f")]
         for r in rows],
        f"stable: E_d ≤ {rows[0]['sun_max_ed']} eV/atom on the hull (M.S.U.N.: ≤ "
        f"{rows[0]['msun_max_ed']}); unique after relaxation; novel against "
        f"{rows[0]['n_references']:,} reference structures ({named}); rates over every "
        "candidate generated.",
    )  # fmt: skip


def _sites_section(sites: dict[str, Any]) -> Section:
    """Sites per structure per set (``genflow.evaluation.report_sites.sites_table``)."""

    def common(hist: dict[str, float]) -> str:
        counted = {k: v for k, v in hist.items() if k != "unreadable"}
        top = sorted(counted.items(), key=lambda kv: -kv[1])[:3]
        return ", ".join(f"{k}: {v:.2f}" for k, v in top) or "–"

    text = (
        f"sites per structure, {sites['campaign']}'s candidates as generated (before "
        "relaxation); TVD: total variation distance between the set's distribution and the "
        "campaign's (0 same, 1 disjoint); in set: share of the campaign's rows whose site count "
        "the set holds (exact: the set has one count only). "
        f"Training set: {sites.get('training') or '–'}."
    )
    if sites.get("skipped"):
        text += " Not compared (no site counts): " + "; ".join(
            f"{k}: {v}" for k, v in sites["skipped"].items()
        )
    return Section(
        "Sites per structure",
        ["set", "kind", "rows", "mean sites", "most common (share)", "empty", "no structure",
         "TVD to campaign", "campaign in set", "campaign exact"],
        [[r["set"], r["kind"], str(r["n"]), _num(r["mean"], ".2f"), common(r["hist"]),
          _num(r["empty_share"], ".3f"), _num(r["unreadable_share"], ".3f"),
          _num(r["tvd"], ".3f"), _num(r["campaign_in_set_share"], ".3f"),
          _num(r["campaign_exact_share"], ".3f")] for r in sites["rows"]],
        text,
    )  # fmt: skip


def _strata_text(st: dict[str, Any] | None) -> str:
    if not st:
        return ""
    text = f"; stratified convergence rate (App. 8): {_num(st['rate'], '.3f')} over "
    text += ", ".join(f"{k} ({v['converged']}/{v['tried']}, N={v['size']:g})"
                      for k, v in st["strata"].items())  # fmt: skip
    if st["unassigned"]:
        text += f"; not in any stratum: {', '.join(st['unassigned'])}"
    return text


def _md_table(s: Section) -> list[str]:
    lines = ["", f"## {s.title}", ""]
    if s.text and s.title != "Stages":
        lines += [s.text, ""]
    lines += ["| " + " | ".join(s.headers) + " |", "|" + "---|" * len(s.headers)]
    lines += ["| " + " | ".join(r) + " |" for r in s.rows]
    if s.text and s.title == "Stages":
        lines += ["", s.text]
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """Markdown text of a report (plots linked by file name, next to ``report.md``)."""
    lines = [f"# Campaign {report['campaign']}", ""]
    lines += [f"state: {report.get('state')}, mode: {report.get('mode')}"]
    if report.get("set_names"):
        lines += ["", "sets: " + ", ".join(report["set_names"])]
    for s in sections(report):
        lines += _md_table(s)
    plots = report.get("plots") or {}
    if plots or report.get("not_drawn"):
        lines += ["", "## Plots"]
    for name, path in plots.items():
        caption = _caption(report, name)
        lines += ["", f"![{caption}]({Path(path).name})", "", f"*{caption}*"]
    if skipped := _not_drawn(report):
        lines += ["", skipped]
    return "\n".join(lines) + "\n"


def _caption(report: dict[str, Any], name: str) -> str:
    """What a plot shows (the report's caption; the plot's name only if it has none)."""
    return (report.get("captions") or {}).get(name) or name


def _not_drawn(report: dict[str, Any]) -> str:
    """One line naming the plots left out for lack of data, and why."""
    skipped = report.get("not_drawn") or {}
    if not skipped:
        return ""
    return "Not drawn (no data): " + "; ".join(f"{k}: {why}" for k, why in skipped.items())


_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #bbb;padding:.2em .6em;text-align:left}"
    "th{background:#eee}figure{margin:1em 0}img{max-width:100%}"
)


def _html_table(s: Section) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in s.headers)
    body = (
        "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in s.rows)
        or f'<tr><td colspan="{len(s.headers)}">none</td></tr>'
    )
    text = f"<p>{e(s.text)}</p>" if s.text else ""
    return f"<h2>{e(s.title)}</h2>{text}<table><tr>{head}</tr>{body}</table>"


def render_html(report: dict[str, Any]) -> str:
    """One HTML page: the same tables as the Markdown, every PNG embedded as a data URI."""
    e = html.escape
    title = f"Campaign {report['campaign']}"
    parts = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}'
        f"</title><style>{_STYLE}</style></head><body><h1>{e(title)}</h1>",
        f"<p>state: {e(str(report.get('state')))}, mode: {e(str(report.get('mode')))}</p>",
    ]
    if report.get("set_names"):
        parts.append(f"<p>sets: {e(', '.join(report['set_names']))}</p>")
    parts += [_html_table(s) for s in sections(report)]
    plots = report.get("plots") or {}
    if plots or report.get("not_drawn"):
        parts.append("<h2>Plots</h2>")
    for name, path in plots.items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        caption = e(_caption(report, name))
        parts.append(
            f'<figure id="{e(name)}"><img alt="{caption}" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    if skipped := _not_drawn(report):
        parts.append(f"<p>{e(skipped)}</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
