"""The composition canon: chemical systems, the one formula spelling, unknown elements."""

from __future__ import annotations

import pytest
from pymatgen.core import Composition

from genflow.core.chem import (
    CompositionError,
    chemsys_string,
    formula,
    parse_chemsys,
    reduce_composition,
    reduced_formula,
    to_composition,
    unknown_symbols,
)


@pytest.mark.parametrize(
    "value", ["Li-Fe-O", "Li Fe O", "O,Li,Fe", ["Li", "Fe", "O"], ("O", "Fe", "Li", "Fe")]
)
def test_parse_chemsys_spellings_give_one_sorted_tuple(value):
    assert parse_chemsys(value) == ("Fe", "Li", "O")
    assert chemsys_string(value) == "Fe-Li-O"


@pytest.mark.parametrize(
    ("value", "bad"), [("Li-Qq-O", "Qq"), (["Li", "Xx"], "Xx"), ("li-O", "li")]
)
def test_parse_chemsys_names_the_bad_symbol(value, bad):
    with pytest.raises(ValueError, match=f"unknown element {bad}"):
        parse_chemsys(value)
    with pytest.raises(ValueError, match="empty chemical system"):
        parse_chemsys(" - ")


def test_one_spelling_for_every_way_of_writing_a_composition():
    spellings = ["BaTiO3", "Ba1Ti1O3", "Ba1 Ti1 O3", "O3TiBa", Composition("BaTiO3")]
    spellings.append({"Ba": 1, "Ti": 1, "O": 3})
    assert {formula(s) for s in spellings} == {"BaTiO3"}
    assert formula("Sr2Ti2O6") == "Sr2Ti2O6"  # counts kept: an exact-composition condition
    assert formula("LiO") == "LiO"  # pymatgen's reduced_formula would say Li2O2
    assert formula("Si4C4") == "Si4C4"
    assert Composition(formula("Ba3Ti4O2")) == Composition("Ba3Ti4O2")


def test_reduced_formula_is_pymatgens_for_any_input():
    for value in ["Sr2Ti2O6", "Fe4O6", "LiO", "Li(FePO4)2", "Ba1 Ti1 O3"]:
        assert reduced_formula(value) == Composition(value).reduced_formula
    assert reduced_formula((("O", 6.0), ("Sr", 2.0), ("Ti", 2.0))) == "SrTiO3"
    assert reduce_composition("Sr2Ti2O6") == Composition("SrTiO3")


def test_unknown_elements_are_one_check():
    assert unknown_symbols(["Na", "Xx", "Qq", "Xx"]) == ["Qq", "Xx"]
    assert unknown_symbols(Composition("Xx2O").elements) == ["Xx"]  # pymatgen: DummySpecies
    for bad in ("Xx3", "NaXx", {"Na": 1, "Xx": 1}):
        with pytest.raises(CompositionError, match="unknown element Xx"):
            to_composition(bad)
    with pytest.raises(CompositionError, match="no atoms"):
        to_composition({"Na": 0})
