"""The paper's VASP settings as powerups: each one's effect on the generated inputs."""

from __future__ import annotations

import bz2
import json
from importlib.resources import files

import pytest
from atomate2.vasp.flows.mp import MPGGADoubleRelaxStaticMaker
from monty.json import MontyDecoder
from pymatgen.core import Lattice, Structure
from pymatgen.io.vasp.inputs import Kpoints, PotcarSingle
from pymatgen.io.vasp.sets import MPRelaxSet

from genflow.hull.scheme import NEWER_PAW_POTCARS
from genflow.workflows.powerups import (
    MPRelaxSetNewerPAW,
    MPStaticSetNewerPAW,
    apply_paper_settings,
    mp_compatibility_problems,
    use_ferromagnetic_moments,
    use_gamma_centred_kpoints,
    use_newer_paw_potentials,
    vasp_makers,
)


def _generators(maker):
    return [m.input_set_generator for _, _, m in vasp_makers(maker)]


def _hexagonal() -> Structure:
    # wurtzite-like ZnO: a hexagonal lattice
    return Structure(
        Lattice.hexagonal(3.25, 5.2),
        ["Zn", "Zn", "O", "O"],
        [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, 0.38], [2 / 3, 1 / 3, 0.88]],
    )


def _cubic() -> Structure:
    return Structure(Lattice.cubic(4.1), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_newer_paw_table_matches_pymatgen_potcar_stats():
    """Each newer POTCAR has MP's symbol, the same ZVAL and a different (newer) TITEL."""
    path = files("pymatgen.io.vasp") / "potcar-summary-stats.json.bz2"
    stats = json.loads(bz2.decompress(path.read_bytes()))

    def lookup(functional, titel):
        entries = stats[functional][titel.replace(" ", "")]
        return {e["symbol"]: e["ZVAL"] for e in entries}

    assert set(NEWER_PAW_POTCARS) == {"Li", "Na", "Mg", "Ge", "Ga"}
    for el, paw in NEWER_PAW_POTCARS.items():
        assert MPRelaxSet.CONFIG["POTCAR"][el] == paw.symbol
        assert lookup("PBE", paw.mp_titel)[paw.symbol] == paw.zval
        assert lookup(paw.functional, paw.new_titel)[paw.symbol] == paw.zval
        assert paw.new_titel != paw.mp_titel


def test_powerups_return_copies():
    maker = MPGGADoubleRelaxStaticMaker()
    before = maker.as_dict()
    powered = apply_paper_settings(maker)
    assert maker.as_dict() == before
    assert powered is not maker
    assert [type(g).__name__ for g in _generators(maker)] == [
        "MPRelaxSet",
        "MPRelaxSet",
        "MPStaticSet",
    ]


def test_newer_paw_potentials_per_element_release(monkeypatch):
    """Li and Mg come from PBE_54, O and Si from MP's legacy PBE set, symbols unchanged."""
    powered = use_newer_paw_potentials(MPGGADoubleRelaxStaticMaker())
    gens = _generators(powered)
    assert [type(g) for g in gens] == [MPRelaxSetNewerPAW, MPRelaxSetNewerPAW, MPStaticSetNewerPAW]

    structure = Structure(
        Lattice.cubic(5.0),
        ["Li", "Mg", "Si", "O"],
        [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )
    vis = gens[0].get_input_set(structure, potcar_spec=True)
    assert vis["POTCAR.spec"].split() == MPRelaxSet(structure=structure).potcar_symbols

    gen = gens[0]
    gen.structure = structure
    sources = {el: (sym, func) for el, sym, func in gen.potcar_sources()}
    assert sources == {
        "Li": ("Li_sv", "PBE_54"),
        "Mg": ("Mg_pv", "PBE_54"),
        "Si": ("Si", "PBE"),
        "O": ("O", "PBE"),
    }

    calls = []
    monkeypatch.setattr(
        PotcarSingle,
        "from_symbol_and_functional",
        classmethod(lambda cls, symbol, functional: calls.append((symbol, functional)) or symbol),
    )
    potcar = gen.potcar
    assert list(potcar) == [sym for _, sym, _ in gen.potcar_sources()]  # POSCAR order
    assert sorted(calls) == sorted(sources.values())


def test_gamma_centred_kpoints_for_hexagonal_cells():
    powered = use_gamma_centred_kpoints(MPGGADoubleRelaxStaticMaker())
    for gen in _generators(powered):
        assert gen.force_gamma
        assert (
            gen.get_input_set(_hexagonal(), potcar_spec=True)["KPOINTS"].style
            == Kpoints.supported_modes.Gamma
        )

    # hexagonal_only: pymatgen's automatic scheme, Monkhorst-Pack for this cubic cell
    auto = use_gamma_centred_kpoints(MPGGADoubleRelaxStaticMaker(), hexagonal_only=True)
    gen = _generators(auto)[0]
    assert not gen.force_gamma
    hexa = gen.get_input_set(_hexagonal(), potcar_spec=True)["KPOINTS"]
    cubic = gen.get_input_set(_cubic(), potcar_spec=True)["KPOINTS"]
    assert hexa.style == Kpoints.supported_modes.Gamma
    assert cubic.style == Kpoints.supported_modes.Monkhorst


def test_ferromagnetic_start_overrides_antiparallel_moments():
    """Only the first relax is edited; it starts ferromagnetic even from +/- site moments."""
    structure = Structure(
        Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]],
        site_properties={"magmom": [3.0, -3.0]},
    )  # fmt: skip
    plain = MPGGADoubleRelaxStaticMaker()
    assert _generators(plain)[0].get_input_set(structure, potcar_spec=True)["INCAR"]["MAGMOM"] == [
        3.0,
        -3.0,
    ]

    powered = use_ferromagnetic_moments(plain)
    first, second, static = _generators(powered)
    incar = first.get_input_set(structure, potcar_spec=True)["INCAR"]
    assert incar["ISPIN"] == 2
    assert incar["MAGMOM"] == [5.0, 5.0]  # MP's initial Fe moment, both up
    assert "MAGMOM" not in second.user_incar_settings
    assert "MAGMOM" not in static.user_incar_settings

    every = use_ferromagnetic_moments(plain, first_only=False)
    assert all("MAGMOM" in g.user_incar_settings for g in _generators(every))


def test_paper_settings_serialise_and_stay_mp_compatible():
    powered = apply_paper_settings(MPGGADoubleRelaxStaticMaker())
    assert mp_compatibility_problems(powered) == []
    restored = MontyDecoder().process_decoded(json.loads(json.dumps(powered.as_dict())))
    gens = _generators(restored)
    assert type(gens[0]) is MPRelaxSetNewerPAW
    assert gens[0].potcar_functional_overrides["Ge"] == "PBE_54"
    assert gens[0].force_gamma
    assert gens[0].user_incar_settings["MAGMOM"]["Li"] > 0


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"input_set_generator->user_potcar_functional": "PBE_54"}, "POTCAR functional"),
        ({"input_set_generator->user_potcar_settings->Fe": "Fe"}, "POTCAR Fe=Fe"),
        ({"input_set_generator->user_incar_settings->LDAU": False}, "LDAU"),
    ],
)
def test_mp_compatibility_problems_found(edit, expected):
    from atomate2.vasp.powerups import update_vasp_input_generators

    broken = update_vasp_input_generators(MPGGADoubleRelaxStaticMaker(), edit)
    problems = mp_compatibility_problems(broken)
    assert len(problems) == 3 and all(expected in p for p in problems)
