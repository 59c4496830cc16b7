"""How campaigns look on a terminal: progress bars, the report, the hits table.

The runner and status modules return data; this module is the only one that draws it. Each
function takes the ``rich`` Console to draw on, so the CLI can keep the console on the real
terminal while library chatter goes to the run's log file (:mod:`genflow.campaign.chatter`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from genflow.core.candidates import CandidateKey as K

__all__ = [
    "hit_reasons",
    "hits_table",
    "print_gate",
    "print_refs_status",
    "print_report",
    "print_run",
    "print_status",
    "print_trace",
    "stage_bars",
]

_STAGES = ("generate", "gate", "relax", "score")


@contextmanager
def stage_bars(console: Console, *, enabled: bool = True) -> Iterator[Any]:
    """Bars per stage; yields the ``on_progress(counts, expected)`` callback for the runner."""
    from contextlib import ExitStack

    from genflow.core.progress import ProgressDisplay, stage_lines

    with ExitStack() as stack, ProgressDisplay(enabled=enabled, console=console) as display:
        if not display.enabled:
            yield None
            return
        bars = {stage: display.add(stage) for stage in _STAGES}
        # stage lines ("loading MLIP CHGNet…") print above the live bars, not through them
        stack.enter_context(stage_lines(_ConsoleLines(console)))  # type: ignore[arg-type]

        def update(c: dict[str, int], expected: int | None) -> None:
            survivors = c["generated"] - c["rejected_at_gate"]
            bars["generate"].update(completed=c["generated"], total=expected or c["generated"])
            bars["gate"].update(completed=c["gated"], total=c["generated"] or None)
            bars["relax"].update(completed=c["relaxed"], total=survivors if c["gated"] else None)
            bars["score"].update(completed=c["scored"], total=c["relaxed"] or None)

        yield update


class _ConsoleLines:
    """A text stream that prints each line through a rich Console (above its live display)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def write(self, text: str) -> int:
        self.console.print(text.rstrip("\n"), highlight=False, markup=False)
        return len(text)

    def flush(self) -> None:
        """Nothing to flush: the console writes at once."""


def hits_table(hits: list[dict], title: str = "hits") -> Table:
    """The hits table, 80 columns wide (short ids; ``--json`` carries full ids, E_f, the
    engine and the S.U.N. flags).

    Columns that would say the same on every row are left out: the hull (named in the title
    when every hit is on one) and *cover* (``thin``: ``hull.coverage.thin_binaries``) unless
    some hit's coverage is thin. The AFLOW prototype goes in :func:`hit_reasons` below the
    table (its names are too long for a column).
    """
    thin = any(h.get("coverage") == "thin" for h in hits)
    hulls = sorted({str(h["hull"]) for h in hits})
    named = len(hulls) == 1
    table = Table(
        title=f"{title} on {hulls[0]} ({len(hits)})" if named else f"{title} ({len(hits)})",
        caption="E_d in eV/atom (latest hull round); S U N: E_d ≤ 0, unique after "
        "relaxation, novel (verdict on the relaxed cell, reasons below); space group: "
        "generated→relaxed; GAP? = hull_gap_suspected (--hide-gaps); "
        + ("cover thin = the hull lacks a binary of the system; " if thin else "")
        + "--json gives full ids, E_f, engine and checkpoints",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    columns = ("candidate", "formula", "hull", "E_d", "S U N", "novelty", "space group",
               "audit", "cover")  # fmt: skip
    shown = {"hull": not named, "cover": thin}
    rows = [
        (
            h[K.CANDIDATE_ID][:11],
            str(h.get(K.REDUCED_FORMULA) or h.get(K.FORMULA)).replace(" ", ""),
            h["hull"],
            f"{h['e_d']:+.4f}",
            _sun_cell(h),
            _novelty_cell(h),
            _spacegroup_cell(h),
            {"hull_gap_suspected": "GAP?", "confirmed": "ok"}.get(h.get("audit") or "", "-"),
            "thin" if h.get("coverage") == "thin" else "",
        )
        for h in hits
    ]
    keep = [i for i, col in enumerate(columns) if shown.get(col, True)]
    for i in keep:
        if columns[i] in _WRAPPED:  # these give way on a narrow terminal, on word breaks
            table.add_column(columns[i], min_width=len(columns[i]))
            continue
        # min_width: rich otherwise crops short no-wrap cells when the console is narrow.
        width = max([len(columns[i]), *(len(r[i]) for r in rows)])
        table.add_column(columns[i], no_wrap=True, min_width=width)
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    return table


#: hits-table columns that wrap rather than push the table past the terminal's width
_WRAPPED = frozenset({"novelty", "space group"})


def _sun_cell(hit: dict) -> str:
    """``S U N`` flags of a hit row (``Hit.as_dict``): ✓, ✗, or ? where unjudged."""
    if hit.get("novelty") is None:  # scored before verdicts on the relaxed cell existed
        return ("✓" if hit.get("stable") else "✗") + " ? ?"
    return " ".join("✓" if hit.get(k) else "✗" for k in ("stable", "unique", "novel"))


def _novelty_cell(hit: dict) -> str:
    novelty = hit.get("novelty")
    if novelty is None:
        return "unjudged"
    ref = hit.get("novelty_ref_id")
    return f"{novelty} {ref}" if ref else f"{novelty} (vs {hit.get('novelty_compared') or 0})"


def _spacegroup_cell(hit: dict) -> str:
    before, after = hit.get("spacegroup_generated"), hit.get("spacegroup_relaxed")
    if not (before or after):
        return "-"
    short = [str(x).split(" ")[0] if x else "?" for x in (before, after)]
    return f"{short[0]}→{short[1]}"


def hit_reasons(hits: list[dict]) -> list[str]:
    """One line per hit: its novelty verdict's reason (``verdict.novelty_reason``) and, where
    pymatgen's AFLOW library recognises it, the prototype."""
    lines = []
    for h in hits:
        proto = h.get("prototype_name") or h.get("prototype")
        if not (h.get("novelty_reason") or proto):
            continue
        line = f"{h[K.CANDIDATE_ID][:11]} {h.get('novelty')}: {h.get('novelty_reason') or ''}"
        lines.append(line + (f" · prototype {proto}" if proto else ""))
    return lines


def print_report(console: Console, report: dict) -> None:
    """Counts per state, rejection reasons and the hits table of one campaign."""
    counts = ", ".join(f"{k} {v}" for k, v in report["counts"].items() if v)
    console.print(f"[bold]campaign {report['campaign']}[/bold]: {counts or 'no candidates'}")
    if report.get("failure_counts"):
        reasons = ", ".join(f"{k} ×{v}" for k, v in report["failure_counts"].items())
        console.print(f"rejected: {reasons}")
    if why := report.get("no_physics"):
        # nothing was relaxed: say why, and which spec field changes it
        console.print(f"[yellow]{why['summary']}[/yellow]", highlight=False)
        for flag in why["flags"]:
            console.print(f"  to change it: {flag}", highlight=False)
    console.print(hits_table(report["hits"]))
    for line in hit_reasons(report["hits"]):
        console.print(line, highlight=False, soft_wrap=True)


def print_run(console: Console, run: dict, log_path: str | None = None) -> None:
    """The end of ``genflow campaign run``: report, failed jobs, where the log is."""
    if run.get("already_completed"):
        console.print(
            f"campaign {run['campaign']!r} already completed; showing its results "
            "(use --name to run again under a new name)"
        )
    print_report(console, run)
    failed = run.get("failed_jobs") or []
    if failed:
        names = ", ".join(j["name"] for j in failed[:5]) + (" …" if len(failed) > 5 else "")
        where = f"; tracebacks in {log_path}" if log_path else ""
        console.print(f"[red]{len(failed)} job(s) failed[/red]: {names}{where}")
    unreadable = [r for r in run.get("failures") or [] if r["reason"].startswith("parse:")]
    if unreadable:
        n = (run.get("failure_counts") or {}).get("parse", len(unreadable))
        console.print(f"[red]{n} input record(s) could not be read[/red]:", highlight=False)
        for row in unreadable[:5]:
            console.print(f"  {row['reason']}", highlight=False)
    if run.get("elapsed_s") is not None:
        console.print(f"finished in {run['elapsed_s']} s", highlight=False)


def print_status(console: Console, report: dict) -> None:
    """``genflow campaign status``: the report plus throughput, FireWorks states, failures."""
    print_report(console, report)
    state, runner = report.get("state"), report.get("runner") or {}
    line = f"state: {state}"
    if state == "running" and runner.get("holder"):
        h = runner["holder"]
        line += f" (host {h['host']} pid {h['pid']}, heartbeat {runner['heartbeat_age_s']} s ago)"
    console.print(f"[yellow]{line}[/yellow]" if state == "interrupted" else line, highlight=False)
    if report.get("hint"):
        console.print(f"  {report['hint']}", highlight=False)
    tp = report["throughput"]
    if tp["scored_per_hour"] is not None:
        console.print(f"throughput: {tp['scored_per_hour']} scored/h over {tp['wall_hours']} h")
    fws = report.get("fireworks")
    if fws:
        console.print(
            "fireworks: " + ", ".join(f"{k} {v}" for k, v in sorted(fws["states"].items()))
        )
        for fz in fws["fizzled"]:
            console.print(f"  FIZZLED fw {fz['fw_id']} {fz['name']}: {fz['reason']}")
    for row in report["failures"][:20]:
        console.print(
            f"  {row[K.CANDIDATE_ID]} {row.get(K.FORMULA)}: {row['reason']}", highlight=False
        )


def print_refs_status(console: Console, status: dict) -> None:
    """``genflow refs status``: references per source in the database, and the bundled set."""
    table = Table(title="references in the database", box=box.SIMPLE_HEAD)
    for col in ("source", "structures", "formulas", "fingerprinted"):
        table.add_column(col, justify="left" if col == "source" else "right")
    for source, row in status["database"].items():
        table.add_row(source, str(row["n"]), str(row["n_formulas"]), str(row["n_fingerprinted"]))
    console.print(table)
    console.print("bundled (always used by the gate): " + ", ".join(status["bundled"]))


def print_gate(console: Console, result: dict) -> None:
    """``genflow gate``: one line per input record, then counts per stage."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("input", "formula", "verdict", "novelty", "stage", "reason"):
        table.add_column(col, overflow="fold")
    colour = {"pass": "green", "known": "yellow", "reject": "red", "skipped": "dim"}
    for row in result["rows"]:
        verdict = f"[{colour[row['verdict']]}]{row['verdict']}[/]"
        reason = row["reason"] or ""
        if row["verdict"] == "known":
            reason = f"matches reference {row['reference_id']} ({row['reference_source']})"
        elif row.get("novelty_reason"):
            reason = row["novelty_reason"]
        table.add_row(row["key"], row["formula"] or "", verdict, row.get("novelty") or "",
                      row["stage"] or "", reason)  # fmt: skip
    console.print(table)
    s = result["summary"]
    stages = ", ".join(f"{k} {v}" for k, v in s["rejected_by_stage"].items()) or "none"
    console.print(
        f"{s['n_in']} records: {s['n_pass']} pass ({s['n_known']} known), "
        f"{s['n_rejected']} rejected ({stages}), {s.get('n_skipped', 0)} skipped, "
        f"{s['n_unreadable']} unreadable; references: {result['references'] or 'not used'}",
        highlight=False,
    )


def print_trace(console: Console, chain: dict) -> None:
    """``genflow trace``: the chain from a hit back to the generator sample that made it."""
    hits = [h for h, hit in chain["hit"][K.IS_HIT].items() if hit]
    threshold = chain["hit"]["hit_threshold"]
    reason = chain[K.REJECT_REASON]
    console.print(
        f"[bold]{chain[K.CANDIDATE_ID]}[/bold] {chain[K.FORMULA]} — {chain[K.STATE]}"
        + (f" ({reason})" if reason else "")
    )
    console.print(
        f"  hit        : {', '.join(hits) or 'no'}"
        f" (threshold {threshold if threshold is not None else 'settings'} eV/atom)"
    )
    scores = chain["score"]["scores"]
    parts = [f"{h} E_d {s.get('e_d')}" for h, s in scores.items()]
    console.print(f"  score round: {chain['score']['scored_at']}  {'; '.join(parts) or '-'}")
    relax = chain["relax"] or {}
    console.print(
        f"  relax task : {relax.get('engine', '-')} {relax.get('task_uuid', '-')} "
        f"{relax.get('task_name') or ''} E {relax.get('energy_per_atom')} eV/atom"
    )
    verdict = chain.get("verdict") or {}
    if verdict:
        dup = verdict.get("duplicate_of")
        console.print(
            f"  verdict    : {verdict.get('novelty')} ({verdict.get('novelty_reason')}); "
            + (f"duplicate of {dup}" if dup else "unique")
            + f"; space group {verdict.get('spacegroup_generated') or '?'} → "
            f"{verdict.get('spacegroup_relaxed') or '?'}"
            + (f", prototype {verdict['prototype']}" if verdict.get("prototype") else ""),
            highlight=False,
        )
    else:
        console.print("  verdict    : not judged on the relaxed cell")
    gate = chain["gate"] or {}
    known = f", matches {gate.get('novelty_match')}" if gate.get("novel") is False else ""
    console.print(
        f"  gate record: {gate.get('gated_at')} valid {gate.get('valid')} smact "
        f"{gate.get('smact_valid')} novel (pre-relax) {gate.get('novel')}{known}"
    )
    console.print(
        f"  candidate  : campaign {chain['candidate']['campaign']}, "
        f"created {chain['candidate']['created_at']}"
    )
    gen = chain["generator"]
    console.print(
        f"  generator  : {gen.get('model_name')} checkpoint {gen.get('checkpoint_hash')} "
        f"seed {gen.get('seed')} index {gen.get('sample_index')} "
        f"condition {gen.get('conditioning') or '-'}",
        highlight=False,
    )
    for problem in chain["problems"]:
        console.print(f"  [red]problem[/red]: {problem}")
