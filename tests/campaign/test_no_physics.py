"""A campaign that relaxes nothing says why: duplicates of which campaign, known references,
and the spec field that changes it (issue 23: the example spec after the demo)."""

from __future__ import annotations

import io

from rich.console import Console

from genflow.campaign.runner import run_campaign
from genflow.campaign.spec import load_spec
from genflow.campaign.view import print_run


def _printed(run: dict) -> str:
    screen = io.StringIO()
    print_run(Console(file=screen, width=200), run)
    return screen.getvalue()


def test_everything_filtered_says_why_and_which_flag(campaign_env, structures_spec, tmp_path):
    stores = campaign_env.stores
    # 1) NaCl is a known material: the gate's novelty stage rejects it, nothing is relaxed
    first = load_spec(structures_spec(["NaCl.cif"], name="first", gate={"novelty": "reject"}))
    run = run_campaign(first, stores=stores, root_dir=str(tmp_path / "a")).as_dict()
    why = run["no_physics"]
    assert run["stages"]["relaxed"] == 0 and why is not None
    assert why["known_references"] and not why["duplicates_of"]
    text = _printed(run)
    assert "no physics ran: all 1 candidate(s) were filtered at the gate" in text
    assert "known reference" in text and "gate.novelty: flag" in text

    # 2) the same structure again (the example spec after the demo): a duplicate of 'first'
    again = load_spec(structures_spec(["NaCl.cif"], name="again"))  # novelty off
    run = run_campaign(again, stores=stores, root_dir=str(tmp_path / "b")).as_dict()
    why = run["no_physics"]
    assert why["duplicates_of"] == {"first": 1} and not why["known_references"]
    text = _printed(run)
    assert "1 duplicate(s) of earlier candidates ('first': 1)" in text
    assert "to change it: generator.seed" in text and "gate.dedupe: false" in text


def test_a_campaign_that_relaxed_something_has_no_excuse(campaign_env):
    from genflow.campaign.status import no_physics

    stages = {"generated": 3, "gated": 3, "rejected_at_gate": 2, "relaxed": 1, "scored": 1}
    assert no_physics(campaign_env.stores, "any", stages) is None
    assert no_physics(campaign_env.stores, "any", {**stages, "generated": 0, "relaxed": 0}) is None


def test_deploy_readme_takes_the_uri_from_db_status_and_submits_new_work():
    """The cluster walk-through after the demo: a URI it can find, and a spec that is not
    the demo's samples over again (same checkpoint, seed and conditioning: all duplicates)."""
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    text = (repo / "deploy" / "README.md").read_text()
    assert "genflow db status" in text
    submitted = re.findall(r"genflow campaign submit (\S+\.yaml)", text)
    assert submitted and all((repo / s).is_file() for s in submitted), submitted
    demo = load_spec(repo / "examples" / "quick.yaml")
    for path in submitted:
        spec = load_spec(repo / path)
        same = (spec.generator.checkpoint, spec.generator.seed) == (
            demo.generator.checkpoint,
            demo.generator.seed,
        ) and spec.conditioning == demo.conditioning
        assert not same, f"{path} draws the demo's samples again: only duplicates"
