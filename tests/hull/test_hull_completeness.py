"""Derived MP hull points, MP-20 scale fixes, and the bundled hull's measured completeness.

Figures (``benchmarks/bench_hull_completeness.py``; held-out compositions whose bundled hull
lies > 25 meV/atom above MP's, before -> after derived points): pilot 9.60 % -> 7.71 %,
bi/ternary val 11.23 % -> 11.07 %, 5-fold 9.2-11.0 % -> 7.6-9.2 %. See hull/data/README.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genflow.hull import ReferenceHull
from genflow.hull.completeness import (
    GAP_TOL,
    by_group,
    holdout_parts,
    load_inputs,
    measure,
    point_check,
    summarize,
)
from genflow.hull.derived import (
    BOUND_RULE,
    HULL_POINT_SOURCE,
    HULL_POINT_TAG,
    KIND_HULL_POINT,
    KIND_MATERIAL,
    SCALE_TOL,
    bound_by_mp20,
    composition_keys,
    is_hull_point,
    mp_hull_energies,
    mp_hull_points,
)
from genflow.hull.scheme import oxide_type_guess, scale_flag

#: Bounds on the held-out fraction > 25 meV/atom above MP's (measured 7.71 % and 11.07 %).
GAP_BOUND = {"pilot": 0.09, "biternary": 0.125}


@pytest.fixture(scope="module")
def inputs() -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    return load_inputs()


@pytest.fixture(scope="module")
def mp_values(inputs) -> pd.DataFrame:
    """MP's hull energy (eV/atom, hull scale) per distinct non-elemental MP-20 composition."""
    _, rows, mu = inputs
    rows = rows.assign(key=composition_keys(rows["composition"].tolist()))
    rows["mp_hull"] = mp_hull_energies(rows, mu)
    rows = rows[[len(k) > 1 for k in rows["key"]]].drop_duplicates("key")
    rows["chemsys"] = ["-".join(el for el, _ in k) for k in rows["key"]]
    return rows.reset_index(drop=True)


def test_hull_points_are_marked_not_materials(inputs, mp2021: ReferenceHull) -> None:
    table, rows, mu = inputs
    points = table[table["source"] == HULL_POINT_SOURCE]
    assert len(points) > 500
    assert (points["kind"] == KIND_HULL_POINT).all()
    assert (table.loc[table["source"] != HULL_POINT_SOURCE, "kind"] == KIND_MATERIAL).all()
    assert points["material_id"].isin(rows["material_id"]).all()
    assert points["energy"].isna().all() and points["correction"].isna().all()
    tagged = [i for i in mp2021.ids if is_hull_point(i)]
    assert len(tagged) == len(points)
    assert f"mp-549706{HULL_POINT_TAG}" in tagged  # MgO: MP's hull energy, a metastable row
    # each point is E_f - e_above_hull of its row, on the hull's scale
    merged = points.merge(rows, on="material_id", suffixes=("", "_row"))
    expected = mp_hull_energies(merged.assign(composition=merged["composition_row"]), mu)
    np.testing.assert_allclose(merged["energy_per_atom"], expected, atol=2e-8)


def test_mp20_rows_agree_on_mp_hull_energy(inputs) -> None:
    """Every row of one composition gives the same MP hull energy (one point each)."""
    _, rows, mu = inputs
    keys = pd.Series([str(k) for k in composition_keys(rows["composition"].tolist())])
    spread = pd.Series(mp_hull_energies(rows, mu)).groupby(keys).agg(np.ptp)
    assert spread.max() < 1e-4


def test_points_agree_with_snapshot(inputs) -> None:
    """Where snapshot and MP-20 both hold a composition they agree (composition-only scale):
    measured median 2e-7, p95 3.4 meV/atom, 45 of 4,637 over 25 meV/atom."""
    check = point_check(*inputs)
    diff = check["diff"].abs()
    assert len(check) > 4500
    assert diff.median() < 1e-5 and diff.quantile(0.95) < 0.005
    assert (diff > GAP_TOL).mean() < 0.015


def test_no_entry_below_mp_value(inputs, mp_values: pd.DataFrame) -> None:
    """No bundled entry sits > 25 meV/atom below MP's hull energy at its own composition."""
    table, _, _ = inputs
    mp = dict(zip(mp_values["key"], mp_values["mp_hull"], strict=True))
    keys = composition_keys(table["composition"].tolist())
    below = [
        (mid, e - mp[k])
        for mid, k, e in zip(table["material_id"], keys, table["energy_per_atom"], strict=True)
        if k in mp and e < mp[k] - SCALE_TOL
    ]
    assert below == []
    flags = table["scale_flag"].fillna("")
    assert flags.str.startswith("mp20_").sum() > 30  # fixed from MP-20 (and said so)


def test_known_scale_slips_fixed(inputs, mp2021: ReferenceHull) -> None:
    table, _, _ = inputs
    flag = dict(zip(table["formula"], table["scale_flag"].fillna(""), strict=True))
    assert flag["K3NbO8"].startswith("oxide_type:peroxide")  # MP-20 agrees (K3Nb(O2)4)
    assert flag["LiO8"] == flag["BaO10"] == "oxide_type:superoxide"
    assert "oxide_type:unsettled" in flag["NdO2"]
    assert flag["KN3"].startswith("mp20_energy:mp-827")
    # unchecked snapshot compounds that held the hull below MP's at an MP-20 composition
    # were raised onto MP-20's bound; those other MP-20 compositions vouch for stay as they are
    assert flag["NdO2"].startswith(f"{BOUND_RULE}:mp-1173386")  # NdCuO3
    assert flag["Li4Mn3Cr3O12"].startswith(f"{BOUND_RULE}:")
    for vouched in ("Nd(CuO2)2", "CsI", "Mn3O4", "Li2MnO3", "Au2O3", "Li6MnO4"):
        assert BOUND_RULE not in flag[vouched], vouched
    assert not table["scale_flag"].str.contains("below_mp_hull").any()


def test_bounded_entries_are_raised_onto_mp20(inputs) -> None:
    """Each ``mp20_bound`` row: an unchecked snapshot compound, raised (never lowered) from
    its composition-based energy, and re-running the rule on the unraised table gives the
    stored energies back (measured: 7 rows, +64 to +256 meV/atom)."""
    table, rows, mu = inputs
    bounded = table["scale_flag"].str.contains(BOUND_RULE).to_numpy()
    sub = table[bounded]
    assert 3 <= len(sub) <= 15
    assert (sub["source"] == "gnome_mp_snapshot").all()
    points = mp_hull_points(rows, mu)
    keys = composition_keys(sub["composition"].tolist())
    assert all(len(k) > 1 and k not in set(points["key"]) for k in keys)
    unraised = (table["energy"] + table["correction"]) / table["n_sites"]
    shift = sub["energy_per_atom"] - unraised[bounded]
    assert (shift > 0.025).all()
    materials = table[table["kind"] == KIND_MATERIAL].copy()
    flags = materials["scale_flag"].str.contains(BOUND_RULE)
    materials.loc[flags, "energy_per_atom"] = unraised[materials.index[flags]]
    materials.loc[flags, "scale_flag"] = materials.loc[flags, "scale_flag"].str.replace(
        rf"{BOUND_RULE}:[^;]*;?", "", regex=True
    )
    redone, changes, unresolved = bound_by_mp20(materials, points)
    assert unresolved == []
    assert sorted(changes["material_id"]) == sorted(sub["material_id"])
    np.testing.assert_allclose(
        redone["energy_per_atom"], table.loc[table["kind"] == KIND_MATERIAL, "energy_per_atom"]
    )


def test_oxide_type_guess() -> None:
    assert oxide_type_guess("LiO8") == "superoxide" and oxide_type_guess("K3NbO8") == "peroxide"
    # MP types these as oxides (MP-20's energies agree with plain oxide corrections)
    assert oxide_type_guess("KCO3") is None and oxide_type_guess("PaO3") is None
    assert oxide_type_guess("Fe3O4") is None and oxide_type_guess("O2") is None
    assert scale_flag("Fe3O4") == "" and scale_flag("CsTeAu") == "anion_guess:Te"


def test_unsettled_oxygen_is_an_oxide_on_mp20_structures() -> None:
    """Where charge balance leaves O between -2 and -1 (``oxide_type:unsettled``: NdO2,
    Al11O18, KCO3, ...) MP's structure analysis finds no O-O bond: on every such MP-20
    structure pymatgen's ``oxide_type`` says oxide (or hydroxide), both corrected as oxides,
    as the composition fallback does. So the 25-meV/atom disagreements of NdO2 and Al11O18
    with MP-20 are not an oxide-type slip, and they are bounded rather than retyped."""
    from pymatgen.core import Structure
    from pymatgen.entries.compatibility import oxide_type

    from genflow.model.data import bundled_paths

    rows = pd.concat([pd.read_csv(p) for p in bundled_paths("mp_20")])
    rows = rows.drop_duplicates("material_id")
    flags = [scale_flag(f, oxide_type_guess(f)) for f in rows["pretty_formula"]]
    unsettled = rows[[("oxide_type:unsettled" in f) for f in flags]]
    unsettled = unsettled[~unsettled["elements"].str.contains("'F'")]  # O is the anion
    assert len(unsettled) >= 15
    types = {oxide_type(Structure.from_str(c, fmt="cif")) for c in unsettled["cif"]}
    assert types <= {"oxide", "hydroxide"}, types
    typed = rows[[("oxide_type:peroxide" in f) for f in flags]].head(3)  # the test can fail
    assert {oxide_type(Structure.from_str(c, fmt="cif")) for c in typed["cif"]} == {"peroxide"}


@pytest.mark.parametrize(
    "system", [("Mg", "O"), ("Fe", "O"), ("Sm", "O"), ("Fe", "Mg", "O")], ids="-".join
)
def test_must_show_systems_on_mp_hull(
    system: tuple, mp_values: pd.DataFrame, mp2021: ReferenceHull
) -> None:
    """MgO, Fe3O4, Sm-O and Mg-Fe-O: within 25 meV/atom of MP's hull at every shipped row."""
    rows = mp_values[[set(c.split("-")) <= set(system) for c in mp_values["chemsys"]]]
    assert len(rows) > 0
    scores = mp2021.score(rows["composition"].tolist(), rows["mp_hull"].to_numpy())
    assert np.abs(scores.e_d).max() < GAP_TOL
    named = {("Mg", "O"): "MgO", ("Fe", "O"): "Fe3O4"}.get(system)
    assert named is None or named in set(rows["pretty_formula"])


def test_in_sample_hull_reproduces_mp(mp_values: pd.DataFrame, mp2021: ReferenceHull) -> None:
    """At every shipped composition the bundled hull is MP's: never more than 25 meV/atom
    above it, and never more than 25 meV/atom below (before MP-20 bounds: 11 of 8,679 below,
    e.g. PuRh3C 120, Ce(SnRh)2 171, Li3Mn2Cr2O8 117 meV/atom, through snapshot compounds of
    other compositions; ``derived.bound_by_mp20``)."""
    scores = mp2021.score(mp_values["composition"].tolist(), mp_values["mp_hull"].to_numpy())
    gap = scores.e_hull - mp_values["mp_hull"].to_numpy()
    assert np.all(gap < GAP_TOL)
    below = mp_values.loc[gap < -GAP_TOL, "pretty_formula"].tolist()
    assert below == []


@pytest.mark.parametrize("part", ["pilot", "biternary"])
def test_held_out_completeness_bound(part: str, inputs) -> None:
    table, rows, mu = inputs
    held = holdout_parts(rows, k=0)[part]
    gaps = measure(table, rows, held, mu)
    summary = summarize(gaps)
    assert summary["compositions"] == len(held) > 2500
    after, before = summary["after"], summary["before"]
    assert after["above_25meV"] < GAP_BOUND[part]
    assert after["above_25meV"] <= before["above_25meV"]
    assert after["above_100meV"] <= before["above_100meV"]
    assert after["below_25meV"] < 0.006
    worst = by_group(gaps, "element")
    assert worst.loc["Yb", "above_after"] > 0.5  # no Yb compound in any source: a known hole


def test_holed_hull_fails_the_bound(inputs) -> None:
    """Dropping every O compound from the hull must break the bound: the test can fail."""
    table, rows, mu = inputs
    held = holdout_parts(rows, k=0)["pilot"]
    summary = summarize(measure(table, rows, held, mu, drop_elements=["O"]))
    assert summary["after"]["above_25meV"] > 2 * GAP_BOUND["pilot"]
