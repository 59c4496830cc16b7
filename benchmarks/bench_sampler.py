"""Sampler speed for the bundled UniMat checkpoint, with baselines measured in the same run.

Prints:
* samples/s of the compiled whole-loop sampler (one ``lax.fori_loop`` over all steps);
* the same maths driven by a per-step Python loop (one jitted step per call) and the ratio;
* the denoiser's achieved FLOP/s (XLA cost analysis of the compiled denoiser × steps / time)
  as a fraction of a plain ``jnp.dot`` peak measured on this machine.

Usage: ``python benchmarks/bench_sampler.py [--batch 32] [--steps 256] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp

from genflow.model import diffusion, load_generator
from genflow.model.sampler import _clip_x, make_sampler
from genflow.model.unimat import empty_condition


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


def main() -> dict:
    """Run the benchmark; print a table (or JSON) and return the numbers."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=0, help="0 = config value (256)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    gen = load_generator()
    steps = args.steps or int(gen.config.diffusion.num_steps)
    b = args.batch
    d = gen.config.diffusion
    schedule = diffusion.get_schedule(d.schedule, logsnr_min=d.logsnr_min, logsnr_max=d.logsnr_max)
    cond = empty_condition(b, gen.grid, len(gen.aux_names))
    key = jax.random.key(0)

    # --- compiled whole loop
    sampler = make_sampler(gen.model, schedule=schedule, num_steps=steps, gamma=d.gamma)
    t_loop = _time(lambda: sampler(gen.params, cond, key), args.repeat)

    # --- per-step Python loop over the identical step maths
    def model_fn(params):
        return lambda z, lam: gen.model.apply(params, z, lam, cond)

    @jax.jit
    def one_step(params, i, z, rng):
        return diffusion.sample_step(
            i=i,
            z=z,
            model_fn=model_fn(params),
            rng=rng,
            schedule=schedule,
            num_steps=steps,
            gamma=d.gamma,
            clip_x=_clip_x,
        )

    z0 = {"coords": jnp.zeros((b, *gen.grid, 3)), "lattice": jnp.zeros((b, 6))}

    def python_loop():
        z, x = z0, None
        for i in range(steps):
            z, x = one_step(gen.params, jnp.asarray(i), z, key)
        return x

    t_python = _time(python_loop, args.repeat)

    # --- denoiser FLOPs from XLA's cost analysis, and the matmul peak
    lam = jnp.zeros((b,))
    compiled = (
        jax.jit(lambda p, z: gen.model.apply(p, z, lam, cond)).lower(gen.params, z0).compile()
    )
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list | tuple) else cost
    flops = float(cost.get("flops", 0.0))
    achieved = flops * steps / t_loop
    peak = matmul_peak()

    out = {
        "device": str(jax.devices()[0].platform),
        "device_count": jax.device_count(),
        "batch": b,
        "steps": steps,
        "grid": list(gen.grid),
        "compiled_loop_s": t_loop,
        "compiled_samples_per_s": b / t_loop,
        "python_loop_s": t_python,
        "python_samples_per_s": b / t_python,
        "speedup_compiled_vs_python": t_python / t_loop,
        "denoiser_gflop_per_call": flops / 1e9,
        "denoiser_achieved_gflops": achieved / 1e9,
        "matmul_peak_gflops": peak / 1e9,
        "fraction_of_matmul_peak": achieved / peak,
    }
    if args.json:
        print(json.dumps(out))
    else:
        w = max(map(len, out))
        for k, v in out.items():
            print(f"{k:<{w}}  {v:.4g}" if isinstance(v, float) else f"{k:<{w}}  {v}")
    return out


if __name__ == "__main__":
    main()
