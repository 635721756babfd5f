"""PyTorch: the standalone LambdaLR loader (state_dict resume, past the end, csv tables, per-group
multipliers, no cptdyn/jax at run time)."""

import io
import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from cptdyn.schedules._core import Constant, Linear
from cptdyn.schedules._export import ExportError, export, write

from .helpers import HEADLINE, T, assert_same_lrs, planned
from .torch_helpers import drive_sgd, load_loader, sgd, torch


def _run_partial(mod, k, past_end=None):
    p, opt = sgd(1.0)
    sched = mod.build_scheduler(opt) if past_end is None else mod.build_scheduler(
        opt, past_end=past_end)
    return p, opt, sched, drive_sgd(p, opt, sched, k)


@pytest.mark.parametrize("order", ["scheduler-first", "optimizer-first"])
def test_torch_state_dict_resume(order, tmp_path):
    s = HEADLINE["wsd-1-sqrt"]
    want = planned(s)
    mod = load_loader(write(export(s, "torch"), tmp_path / "bundle")[0].parent)
    k = 150
    p, opt, sched, first = _run_partial(mod, k)
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)  # plain data: safe loading works
    assert ckpt["sched"]["last_epoch"] == k
    assert ckpt["sched"]["lr_lambdas"][0]["lrs"] == pytest.approx(list(want), rel=1e-15)

    p2, opt2 = sgd(1.0)
    if order == "scheduler-first":  # torch's recommended order
        sched2 = mod.build_scheduler(opt2)
        opt2.load_state_dict(ckpt["opt"])
    else:  # optimizer state loaded first: the scheduler still resumes at the right LR
        opt2.load_state_dict(ckpt["opt"])
        sched2 = mod.build_scheduler(opt2)
    sched2.load_state_dict(ckpt["sched"])
    rest = drive_sgd(p2, opt2, sched2, T - k)
    assert_same_lrs(np.concatenate([first, rest]), want)


def test_torch_state_dict_carries_the_table(tmp_path):
    a = load_loader(write(export(HEADLINE["cosine"], "torch"), tmp_path / "a")[0].parent)
    _, opt, sched, _ = _run_partial(a, 30)
    state = sched.state_dict()
    b_dir = write(export(Constant(T, 1e-3), "torch"), tmp_path / "b")[0].parent
    p2, opt2 = sgd(1.0)
    sched2 = load_loader(b_dir).build_scheduler(opt2)
    sched2.load_state_dict(state)  # the saved table wins (documented in the loader)
    assert_same_lrs(drive_sgd(p2, opt2, sched2, 10), planned(HEADLINE["cosine"])[30:40])


def test_torch_past_end_hold_zero_and_warning(tmp_path):
    s = Linear(10, 1e-3, 1e-4)
    want = planned(s)
    mod = load_loader(write(export(s, "torch"), tmp_path / "h")[0].parent)
    p, opt, sched, got = _run_partial(mod, 10)
    assert_same_lrs(got, want)
    with pytest.warns(UserWarning, match=r"LR table has 10 steps"):
        more = drive_sgd(p, opt, sched, 3)
    assert_same_lrs(more, [want[-1]] * 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        drive_sgd(p, opt, sched, 2)
    zero = export(s, "torch", past_end="zero")
    assert 'DEFAULT_PAST_END = "zero"' in zero.files["cptdyn_lr_scheduler.py"].replace("'", '"')
    mod0 = load_loader(write(zero, tmp_path / "z")[0].parent)
    p, opt, sched, _ = _run_partial(mod0, 10)
    with pytest.warns(UserWarning):
        assert list(drive_sgd(p, opt, sched, 2)) == [0.0, 0.0]


def test_torch_csv_table_base_lr_and_groups(tmp_path):
    s = HEADLINE["cosine"]
    want = planned(s)
    res = export(s, "torch", table_format="csv", base_lr=1e-3)
    assert set(res.files) == {"lr_table.csv", "cptdyn_lr_scheduler.py"}
    mod = load_loader(write(res, tmp_path / "c")[0].parent)
    p, opt = sgd(0.5)
    sched = mod.build_scheduler(opt)
    assert sched.base_lrs == [1e-3]
    assert_same_lrs(drive_sgd(p, opt, sched, T), want)
    # in-memory payload, per-group LR multipliers (absolute=False)
    a = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    b = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    base = res.payload["base_lr"]
    opt = torch.optim.SGD([{"params": [a], "lr": base}, {"params": [b], "lr": 0.1 * base}])
    sched = mod.build_scheduler(opt, table=res.payload, absolute=False)
    seen = []
    for _ in range(5):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    np.testing.assert_allclose(np.array(seen), np.stack([want[:5], 0.1 * want[:5]], 1), rtol=1e-12)
    with pytest.raises(ExportError, match=r"^torch: past_end='later' must be 'hold' or 'zero'$"):
        export(s, "torch", past_end="later")
    with pytest.raises(ExportError, match=r"^torch: table_format='npy' must be 'json' or 'csv'$"):
        export(s, "torch", table_format="npy")


def test_torch_loader_runs_without_cptdyn_or_jax(tmp_path):
    s = HEADLINE["wsd-1-sqrt"]
    out = write(export(s, "torch"), tmp_path / "standalone")
    src = out[0].parent / "cptdyn_lr_scheduler.py"
    text = src.read_text()
    assert "import cptdyn" not in text and "import jax" not in text
    script = textwrap.dedent(
        f"""
        import importlib.abc, json, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("jax", "jaxlib", "cptdyn", "optax"):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {str(out[0].parent)!r})
        import torch
        from cptdyn_lr_scheduler import build_scheduler
        p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
        opt = torch.optim.SGD([p], lr=123.0)
        sched = build_scheduler(opt)
        used = []
        for _ in range({T}):
            with torch.no_grad():
                p.zero_()
            p.grad = torch.ones_like(p)
            opt.step()
            used.append(-p.item())
            sched.step()
        assert not any(m.split(".")[0] in ("jax", "cptdyn") for m in sys.modules)
        print(json.dumps(used))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert_same_lrs(json.loads(proc.stdout.strip().splitlines()[-1]), planned(s))
