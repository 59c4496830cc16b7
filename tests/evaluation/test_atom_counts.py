"""Sites-per-sample diagnostics of ``eval proxy`` (issue 24): numbers and the plot."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from genflow.evaluation.atom_counts import site_count_metrics, site_histogram
from genflow.evaluation.plots import site_count_histogram


def _crystal(n: int) -> Structure:
    return Structure(Lattice.cubic(4.0), ["Si"] * n, [[i / max(n, 1), 0, 0] for i in range(n)])


def test_fixed_count_reference_gives_exact_share_and_tvd():
    reference = [_crystal(5)] * 10
    samples = [_crystal(5)] * 6 + [_crystal(3)] * 2 + [_crystal(0), None]
    m = site_count_metrics(samples, reference)
    assert m["sites_hist"] == {"0": 0.1, "3": 0.2, "5": 0.6, "unreadable": 0.1}
    assert m["sites_hist_reference"] == {"5": 1.0}
    assert m["sites_exact_share"] == pytest.approx(0.6)
    assert m["sites_in_reference_share"] == pytest.approx(0.6)
    assert m["sites_tvd"] == pytest.approx(0.4)
    assert m["sites_empty_share"] == pytest.approx(0.1)
    assert m["sites_mean"] == pytest.approx((30 + 6) / 9)
    assert m["sites_mean_reference"] == 5


def test_mixed_count_reference_has_no_exact_share():
    reference = [_crystal(2), _crystal(4), _crystal(4), _crystal(8)]
    samples = [_crystal(4), _crystal(4), _crystal(6), _crystal(8)]
    m = site_count_metrics(samples, reference)
    assert m["sites_exact_share"] is None
    assert m["sites_in_reference_share"] == pytest.approx(0.75)
    assert m["sites_tvd"] == pytest.approx(0.25)  # ½ (0.25 on 2 sites + 0.25 on 6 sites)
    assert site_histogram([]) == {}


def test_plot_is_written(tmp_path):
    hists = {"gen": site_histogram([_crystal(3), _crystal(5)]), "ref": {"5": 1.0}}
    path = site_count_histogram(hists, tmp_path / "sites.png")
    assert path.exists() and path.stat().st_size > 1000
    assert site_count_histogram({}, tmp_path / "empty.png").exists()
