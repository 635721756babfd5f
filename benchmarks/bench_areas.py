"""Benchmark: forward area S1 + annealing area S2 for 1,024 schedules x 100,000 steps (float32).

Compares, in one process on the same float32 array (rows = schedules):

* ``jax dense``: ``cptdyn.dynamics._areas.areas(lr)`` -- S1 and S2 at every step (jit, CPU);
* ``jax @1000 steps``: the same at 1,000 observed steps per schedule (every 100th step; the path
  the laws use when fitting / predicting);
* ``numpy/scipy ref (f64)``: ``np.cumsum`` for S1, ``scipy.signal.lfilter`` for the momentum and
  ``np.cumsum`` of it for S2, written naturally (float coefficients, so lfilter runs in float64);
* ``numpy/scipy ref (f32)``: the same with float32 filter coefficients (lfilter in float32);
* ``np.cumsum``: a plain cumulative sum over the same array (S1 only).

Throughput is M schedule-steps per second (schedules x steps / seconds / 1e6), best of
``--repeats``; compile time of the JAX functions is reported separately. The work is done in
chunks of ``--chunk`` schedules for every method, to keep peak memory reasonable (the input alone
is 400 MB). The machine's load average is printed: the timings are only comparable within one run.

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

from cptdyn.dynamics._areas import areas

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


def best_time(fn, chunks, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for c in chunks:
            out = fn(c)
            jax.block_until_ready(out)
            del out
        times.append(time.perf_counter() - t0)
    return min(times)


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
    steps = np.linspace(T / args.observed, T, args.observed).round().astype(np.int64)

    dense = jax.jit(lambda a: tuple(areas(a, None, lam=LAM, warmup="as-run")[:2]))
    obs = jax.jit(lambda a: tuple(areas(a, steps, lam=LAM, warmup="as-run")[:2]))
    compile_s = {}
    for name, f in (("dense", dense), ("obs", obs)):
        t0 = time.perf_counter()
        jax.block_until_ready(f(jchunks[0]))
        compile_s[name] = time.perf_counter() - t0

    rows = [
        ("jax dense (S1+S2, all steps)", lambda c: dense(c), jchunks),
        (f"jax @{args.observed} steps (S1+S2)", lambda c: obs(c), jchunks),
        ("numpy/scipy ref f64 (S1+S2)", lambda c: reference(c, np.float64), chunks),
        ("numpy/scipy ref f32 (S1+S2)", lambda c: reference(c, np.float32), chunks),
        ("np.cumsum (S1 only)", lambda c: np.cumsum(c, axis=-1), chunks),
    ]
    load = os.getloadavg()
    results = {}
    for name, fn, data in rows:
        results[name] = best_time(fn, data, args.repeats)
    load_after = os.getloadavg()

    # accuracy of the float32 JAX results on the first chunk vs the float64 reference
    r1, r2 = reference(chunks[0].astype(np.float64), np.float64)
    j1, j2 = (np.asarray(v, np.float64) for v in dense(jchunks[0]))
    e1 = float(np.max(np.abs(j1 - r1) / r1))
    e2 = float(np.max(np.max(np.abs(j2 - r2), -1) / np.max(np.abs(r2), -1)))
    f1, f2 = reference(chunks[0], np.float32)
    g1 = float(np.max(np.abs(f1 - r1) / r1))
    g2 = float(np.max(np.max(np.abs(f2 - r2), -1) / np.max(np.abs(r2), -1)))

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
        print(f"{name:34s} {sec:8.3f} {work / sec:10.1f} {ref64 / sec:10.2f} {ref32 / sec:10.2f} "
              f"{cums / sec:12.2f}")
    print(f"jax compile: dense {compile_s['dense']:.2f} s, observed {compile_s['obs']:.2f} s")
    print(f"float32 error vs float64 reference (first chunk): jax S1 max rel {e1:.1e}, "
          f"S2 max/max|S2| {e2:.1e}; numpy/scipy f32 S1 {g1:.1e}, S2 {g2:.1e}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB (input array {nbytes / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
