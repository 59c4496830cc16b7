"""A generator batch with one undecodable sample: that sample is a rejected candidate with its
reason, seed and index; the rest of the batch is stored and goes through the gate."""

from __future__ import annotations

from pymatgen.core import Lattice, Structure

from genflow.core.candidates import CandidateState, get_candidate
from genflow.model.rows import SampleRow
from genflow.workflows import generate
from genflow.workflows.gate.decisions import gate_candidates


class _OneBadGenerator:
    def __init__(self) -> None:
        self.provenance = {"model_name": "toy", "checkpoint_hash": "f" * 16}

    def sample_rows(self, n, *, composition=None, seed=0):
        good = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.03), ["Li", "F"],
                                         [[0, 0, 0], [0.5, 0.5, 0.5]])  # fmt: skip
        cscl = Structure(Lattice.cubic(3.0), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        rows = [
            SampleRow(0, good),
            SampleRow(1, None, "did not decode: LinAlgError: singular"),
            SampleRow(2, cscl),
        ]
        return rows[:n]


def test_undecodable_sample_is_a_rejected_row(stores, monkeypatch):
    monkeypatch.setattr(generate, "_generator", lambda *args: _OneBadGenerator())
    ids = generate.sample_candidates(
        stores, "gen", [{"composition": "LiF", "n_samples": 3, "seed": 11}], None
    )
    assert len(ids) == 3
    bad = get_candidate(stores.candidates, ids[1])
    assert bad.state == CandidateState.REJECTED
    assert bad.reject_reason == "generate: did not decode: LinAlgError: singular"
    assert (bad.provenance.seed, bad.provenance.sample_index) == (11, 1)
    assert bad.provenance.conditioning == {"composition": "LiF"}

    summary = gate_candidates(stores, ids, novelty="off", prerelax=False)
    assert sorted(summary["survivors"]) == sorted([ids[0], ids[2]])
