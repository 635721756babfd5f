"""Smoke test of the CPT lab (benchmarks/cptlab): tiny corpus, a few PT and CPT updates, the run
file read back with cptdyn's reader, checkpoint resume == unbroken run. The study itself is not
run here."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.cptlab import run_study
from benchmarks.cptlab.corpus import CorpusError, load_corpus, write_tiny_corpus
from benchmarks.cptlab.train import (
    Config,
    Trainer,
    device_data,
    load_checkpoint,
    lr_table,
    save_checkpoint,
)
from cptdyn.dynamics import load_runs
from cptdyn.schedules import WSD

STUDY = """
[study]
name = "smoke"
eval_every = 3
eval_windows = 4
steps_per_call = 3
[pt]
steps = 6
warmup_steps = 2
peak_lr = 3e-3
decay_fraction = 0.5
decay_shape = "linear"
data_seed = 0
[pt.checkpoints]
lp100 = 1.0
lp0 = 0.0
[cpt]
steps = 6
pt = "lp0"
peak_lr = 1e-3
schedule = "cosine"
rewarmup_steps = 2
replay = 0.25
seed = 0
[[runs]]
id = "branch"
role = "train"
"""


def test_study_smoke(tmp_path: Path) -> None:
    corpus = write_tiny_corpus(tmp_path / "corpus")
    study = tmp_path / "study.toml"
    study.write_text(STUDY)
    out = tmp_path / "out"
    rc = run_study.main(["--study", str(study), "--corpus", str(corpus), "--out", str(out),
                         "--size", "tiny", "--workers", "1"])
    assert rc == 0
    with open(out / "runs_index.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["run_id"] for r in rows] == ["pt-lp100", "pt-lp0", "branch"]
    br = rows[-1]
    assert br["role"] == "train" and br["transfer_step"] == "6" and br["replay_ratio"] == "0.25"
    runs = load_runs(str(out / br["file"]), transfer_step=6, replay_ratio=0.25, warmup_steps=2)
    assert sorted(r.dataset for r in runs) == ["cpt", "pt"]
    for r in runs:
        assert r.lr.size == 12 and r.transfer_step == 6 and r.replay_ratio == 0.25
        assert list(r.steps) == [3, 6, 9, 12]
        assert np.all(np.isfinite(r.loss)) and np.all(r.loss > 0)
    pt = load_runs(str(out / rows[1]["file"]), warmup_steps=2)
    assert all(r.transfer_step is None and r.lr.size == 6 for r in pt)


def test_study_resume_keeps_finished_jobs(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """--resume trains only what is missing: a finished study is left as it is, a removed run is
    trained again from its checkpoint, and another study in the same --out is refused."""
    corpus = write_tiny_corpus(tmp_path / "corpus")
    study = tmp_path / "study.toml"
    study.write_text(STUDY)
    out = tmp_path / "out"
    args = ["--study", str(study), "--corpus", str(corpus), "--out", str(out), "--size", "tiny",
            "--workers", "1"]
    assert run_study.main(args) == 0
    first = (out / "runs_index.csv").read_text()
    branch = out / "runs" / "branch.csv.gz"
    stamp = branch.stat().st_mtime_ns
    assert run_study.main(args + ["--resume"]) == 0
    assert "resume: 4 jobs already finished" in capsys.readouterr().out
    assert branch.stat().st_mtime_ns == stamp  # not trained again
    lines = first.splitlines()
    (out / "runs_index.csv").write_text("\n".join(lines[:-1]) + "\n")  # the branch is lost
    assert run_study.main(args + ["--resume"]) == 0
    assert "resume: 3 jobs already finished" in capsys.readouterr().out
    assert branch.stat().st_mtime_ns != stamp
    assert [r.split(",")[0] for r in (out / "runs_index.csv").read_text().splitlines()] == [
        r.split(",")[0] for r in lines]
    study.write_text(STUDY.replace("peak_lr = 1e-3", "peak_lr = 2e-3"))
    assert run_study.main(args + ["--resume"]) == 2
    assert "holds another study" in capsys.readouterr().err


def test_resume_is_deterministic(tmp_path: Path) -> None:
    corpus = load_corpus(write_tiny_corpus(tmp_path / "c"))
    cfg = Config.of("tiny")
    tr = Trainer(cfg)
    data, win = device_data(corpus, cfg, 4)
    lr, _ = lr_table(WSD(total_steps=12, peak_lr=3e-3, final_lr=0.0, decay_fraction=0.5,
                         warmup_steps=2))
    seen: dict[str, list] = {"a": [], "b": []}

    def rec(key: str):
        return lambda step, losses, tl: seen[key].append((step, losses["pt"], losses["cpt"]))

    kw: dict[str, Any] = dict(lr=lr, data_seed=7, replay=None, data=data, windows=win,
                              eval_every=3, steps_per_call=3)
    p, o = tr.init(0)
    tr.train(p, o, start=0, end=12, on_eval=rec("a"), **kw)
    p, o = tr.init(0)
    p, o = tr.train(p, o, start=0, end=6, on_eval=rec("b"), **kw)
    save_checkpoint(tmp_path / "ck.npz", p, o, {"step": 6})
    p2, o2, meta = load_checkpoint(tmp_path / "ck.npz", tr)
    assert meta == {"step": 6}
    tr.train(p2, o2, start=6, end=12, on_eval=rec("b"), eval_start=False, **kw)
    a, b = np.array(seen["a"]), np.array(seen["b"])
    assert a.shape == b.shape == (5, 3)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=0)


def test_lr_comes_from_the_optax_export() -> None:
    s = WSD(total_steps=50, peak_lr=1e-3, final_lr=1e-4, decay_fraction=0.3, warmup_steps=5)
    lr, note = lr_table(s)
    np.testing.assert_allclose(lr, np.asarray(s.array(), np.float64), rtol=1e-6)
    assert "optax" in note


def test_bad_input_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
    study = tmp_path / "s.toml"
    study.write_text(STUDY)
    rc = run_study.main(["--study", str(study), "--corpus", str(tmp_path / "nope"),
                         "--out", str(tmp_path / "o"), "--size", "tiny"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "nope" in err and "does not exist" in err
    rc = run_study.main(["--study", str(tmp_path / "missing.toml"), "--corpus", str(tmp_path),
                         "--out", str(tmp_path / "o")])
    assert rc == 2 and "missing.toml" in capsys.readouterr().err


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the workers")
def test_sigterm_ends_study_and_workers(tmp_path: Path) -> None:
    """`kill` (SIGTERM) on the study ends it with exit 130 and takes its workers with it (they
    used to train on as orphans), keeping the index of what had finished."""
    import signal
    import subprocess
    import sys
    import time

    corpus = write_tiny_corpus(tmp_path / "corpus")
    study = tmp_path / "study.toml"
    study.write_text(STUDY.replace("steps = 6\nwarmup_steps", "steps = 100000\nwarmup_steps", 1))
    out = tmp_path / "out"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.cptlab.run_study", "--study", str(study), "--corpus",
         str(corpus), "--out", str(out), "--size", "tiny", "--workers", "1"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        kids: list[int] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            kids = _children(proc.pid)
            if kids and (out / "runs").exists():
                break
            time.sleep(0.5)
        assert kids, "the study started no worker"
        time.sleep(2.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    alive: list[str] = []
    for _ in range(20):  # the resource tracker and reaping take a moment
        alive = []
        for k in kids:
            try:
                state = Path(f"/proc/{k}/stat").read_text().rsplit(")", 1)[1].split()[0]
                cmd = Path(f"/proc/{k}/cmdline").read_bytes().replace(b"\0", b" ")[:120]
            except OSError:
                continue
            if state != "Z":
                alive.append(f"{k} {cmd!r}")
        if not alive:
            break
        time.sleep(0.5)
    assert not alive, f"workers {alive} outlived the study"
