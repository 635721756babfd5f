"""Fit benchmark on the MultiPowerLaw data (the MPL paper's Table 6 train/test protocol).

Per model size (25M / 100M / 400M): fit on cosine_24000 + constant_24000 + wsdcon_9, predict the
six test curves (constant_72000, cosine_72000, wsd_20000_24000, wsdld_20000_24000, wsdcon_3,
wsdcon_18) and report the fit wall time (first call, compilation included: the JAX caches are
cleared before every fit) and the test metrics (unweighted means over the six curves), next to:

* the MPL authors' fit (their PyTorch code, ``main.py`` @ 8da9f19: 48-55 s on this machine class
  when run once; test metrics = repository README; their code is not in this repository, so the
  numbers are quoted);
* the momentum law (P2) fitted by ``cptdyn.fit`` and by a SciPy L-BFGS-B reference
  re-implemented here (81 starts, analytic gradient), timed in the same process.

MPL rows:

* ``MPLLaw``: the library law, fitted on runs whose LR is averaged between observed steps
  (``coarsen_lr``; its features are then the exact dense (observed step, LR change) pairs, stacked
  into one evaluation for all runs); the 4 best of the 17 starts (16 ``init_grid`` points and the
  template) optimised (``n_keep=4``). Test metrics use ``MPLLaw`` on the exact per-step LR.

* ``fit_mpl_reference``: the authors' procedure (surrogate start from their 135-point grid, then
  early-stopped AdamW with their settings) re-implemented in JAX; it reproduces their parameters
  and test metrics, so its row is the like-for-like speed comparison.

Run: ``python benchmarks/bench_fit.py [--sizes 25 100 400]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from cptdyn.dynamics import (
    MomentumLaw,
    MPLLaw,
    Run,
    evaluate,
    fit,
    fit_mpl_reference,
    load_runs,
    select_law,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "MultiPowerLaw" / "loss_curve_repo"
TRAIN = ["cosine_24000", "constant_24000", "wsdcon_9"]
TEST = ["constant_72000", "cosine_72000", "wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3",
        "wsdcon_18"]

#: MPL authors' fit on this machine class (their main.py, run once) and README test metrics
#: (repository convention and parameters).
AUTHORS = {
    25: {"fit_s": 51.0, "r2": 0.9988, "pred_e": 0.00110, "worst_e": 0.00409},
    100: {"fit_s": 55.4, "r2": 0.9983, "pred_e": 0.00142, "worst_e": 0.00583},
    400: {"fit_s": 48.3, "r2": 0.9978, "pred_e": 0.00168, "worst_e": 0.00995},
}
#: SciPy momentum-law reference fit wall time (s) on this machine class, measured once.
SCIPY_DOC = {25: 0.32, 100: 0.32, 400: 0.28}


# ------------------------------------------------------------------------------ SciPy reference
def scipy_momentum_fit(runs: list[Run], lam: float = 0.999, delta: float = 1e-3) -> dict:
    """The SciPy reference: S2 by ``lfilter``, Huber on log residuals, L-BFGS-B with an
    analytic gradient from a 3x3x3x3 grid (81 starts), warmup counted at the peak LR."""
    from scipy.optimize import minimize
    from scipy.signal import lfilter

    s1s, s2s, ys = [], [], []
    for r in runs:
        lr = r.lr.copy()
        lr[: r.warmup_steps] = lr.max()
        d = np.concatenate([[0.0], lr[:-1] - lr[1:]])
        s2 = np.cumsum(lfilter([1.0], [1.0, -lam], d))
        s1s.append(np.cumsum(lr)[r.steps - 1])
        s2s.append(s2[r.steps - 1])
        ys.append(np.log(r.loss))
    S1, S2, y = (np.concatenate(a) for a in (s1s, s2s, ys))

    def obj(p: np.ndarray) -> tuple[float, np.ndarray]:
        L0, A, C, al = p
        pw = S1 ** (-al)
        pred = L0 + A * pw - C * S2
        r = np.log(pred) - y
        a = np.abs(r)
        quad = a <= delta
        val = np.sum(np.where(quad, 0.5 * r * r, delta * (a - 0.5 * delta)))
        dr = np.where(quad, r, delta * np.sign(r)) / pred
        grad = np.array([dr.sum(), (dr * pw).sum(), -(dr * S2).sum(),
                         -(dr * A * pw * np.log(S1)).sum()])
        return val, grad

    bounds = [(0, 10), (0, 20), (0, 50), (1e-3, 3)]
    best = None
    for L0 in (1.5, 2.25, 3.0):
        for A in (0.2, 0.6, 1.0):
            for C in (0.1, 0.5, 2.0):
                for al in (0.3, 0.5, 0.7):
                    with np.errstate(all="ignore"):
                        res = minimize(obj, [L0, A, C, al], jac=True, method="L-BFGS-B",
                                       bounds=bounds)
                    if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
                        best = res
    assert best is not None
    return dict(zip(["L0", "A", "C", "alpha"], best.x, strict=True))


# ------------------------------------------------------------------------------ driver
def load(size: int, names: list[str]) -> list[Run]:
    return [load_runs(DATA / f"csv_{size}" / f"{n}.csv")[0] for n in names]


def timed(fn: Any, repeats: int) -> tuple[Any, float, float]:
    """``fn()`` run ``repeats`` times, the JAX caches cleared before each (so every run pays its
    tracing and compilation). Returns the first result, the first wall time and the minimum wall
    time (the usual estimate of the uncontended time on a shared machine)."""
    out, times = None, []
    for i in range(max(1, repeats)):
        jax.clear_caches()
        t = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t)
        if i == 0:
            out = res
    return out, times[0], min(times)


def test_metrics(law: Any, test: list[Run]) -> dict[str, float]:
    return evaluate(law, test).aggregate


def row(label: str, first: float, best: float | None, m: dict[str, float], note: str = "") -> str:
    t = f"{first:7.2f} " + (f"{best:7.2f}" if best is not None else f"{'-':>7}")
    fe = m.get("abs_final_error")
    fe_s = f"{fe:9.4f}" if fe is not None else f"{'-':>9}"
    return (f"  {label:<30}{t}  {m['r2']:8.5f}  {m['pred_e']:8.6f}  {m['worst_e']:8.6f}  {fe_s}"
            f"  {note}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[25, 100, 400])
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per row (min reported)")
    ap.add_argument("--auto", action=argparse.BooleanOptionalAction, default=True,
                    help="add the `--law auto` row (select_law over the 4 default laws)")
    args = ap.parse_args(argv)

    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"jax {jax.__version__}, {os.cpu_count()} CPUs, load average {load_avg:.2f}. Wall "
          "seconds, compilation included (JAX caches cleared before every timed run): 'first' = "
          f"first run, 'min' = best of {args.repeats} runs")
    for size in args.sizes:
        train, test = load(size, TRAIN), load(size, TEST)
        print(f"\n{size}M  (fit: {', '.join(TRAIN)}; test: 6 curves)")
        print(f"  {'method':<30}{'first':>7} {'min':>7}  {'test R2':>8}  {'PredE':>8}"
              f"  {'WorstE':>8}  {'|final|':>9}  params / notes")
        a = AUTHORS[size]
        print(row("MPL authors (PyTorch, quoted)", a["fit_s"], None, a,
                  "main.py run / README; repo convention"))
        mpl_runs = [
            ("MPLLaw, paper conv.", MPLLaw(warmup="paper"), {}),
            ("MPLLaw, repo conv.", MPLLaw(warmup="repo"), {"coarsen_warmup": 120}),
        ]
        for label, law, extra in mpl_runs:
            res, first, best = timed(lambda law=law, extra=extra, train=train: fit(
                law, train, n_random=0, n_keep=4, coarsen_lr=True, **extra), args.repeats)
            exact = MPLLaw(**res.params, warmup=law.warmup)
            p = res.params
            note = (f"B={p['B']:.0f} C={p['C']:.3g} beta={p['beta']:.3g} gamma={p['gamma']:.3g}; "
                    f"{res.convergence.iterations} it")
            if res.convergence.at_bound:
                note += f"; at bound: {','.join(res.convergence.at_bound)}"
            print(row(label, first, best, test_metrics(exact, test), note))
        res, first, best = timed(lambda train=train: fit_mpl_reference(train), args.repeats)
        p = res.params
        print(row("MPL, authors' procedure (JAX)", first, best, test_metrics(res.law, test),
                  f"B={p['B']:.2f} C={p['C']:.4f} beta={p['beta']:.4f} gamma={p['gamma']:.4f}; "
                  f"{res.convergence.iterations} AdamW steps"))
        res, first, best = timed(lambda train=train: fit(MomentumLaw(), train), args.repeats)
        p = res.params
        print(row("Momentum law, cptdyn.fit", first, best, test_metrics(res.law, test),
                  f"L0={p['L0']:.4f} A={p['A']:.4f} C={p['C']:.4f} alpha={p['alpha']:.4f}; "
                  f"{res.n_starts} starts"))
        ref, first, best = timed(lambda train=train: scipy_momentum_fit(train), args.repeats)
        print(row("Momentum law, SciPy L-BFGS-B", first, best,
                  test_metrics(MomentumLaw(**ref), test),
                  f"L0={ref['L0']:.4f} A={ref['A']:.4f} C={ref['C']:.4f} "
                  f"alpha={ref['alpha']:.4f}; 81 starts (once: {SCIPY_DOC[size]:.2f} s)"))
        if args.auto:
            auto_row(train, test, args.repeats)
            command_rows(size, args.repeats)
    return 0


def auto_row(train: list[Run], test: list[Run], repeats: int) -> None:
    """``select_law`` (``cptdyn fit --law auto``): 4 laws x (leave-one-run-out + fit-short folds
    + full fit), compilation included; also the CPU seconds of the process (both cores)."""
    c0 = time.process_time()
    (res, table), first, best = timed(lambda: select_law(train), repeats)
    cpu = (time.process_time() - c0) / max(1, repeats)
    scores = " ".join(f"{r['law']}={r['cv_score']:.5f}" for r in table)
    print(row("--law auto (select_law)", first, best, test_metrics(res.law, test),
              f"chose {res.law.NAME}; cv {scores}; {cpu:.1f} CPU-s per run"))


def command_rows(size: int, repeats: int) -> None:
    """The command a user runs, ``cptdyn fit RUN... --law auto``, in a fresh process: first
    with an empty compile cache, then ``repeats`` times with that cache warm (issue 16's
    targets: 10 s and 3 s on 2 cores). Wall and CPU seconds of the child process."""
    files = [str(DATA / f"csv_{size}" / f"{n}.csv") for n in TRAIN]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CPTDYN_CACHE_DIR": os.path.join(tmp, "cache")}
        times = []
        for i in range(1 + repeats):
            out = os.path.join(tmp, f"auto{i}.json")
            c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "cptdyn", "fit", *files, "--law", "auto",
                            "--out", out, "--quiet"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - t0
            c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
            with open(out) as fh:
                chosen = json.load(fh).get("law", "?")
            times.append((wall, cpu, chosen))
    (w0, c0_, ch), warm = times[0], times[1:]
    wb = min(t[0] for t in warm) if warm else float("nan")
    cb = min(t[1] for t in warm) if warm else float("nan")
    print(f"  {'command, empty compile cache':<30}{w0:7.2f} {'':>7}  {c0_:.1f} CPU-s; "
          f"chose {ch} (target 10 s)")
    if warm:
        print(f"  {'command, warm compile cache':<30}{warm[0][0]:7.2f} {wb:7.2f}  {cb:.1f} CPU-s"
              f" (min of {len(warm)}); chose {warm[-1][2]} (target 3 s)")


if __name__ == "__main__":
    sys.exit(main())
