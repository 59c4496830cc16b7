"""The morning report's plots say what they show (issue 23): captions, not file names; a
labelled colour bar; compositions as categories; fractions where sets of different size
compare; no empty panels. Checked on the matplotlib objects, not only on the PNG files."""

from __future__ import annotations

import html

import pytest

from genflow.evaluation import plots
from genflow.evaluation.report import _draw_plots
from genflow.evaluation.report_render import render_html, render_markdown
from genflow.evaluation.report_sets import ReportSet, pair_tables
from genflow.evaluation.report_sites import sites_table


@pytest.fixture
def figures(monkeypatch):
    """Every figure the plot functions save, kept for inspection (keyed by file stem)."""
    kept = {}
    save = plots._save

    def keep(fig, path):
        kept[path.stem] = fig
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return kept


def _sets() -> list[ReportSet]:
    rows = {"mp2021": [("NaCl", -0.01, -2.0), ("KBr", 0.2, -1.5)]}
    small = ReportSet("night", "campaign", rows, sites=(8, 2, None))  # one failed to parse
    big_rows = [("NaCl", 0.05 * i, -1.8) for i in range(10)] + [("LiF", 0.1, -3.0)]
    big = ReportSet("mp_20:test", "reference", {"mp2021": [*big_rows, ("KBr", 0.0, -1.7)]},
                    sites=(2,) * 9 + (4,) * 3)  # fmt: skip
    return [small, big]


def _report(**over) -> dict:
    report = {"campaign": "night", "state": "completed", "mode": "local",
              "stages": {"generated": 3, "gated": 3, "relaxed": 2, "scored": 2},
              "failure_counts": {"validity": 1}, "hits": [
                  {"candidate_id": "gf-1", "formula": "Na1 Cl1", "hull": "mp2021", "e_d": -0.01,
                   "engine": "mlip", "checkpoint_hash": "x"}]}  # fmt: skip
    return {**report, **over}


def test_plots_have_captions_labels_categories_and_fractions(tmp_path, figures):
    sets = _sets()
    _, deltas = pair_tables(sets, ["mp2021"])
    report = _report(sites=sites_table(sets))
    _draw_plots(report, sets, ["mp2021"], {"generated": 3, "scored": 2}, deltas, tmp_path)
    assert set(report["plots"]) == {"funnel", "rejections", "hits_periodic_table", "e_d_mp2021",
                                    "delta_e_form_0_mp2021", "sites_per_structure"}  # fmt: skip
    assert not report["not_drawn"]
    for name, caption in report["captions"].items():
        assert caption != name and len(caption) > 40, (name, caption)

    # E_d: fractions of each set, so 2 rows and 12 rows compare; the legend names both n
    (ax,) = figures["e_d_mp2021"].axes
    assert ax.get_ylabel() == "fraction of the set's scored rows"
    for container in ax.containers:
        assert sum(p.get_height() for p in container) == pytest.approx(1.0)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "night (n=2)" in legend and "mp_20:test (n=12)" in legend

    # ΔE_f: one bar per composition held by both, the compositions on a categorical axis
    (ax,) = figures["delta_e_form_0_mp2021"].axes
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == list(deltas[("night", "mp_20:test", "mp2021")]) == ["NaCl", "KBr"]
    assert "composition" in ax.get_xlabel()

    # sites per structure: one bar series per set on integer site counts, fractions of all
    # rows (night's unparsed row is a third of its rows and is not drawn)
    (ax,) = figures["sites_per_structure"].axes
    assert ax.get_xlabel() == "sites per structure"
    night, ref = ax.containers
    assert [round(p.get_height(), 3) for p in night] == [0.333, 0, 0, 0, 0, 0, 0.333]  # 2…8
    assert [p.get_height() for p in ref][:3] == [0.75, 0.0, 0.25]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["night", "mp_20:test"]
    (mine, theirs) = report["sites"]["rows"]
    assert mine["tvd"] is None and mine["unreadable_share"] == pytest.approx(1 / 3)
    # ½ (|1/3 − 0.75| on 2 + 0.25 on 4 + 1/3 on 8 + 1/3 unreadable) = 2/3
    assert theirs["tvd"] == pytest.approx(2 / 3) and theirs["mean"] == pytest.approx(2.5)
    assert theirs["campaign_in_set_share"] == pytest.approx(1 / 3)
    assert theirs["campaign_exact_share"] is None  # mp_20:test holds two counts

    # hits per element: the colour bar says what its colour counts
    _, colour_bar = figures["hits_periodic_table"].axes
    assert colour_bar.get_ylabel() == "hits containing the element"

    # Markdown and HTML caption each plot with what it shows, not its file name
    md, page = render_markdown(report), render_html(report)
    for name, caption in report["captions"].items():
        assert f"![{caption}]({name}.png)" in md and f"*{caption}*" in md
        assert f"<figcaption>{html.escape(caption)}</figcaption>" in page
        assert f"<figcaption>{name}</figcaption>" not in page


def test_panels_without_data_are_left_out_and_named(tmp_path, figures):
    # nothing scored, nothing parsed
    night = ReportSet("night", "campaign", {"mp2021": [(None, None, None)]}, sites=(None,))
    other = ReportSet("other", "file", {"mp2021": [("LiF", 0.1, -3.0)]},
                      sites_note="no structures and only reduced formulas")  # fmt: skip
    _, deltas = pair_tables([night, other], ["mp2021"])
    report = _report(failure_counts={}, hits=[], sites=sites_table([night, other]))
    assert report["sites"]["skipped"] == {"other": "no structures and only reduced formulas"}
    _draw_plots(report, [night, other], ["mp2021"], {"generated": 1}, deltas, tmp_path)
    assert set(report["plots"]) == {"funnel", "e_d_mp2021"}  # 'other' has E_d rows
    assert report["not_drawn"] == {
        "rejections": "nothing was rejected",
        "hits_periodic_table": "no hits",
        "delta_e_form_0_mp2021": "night and other hold no composition in common",
        "sites_per_structure": "no candidate of night has a structure",
    }
    assert set(figures) == {"funnel", "e_d_mp2021"}  # no empty figure was even drawn
    (ax,) = figures["e_d_mp2021"].axes
    assert "night: no scored rows" in [t.get_text() for t in ax.get_legend().get_texts()]
    md = render_markdown(report)
    assert "Not drawn (no data): rejections: nothing was rejected; hits_periodic_table" in md
