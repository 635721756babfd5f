"""Benchmark: Multi-Power Law prediction of the 72,000-step MPL cosine curve at every step.

Compares ``MPLLaw.predict_curve`` (400M parameters released in the MPL repository, repository
warmup convention) with a NumPy loop equivalent to the authors' ``evaluate_mpl`` (one O(s) sum per
evaluated step s, so O(T^2) for a whole curve), timed in the same process. The NumPy loop is run on
a subset of steps (every ``--stride``-th step; ``--full`` runs all of them) and its whole-curve time
is extrapolated by the ratio of the summed step counts (its cost per step is proportional to s).

Run:  python benchmarks/bench_mpl_predict.py [--stride 128] [--full] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from cptdyn._pytree import x64_context
from cptdyn.dynamics import MPLLaw, Run, mpl_schedule


def numpy_loop(lrs: np.ndarray, steps: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """The repository's evaluation loop: ``lrs`` is its array (``lrs[0] = 0``), steps its indices."""
    L0, A, alpha, B, C, beta, gamma = (p[k] for k in ("L0", "A", "alpha", "B", "C", "beta", "gamma"))
    lr_sum = np.cumsum(lrs)
    lr_gap = np.zeros(len(lrs))
    lr_gap[1:] = np.diff(lrs)
    out = np.zeros(len(steps))
    for i, s in enumerate(steps):
        ld = np.sum(lr_gap[1 : s + 1] * (1 - (1 + C * lrs[1 : s + 1] ** (-gamma)
                                              * (lr_sum[s] - lr_sum[:s])) ** (-beta)))
        out[i] = L0 + A * lr_sum[s] ** (-alpha) + B * ld
    return out


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stride", type=int, default=128, help="NumPy loop: every n-th step")
    ap.add_argument("--full", action="store_true", help="NumPy loop on all 72,000 steps (~20 s)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    lr, warmup, _ = mpl_schedule("cosine_72000")  # our per-step array: lr[t] = repository r[t + 1]
    T = lr.size
    law = MPLLaw.released("400M", "repo")
    run = Run("cosine_72000", lr, np.arange(1, T + 1), warmup_steps=warmup)
    repo_lrs = np.concatenate([[0.0], lr[:-1]])  # the repository's array (r[0] = 0, length T)

    # --- ours: whole curve, first call (trace + compile + run), then steady state
    jnp.zeros(1).block_until_ready()  # initialise the backend outside the timing
    jax.clear_caches()
    t0 = time.perf_counter()
    ours = np.asarray(jax.block_until_ready(law.predict_curve(run)))  # loss after 1..T updates
    t_first = time.perf_counter() - t0
    t_steady, _ = timed(lambda: law.predict_curve(run), args.repeat)

    # --- ours: observed-step path (features once, then predict at the 546 logged steps)
    obs = Run("obs", lr, np.r_[np.arange(2160, T, 128), T - 64], warmup_steps=warmup)
    with x64_context():
        feats = law.features(obs)
        law.predict_features(feats).block_until_ready()
        t_obs, _ = timed(lambda: law.predict_features(feats), args.repeat)

    # --- ours: gradient of the final loss w.r.t. the 72k-step LR array (planner use)
    with x64_context():
        x = jnp.asarray(lr)
        g = jax.jit(jax.grad(lambda v: law.final_loss(v, warmup)))
        t0 = time.perf_counter()
        jax.block_until_ready(g(x))
        t_grad_first = time.perf_counter() - t0
        t_grad, _ = timed(lambda: g(x), args.repeat)

    # --- NumPy loop reference (the repository's evaluate_mpl): repository step s = our step s
    steps = np.arange(1, T) if args.full else np.arange(args.stride, T, args.stride)
    t0 = time.perf_counter()
    ref = numpy_loop(repo_lrs, steps, law.params())
    t_np = time.perf_counter() - t0
    all_steps = np.arange(1, T)
    t_np_full = t_np * all_steps.sum() / steps.sum()
    rel = np.abs(ours[steps - 1] - ref) / np.abs(ref)

    print(f"MPL forward, 72,000-step cosine (400M released parameters, warmup='repo'); "
          f"jax {jax.__version__}, numpy {np.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print()
    print("| path | points | time |")
    print("|---|---|---|")
    print(f"| cptdyn `predict_curve`, first call (trace + compile + run) | {T:,} | "
          f"{t_first:.3f} s |")
    print(f"| cptdyn `predict_curve`, compiled (median of {args.repeat}) | {T:,} | "
          f"{t_steady * 1e3:.1f} ms |")
    print(f"| cptdyn `predict_features` at logged steps, compiled | {obs.steps.size} | "
          f"{t_obs * 1e3:.1f} ms |")
    print(f"| cptdyn `jax.grad(final_loss)` w.r.t. the LR array, first call | {T:,} | "
          f"{t_grad_first:.3f} s |")
    print(f"| cptdyn `jax.grad(final_loss)` w.r.t. the LR array, compiled | {T:,} | "
          f"{t_grad * 1e3:.1f} ms |")
    label = "all steps" if args.full else f"every {args.stride}th step"
    print(f"| NumPy loop (`evaluate_mpl`), {label}, measured | {steps.size:,} | {t_np:.2f} s |")
    if not args.full:
        print(f"| NumPy loop, whole curve, extrapolated (x sum of steps) | {all_steps.size:,} | "
              f"{t_np_full:.1f} s |")
    print()
    print(f"speed-up (compiled) vs NumPy whole curve: {t_np_full / t_steady:,.0f}x; "
          f"incl. compilation: {t_np_full / t_first:,.0f}x")
    print(f"relative error vs NumPy loop on {steps.size:,} steps: max {rel.max():.2e}, "
          f"mean {rel.mean():.2e}")


if __name__ == "__main__":
    main()
