"""The batched Fréchet derivatives used inside torch-sim's cell filter equal torch-sim's own."""

from __future__ import annotations

import pytest
import torch
import torch_sim.math as tsm

from genflow.workflows.gate.ts_relax import block_frechet


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-12), (torch.float32, 2e-6)])
def test_block_frechet_equals_torch_sims_pade(dtype, tol):
    default = tsm.expm_frechet
    gen = torch.Generator().manual_seed(0)
    # log(F) of cell deformations: small strains, and one large shear
    mats = [0.05 * torch.randn(3, 3, generator=gen, dtype=torch.float64) for _ in range(5)]
    mats.append(torch.tensor([[0.0, 0.6, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.2]]))
    directions = torch.eye(9, dtype=dtype).reshape(9, 3, 3)
    with block_frechet():
        patched = tsm.expm_frechet
        assert patched is not default
        for a in mats:
            a = a.to(dtype)
            for e in directions:
                ref = default(a, e, compute_expm=False)
                got = tsm.expm_frechet(a, e, compute_expm=False)
                assert got.dtype == dtype
                assert torch.allclose(got, ref, rtol=tol, atol=tol)
        # anything but a unit direction without expm goes to torch-sim's own code
        e = torch.full((3, 3), 0.3, dtype=dtype)
        assert torch.equal(tsm.expm_frechet(mats[0].to(dtype), e, compute_expm=False),
                           default(mats[0].to(dtype), e, compute_expm=False))  # fmt: skip
        with pytest.raises(ValueError, match="non-finite"):
            tsm.expm_frechet(torch.full((3, 3), float("nan"), dtype=dtype), directions[0],
                             compute_expm=False)  # fmt: skip
    assert tsm.expm_frechet is default  # restored
