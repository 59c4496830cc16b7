"""The mp-api builder on synthetic ``/materials/thermo/`` responses (HTTP patched, no network).

Neither response was captured from the Materials Project: ``data/mp_api_thermo_Cl-Na-O.json.gz``
is *synthetic*, assembled in the API's format from the bundled MP-2021 table and pymatgen's
MP2020 corrections (``data/make_mp_api_response.py``), so comparing the builder's energies with
the bundled hull would hold by construction and shows nothing. What these tests can show: the
request mp-api's own client sends (``requests.Session.send`` is replaced, so mp-api builds the
request and parses the response), and the builder's arithmetic on a response whose numbers
are written by hand below (energy + correction per atom, E_d against the hull it builds).
"""

from __future__ import annotations

import gzip
import json
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition
from requests.models import Response

from genflow.hull import load_hull
from genflow.hull.mp_api import build_mp_api_hull

from .conftest import DATA

KEY = "k" * 32


def _serve(monkeypatch, record: dict) -> list[requests.PreparedRequest]:
    """Answer mp-api's heartbeat and thermo requests with ``record``; return what was sent."""
    sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        sent.append(request)
        path = urlparse(request.url).path
        if path.endswith("/heartbeat"):
            body = record["heartbeat"]
        elif path.endswith("/materials/thermo/"):
            body = record["thermo"]
        else:
            raise AssertionError(f"unexpected request {request.url}")
        response = Response()
        response.status_code = 200
        response.url = request.url
        response.request = request
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        return response

    monkeypatch.setattr(requests.Session, "send", send)
    return sent


@pytest.fixture
def recorded(monkeypatch) -> list[requests.PreparedRequest]:
    """The synthetic Na-Cl-O response (module docstring)."""
    with gzip.open(DATA / "mp_api_thermo_Cl-Na-O.json.gz", "rt") as fh:
        return _serve(monkeypatch, json.load(fh))


def _docs() -> list[dict]:
    with gzip.open(DATA / "mp_api_thermo_Cl-Na-O.json.gz", "rt") as fh:
        return json.load(fh)["thermo"]["data"]


def test_builder_on_recorded_response(recorded, monkeypatch) -> None:
    monkeypatch.setenv("GENFLOW_MP_API_KEY", KEY)
    hull = load_hull("mp-api:Na-Cl-O")
    assert hull.name == "mp-api:Cl-Na-O"
    thermo = [r for r in recorded if "/materials/thermo/" in r.url]
    assert len(thermo) == 1
    query = parse_qs(urlparse(thermo[0].url).query)
    assert query["thermo_types"] == ["GGA_GGA+U"]
    assert set(query["chemsys"][0].split(",")) == {
        "Cl",
        "Na",
        "O",
        "Cl-Na",
        "Cl-O",
        "Na-O",
        "Cl-Na-O",
    }
    assert thermo[0].headers["x-api-key"] == KEY

    docs = _docs()
    assert len(hull) == len(docs)
    entries = []
    for doc in docs:
        d = doc["entries"]["GGA_GGA+U"]
        comp = Composition.from_dict(d["composition"])
        entries.append(PDEntry(comp, d["energy"] + d["correction"]))
    pd_ = PhaseDiagram(entries)
    for formula, e in [("NaClO3", -4.0), ("Na2O", -3.6), ("NaCl", -3.5), ("Cl2O", -2.0)]:
        comp = Composition(formula)
        expected = pd_.get_decomp_and_e_above_hull(
            PDEntry(comp, e * comp.num_atoms), allow_negative=True
        )[1]
        [score] = hull.score([formula], [e])
        assert score.e_d == pytest.approx(expected, abs=1e-6)


def _hand_made_entry(mid: str, species: list[str], energy: float, correction: float) -> dict:
    from pymatgen.core import Lattice, Structure
    from pymatgen.entries.computed_entries import (
        ComputedStructureEntry,
        ConstantEnergyAdjustment,
    )

    coords = [[0, 0, 0], [0.5, 0.5, 0.5]][: len(species)]
    structure = Structure(Lattice.cubic(4.0), species, coords)
    adjustments = (
        [ConstantEnergyAdjustment(correction, uncertainty=0.0, name="hand-made")]
        if correction
        else []
    )
    entry = ComputedStructureEntry(
        structure, energy, energy_adjustments=adjustments, entry_id=f"{mid}-GGA"
    )
    return {"entries": {"GGA_GGA+U": entry.as_dict()}, "thermo_type": "GGA_GGA+U"}


def test_builder_arithmetic_on_a_hand_made_response(monkeypatch) -> None:
    """Numbers written here, not derived from genflow: E/atom = (energy + correction) / n."""
    docs = [
        _hand_made_entry("mp-1", ["Na"], -1.0, 0.0),  # -1.0 eV/atom
        _hand_made_entry("mp-2", ["Cl"], -2.0, 0.0),  # -2.0 eV/atom
        _hand_made_entry("mp-3", ["Na", "Cl"], -8.0, -1.0),  # (-8 - 1) / 2 = -4.5 eV/atom
    ]
    record = {
        "heartbeat": {"version": "0.87.3", "db_version": "x", "access_controlled_batch_ids": []},
        "thermo": {"data": docs, "meta": {"total_doc": len(docs)}},
    }
    _serve(monkeypatch, record)
    hull = build_mp_api_hull(["Na", "Cl"], api_key=KEY)
    energies = dict(zip(hull.ids, hull.energies, strict=True))
    assert energies == pytest.approx({"mp-1-GGA": -1.0, "mp-2-GGA": -2.0, "mp-3-GGA": -4.5})
    # NaCl's hull energy is -4.5 eV/atom: E_d of -4.0 is +0.5, of -5.0 is -0.5
    scores = hull.score(["NaCl", "NaCl", "Na"], [-4.0, -5.0, -0.9])
    assert [s.e_d for s in scores] == pytest.approx([0.5, -0.5, 0.1])


def test_builder_needs_key(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("GENFLOW_MP_API_KEY", raising=False)
    monkeypatch.setenv("GENFLOW_CONFIG_FILE", str(tmp_path / "none.yaml"))
    with pytest.raises(ValueError, match="GENFLOW_MP_API_KEY"):
        build_mp_api_hull("Na-Cl")
