"""Sweeps: predicted losses for every configuration of a grid, vmapped in one compiled program;
and the Pareto front of general vs domain loss for CPT.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from cptdyn._progress import start_task
from cptdyn._pytree import x64_context
from cptdyn._shard import batch_jit, batch_mesh, n_devices_of, padded_size, shard_rows
from cptdyn.dynamics import Law
from cptdyn.schedules import Schedule

from ._plan import Objective, PlanError, Problem

__all__ = ["sweep", "pareto_front", "default_chunk"]


def sweep(
    laws: Mapping[str, Law] | Law,
    template: Schedule,
    grid: Mapping[str, Sequence[float]],
    objective: Objective | str = "final",
    *,
    context: Mapping[str, Any] | None = None,
    chunk: int | None = None,
    dtype: Any = None,
) -> pd.DataFrame:
    """Predicted end losses for the full product of ``grid`` values (knob name -> values).

    Knob names as in :func:`cptdyn.planner.plan` (``peak_lr``, ``decay_fraction``,
    ``total_steps``/``cpt_steps``, ``replay_ratio``, ``loss_potential``, ...). Step counts may be
    fractional (relaxed). Returns one row per configuration with the knob values, the predicted
    loss of every validation set at the end (and at the transfer step for CPT) and the objective.
    ``df.attrs["seconds"]`` holds the wall time (compilation included).

    ``dtype``: ``"float32"`` (default: about 1.7x faster; the S1/S2 areas keep a relative error
    <= 6e-7 through compensated sums, i.e. ~2e-6 nats on the loss, far below the differences a
    sweep ranks) or ``"float64"``.

    ``chunk``: configurations per compiled call (default: :func:`default_chunk`: on CPU the
    largest power of two keeping configurations x steps x laws x bytes per value <= 4 MiB per
    device, so each per-step intermediate stays in the cache (larger batches ran 2-3.5x slower
    per configuration on a 2-core CPU, see ``benchmarks/bench_scaling.py``); on accelerators
    <= 3e7 elements per device; memory bounded for any grid size either way).
    Each chunk is split row-wise over all local devices (``jax.local_devices()``; padded to a
    multiple of the device count, padding stripped); on one device this is the plain program,
    and results on 1 and N devices agree to rounding. ``df.attrs["devices"]`` holds the number
    of devices the result was computed on, ``df.attrs["chunk"]`` the chunk size used.
    With the default ``chunk`` on one CPU device, grids of at most ``SMALL_GRID`` (1,024)
    configurations run as one compiled single-configuration program called per configuration
    (``chunk`` 1): the vmapped program's extra tracing and compilation outweighs what batching
    saves on so few configurations. Results are the same either way.
    """
    t0 = time.perf_counter()
    names = list(grid)
    if not names:
        raise PlanError("sweep: the grid is empty")
    values = []
    for k in names:
        v = np.asarray(list(grid[k]), dtype=np.float64)
        if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
            raise PlanError(f"sweep: grid[{k!r}] must be a non-empty list of finite numbers")
        values.append(v)
    bounds = {k: (float(v.min()), float(v.max()) if v.max() > v.min() else float(v.min()) + 1.0)
              for k, v in zip(names, values, strict=True)}
    for k, (lo, _hi) in bounds.items():
        if lo <= 0 and k in ("peak_lr", "decay_power", "total_steps", "cpt_steps"):
            raise PlanError(f"sweep: grid[{k!r}] must be positive")
    prob = Problem.make(laws, template, names, objective, bounds=bounds, context=context)
    # itertools.product order (last knob fastest), without a Python tuple per configuration
    combos = np.stack(np.meshgrid(*values, indexing="ij"), axis=-1).reshape(-1, len(values))
    n = combos.shape[0]
    if dtype is None:
        dtype = "float32"
    if str(jnp.dtype(dtype)) not in ("float32", "float64"):
        raise PlanError(f"sweep: dtype={dtype!r} must be float32 or float64")
    x64 = str(jnp.dtype(dtype)) == "float64"
    with x64_context() if x64 else _null():
        def one(row: jax.Array) -> tuple[dict[str, jax.Array], jax.Array]:
            vals = {k: row[i] for i, k in enumerate(names)}
            L = prob.losses(vals)  # traced once: the objective is computed from it
            return L, prob.objective_of(L)

        mesh = batch_mesh()
        outs: list[dict[str, np.ndarray]] = []
        objs: list[np.ndarray] = []
        used = 0
        if chunk is None and n <= SMALL_GRID and int(mesh.size) == 1 and str(
                mesh.devices.flat[0].platform) == "cpu":
            o1, ob1 = _one_by_one(one, combos, jnp.dtype(dtype))
            outs, objs, used, chunk = [o1], [ob1], 1, 1
        else:
            used, chunk = _batched(one, combos, prob, mesh, chunk, x64, outs, objs)
    df = pd.DataFrame(combos, columns=names)
    for k in outs[0]:
        df[f"loss_{k}"] = np.concatenate([o[k] for o in outs])
    df["objective"] = np.concatenate(objs)
    df.attrs["seconds"] = time.perf_counter() - t0
    df.attrs["objective"] = prob.objective.describe()
    df.attrs["devices"] = used
    df.attrs["chunk"] = chunk
    return df


def _batched(one: Any, combos: np.ndarray, prob: Problem, mesh: Any, chunk: int | None,
             x64: bool, outs: list[dict[str, np.ndarray]], objs: list[np.ndarray]
             ) -> tuple[int, int]:
    """``one`` vmapped over chunks of ``combos`` split over the devices of ``mesh``; appends the
    chunks' losses and objectives to ``outs`` / ``objs``; returns (devices used, chunk)."""
    n = combos.shape[0]
    f = batch_jit(jax.vmap(one), mesh)
    if chunk is None:
        steps = prob.horizon + (prob.end_step if prob.cpt else 0)
        chunk = min(n, default_chunk(steps, len(prob.laws), "float64" if x64 else "float32",
                                     mesh))
    elif int(chunk) < 1:
        raise PlanError(f"sweep: chunk={chunk} must be a positive number of configurations")
    # every device gets the same number of rows; no chunk larger than the (padded) grid
    chunk = padded_size(min(int(chunk), n), mesh)
    used = 0
    pending: list[tuple[Any, int]] = []
    prog = start_task("sweep", total=-(-n // chunk))  # progress + Ctrl-C point per chunk

    def collect() -> None:
        nonlocal used
        (L, o), keep = pending.pop(0)
        used = max(used, n_devices_of((L, o)))
        outs.append({k: np.asarray(v)[:keep] for k, v in L.items()})
        objs.append(np.asarray(o)[:keep])
        prog.advance()

    for i in range(0, n, chunk):
        part = combos[i:i + chunk]
        # dispatch this chunk before reading the previous one back (device stays busy)
        pending.append((f(shard_rows(part, mesh, chunk)), part.shape[0]))
        if len(pending) > 1:
            collect()
    while pending:
        collect()
    return used, chunk


#: Grids up to this many configurations run on CPU (one device) as one compiled
#: single-configuration program called per configuration: the vmapped program costs ~0.3 s more
#: to trace and compile (measured 0.72 vs 0.41 s, annealing law, 5k steps), more than batching
#: saves on so few configurations (~80 us of dispatch each), so a small sweep is never slower than
#: the plain loop.
SMALL_GRID = 1024


def _one_by_one(one: Any, combos: np.ndarray, dtype: Any
                ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``one`` jitted unbatched and called per row of ``combos`` (results as numpy columns)."""
    f = jax.jit(one)
    prog = start_task("sweep", total=-(-combos.shape[0] // 128))  # progress + Ctrl-C point
    rows = np.asarray(combos, dtype=np.dtype(dtype))  # numpy rows: no conversion op per call
    res = []
    for i in range(rows.shape[0]):
        res.append(f(rows[i]))
        if (i + 1) % 128 == 0 or i + 1 == combos.shape[0]:
            prog.advance()
    keys = list(res[0][0])
    outs = {k: np.stack([np.asarray(r[0][k]) for r in res]) for k in keys}
    return outs, np.stack([np.asarray(r[1]) for r in res])


#: Bytes of one (configuration x step) intermediate per device and chunk on CPU: the batch
#: layout that keeps the vmapped per-step arrays in the cache. Measured (2-core AMD EPYC, 2 MiB
#: L2 per core, 32 MiB L3; annealing-law WSD sweeps, horizons 1k-20k steps): per-configuration
#: time is flat from ~0.6 to 4-5 MiB per intermediate and doubles to triples above ~8 MiB.
CPU_CHUNK_BYTES = 2**22
#: Elements of one intermediate per device and chunk on accelerators (memory bound only).
ACCEL_CHUNK_ELEMENTS = 3e7


def default_chunk(steps: int, n_laws: int, dtype: str, mesh: Any) -> int:
    """Configurations per compiled sweep call for a ``steps``-step horizon and ``n_laws`` laws:
    a power of two per device (times the device count of ``mesh``), at least 1 per device.

    CPU: ``steps x n_laws x itemsize <= CPU_CHUNK_BYTES`` per configuration batch, so the
    per-step intermediates stay cache-resident; GPU/TPU: ``<= ACCEL_CHUNK_ELEMENTS`` elements
    (a memory bound; large batches keep the device busy)."""
    per = max(int(steps), 1) * max(int(n_laws), 1)
    n_dev = int(mesh.size)
    platform = str(mesh.devices.flat[0].platform)
    if platform == "cpu":
        budget = CPU_CHUNK_BYTES / int(jnp.dtype(dtype).itemsize)
    else:
        budget = ACCEL_CHUNK_ELEMENTS
    per_dev = 2 ** int(math.log2(max(1, budget // per)))
    return int(max(1, per_dev) * n_dev)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: Any) -> None:
        return None


def pareto_front(df: pd.DataFrame, x: str = "loss_pt", y: str = "loss_cpt") -> pd.DataFrame:
    """Rows not dominated in (``x``, ``y``) (both minimised), sorted by ``x``."""
    d = df.sort_values([x, y]).reset_index(drop=True)
    best_y = math.inf
    keep = []
    for i, yy in enumerate(d[y].to_numpy()):
        if yy < best_y - 1e-15:
            keep.append(i)
            best_y = yy
    return d.iloc[keep].reset_index(drop=True)
