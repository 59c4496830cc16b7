"""``genflow web``: read-only, token-guarded, offline; its pages over a real campaign, in chromium.

The fast tests use Flask's test client on the test database (one candidate inserted through
the candidates repository). The slow test runs a real small campaign (imported structures,
CHGNet relax, MP-2021 scores, five rejections with four reasons), starts ``genflow web`` as its
own process and drives Debian's chromium through selenium and ``/usr/bin/chromedriver``: each
page loads without console errors and with no request leaving the server, the hits table
sorts and filters, and the hit page draws its structure on a canvas. A screenshot of each page
is kept in the test's tmp dir (and, with ``GENFLOW_WEB_SCREENSHOTS=DIR``, copied to DIR: how
``docs/web/`` was made).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import missing  # tests/conftest.py: skip locally, fail under CI=true
from typer.testing import CliRunner

from .conftest import DATA

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
#: src/href that points off the server (what "no CDN" rules out)
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def _nacl_candidate(stores, campaign: str = "web-fast"):
    from pymatgen.core import Structure

    from genflow.core.candidates import Candidate, insert_candidates

    structure = Structure.from_file(DATA / "NaCl.cif")
    prov = {"model_name": "import", "checkpoint_hash": "abc123", "conditioning": {}}
    cand = Candidate.from_structure(structure, campaign, prov, seed=3, index=0)
    insert_candidates(stores.candidates, [cand])
    return cand


def test_only_get_and_head_are_served(stores):
    from genflow.web import create_app

    cand = _nacl_candidate(stores)
    before = list(stores.candidates.find({}, {"_id": 0}))
    client = create_app(stores).test_client()
    for path in ("/", "/hits", "/failures", f"/candidate/{cand.candidate_id}", "/nowhere"):
        for method in ("post", "put", "delete", "patch"):
            response = getattr(client, method)(path, data={"state": "scored"})
            assert response.status_code == 405, (method, path)
    assert client.get("/").status_code == 200
    assert client.head("/hits").status_code == 200
    assert list(stores.candidates.find({}, {"_id": 0})) == before  # nothing written


def test_token_required_when_set(stores):
    from genflow.web import create_app
    from genflow.web.app import TOKEN_COOKIE

    client = create_app(stores, token="s3cret").test_client()
    assert client.get("/").status_code == 401
    assert client.get("/?token=wrong").status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/", headers={"X-Genflow-Token": "s3cret"}).status_code == 200
    first = client.get("/hits?token=s3cret")
    assert first.status_code == 200
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith(f"{TOKEN_COOKIE}=s3cret") and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert client.get("/failures").status_code == 200  # the cookie carries it from now on
    assert client.get("/vendor/plotly.min.js").status_code == 200


def test_wildcard_address_is_shown_as_the_host_name():
    import socket

    from genflow.web.serve import url_for_user

    assert url_for_user("127.0.0.1", 8765, None) == "http://127.0.0.1:8765/"
    assert url_for_user("::1", 80, "t") == "http://[::1]:80/?token=t"
    assert url_for_user("0.0.0.0", 8765, "t") == f"http://{socket.getfqdn()}:8765/?token=t"


def test_public_host_needs_a_token():
    from genflow.cli import app
    from genflow.web import WebConfigError, check_bind, is_loopback

    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert is_loopback(host)
        check_bind(host, None)
    for host in ("0.0.0.0", "::", "192.168.1.4", "example.org"):
        assert not is_loopback(host)
        with pytest.raises(WebConfigError, match="without a token"):
            check_bind(host, None)
        check_bind(host, "t")
    result = CliRunner(env={"GENFLOW_WEB_TOKEN": ""}).invoke(app, ["web", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "without a token" in result.output


def test_pages_name_nothing_off_the_server(stores):
    from genflow.web import create_app

    cand = _nacl_candidate(stores)
    client = create_app(stores).test_client()
    pages = ["/", "/hits", "/failures", "/campaign/web-fast", f"/candidate/{cand.candidate_id}"]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert not EXTERNAL.search(html), (path, EXTERNAL.search(html))
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    listing = client.get("/").get_data(as_text=True)  # a campaign known only from candidates
    assert "web-fast" in listing and "no record" in listing
    page = client.get(f"/candidate/{cand.candidate_id}").get_data(as_text=True)
    assert 'id="structure-figure"' in page and "/vendor/plotly.min.js" in page
    assert "Fm-3m (225)" in page and "abc123" in page  # lattice summary, checkpoint
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and b"plotly.js" in js.data[:200]
    cif = client.get(f"/candidate/{cand.candidate_id}.cif")
    assert cif.status_code == 200 and b"_cell_length_a" in cif.data
    bad = client.get("/hits?hull=%2F%2F&max_ed=x")  # a hull name with no letter, no number
    assert bad.status_code == 200 and b"not a number" in bad.data and b"hull" in bad.data
    assert client.get("/candidate/nope").status_code == 404
    assert client.get("/campaign/nope").status_code == 404


def test_structure_scene_of_rock_salt():
    from pymatgen.core import Lattice, Structure

    from genflow.web.structure3d import lattice_summary, structure_figure

    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.69), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])  # fmt: skip
    fig = structure_figure(nacl.as_dict())
    traces = {t["name"]: t for t in fig["data"]}
    assert set(traces) == {"Cl", "Na", "bonds", "cell"}
    # the conventional cell as drawn: 14 Na (corners + faces), 13 Cl (edges + centre)
    assert len(traces["Na"]["x"]) == 14 and len(traces["Cl"]["x"]) == 13
    assert traces["cell"]["x"].count(None) == 12  # 12 edges
    # Na-Cl contacts of the 3x3x3 grid of drawn sites (Na-Na at a/sqrt(2) is no bond): 3 x 18
    bonds = traces["bonds"]
    assert bonds["x"].count(None) == 54
    for k in range(0, len(bonds["x"]), 3):
        p = [bonds[c][k] for c in "xyz"]
        q = [bonds[c][k + 1] for c in "xyz"]
        assert abs(sum((a - b) ** 2 for a, b in zip(p, q, strict=True)) ** 0.5 - 5.69 / 2) < 1e-6
    summary = lattice_summary(nacl.as_dict())
    assert summary["spacegroup"] == "Fm-3m (225)" and summary["nsites"] == 8


# -- a real campaign in a real browser ---------------------------------------------------------

FILES = ["NaCl.cif", "Si.cif", "NaCl_shifted.cif", "malformed.cif", "nan_coords.json",
         "overlap.cif", "unknown_element.cif"]  # fmt: skip


def _driver(tmp_path: Path):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        missing(f"selenium not importable: {exc}")
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        missing(f"{CHROMIUM} / {CHROMEDRIVER} missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader", "--disable-gpu-sandbox",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # the system driver, by path: selenium-manager never downloads anything
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "driver.log"))
    return webdriver.Chrome(service=service, options=options)


def _start_web(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "genflow.cli", "web", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"genflow web exited {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"genflow web did not answer within 60 s:\n{log.read_text()}")


def _visit(driver, url: str, shots: list[Path], name: str, wait_for: str = "main") -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, wait_for)))
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"console errors on {url}: {errors}"
    origin = url.split("/", 3)[:3]
    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    off = [r for r in resources if not r.startswith("/".join(origin)) and not r.startswith("data:")]
    assert not off, f"{url} loaded from elsewhere: {off}"
    path = shots[0].parent / f"{name}.png"
    driver.save_screenshot(str(path))
    shots.append(path)


@pytest.mark.slow
def test_web_pages_in_chromium(campaign_env, structures_spec, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from genflow.campaign.runner import run_campaign
    from genflow.campaign.spec import load_spec
    from genflow.core.embedded import free_port

    stores = campaign_env.stores
    spec = load_spec(structures_spec(FILES, name="web-demo", score={"hit_threshold": 1.0}))
    run = run_campaign(spec, stores=stores, root_dir=str(tmp_path / "runs")).as_dict()
    assert run["counts"]["scored"] == 2 and not run["failed_jobs"]
    hit_ids = [h["candidate_id"] for h in run["hits"]]
    assert len(hit_ids) == 2

    port = free_port()
    server = _start_web(campaign_env.env, port, tmp_path / "web.log")
    driver = _driver(tmp_path)
    base = f"http://127.0.0.1:{port}"
    shot_dir = tmp_path / "screenshots"
    shot_dir.mkdir()
    shots: list[Path] = [shot_dir / "_"]
    try:
        _visit(driver, f"{base}/", shots, "campaigns", "#campaigns")
        assert "web-demo" in driver.find_element(By.ID, "campaigns").text

        _visit(driver, f"{base}/campaign/web-demo", shots, "campaign", "#rejections")
        rejections = driver.find_element(By.ID, "rejections").text
        for reason in ("validity", "parse", "elements", "duplicate"):
            assert reason in rejections
        groups = driver.find_elements(By.CSS_SELECTOR, "details.failure-group summary")
        assert groups[0].text.startswith("validity")  # the largest group first

        _visit(driver, f"{base}/hits?campaign=web-demo", shots, "hits", "#hits-table")
        table = driver.find_element(By.ID, "hits-table")
        rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert len(rows) == 2
        e_d = [float(r.find_elements(By.TAG_NAME, "td")[4].text) for r in rows]
        assert e_d == sorted(e_d)  # most stable first, as `genflow hits`
        header = table.find_elements(By.CSS_SELECTOR, "thead th")[4]
        header.click()
        header.click()  # second click: descending
        rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert [float(r.find_elements(By.TAG_NAME, "td")[4].text) for r in rows] == sorted(
            e_d, reverse=True)  # fmt: skip
        driver.find_element(By.ID, "hits-filter").send_keys("Si")
        visible = [r for r in rows if r.is_displayed()]
        assert len(visible) == 1 and "Si" in visible[0].text
        driver.find_element(By.ID, "hits-filter").clear()

        nacl = next(h for h in run["hits"] if h["reduced_formula"] == "NaCl")
        _visit(driver, f"{base}/candidate/{nacl['candidate_id']}", shots, "hit",
               "#structure-view")  # fmt: skip
        WebDriverWait(driver, 60).until(
            lambda d: d.find_element(By.ID, "structure-view").get_attribute("data-rendered")
        )
        canvas = driver.find_elements(By.CSS_SELECTOR, "#structure-view canvas")
        assert canvas and max(c.size["width"] * c.size["height"] for c in canvas) > 10_000
        page = driver.find_element(By.TAG_NAME, "main").text
        for step in ("Score", "Task", "Gate", "Candidate", "Checkpoint"):
            assert step in page
        assert nacl["checkpoint_hash"] in page and "Fm-3m" in page
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors  # nothing logged while WebGL drew
        driver.save_screenshot(str(shots[-1]))  # again, now with the structure drawn

        _visit(driver, f"{base}/failures", shots, "failures", "details.failure-group")
        _visit(driver, f"{base}/campaign/web-demo/report", shots, "report", ".plots img")
        images = driver.find_elements(By.CSS_SELECTOR, ".plots img")
        widths = [driver.execute_script("return arguments[0].naturalWidth", i) for i in images]
        assert len(widths) >= 3 and min(widths) > 100
        for method in ("POST", "PUT", "DELETE"):  # the real server, not only the test client
            request = urllib.request.Request(f"{base}/hits", data=b"x=1", method=method)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 405
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=30)
    for path in shots[1:]:
        assert path.stat().st_size > 10_000, path
    keep = os.environ.get("GENFLOW_WEB_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for path in shots[1:]:
            shutil.copy(path, Path(keep) / f"web-{path.name}")
