"""``scripts/train-accelerator`` pieces: the data pack, the sharded state, a budgeted run that
resumes from its own output (issue 24: files ≤ 16 MiB each, ≤ 64 MiB in all)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import genflow.model.accelerator as acc
from genflow.model.configs import get_config
from genflow.model.unimat.train import load_training_data

ROOT = Path(__file__).resolve().parents[2]


def test_data_pack_round_trip_is_exact_and_small(tmp_path):
    arrays, meta = load_training_data(get_config("perov5:tiny"))
    path = acc.pack_data(arrays, meta, tmp_path / "data.npz")
    back, meta_back = acc.unpack_data(path)
    assert meta_back == json.loads(json.dumps(meta))
    assert set(back) == set(arrays)
    for k, v in arrays.items():
        np.testing.assert_array_equal(back[k], v)
    assert path.stat().st_size < arrays["coords"].nbytes / 5  # sparse: occupied slots only


def test_state_shards_round_trip_and_split_large_leaves(tmp_path, monkeypatch):
    monkeypatch.setattr(acc, "_SHARD_BYTES", 4096)
    rng = np.random.default_rng(0)
    state = {
        "step": np.asarray(7, np.int32),
        "params": {"w": rng.normal(size=(40, 50)).astype(np.float32), "b": np.zeros(3, np.float32)},
        "ema_params": {
            "w": rng.normal(size=(40, 50)).astype(np.float32),
            "b": np.ones(3, np.float32),
        },
        "opt_state": (np.zeros(5, np.float32),),
        "rng": np.asarray([1, 2], np.uint32),
    }
    files = acc.save_state(state, {"model_name": "x"}, tmp_path / "ck")
    shards = [f for f in files if f.name.startswith("state-")]
    assert len(shards) > 2  # an 8 kB leaf over 4 kB shards is split
    like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
    back = acc.load_state(tmp_path / "ck", like)
    jax.tree.map(np.testing.assert_array_equal, back, state)
    assert json.loads((tmp_path / "ck" / "meta.json").read_text())["step"] == 7
    with pytest.raises(ValueError, match="does not match"):
        acc.load_state(tmp_path / "ck", {"other": like["step"]})


@pytest.mark.slow
def test_budgeted_run_resumes_from_its_own_output(tmp_path):
    """Two short runs of the CLI script on CPU: the second resumes from the first's files,
    carries its data as a pack, and what it writes loads as a generator."""
    script = ROOT / "scripts" / "train-accelerator"
    out1, out2 = tmp_path / "a", tmp_path / "b"
    cmd = [sys.executable, str(script), "perov5:tiny,steps=1000", "0.4", "--out", str(out1)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    s1 = json.loads(first.stdout[first.stdout.index("{") :])
    pack = tmp_path / "data-perov5_tiny_steps_1000.npz"
    assert pack.exists() and pack.stat().st_size < acc.MAX_TOTAL_BYTES
    cmd = [sys.executable, str(script), "perov5:tiny,steps=1000", "0.4", "--out", str(out2),
           "--resume", str(out1), "--data", str(pack)]  # fmt: skip
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    s2 = json.loads(second.stdout[second.stdout.index("{") :])
    assert s2["start_step"] == s1["step"] >= 1 and s2["step"] > s1["step"]
    for out in (out1, out2):
        sizes = [f.stat().st_size for f in out.iterdir()]
        assert max(sizes) <= acc.MAX_FILE_BYTES and sum(sizes) <= acc.MAX_TOTAL_BYTES
    from genflow.model.kinds import load_generator

    gen = load_generator(out2)
    assert gen.step == s2["step"]
    assert len(gen.sample(2, num_steps=4)) == 2
