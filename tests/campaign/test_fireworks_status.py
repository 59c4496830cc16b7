"""A FireWorks campaign's status follows its fireworks (issue 22), without a local runner.

Probe: every firework COMPLETED, yet ``campaign status`` stayed ``submitted``. Fireworks run
in-process here (``launch_rocket`` on the test database's real LaunchPad) with tiny PyTasks;
the full submit-and-rlaunch path asserts the same in ``test_fireworks.py`` (slow).
"""

from __future__ import annotations

import pytest

from genflow.campaign.status import campaign_report


def _submit(stores, name: str, args: list[float]) -> None:
    """A campaign document as ``campaign submit`` leaves it, and one firework per arg."""
    from fireworks import Firework, PyTask, Workflow

    stores.campaigns.insert_one({"name": name, "mode": "fireworks", "state": "submitted"})
    fws = [
        Firework(PyTask(func="math.sqrt", args=[a]), spec={"genflow_campaign": name}, name=f"f{a}")
        for a in args
    ]
    stores.launchpad.add_wf(Workflow(fws, name=name))


def _launch(stores, n: int) -> None:
    from fireworks import FWorker
    from fireworks.core.rocket_launcher import launch_rocket

    for _ in range(n):
        launch_rocket(stores.launchpad, FWorker(), strm_lvl="CRITICAL")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # launch directories go here


def test_all_completed_is_completed(stores):
    _submit(stores, "fw-ok", [1.0, 4.0, 9.0])
    assert campaign_report(stores, "fw-ok")["state"] == "submitted"
    _launch(stores, 1)
    assert campaign_report(stores, "fw-ok")["state"] == "running"
    _launch(stores, 2)
    report = campaign_report(stores, "fw-ok")
    assert report["fireworks"]["states"] == {"COMPLETED": 3}
    assert report["state"] == "completed" and "hint" not in report


def test_fizzled_with_nothing_left_is_failed_with_counts(stores):
    _submit(stores, "fw-bad", [4.0, -1.0])  # sqrt(-1): ValueError, the firework fizzles
    _launch(stores, 2)
    report = campaign_report(stores, "fw-bad")
    assert report["fireworks"]["states"] == {"COMPLETED": 1, "FIZZLED": 1}
    assert report["state"] == "failed"
    assert "1 COMPLETED, 1 FIZZLED" in report["hint"]
    assert "math domain error" in report["fireworks"]["fizzled"][0]["reason"]


def test_still_submitting_is_left_alone(stores):
    _submit(stores, "fw-sub", [1.0])
    stores.campaigns.update_one({"name": "fw-sub"}, {"$set": {"state": "submitting"}})
    _launch(stores, 1)
    assert campaign_report(stores, "fw-sub")["state"] == "submitting"
