"""Benchmark: forward area S1 + annealing area S2 for 1,024 schedules x 100,000 steps (float32).

Compares, in one process on the same float32 array (rows = schedules):

* ``jax dense``: ``cptdyn.dynamics._areas.areas(lr)`` -- S1 and S2 at every step (jit, CPU);
* ``jax @1000 grid steps``: the same at 1,000 observed steps per schedule, every 100th step (the
  path the laws use when fitting / predicting; the steps are multiples of 100, so the blocks are
  100 steps long and the steps end blocks);
* ``jax @1000 random steps``: 1,000 sorted random steps (no common divisor: 32-step blocks, and
  sums over the 8-step sub-block of each step);
* ``numpy/scipy ref (f64)``: ``np.cumsum`` for S1, ``scipy.signal.lfilter`` for the momentum and
  ``np.cumsum`` of it for S2, written naturally (float coefficients, so lfilter runs in float64);
* ``numpy/scipy ref (f32)``: the same with float32 filter coefficients (lfilter in float32);
* ``np.cumsum``: a plain cumulative sum over the same array (S1 only);
* ``floor:`` rows: an XLA kernel that only writes two outputs (``2x, 3x``), and one that only
  takes ``x^-alpha`` at every step: upper bounds for any every-step S1 + S2 / loss kernel here;
* ``law:`` rows: the annealing law's loss (``MomentumLaw.predict_lr``, P2 Fig. 2 parameters)
  at every step / the grid steps / the random steps, against the same reference plus the formula
  at every step (f64 / f32 filter).

The numpy/scipy reference computes every step (a numpy user would index the steps afterwards),
so each JAX row is compared with the same full reference: the observed-step rows do less work
than the reference by design, and the dense row is the like-for-like comparison.

Throughput is M schedule-steps per second (schedules x steps / seconds / 1e6), best of
``--repeats`` (the methods are interleaved in each repeat, so that load from other processes hits
them alike); compile time of the JAX functions is reported separately. The work is done in chunks
of ``--chunk`` schedules for every method, to keep peak memory reasonable (the input alone is
400 MB). The machine's load average is printed: the timings are only comparable within one run.

Measured (2-CPU container, default arguments, load average 0.3-1.0; jax 0.10.2)::

    method                              seconds  M steps/s  x ref f64  x ref f32  x np.cumsum
    jax dense (S1+S2, all steps)          0.591      173.3       2.68       2.24         0.52
    jax @1000 grid steps (S1+S2)          0.060     1698.0      26.30      21.98         5.11
    jax @1000 random steps (S1+S2)        0.138      739.7      11.46       9.57         2.23
    numpy/scipy ref f64 (S1+S2)           1.586       64.6       1.00       0.84         0.19
    numpy/scipy ref f32 (S1+S2)           1.325       77.3       1.20       1.00         0.23
    np.cumsum (S1 only)                   0.308      332.2       5.14       4.30         1.00
    annealing-law loss (L0 + A S1^-alpha - C S2; the reference adds the formula at every step):
    jax loss, all steps                   0.929      110.2       2.79       1.98         0.33
    jax loss @1000 grid steps             0.068     1504.6      38.15      27.05         4.53
    jax loss @1000 random steps           0.151      676.6      17.15      12.16         2.04
    numpy/scipy loss f64                  2.596       39.4       1.00       0.71         0.12
    numpy/scipy loss f32                  1.841       55.6       1.41       1.00         0.17
    floors of an every-step kernel on this machine (M steps/s): write two outputs 532, one power
    per step 313; 10x the f32 references would need 773 (S1+S2) and 556 (loss)
    float32 error vs the float64 reference (S1 max rel / S2 max/max|S2|): dense 2.5e-7 / 3.4e-7,
    grid 1.5e-7 / 2.4e-7, random 6.9e-8 / 3.4e-7; numpy/scipy f32 1.1e-3 / 2.4e-4

Where the time goes (profile of one 128 x 100,000 chunk): the observed-step paths read the input
about twice (``y = x - x_before`` per block and its block sums by one small matmul); the dense
path also writes two 51 MB outputs, whose fresh pages alone cost ~20 ms per chunk on this machine
(JAX's CPU allocator maps buffers above 32 MB from the OS on every call; numpy reuses hugepages),
plus an in-block prefix matmul; with ``--chunk 64`` (25 MB outputs) it reaches ~200 M steps/s.
Ratios move with the load: the JAX rows use both cores, the numpy rows one.

Usage::

    python benchmarks/bench_areas.py [--schedules 1024] [--steps 100000] [--chunk 128]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.signal import lfilter

from cptdyn.dynamics import MomentumLaw, areas

LAM = 0.999


def make_schedules(n: int, T: int, seed: int = 0) -> np.ndarray:
    """Warmup + cosine / WSD schedules with random peaks, warmups, floors and decay lengths."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, T), np.float32)
    t = np.arange(T, dtype=np.float64)
    for i in range(n):
        peak = 10 ** rng.uniform(-4.5, -3)
        W = int(rng.integers(100, 2000))
        floor = peak * rng.choice([0.0, 0.1])
        if i % 2:
            u = np.clip((t - W) / (T - W), 0, 1)
            lr = floor + (peak - floor) * 0.5 * (1 + np.cos(np.pi * u))
        else:
            D = int(T * rng.uniform(0.1, 0.3))
            u = np.clip((t - (T - D)) / D, 0, 1)
            lr = peak - (peak - floor) * u
        lr[:W] = peak * (t[:W] + 1) / W
        out[i] = lr
    return out


def reference(x: np.ndarray, coef_dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """S1, S2 with np.cumsum + scipy.signal.lfilter (eta_0 = eta_1, as-run, at every step)."""
    s1 = np.cumsum(x, axis=-1)
    prev = np.concatenate([x[:, :1], x[:, :-1]], axis=-1)
    b = np.asarray([1.0], coef_dtype)
    a = np.asarray([1.0, -LAM], coef_dtype)
    m = lfilter(b, a, prev - x, axis=-1)
    return s1, np.cumsum(m, axis=-1)


def run_once(fn, chunks) -> float:
    t0 = time.perf_counter()
    for c in chunks:
        out = fn(c)
        jax.block_until_ready(out)
        del out
    return time.perf_counter() - t0


def rel_errors(s1, s2, r1, r2, idx=slice(None)) -> tuple[float, float]:
    """max |S1 - ref| / ref and max over schedules of max |S2 - ref| / max |ref S2|."""
    s1, s2 = np.asarray(s1, np.float64), np.asarray(s2, np.float64)
    e1 = float(np.max(np.abs(s1 - r1[:, idx]) / r1[:, idx]))
    e2 = float(np.max(np.max(np.abs(s2 - r2[:, idx]), -1) / np.max(np.abs(r2), -1)))
    return e1, e2


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--schedules", type=int, default=1024)
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--chunk", type=int, default=128)
    p.add_argument("--observed", type=int, default=1000, help="observed steps per schedule")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    N, T, C = args.schedules, args.steps, args.chunk

    x = make_schedules(N, T)
    nbytes = x.nbytes
    # one copy of the input: jax arrays, and zero-copy numpy views of them for numpy / scipy
    jchunks = [jnp.asarray(x[i: i + C]) for i in range(0, N, C)]
    del x
    chunks = [np.asarray(c) for c in jchunks]
    K = args.observed
    grid = np.linspace(T / K, T, K).round().astype(np.int64)
    rand = np.sort(np.random.default_rng(1).choice(np.arange(1, T + 1), K, replace=False))

    def jax_fn(steps):
        return jax.jit(lambda a: tuple(areas(a, steps, lam=LAM, warmup="as-run")[:2]))

    law = MomentumLaw(warmup="as-run")  # P2 Fig. 2 parameters, lambda 0.999

    def law_fn(steps):
        return jax.jit(lambda a: law.predict_lr(a, steps))

    def ref_loss(c, coef_dtype):
        s1, s2 = reference(c, coef_dtype)
        return law.L0 + law.A * s1 ** (-law.alpha) - law.C * s2

    jfns = {"dense": jax_fn(None), "grid": jax_fn(grid), "random": jax_fn(rand),
            "law dense": law_fn(None), "law grid": law_fn(grid), "law random": law_fn(rand),
            # floors of any every-step kernel here: write two outputs, or take one power
            "floor 2 outputs": jax.jit(lambda a: (a * 2.0, a * 3.0)),
            "floor pow": jax.jit(lambda a: a ** -law.alpha)}
    compile_s = {}
    for name, f in jfns.items():
        t0 = time.perf_counter()
        jax.block_until_ready(f(jchunks[0]))
        compile_s[name] = time.perf_counter() - t0

    rows = [
        ("jax dense (S1+S2, all steps)", jfns["dense"], jchunks),
        (f"jax @{K} grid steps (S1+S2)", jfns["grid"], jchunks),
        (f"jax @{K} random steps (S1+S2)", jfns["random"], jchunks),
        ("numpy/scipy ref f64 (S1+S2)", lambda c: reference(c, np.float64), chunks),
        ("numpy/scipy ref f32 (S1+S2)", lambda c: reference(c, np.float32), chunks),
        ("np.cumsum (S1 only)", lambda c: np.cumsum(c, axis=-1), chunks),
        ("floor: jax (2x, 3x) (2 outputs)", jfns["floor 2 outputs"], jchunks),
        ("floor: jax x^-alpha", jfns["floor pow"], jchunks),
        ("law: jax loss, all steps", jfns["law dense"], jchunks),
        (f"law: jax loss @{K} grid steps", jfns["law grid"], jchunks),
        (f"law: jax loss @{K} random steps", jfns["law random"], jchunks),
        ("law: numpy/scipy loss f64", lambda c: ref_loss(c, np.float64), chunks),
        ("law: numpy/scipy loss f32", lambda c: ref_loss(c, np.float32), chunks),
    ]
    load = os.getloadavg()
    times: dict[str, list[float]] = {name: [] for name, _, _ in rows}
    for _ in range(args.repeats):
        for name, fn, data in rows:
            times[name].append(run_once(fn, data))
    results = {name: min(v) for name, v in times.items()}
    load_after = os.getloadavg()

    # accuracy of the float32 JAX results on the first chunk vs the float64 reference
    r1, r2 = reference(chunks[0].astype(np.float64), np.float64)
    errs = {
        "dense": rel_errors(*jfns["dense"](jchunks[0]), r1, r2),
        "grid": rel_errors(*jfns["grid"](jchunks[0]), r1, r2, grid - 1),
        "random": rel_errors(*jfns["random"](jchunks[0]), r1, r2, rand - 1),
        "numpy/scipy f32": rel_errors(*reference(chunks[0], np.float32), r1, r2),
    }

    work = N * T / 1e6
    ref64 = results["numpy/scipy ref f64 (S1+S2)"]
    ref32 = results["numpy/scipy ref f32 (S1+S2)"]
    cums = results["np.cumsum (S1 only)"]
    print(f"S1+S2 for {N} schedules x {T} steps, float32 input, chunks of {C} schedules, "
          f"jax {jax.__version__} on {jax.devices()[0].platform} ({os.cpu_count()} CPUs)")
    print(f"load average before/after: {load[0]:.2f} / {load_after[0]:.2f}")
    hdr = (f"{'method':34s} {'seconds':>8s} {'M steps/s':>10s} {'x ref f64':>10s} "
           f"{'x ref f32':>10s} {'x np.cumsum':>12s}")
    print(hdr)
    print("-" * len(hdr))
    for name, sec in results.items():
        if name.startswith(("law:", "floor:")):
            continue
        print(f"{name:34s} {sec:8.3f} {work / sec:10.1f} {ref64 / sec:10.2f} {ref32 / sec:10.2f} "
              f"{cums / sec:12.2f}")
    # the annealing law itself: L0 + A S1^-alpha - C S2 (the reference adds the formula at every
    # step to its S1 + S2; the observed-step JAX rows evaluate it at their steps only)
    lref64 = results["law: numpy/scipy loss f64"]
    lref32 = results["law: numpy/scipy loss f32"]
    print(f"\nannealing-law loss, same array:\n{hdr.replace('ref f', 'ref L f')}")
    print("-" * len(hdr))
    for name, sec in results.items():
        if name.startswith("law:"):
            print(f"{name[5:]:34s} {sec:8.3f} {work / sec:10.1f} {lref64 / sec:10.2f} "
                  f"{lref32 / sec:10.2f} {cums / sec:12.2f}")
    print("\nfloors of an every-step kernel on this machine (M steps/s): write two outputs "
          f"{work / results['floor: jax (2x, 3x) (2 outputs)']:.0f}, one power per step "
          f"{work / results['floor: jax x^-alpha']:.0f}; 10x the f32 references would need "
          f"{10 * work / ref32:.0f} (S1+S2) and {10 * work / lref32:.0f} (loss)")
    print("jax compile: " + ", ".join(f"{k} {v:.2f} s" for k, v in compile_s.items()
                                     if not k.startswith("floor")))
    print("float32 error vs float64 reference (first chunk; S1 max rel, S2 max/max|S2|): "
          + "; ".join(f"{k} {a:.1e} / {b:.1e}" for k, (a, b) in errs.items()))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB (input array {nbytes / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
