"""Sampler speed for each bundled UniMat checkpoint, with baselines measured in the same run.

For every checkpoint name given (default: every bundled one) this prints:

* samples/s of the compiled sampler (the whole ancestral loop in one ``lax.fori_loop``) at the
  paper's 256 steps;
* the same maths driven by a per-step Python loop (one compiled call per step), the speed
  ratio, and the largest difference between the two outputs (they must agree);
* the denoiser's achieved FLOP/s (XLA cost analysis of one denoiser call × steps / loop time)
  as a fraction of a float32 ``jnp.dot`` peak measured in the same run;
* one denoiser call with ``flax.linen.Conv`` (XLA:CPU's 3D convolution, what the landed code
  used) against ``unet.Conv`` (the same convolution computed as a 2D one), on the same
  parameters: the profile finding behind the ~6 % of peak (see ``model/unimat/unet.py``).

Usage: ``python benchmarks/bench_sampler.py [perov5 ...] [--batch 32] [--steps 256] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp

from genflow.model import diffusion, load_generator
from genflow.model.registry import bundled_names
from genflow.model.unimat.network import build_model, empty_condition
from genflow.model.unimat.sampler import make_sampler


def _time(fn, repeat: int) -> float:
    """Best wall time of ``repeat`` calls (after one warm-up call that compiles)."""
    jax.block_until_ready(fn())
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t)
    return best


def matmul_peak(n: int = 1024, repeat: int = 5) -> float:
    """FLOP/s of a jitted float32 ``jnp.dot`` of two n×n matrices."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    dot = jax.jit(jnp.dot)
    return 2.0 * n**3 / _time(lambda: dot(a, b), repeat)


def _denoiser(model, params, z, lam, cond):
    """Compiled single denoiser call, its FLOPs (XLA cost analysis) and best time."""
    compiled = jax.jit(lambda p, z_: model.apply(p, z_, lam, cond)).lower(params, z).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list | tuple) else cost
    return float(cost.get("flops", 0.0)), _time(lambda: compiled(params, z), 3)


def bench_one(name: str, *, batch: int, steps: int, repeat: int, peak: float) -> dict:
    """All numbers for one checkpoint."""
    import flax.linen as nn

    from genflow.model.unimat import unet

    gen = load_generator(name)
    steps = steps or int(gen.config.diffusion.num_steps)
    d = gen.config.diffusion
    schedule = diffusion.schedule_from_config(d)
    cond = empty_condition(batch, gen.grid, len(gen.aux_names))
    key = jax.random.key(0)
    kw = dict(
        schedule=schedule, num_steps=steps, gamma=d.gamma, parameterization=gen.parameterization
    )

    compiled = make_sampler(gen.model, **kw)
    per_step = make_sampler(gen.model, per_step=True, **kw)
    t_loop = _time(lambda: compiled(gen.params, cond, key), repeat)
    t_python = _time(lambda: per_step(gen.params, cond, key), repeat)
    a, b = compiled(gen.params, cond, key), per_step(gen.params, cond, key)
    max_diff = max(float(jnp.max(jnp.abs(a[k] - b[k]))) for k in a)

    z = {"coords": jnp.zeros((batch, *gen.grid, 3)), "lattice": jnp.zeros((batch, 6))}
    lam = jnp.zeros((batch,))
    flops, t_call = _denoiser(gen.model, gen.params, z, lam, cond)
    saved, unet.Conv = unet.Conv, nn.Conv  # the landed code's 3D convolution, same params
    try:
        model_3d = build_model(gen.config.model, gen.table.shape, len(gen.aux_names))
        flops_3d, t_call_3d = _denoiser(model_3d, gen.params, z, lam, cond)
    finally:
        unet.Conv = saved
    return {
        "checkpoint": name,
        "grid": list(gen.grid),
        "parameterization": gen.parameterization,
        "batch": batch,
        "steps": steps,
        "compiled_loop_s": t_loop,
        "compiled_samples_per_s": batch / t_loop,
        "per_step_loop_s": t_python,
        "per_step_samples_per_s": batch / t_python,
        "speedup_compiled_vs_per_step": t_python / t_loop,
        "max_abs_diff_compiled_vs_per_step": max_diff,
        "denoiser_gflop_per_call": flops / 1e9,
        "denoiser_call_ms": t_call * 1e3,
        "denoiser_fraction_of_matmul_peak_in_loop": flops * steps / t_loop / peak,
        "denoiser_fraction_of_matmul_peak_single_call": flops / t_call / peak,
        "denoiser_call_ms_flax_conv3d": t_call_3d * 1e3,
        "denoiser_fraction_of_matmul_peak_flax_conv3d": flops_3d / t_call_3d / peak,
        "speedup_conv_as_2d_vs_flax_conv3d": t_call_3d / t_call,
    }


def main() -> list[dict]:
    """Run the benchmark; print a table (or JSON lines) and return the numbers."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="checkpoint names or paths (default: all bundled)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=256, help="0 = config value")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    peak = matmul_peak()
    rows = []
    for name in args.names or bundled_names():
        row = bench_one(name, batch=args.batch, steps=args.steps, repeat=args.repeat, peak=peak)
        row["matmul_peak_gflops"] = peak / 1e9
        row["device"] = f"{jax.devices()[0].platform} x{jax.device_count()}"
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            w = max(map(len, row))
            for k, v in row.items():
                print(f"{k:<{w}}  {v:.4g}" if isinstance(v, float) else f"{k:<{w}}  {v}")
            print(flush=True)
        if row["max_abs_diff_compiled_vs_per_step"] > 1e-3:
            raise SystemExit(f"{name}: compiled and per-step samplers disagree")
    return rows


if __name__ == "__main__":
    main()
