"""Report sets: Tables 2-3 on hand-made sets, and an MP-20 split put on the hull's scale."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genflow.evaluation.report_sets import ReportSet, load_report_set, pair_tables, set_table


class _NoCampaigns:
    """A store without campaigns: every source is a file or a split."""

    class campaigns:  # mimics the pymongo attribute
        @staticmethod
        def find_one(*_args, **_kwargs):
            return None


def test_tables_by_hand() -> None:
    a = ReportSet("A", "campaign", {"h": [("NaCl", -0.01, -2.0), ("NaCl", 0.3, -1.9),
                                          ("KBr", 0.02, -1.5), (None, None, None)]})  # fmt: skip
    b = ReportSet("B", "file", {"h": [("NaCl", 0.0, -1.8), ("KBr", -0.2, -1.7),
                                      ("LiF", 0.1, -3.0)]})  # fmt: skip
    t3 = {r["set"]: r for r in set_table([a, b], ["h"])}
    assert (t3["A"]["n_rows"], t3["A"]["n_scored"], t3["A"]["n_stable"]) == (4, 3, 1)
    assert t3["A"]["n_metastable"] == 2 and t3["A"]["median_e_d"] == pytest.approx(0.02)
    (row,), deltas = pair_tables([a, b], ["h"])
    # matched NaCl (A's lowest -2.0 vs -1.8) and KBr (-1.5 vs -1.7): ΔE_f = (-0.2 + 0.2) / 2
    assert row["n_matched"] == 2 and row["n_only_b"] == 1 and row["n_only_a"] == 0
    assert row["delta_e_form"] == pytest.approx(0.0, abs=1e-12)
    assert row["e_form_reduction_rate"] == 0.5
    assert deltas[("A", "B", "h")] == pytest.approx({"NaCl": -0.2, "KBr": 0.2})
    assert list(deltas[("A", "B", "h")]) == ["NaCl", "KBr"]  # increasing difference


def test_mp20_split_on_the_bundled_hull() -> None:
    """MP's formation energies moved onto mp2021 through its own elemental references: E_d
    lands on MP's e_above_hull for most rows (the bundled hull is MP's, in the MP2020 scheme)."""
    from genflow.model.data import load_dataset

    s = load_report_set(_NoCampaigns, "mp_20:test", ["mp2021"], limit=60)
    assert s.kind == "reference" and len(s.rows["mp2021"]) == 60
    ds = load_dataset("mp_20:test", limit=60)
    mine = np.array([np.nan if e is None else e for _, e, _ in s.rows["mp2021"]])
    ok = ~np.isnan(mine)
    assert ok.sum() >= 55
    diff = np.abs(mine[ok] - ds.properties["e_above_hull"][ok])
    assert np.median(diff) < 0.005 and np.mean(diff < 0.025) > 0.9
    e_form = [ef for _, _, ef in s.rows["mp2021"] if ef is not None]
    assert np.allclose(sorted(e_form), sorted(ds.properties["formation_energy_per_atom"][ok]),
                       atol=1e-6)  # fmt: skip
    with pytest.raises(ValueError, match="only mp_20 splits"):
        load_report_set(_NoCampaigns, "perov_5:test", ["mp2021"], limit=3)
    with pytest.raises(ValueError, match="not a campaign in the store"):
        load_report_set(_NoCampaigns, "nowhere.csv", ["mp2021"])
    assert not math.isnan(set_table([s], ["mp2021"])[0]["median_e_d"])


def test_stratified_convergence_rate_by_hand() -> None:
    from genflow.evaluation.report import stratified

    cond = {"rows": [
        {"composition": "A", "converged": 1, "attempted": 2},
        {"composition": "B", "converged": 3, "attempted": 4},
        {"composition": "C", "converged": 0, "attempted": 1},
        {"composition": "D", "converged": 1, "attempted": 1},
    ]}  # fmt: skip
    st = stratified(cond, {"A": ("s1", 30), "B": ("s1", 30), "C": ("s2", 10)})
    # s1: 4 of 6 converged, N=30; s2: 0 of 1, N=10 → (30 · 4/6 + 10 · 0) / 40
    assert st["rate"] == pytest.approx(0.5)
    assert st["strata"]["s1"] == {"converged": 4, "tried": 6, "size": 30.0}
    assert st["unassigned"] == ["D"]


def test_read_strata(tmp_path) -> None:
    """``genflow report --strata``'s CSV: composition → (stratum, N_s); wrong columns raise."""
    from genflow.evaluation.report import read_strata

    good = tmp_path / "strata.csv"
    good.write_text("composition,stratum,size\n NaCl ,binary,30\nSi,unary,10.5\n")
    assert read_strata(good) == {"NaCl": ("binary", 30.0), "Si": ("unary", 10.5)}
    bad = tmp_path / "bad.csv"
    bad.write_text("composition,size\nNaCl,30\n")
    with pytest.raises(ValueError, match="want columns composition,stratum,size"):
        read_strata(bad)
