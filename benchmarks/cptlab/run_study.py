"""Run a CPT-lab study: PT trunk, loss-potential checkpoints, CPT branches in parallel.

    python -m benchmarks.cptlab.run_study --study benchmarks/cptlab/study.toml \\
        --corpus benchmarks/cptlab/corpus --out out/cptlab --workers 2 [--size small]

Same code on CPU and GPU: JAX picks the device. Every worker is a separate (spawned) process with
``XLA_PYTHON_CLIENT_PREALLOCATE=false`` (several workers share one GPU) and, on a machine without
a GPU, single-threaded XLA CPU flags (one worker per core is the fastest use of the cores). Order: the PT
trunk, then the PT checkpoints (one per loss potential), then every CPT run as soon as its
checkpoint exists.

Output (``--out``): ``runs/<id>.csv.gz`` (the run format ``cptdyn fit`` reads: ``step, lr,
loss_pt, loss_cpt, transfer_step, replay_ratio, seed``; a row per update with the LR of that
update, losses at the evaluation steps), ``runs_index.csv`` (one row per run: role and
configuration), ``study_log.json`` (command, wall time, device, seconds per update),
``ckpt/`` (checkpoints with optimizer state; not needed afterwards).

Needs ``cptdyn`` importable (only ``cptdyn.schedules`` is used): from a clone,
``pip install --no-deps --no-build-isolation -e .`` (the package-dir mapping means that putting the
clone on ``sys.path`` is not enough).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import multiprocessing as mp
import os
import shlex
import shutil
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROLES = ("train", "heldout", "seed", "control")
SCHEDULES = ("constant", "cosine", "wsd")
RUN_KEYS = ("pt", "peak_lr", "schedule", "rewarmup_steps", "replay", "seed")
INDEX_COLUMNS = ("run_id", "role", "file", "pt_checkpoint", "loss_potential", "cpt_peak_lr",
                 "schedule", "rewarmup_steps", "replay_ratio", "seed", "transfer_step",
                 "total_steps", "warmup_steps", "wall_s", "s_per_step")


class StudyError(ValueError):
    """A one-line problem with the study file or the command line."""


# ----------------------------------------------------------------------------------- study file
def load_study(path: str | os.PathLike[str], *, steps_scale: float = 1.0,
               only: list[str] | None = None) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise StudyError(f"study file {p} does not exist")
    try:
        st = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise StudyError(f"{p}: {e}") from None
    for sec in ("study", "pt", "cpt", "runs"):
        if sec not in st:
            raise StudyError(f"{p}: missing [{sec}]")

    def sc(n: int) -> int:
        return max(1, int(round(n * steps_scale))) if n else 0

    pt = dict(st["pt"])
    pt["steps"], pt["warmup_steps"] = sc(pt["steps"]), sc(pt["warmup_steps"])
    cks = dict(pt.pop("checkpoints", {}))
    if not cks:
        raise StudyError(f"{p}: [pt.checkpoints] is empty")
    for k, v in cks.items():
        if not 0.0 <= float(v) <= 1.0:
            raise StudyError(f"{p}: [pt.checkpoints] {k} = {v} is not a loss potential in [0, 1]")
    cpt = dict(st["cpt"])
    cpt["steps"], cpt["rewarmup_steps"] = sc(cpt["steps"]), sc(cpt["rewarmup_steps"])
    runs = []
    seen = set()
    for i, r in enumerate(st["runs"]):
        if "id" not in r or "role" not in r:
            raise StudyError(f"{p}: [[runs]] entry {i + 1} needs id and role")
        if r["id"] in seen:
            raise StudyError(f"{p}: run id {r['id']!r} appears twice")
        seen.add(r["id"])
        if r["role"] not in ROLES:
            raise StudyError(f"{p}: run {r['id']!r}: role {r['role']!r} is not one of "
                             f"{', '.join(ROLES)}")
        bad = set(r) - {"id", "role", *RUN_KEYS}
        if bad:
            raise StudyError(f"{p}: run {r['id']!r}: unknown key(s) {', '.join(sorted(bad))}")
        run = {k: r.get(k, cpt.get(k)) for k in RUN_KEYS}
        if "rewarmup_steps" in r:
            run["rewarmup_steps"] = sc(r["rewarmup_steps"])
        run.update(id=r["id"], role=r["role"], steps=cpt["steps"])
        if run["pt"] not in cks:
            raise StudyError(f"{p}: run {r['id']!r}: pt = {run['pt']!r} is not a checkpoint "
                             f"({', '.join(cks)})")
        if run["schedule"] not in SCHEDULES:
            raise StudyError(f"{p}: run {r['id']!r}: schedule {run['schedule']!r} is not one of "
                             f"{', '.join(SCHEDULES)}")
        if not 0.0 <= float(run["replay"]) <= 1.0:
            raise StudyError(f"{p}: run {r['id']!r}: replay {run['replay']} is outside [0, 1]")
        runs.append(run)
    if only:
        missing = [o for o in only if o not in seen]
        if missing:
            raise StudyError(f"--only: no run named {', '.join(missing)} in {p}")
        runs = [r for r in runs if r["id"] in only]
    s = dict(st["study"])
    s.setdefault("eval_every", 50)
    s.setdefault("eval_windows", 64)
    s.setdefault("steps_per_call", 25)
    s.setdefault("model_seed", 0)
    if steps_scale != 1.0:
        s["eval_every"] = sc(s["eval_every"])
    return {"study": s, "pt": pt, "checkpoints": cks, "cpt": cpt, "runs": runs, "path": str(p)}


def pt_schedule(st: dict[str, Any], loss_potential: float) -> Any:
    from cptdyn.schedules import WSD, Constant

    pt = st["pt"]
    if loss_potential >= 1.0:
        return Constant(total_steps=pt["steps"], peak_lr=pt["peak_lr"],
                        warmup_steps=pt["warmup_steps"])
    return WSD(total_steps=pt["steps"], peak_lr=pt["peak_lr"],
               final_lr=loss_potential * pt["peak_lr"], decay_fraction=pt["decay_fraction"],
               decay_shape=pt["decay_shape"], warmup_steps=pt["warmup_steps"])


def trunk_steps(st: dict[str, Any]) -> int:
    """Updates shared by every PT checkpoint (warmup + stable)."""
    pt = st["pt"]
    return pt["steps"] - int(round(pt["decay_fraction"] * pt["steps"]))


def cpt_schedule(st: dict[str, Any], run: dict[str, Any]) -> Any:
    from cptdyn.schedules import WSD, Constant, Cosine, CPTSchedule

    pt = pt_schedule(st, st["checkpoints"][run["pt"]])
    w = int(run["rewarmup_steps"])
    kw: dict[str, Any] = {"total_steps": run["steps"], "peak_lr": run["peak_lr"],
                          "warmup_steps": w, "warmup_init": 0.0 if w > 0 else None}
    if run["schedule"] == "constant":
        c = Constant(**kw)
    elif run["schedule"] == "cosine":
        c = Cosine(final_lr=0.0, **kw)
    else:
        c = WSD(final_lr=0.0, decay_fraction=st["cpt"].get("wsd_decay_fraction", 0.2),
                decay_shape="linear", **kw)
    return CPTSchedule(pt, c)


# ----------------------------------------------------------------------------------- workers
_W: dict[str, Any] = {}


def cpu_machine() -> bool:
    """No GPU visible (decided without importing JAX): single-threaded XLA CPU flags apply.

    ``CPTLAB_CPU_FLAGS=1`` / ``0`` forces them on / off. On a GPU machine they are left out
    (they would not matter there, and an XLA that no longer knows a flag refuses to start)."""
    force = os.environ.get("CPTLAB_CPU_FLAGS")
    if force in ("0", "1"):
        return force == "1"
    return not (os.path.exists("/dev/nvidiactl") or shutil.which("nvidia-smi") is not None)


def _worker_init(corpus: str, size: str, n_windows: int, cache: str | None) -> None:
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if cpu_machine():
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            flags += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = flags.strip()
    _W.update(corpus=corpus, size=size, n_windows=n_windows, cache=cache)
    _exit_with_parent()


def _exit_with_parent() -> None:
    """End this worker when the study process is gone (killed with SIGKILL, say), instead of
    training on as an orphan."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(2.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="cptlab-parent-watch").start()


def _state() -> dict[str, Any]:
    if "trainer" not in _W:
        import jax

        if _W.get("cache"):
            try:
                jax.config.update("jax_compilation_cache_dir", _W["cache"])
                jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
            except Exception:  # noqa: BLE001 - the cache is an optimisation only
                pass
        from .corpus import load_corpus
        from .train import Config, Trainer, device_data

        cfg = Config.of(_W["size"])
        corpus = load_corpus(_W["corpus"])
        data, win = device_data(corpus, cfg, _W["n_windows"])
        _W.update(trainer=Trainer(cfg), data=data, win=win, device=str(jax.devices()[0]))
    return _W


def run_job(job: dict[str, Any], st: dict[str, Any], out: str) -> dict[str, Any]:
    """Train one job (``pt-trunk``, ``pt:<checkpoint>`` or a CPT run) in this worker."""
    from .train import load_checkpoint, lr_table, progress_line, save_checkpoint

    w = _state()
    tr = w["trainer"]
    o = Path(out)
    s = st["study"]
    t0 = time.perf_counter()
    records: list[dict[str, Any]] = []
    kind = job["kind"]
    if kind == "trunk":
        sched = pt_schedule(st, 1.0)
        start, end, replay, seed = 0, trunk_steps(st), None, st["pt"]["data_seed"]
        params, opt_state = tr.init(s["model_seed"])
        tag = "pt-trunk"
    elif kind == "pt":
        sched = pt_schedule(st, st["checkpoints"][job["name"]])
        start, end, replay, seed = trunk_steps(st), st["pt"]["steps"], None, st["pt"]["data_seed"]
        params, opt_state, meta = load_checkpoint(o / "ckpt" / "pt-trunk.npz", tr)
        records = list(meta["records"])
        tag = f"pt:{job['name']}"
    else:
        run = job["run"]
        sched = cpt_schedule(st, run)
        start, end = st["pt"]["steps"], st["pt"]["steps"] + run["steps"]
        replay, seed = float(run["replay"]), 1000 + int(run["seed"])
        params, opt_state, meta = load_checkpoint(o / "ckpt" / f"pt-{run['pt']}.npz", tr)
        records = list(meta["records"])
        tag = run["id"]
    lr, note = lr_table(sched)
    if kind != "trunk" and start > 0 and records and records[-1]["step"] == start:
        eval_start = False
    else:
        eval_start = True
    t_train = time.perf_counter()

    def on_eval(step: int, losses: dict[str, float], train_loss: float) -> None:
        records.append({"step": step, "loss_pt": losses["pt"], "loss_cpt": losses["cpt"]})
        lr_now = float(lr[min(step, len(lr) - 1)])
        print(progress_line(tag, step, end, lr_now, losses, train_loss, t_train, start),
              flush=True)

    params, opt_state = tr.train(
        params, opt_state, lr=lr, start=start, end=end, data_seed=seed, replay=replay,
        data=w["data"], windows=w["win"], eval_every=s["eval_every"],
        steps_per_call=s["steps_per_call"], on_eval=on_eval, eval_start=eval_start)
    wall = time.perf_counter() - t0
    train_s = time.perf_counter() - t_train
    meta = {"records": records, "step": end, "kind": kind}
    if kind == "trunk":
        save_checkpoint(o / "ckpt" / "pt-trunk.npz", params, opt_state, meta)
        return {"job": "pt-trunk", "wall_s": wall, "s_per_step": train_s / (end - start),
                "device": w["device"], "note": note}
    if kind == "pt":
        save_checkpoint(o / "ckpt" / f"pt-{job['name']}.npz", params, opt_state, meta)
        run = {"id": f"pt-{job['name']}", "role": "pt", "pt": job["name"], "peak_lr": "",
               "schedule": "", "rewarmup_steps": "", "replay": "", "seed": st["pt"]["data_seed"]}
        transfer = None
    else:
        transfer = st["pt"]["steps"]
    pts = pt_schedule(st, st["checkpoints"][run["pt"]])
    lp_actual = float(pts.lr(pts.total_steps - 1)) / float(st["pt"]["peak_lr"])
    file = f"runs/{run['id']}.csv.gz"
    write_run(o / file, lr, records, transfer_step=transfer,
              replay_ratio=None if kind == "pt" else float(run["replay"]), seed=run["seed"])
    row = {
        "run_id": run["id"], "role": run["role"], "file": file, "pt_checkpoint": run["pt"],
        "loss_potential": round(lp_actual, 6), "cpt_peak_lr": run["peak_lr"],
        "schedule": run["schedule"], "rewarmup_steps": run["rewarmup_steps"],
        "replay_ratio": run["replay"], "seed": run["seed"],
        "transfer_step": "" if transfer is None else transfer, "total_steps": end,
        "warmup_steps": st["pt"]["warmup_steps"], "wall_s": round(wall, 2),
        "s_per_step": round(train_s / (end - start), 5),
    }
    return {"job": run["id"], "row": row, "wall_s": wall, "s_per_step": train_s / (end - start),
            "device": w["device"], "note": note}


def write_run(path: Path, lr: Any, records: list[dict[str, Any]], *, transfer_step: int | None,
              replay_ratio: float | None, seed: Any) -> None:
    """One row per update 0..T (LR of that update; the row at T repeats the last LR, which
    ``cptdyn`` drops) with ``loss_pt``/``loss_cpt`` where evaluated (step 0: before any update)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    by_step = {int(r["step"]): r for r in records}
    T = len(lr)
    tmp = path.with_name(path.name + ".tmp")
    with gzip.open(tmp, "wt", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["step", "lr", "loss_pt", "loss_cpt", "transfer_step", "replay_ratio", "seed"])
        ts = "" if transfer_step is None else transfer_step
        rr = "" if replay_ratio is None else f"{replay_ratio:g}"
        for t in range(T + 1):
            r = by_step.get(t)
            lp = f"{r['loss_pt']:.6f}" if r else ""
            lc = f"{r['loss_cpt']:.6f}" if r else ""
            wr.writerow([t, f"{float(lr[min(t, T - 1)]):.9g}", lp, lc, ts, rr, seed])
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------- driver
def write_index(out: Path, jobs: dict[str, Any], done: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [d["row"] for d in done.values() if "row" in d]
    order = {n: i for i, n in enumerate(jobs)}
    rows.sort(key=lambda r: order.get(r["run_id"], order.get(f"pt:{r['pt_checkpoint']}", -1)))
    tmp = out / "runs_index.csv.tmp"
    with open(tmp, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(INDEX_COLUMNS))
        wr.writeheader()
        wr.writerows(rows)
    os.replace(tmp, out / "runs_index.csv")
    return rows



def _finished(out: Path, jobs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Jobs an earlier call finished: checkpoints on disk, runs listed in runs_index.csv with their
    file present."""
    done: dict[str, dict[str, Any]] = {}
    if (out / "ckpt" / "pt-trunk.npz").is_file():
        done["pt-trunk"] = {"job": "pt-trunk"}
    idx = out / "runs_index.csv"
    rows = list(csv.DictReader(open(idx, newline=""))) if idx.is_file() else []
    for r in rows:
        name = f"pt:{r['pt_checkpoint']}" if r["role"] == "pt" else r["run_id"]
        ok = (out / r["file"]).is_file() and (
            r["role"] != "pt" or (out / "ckpt" / f"pt-{r['pt_checkpoint']}.npz").is_file())
        if name in jobs and ok:
            done[name] = {"job": name, "row": r, "wall_s": float(r["wall_s"]),
                          "s_per_step": float(r["s_per_step"]), "device": None, "note": ""}
    return done


def _run_jobs(ex: ProcessPoolExecutor, jobs: dict[str, dict[str, Any]], st: dict[str, Any],
              out: Path, workers: int, done: dict[str, dict[str, Any]],
              running: dict[Future[Any], str], failed: list[str]) -> None:
    """Submit every job once its dependencies are done; a failed job drops its branches."""
    pending = {k: v for k, v in jobs.items() if k not in done}
    while pending or running:
        for name in list(pending):
            if all(d in done for d in pending[name]["deps"]) and len(running) < workers:
                running[ex.submit(run_job, pending.pop(name), st, str(out))] = name
        if not running:
            break
        fin, _ = wait(list(running), return_when=FIRST_COMPLETED)
        for f in fin:
            name = running.pop(f)
            try:
                done[name] = f.result()
                write_index(out, jobs, done)  # kept current: a cut-off study keeps its runs
            except Exception as e:  # noqa: BLE001 - report and keep the other branches
                print(f"run_study: job {name} failed: {type(e).__name__}: {e}",
                      file=sys.stderr, flush=True)
                failed.append(name)
                pending = {k: v for k, v in pending.items() if name not in v["deps"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.cptlab.run_study",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--study", default="benchmarks/cptlab/study.toml")
    ap.add_argument("--corpus", required=True, help="prepared corpus folder (corpus.py --out)")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--size", default="small", help="model size preset: tiny, small, medium, "
                    "large, gpu (default small)")
    ap.add_argument("--only", default=None, help="comma-separated run ids (a trial subset)")
    ap.add_argument("--steps-scale", type=float, default=1.0,
                    help="multiply every step count (trials; default 1)")
    ap.add_argument("--resume", action="store_true",
                    help="keep what an earlier call with the same study and --out finished (its "
                         "checkpoints and the runs in runs_index.csv) and train only the rest")
    a = ap.parse_args(argv)
    t_start = time.perf_counter()
    try:
        from .corpus import CorpusError, load_corpus
        from .train import SIZES

        if a.size not in SIZES:
            raise StudyError(f"--size {a.size!r} is not one of {', '.join(SIZES)}")
        if a.workers < 1:
            raise StudyError(f"--workers {a.workers} must be >= 1")
        if not 0 < a.steps_scale <= 1e3:
            raise StudyError(f"--steps-scale {a.steps_scale} must be positive")
        st = load_study(a.study, steps_scale=a.steps_scale,
                        only=a.only.split(",") if a.only else None)
        load_corpus(a.corpus)  # fail fast, one line
        for r in st["runs"]:
            cpt_schedule(st, r)  # every schedule is valid before any training
        base = [pt_schedule(st, v).array()[: trunk_steps(st)] for v in st["checkpoints"].values()]
        if any(float(abs(b - base[0]).max()) > 1e-6 * st["pt"]["peak_lr"] for b in base[1:]):
            raise StudyError("the PT schedules differ before the decay; they cannot share a trunk")
    except (StudyError, CorpusError, ValueError) as e:
        print(f"run_study: error: {e}", file=sys.stderr)
        return 2
    out = Path(a.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    if a.resume and (out / "study_resolved.json").is_file():
        before = json.loads((out / "study_resolved.json").read_text())
        if {k: v for k, v in before.items() if k != "path"} != {
                k: v for k, v in st.items() if k != "path"}:
            print(f"run_study: error: --resume: {out} holds another study (or other --only/"
                  f"--steps-scale); use a new --out", file=sys.stderr)
            return 2
    (out / "study_resolved.json").write_text(json.dumps(st, indent=1) + "\n")
    need_pt = sorted({r["pt"] for r in st["runs"]}) if a.only else list(st["checkpoints"])
    jobs: dict[str, dict[str, Any]] = {"pt-trunk": {"kind": "trunk", "deps": []}}
    for c in need_pt:
        jobs[f"pt:{c}"] = {"kind": "pt", "name": c, "deps": ["pt-trunk"]}
    for r in st["runs"]:
        jobs[r["id"]] = {"kind": "cpt", "run": r, "deps": [f"pt:{r['pt']}"]}
    n_steps = trunk_steps(st) + len(need_pt) * (st["pt"]["steps"] - trunk_steps(st)) + sum(
        r["steps"] for r in st["runs"])
    print(f"study {st['study'].get('name', '?')}: {len(st['runs'])} CPT runs, {len(need_pt)} PT "
          f"checkpoints, {n_steps} updates, size {a.size}, {a.workers} workers", flush=True)
    ctx = mp.get_context("spawn")
    done: dict[str, dict[str, Any]] = _finished(out, jobs) if a.resume else {}
    if done:
        print(f"resume: {len(done)} jobs already finished in {out}", flush=True)
    running: dict[Future[Any], str] = {}
    failed: list[str] = []

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)  # `kill` ends the study like Ctrl-C: workers too
    ex = ProcessPoolExecutor(max_workers=a.workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(str(a.corpus), a.size, st["study"]["eval_windows"],
                                       str((out / "jax_cache").resolve())))
    try:
        _run_jobs(ex, jobs, st, out, a.workers, done, running, failed)
    except KeyboardInterrupt:
        procs = list((getattr(ex, "_processes", None) or {}).values())  # no public handle
        ex.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(timeout=10)
        write_index(out, jobs, done)
        print(f"run_study: interrupted; {len(done)} finished jobs kept in "
              f"{out / 'runs_index.csv'} (the running ones are lost)", file=sys.stderr, flush=True)
        return 130
    ex.shutdown(wait=True)
    rows = write_index(out, jobs, done)
    wall = time.perf_counter() - t_start
    sps = [d["s_per_step"] for d in done.values() if "s_per_step" in d]
    earlier: list[Any] = []
    if a.resume and (out / "study_log.json").is_file():
        prev = json.loads((out / "study_log.json").read_text())
        earlier = prev.pop("earlier_calls", []) + [prev]
    log = {
        "command": "python -m benchmarks.cptlab.run_study " + " ".join(
            shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:])),
        "wall_s": round(wall, 1), "size": a.size, "workers": a.workers,
        "steps_scale": a.steps_scale, "updates": n_steps, "runs": len(rows), "failed": failed,
        "device": next((d["device"] for d in done.values() if d.get("device")), None),
        "s_per_step_median": sorted(sps)[len(sps) // 2] if sps else math.nan,
        "optax_export_notes": sorted({d["note"] for d in done.values() if d.get("note")}),
        "study": st["path"],
        "earlier_calls": earlier,  # --resume: the calls whose finished jobs this one kept
    }
    (out / "study_log.json").write_text(json.dumps(log, indent=1) + "\n")
    print(f"done: {len(rows)} runs in {wall:.0f} s ({log['s_per_step_median']:.3f} s/update "
          f"median per worker); index {out / 'runs_index.csv'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
