"""The mp-api builder on a recorded ``/materials/thermo/`` response (HTTP patched, no network).

``data/mp_api_thermo_Cl-Na-O.json.gz`` holds the heartbeat and thermo responses; see
``data/make_mp_api_response.py`` for how it was assembled. ``requests.Session.send`` is
replaced, so mp-api's own client code builds the request and parses the response.
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


@pytest.fixture
def recorded(monkeypatch) -> list[requests.PreparedRequest]:
    with gzip.open(DATA / "mp_api_thermo_Cl-Na-O.json.gz", "rt") as fh:
        record = json.load(fh)
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


def test_builder_corrections_match_bundled_hull(recorded, mp2021) -> None:
    hull = build_mp_api_hull(["Na", "Cl", "O"], api_key=KEY)
    for mid in ("mp-22862", "mp-22968", "mp-31050"):  # NaCl, NaClO4, Cl2O7
        mine = hull.energies[hull.ids.index(f"{mid}-GGA")]
        bundled = mp2021.energies[mp2021.ids.index(mid)]
        assert mine == pytest.approx(bundled, abs=1e-6)


def test_builder_needs_key(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("GENFLOW_MP_API_KEY", raising=False)
    monkeypatch.setenv("GENFLOW_CONFIG_FILE", str(tmp_path / "none.yaml"))
    with pytest.raises(ValueError, match="GENFLOW_MP_API_KEY"):
        build_mp_api_hull("Na-Cl")
