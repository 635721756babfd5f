"""Exports proven against the real libraries (torch, transformers, optax) and, for trainers that
cannot run here, against their LR formulas re-implemented *as written in their source*.

Every check compares the LR each trainer would use at every optimizer update with
``schedule.array()`` computed in float64 (relative error <= 1e-6; absolute floor 1e-12 * peak).

Sources re-implemented below (read from the stored copies of the repositories):

* Megatron-LM: NVIDIA/Megatron-LM ``megatron/core/optimizer_param_scheduler.py``
  (``OptimizerParamScheduler.get_lr`` / ``step``) @ 00caa53af30912914981c86f39db123961678bbd;
  ``megatron/training/training.py`` calls ``opt_param_scheduler.step(increment=global batch)``
  after each successful ``optimizer.step()``.
* torchtitan: pytorch/torchtitan ``torchtitan/components/optimizer/lr_scheduler.py``
  (``LRSchedulersContainer.Config.build``) @ 26291926f92b594c8d1415f059f749b6f686ae65.
* nanotron: huggingface/nanotron ``src/nanotron/helpers.py::lr_scheduler_builder`` @
  31aa4c4468e3ed6820010bc4a5c2933a314e1d19 plus its later ``1-sqrt`` branch (per-group
  ``initial_lr`` version).
* OLMo-core: allenai/OLMo-core ``src/olmo_core/optim/scheduler.py`` @
  014c4c6200ac7bad0f687719d6f1df298de0596b (``warmup``/``decay`` field names of the later
  version) and ``src/olmo_core/train/trainer.py::_fit_epoch`` (``global_step += 1`` before
  ``train_module.optim_step()``, which calls ``scheduler.set_lr(group, trainer)``).
* MaxText: AI-Hypercomputer/maxtext ``src/maxtext/utils/maxtext_utils.py::
  create_learning_rate_schedule`` @ 65dda9aeac1811345a0372709cc28a6f3c56cc91.
* levanter: marin-community/levanter ``src/levanter/optim/config.py::OptimizerConfig.lr_scheduler``
  @ 928e69f0ffa81afb474852f756f7528a702cada6.
"""

import ast
import importlib.util
import io
import json
import math
import os
import subprocess
import sys
import textwrap
import types
import uuid
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import yaml

from cptdyn._pytree import x64_context
from cptdyn.schedules._core import (
    WSD,
    ArraySchedule,
    Constant,
    ConstantThenDecay,
    Cosine,
    CPTSchedule,
    CyclicCosine,
    InverseSqrt,
    Linear,
    MultiStep,
    Polyline,
    TwoStage,
    schedule_from_spec,
)
from cptdyn.schedules._export import (
    EXPORT_TARGETS,
    ArrayLookupSchedule,
    ExportError,
    ExportResult,
    export,
    write,
)

try:
    import tomllib  # Python >= 3.11
except ModuleNotFoundError:  # pragma: no cover
    tomllib = None

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from transformers import TrainingArguments  # noqa: E402
from transformers.optimization import get_scheduler  # noqa: E402

T, W, PEAK = 240, 24, 3e-4


# ---------------------------------------------------------------------------------------- helpers
def planned(s):
    """schedule.array() in float64."""
    with x64_context():
        return np.asarray(schedule_from_spec(s.to_spec()).array(), dtype=np.float64)


def assert_same_lrs(got, want):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12 * np.max(np.abs(want)))


def load_loader(directory):
    """Import the exported cptdyn_lr_scheduler.py from ``directory`` under a fresh name."""
    path = os.path.join(directory, "cptdyn_lr_scheduler.py")
    spec = importlib.util.spec_from_file_location(f"lr_loader_{uuid.uuid4().hex}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def sgd(lr):
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    return p, torch.optim.SGD([p], lr=lr)


def drive_sgd(p, opt, sched, n):
    """LR used by each of ``n`` real SGD updates: with p=0 and grad=1, SGD sets p = -lr."""
    used = []
    for _ in range(n):
        with torch.no_grad():
            p.zero_()
        p.grad = torch.ones_like(p)
        opt.step()
        used.append(-p.item())
        sched.step()
    return np.array(used)


def drive_adamw(opt, sched, params, n):
    used = []
    for _ in range(n):
        loss = sum((q**2).sum() for q in params)
        loss.backward()
        used.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        opt.zero_grad()
    return np.array(used)


def torch_lrs(result, tmp_path, n=None, optimizer="sgd"):
    out = write(result, tmp_path / f"torch_{uuid.uuid4().hex[:6]}")
    mod = load_loader(out[0].parent)
    n = result.total_steps if n is None else n
    if optimizer == "sgd":
        p, opt = sgd(1.0)
        return drive_sgd(p, opt, mod.build_scheduler(opt), n)
    params = [torch.nn.Parameter(torch.randn(3, dtype=torch.float64))]
    opt = torch.optim.AdamW(params, lr=1.0, weight_decay=0.1)
    return drive_adamw(opt, mod.build_scheduler(opt), params, n)


def hf_lrs(result, tmp_path, n=None):
    """Build the scheduler exactly as HF Trainer.create_scheduler does and drive real SGD."""
    args = result.payload["training_args"]
    n = args["max_steps"] if n is None else n
    p, opt = sgd(args["learning_rate"])
    if result.native:
        # transformers 5.24 trainer.py create_scheduler: get_scheduler(lr_scheduler_type, ...,
        # num_warmup_steps=args.get_warmup_steps(num_training_steps), num_training_steps=max_steps,
        # scheduler_specific_kwargs=lr_scheduler_kwargs). TrainingArguments itself needs
        # `accelerate`, so its get_warmup_steps is called on a namespace with the same field.
        warm = TrainingArguments.get_warmup_steps(
            types.SimpleNamespace(warmup_steps=args["warmup_steps"]), args["max_steps"]
        )
        sched = get_scheduler(
            args["lr_scheduler_type"],
            optimizer=opt,
            num_warmup_steps=warm,
            num_training_steps=args["max_steps"],
            scheduler_specific_kwargs=args["lr_scheduler_kwargs"],
        )
    else:  # the LambdaLR route: Trainer(optimizers=(opt, build_scheduler(opt)))
        out = write(result, tmp_path / f"hf_{uuid.uuid4().hex[:6]}")
        sched = load_loader(out[0].parent).build_scheduler(opt)
    return drive_sgd(p, opt, sched, n)


def optax_lrs(fn, n, tx=None):
    """LR of each of ``n`` real optax.sgd updates (count 0, 1, ...): update = -lr * grad."""
    with x64_context():
        tx = optax.sgd(fn) if tx is None else tx
        params = jnp.zeros(1)
        state = tx.init(params)
        step = jax.jit(tx.update)
        used = []
        for _ in range(n):
            upd, state = step(jnp.ones(1), state, params)
            used.append(-float(upd[0]))
    return np.array(used)


def wsd(shape, **kw):
    kw.setdefault("warmup_steps", W)
    return WSD(T, PEAK, kw.pop("final_lr", 3e-5), decay_fraction=0.25, decay_shape=shape, **kw)


# --------------------------------------------------------------- headline: WSD 1-sqrt and cosine
HEADLINE = {
    "wsd-1-sqrt": WSD(T, PEAK, 0.0, decay_fraction=0.25, decay_shape="1-sqrt", warmup_steps=W,
                      warmup_init=0.0),
    "cosine": Cosine(T, PEAK, 3e-5, warmup_steps=W, warmup_init=0.0),
}


@pytest.mark.parametrize("name", list(HEADLINE))
def test_headline_hf_and_torch_identical_lrs(name, tmp_path):
    s = HEADLINE[name]
    want = planned(s)
    hf = export(s, "hf")
    assert hf.native, hf.note
    args = hf.payload["training_args"]
    assert args["lr_scheduler_type"] == (
        "warmup_stable_decay" if name == "wsd-1-sqrt" else "cosine_with_min_lr"
    )
    assert set(args) == {"learning_rate", "lr_scheduler_type", "lr_scheduler_kwargs",
                         "warmup_steps", "max_steps"}
    assert json.loads(hf.files["hf_training_args.json"]) == args
    got_hf = hf_lrs(hf, tmp_path)
    got_torch = torch_lrs(export(s, "torch"), tmp_path)
    got_adamw = torch_lrs(export(s, "torch"), tmp_path, optimizer="adamw")
    assert_same_lrs(got_hf, want)
    assert_same_lrs(got_torch, want)
    assert_same_lrs(got_adamw, want)
    assert_same_lrs(got_hf, got_torch)
    assert got_hf[0] == 0.0  # HF/optax warmup convention: warmup_init=0.0, first update at 0


@pytest.mark.parametrize("name", list(HEADLINE))
def test_headline_default_warmup_goes_lambda_route_with_identical_lrs(name, tmp_path):
    s = HEADLINE[name].replace(warmup_init=None)  # cptdyn default: peak*(t+1)/W
    hf = export(s, "hf")
    assert not hf.native
    assert "per-step route" in hf.note and "warmup_init=None" in hf.note
    assert "optimizers=(optimizer, build_scheduler(optimizer))" in hf.note
    assert {"hf_training_args.json", "lr_table.json", "cptdyn_lr_scheduler.py"} <= set(hf.files)
    with pytest.raises(ExportError, match=r"^hf: cannot express kind='"):
        export(s, "hf", require_native=True)
    want = planned(s)
    assert_same_lrs(hf_lrs(hf, tmp_path), want)
    assert_same_lrs(torch_lrs(export(s, "torch"), tmp_path), want)


# ---------------------------------------------------------------- every WSD shape, every family
SHAPES = ["linear", "cosine", "1-sqrt", "exponential", "square", "mirror-cosine", "power"]


@pytest.mark.parametrize("shape", SHAPES)
def test_wsd_each_shape_torch_hf_optax(shape, tmp_path):
    # warmup from min_lr_ratio*lr (= final/peak), HF warmup_stable_decay's convention
    s = wsd(shape, warmup_init=0.1, decay_power=1.5)
    want = planned(s)
    hf, ox = export(s, "hf"), export(s, "optax")
    assert hf.native == (shape in ("linear", "cosine", "1-sqrt")), hf.note
    assert ox.native == (shape in ("linear", "cosine", "power", "exponential")), ox.note
    if not hf.native:
        assert f"decay_shape={shape!r}" in hf.note
    assert_same_lrs(hf_lrs(hf, tmp_path), want)
    assert_same_lrs(torch_lrs(export(s, "torch"), tmp_path), want)
    assert_same_lrs(optax_lrs(ox.payload, T), want)


FAMILIES = {
    "constant": (Constant(T, PEAK, warmup_steps=W, warmup_init=0.0), "constant_with_warmup"),
    "constant-no-warmup": (Constant(T, PEAK), "constant"),
    "linear": (Linear(T, PEAK, warmup_steps=W, warmup_init=0.0), "linear"),
    "linear-to-min": (Linear(T, PEAK, 3e-5, warmup_steps=W, warmup_init=0.0), "polynomial"),
    "inverse-sqrt": (InverseSqrt(T, PEAK, warmup_steps=W, warmup_init=0.0), "inverse_sqrt"),
    "cosine-to-0": (Cosine(T, PEAK, 0.0, warmup_steps=W, warmup_init=0.0), "cosine"),
    "constant-then-decay": (ConstantThenDecay(T, PEAK, 0.0, decay_fraction=0.25,
                                              decay_shape="1-sqrt"), "warmup_stable_decay"),
    "multistep-8-1-1": (MultiStep.multistep_811(T, PEAK, warmup_steps=W, warmup_init=0.0), None),
    "two-stage": (TwoStage(T, PEAK, 9e-5, switch_step=160, warmup_steps=W), None),
    "cyclic-cosine": (CyclicCosine(T, PEAK, 3e-5, cycle_steps=80, rewarmup_steps=10), None),
    "polyline": (Polyline(T, (0, 20, 200, 239), (0.0, PEAK, PEAK, 1e-5)), None),
    "array": (ArraySchedule(np.linspace(PEAK, 1e-5, T)), None),
    "cpt": (CPTSchedule(WSD(T, PEAK, 0.0, decay_fraction=0.25, warmup_steps=W),
                        Cosine(120, 1e-4, 1e-5, warmup_steps=12, warmup_from_previous=True)),
            None),
}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_torch_hf_optax(name, tmp_path):
    s, hf_type = FAMILIES[name]
    want = planned(s)
    n = s.total_steps
    hf = export(s, "hf")
    assert hf.native == (hf_type is not None), hf.note
    if hf_type:
        assert hf.payload["training_args"]["lr_scheduler_type"] == hf_type
    else:
        assert "per-step route" in hf.note
    ox = export(s, "optax")
    no_optax = ("inverse-sqrt", "cyclic-cosine", "array", "constant-then-decay")  # 1-sqrt
    assert ox.native == (name not in no_optax), ox.note
    assert_same_lrs(hf_lrs(hf, tmp_path), want)
    assert_same_lrs(torch_lrs(export(s, "torch"), tmp_path), want)
    assert_same_lrs(optax_lrs(ox.payload, n), want)


def test_cpt_composition_and_parts(tmp_path):
    s = FAMILIES["cpt"][0]
    want = planned(s)
    ox = export(s, "optax")
    assert ox.native and "join_schedules" in ox.files["optax_schedule.py"]
    # the CPT phase alone is an ordinary run starting at step 0 of the CPT phase
    cpt_part = export(s, "optax", part="cpt")
    assert_same_lrs(optax_lrs(cpt_part.payload, 120), want[T:])
    pt_part = export(s.to_spec(), "torchtitan", part="pt")  # spec dicts are accepted too
    assert pt_part.native
    got = torch_lrs(export(s, "torch"), tmp_path)
    assert_same_lrs(got, want)
    assert got[T] == pytest.approx(got[T - 1])  # the re-warmup starts from the last PT LR
    assert got[T + 1] > got[T]
    with pytest.raises(ExportError, match=r"part='pt' and part='cpt'"):
        export(s, "megatron")
    with pytest.raises(ExportError, match=r"^part='x' must be 'pt' or 'cpt'$"):
        export(s, "megatron", part="x")
    with pytest.raises(ExportError, match=r"^part='cpt' needs a 'cpt' schedule"):
        export(HEADLINE["cosine"], "hf", part="cpt")


# ------------------------------------------------------------------------------------------ optax
def test_optax_jit_and_past_end():
    s = HEADLINE["cosine"]
    ox = export(s, "optax")
    assert ox.native and ox.max_rel_error < 1e-12
    code = ox.files["optax_schedule.py"]
    assert "optax.warmup_cosine_decay_schedule(" in code
    ns: dict = {}
    exec(compile(code, "optax_schedule.py", "exec"), ns)  # the emitted code rebuilds it
    with x64_context():
        a = np.asarray(jax.jit(ns["schedule"])(jnp.arange(T)))
        b = np.asarray(jax.jit(ox.payload)(jnp.arange(T)))
    assert_same_lrs(a, planned(s))
    assert_same_lrs(b, planned(s))

    arr = export(InverseSqrt(T, PEAK, warmup_steps=W, warmup_init=0.0), "optax")
    assert not arr.native and isinstance(arr.payload, ArrayLookupSchedule)
    assert "per-step route" in arr.note and "inverse-square-root" in arr.note
    f = jax.jit(arr.payload)
    assert f(0).dtype == jnp.float32  # JAX default dtype without x64
    want = planned(InverseSqrt(T, PEAK, warmup_steps=W, warmup_init=0.0))
    assert float(f(T + 50)) == pytest.approx(want[-1], rel=1e-6)  # past the end: hold
    assert float(f(-3)) == pytest.approx(want[0], rel=1e-6, abs=1e-15)
    with pytest.raises(ExportError, match=r"^optax: no exactly equivalent optax schedule for "
                       r"kind='inverse-sqrt': optax has no inverse-square-root schedule$"):
        export(InverseSqrt(T, PEAK), "optax", require_native=True)


# ------------------------------------------------------------------------------------------ torch
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


# ---------------------------------------------------------------- trainers re-implemented here
def parse_megatron_flags(text):
    toks = " ".join(line for line in text.splitlines() if not line.startswith("#"))
    toks = toks.replace("\\", " ").split()
    return {toks[i]: toks[i + 1] for i in range(0, len(toks), 2)}


def megatron_lrs(flags, n_iters, global_batch=4):
    """OptimizerParamScheduler (Megatron-LM 00caa53): num_steps counts samples; step(0) at init,
    then step(increment=global_batch) after each successful update, so update n uses get_lr() at
    num_steps = n * global_batch."""
    max_lr, min_lr = float(flags["--lr"]), float(flags["--min-lr"])
    init_lr = float(flags.get("--lr-warmup-init", 0.0))
    lr_warmup_steps = int(flags.get("--lr-warmup-iters", 0)) * global_batch
    lr_decay_steps = int(flags["--lr-decay-iters"]) * global_batch
    style = flags["--lr-decay-style"]
    wsd_decay_steps = int(flags.get("--lr-wsd-decay-iters", 0)) * global_batch
    wsd_style = flags.get("--lr-wsd-decay-style", "exponential")
    assert lr_warmup_steps < lr_decay_steps and init_lr <= max_lr and max_lr >= min_lr

    def get_lr(num_steps):
        if lr_warmup_steps > 0 and num_steps <= lr_warmup_steps:
            return init_lr + ((max_lr - init_lr) * float(num_steps) / float(lr_warmup_steps))
        if style == "constant":
            return max_lr
        if num_steps > lr_decay_steps:
            return min_lr
        if style == "inverse-square-root":
            warmup_steps = max(lr_warmup_steps, 1)
            ns = max(num_steps, 1)
            lr = max_lr * warmup_steps**0.5 / (ns**0.5)
            return max(min_lr, lr)
        num_steps_ = num_steps - lr_warmup_steps
        decay_steps_ = lr_decay_steps - lr_warmup_steps
        decay_ratio = float(num_steps_) / float(decay_steps_)
        assert 0.0 <= decay_ratio <= 1.0
        delta_lr = max_lr - min_lr
        if style == "linear":
            coeff = 1.0 - decay_ratio
        elif style == "cosine":
            coeff = 0.5 * (math.cos(math.pi * decay_ratio) + 1.0)
        elif style == "WSD":
            wsd_anneal_start_ = lr_decay_steps - wsd_decay_steps
            if num_steps <= wsd_anneal_start_:
                coeff = 1.0
            else:
                wsd_steps = num_steps - wsd_anneal_start_
                wsd_decay_ratio = float(wsd_steps) / float(wsd_decay_steps)
                if wsd_style == "linear":
                    coeff = 1.0 - wsd_decay_ratio
                elif wsd_style == "cosine":
                    coeff = 0.5 * (math.cos(math.pi * wsd_decay_ratio) + 1.0)
                elif wsd_style == "exponential":
                    coeff = (2.0 * math.pow(0.5, wsd_decay_ratio)) - 1.0
                elif wsd_style == "minus_sqrt":
                    coeff = 1.0 - math.sqrt(wsd_decay_ratio)
        return min_lr + coeff * delta_lr

    return np.array([get_lr(n * global_batch) for n in range(n_iters)])


MEGATRON = [
    HEADLINE["wsd-1-sqrt"],
    HEADLINE["cosine"],
    wsd("linear", warmup_init=0.0),
    wsd("cosine"),  # warmup_init=None: a W-1 iteration warmup from peak/W
    Linear(T, PEAK, 3e-5, warmup_steps=W, warmup_init=0.05),
    Constant(T, PEAK, warmup_steps=W),
    InverseSqrt(T, PEAK, warmup_steps=W, warmup_init=0.0),
    ConstantThenDecay(T, PEAK, 1e-5, decay_fraction=0.25, decay_shape="cosine"),
]


@pytest.mark.parametrize("i", range(len(MEGATRON)))
def test_megatron_flags_reproduce_plan(i):
    s = MEGATRON[i]
    res = export(s, "megatron")
    assert res.native
    flags = parse_megatron_flags(res.files["megatron_lr_flags.txt"])
    assert flags == dict(zip(res.payload[::2], res.payload[1::2], strict=True))
    assert flags["--train-iters"] == str(T)
    assert_same_lrs(megatron_lrs(flags, T), planned(s))


def torchtitan_lrs(cfg, training_steps):
    """torchtitan 2629192 LRSchedulersContainer.Config.build + LambdaLR (update t uses lambda(t))."""
    sc = cfg["lr_scheduler"]
    total_steps = sc.get("total_steps") or training_steps
    warmup_steps = int(sc.get("warmup_steps", 200))
    if warmup_steps > total_steps:
        warmup_steps = total_steps
    if sc.get("decay_ratio") is not None:
        decay_steps = round(total_steps * sc["decay_ratio"])
        if warmup_steps + decay_steps > total_steps:
            decay_steps = total_steps - warmup_steps
    else:
        decay_steps = total_steps - warmup_steps
    stable_steps = total_steps + 1 - warmup_steps - decay_steps
    lr_decay_type = sc.get("decay_type", "linear")
    min_lr_factor = sc.get("min_lr_factor", 0.0)

    def linear_warmup_stable_decay(current_step):
        warmup_stable_steps = warmup_steps + stable_steps
        if current_step < warmup_steps:
            current_step += 1
            assert warmup_steps != 0
            curr_adjustment = float(current_step / warmup_steps)
        elif current_step < warmup_stable_steps:
            curr_adjustment = 1.0
        else:
            current_step += 1
            assert decay_steps != 0
            progress = float(current_step - warmup_stable_steps) / decay_steps
            if lr_decay_type == "linear":
                curr_adjustment = 1 - progress
            elif lr_decay_type == "sqrt":
                curr_adjustment = 1 - math.sqrt(progress)
            elif lr_decay_type == "cosine":
                curr_adjustment = 0.5 * (1.0 + math.cos(math.pi * progress))
            curr_adjustment = min_lr_factor + (1 - min_lr_factor) * curr_adjustment
        return curr_adjustment

    lr = cfg["optimizer"]["lr"]
    return np.array([lr * linear_warmup_stable_decay(t) for t in range(training_steps)])


TORCHTITAN = [
    HEADLINE["wsd-1-sqrt"].replace(warmup_init=None),
    HEADLINE["cosine"].replace(warmup_init=None),
    wsd("linear"),
    wsd("cosine", final_lr=0.0),
    Linear(T, PEAK, 3e-5, warmup_steps=W),
    Constant(T, PEAK, warmup_steps=W),
    ConstantThenDecay(T, PEAK, 0.0, decay_fraction=0.25, decay_shape="1-sqrt"),
    Cosine(T, PEAK, 0.0),
]


@pytest.mark.parametrize("i", range(len(TORCHTITAN)))
def test_torchtitan_toml_reproduces_plan(i):
    if tomllib is None:  # pragma: no cover
        pytest.skip("tomllib needs Python >= 3.11")
    s = TORCHTITAN[i]
    res = export(s, "torchtitan")
    assert res.native
    cfg = tomllib.loads(res.files["torchtitan_lr_scheduler.toml"])
    assert cfg["training"]["steps"] == T
    assert "LRSchedulersContainer.Config(" in res.files["torchtitan_lr_scheduler.toml"]
    got = torchtitan_lrs(cfg, cfg["training"]["steps"])
    assert got[0] == pytest.approx(planned(s)[0])  # first update: lr/warmup_steps (or lr)
    assert_same_lrs(got, planned(s))


def nanotron_lrs(doc, n):
    """nanotron helpers.py lr_scheduler_builder (LambdaLR; update t uses lambda(t) * lr)."""
    a = types.SimpleNamespace(**doc["optimizer"]["learning_rate_scheduler"])
    total_training_steps = doc["tokens"]["train_steps"]
    assert a.lr_warmup_style in ["linear", "constant"]
    assert a.lr_decay_style in ["linear", "cosine", "1-sqrt"]
    if a.lr_decay_steps is None:
        lr_decay_steps = total_training_steps
        if a.lr_warmup_steps is not None:
            lr_decay_steps -= a.lr_warmup_steps
        if a.lr_decay_starting_step is not None:
            lr_decay_steps -= a.lr_decay_starting_step
    else:
        lr_decay_steps = a.lr_decay_steps
    if a.lr_decay_starting_step is None:
        lr_decay_starting_step = a.lr_warmup_steps if a.lr_warmup_steps is not None else 0
    else:
        lr_decay_starting_step = a.lr_decay_starting_step
    initial_lr = a.learning_rate

    def lr_lambda(current_step):
        if a.lr_warmup_steps == 0 and lr_decay_steps == 0:
            return initial_lr
        elif a.lr_warmup_style is not None and current_step <= a.lr_warmup_steps:
            if a.lr_warmup_style == "linear":
                lmbda = initial_lr * current_step / max(a.lr_warmup_steps, 1)
            elif a.lr_warmup_style == "constant":
                lmbda = a.learning_rate
        elif current_step < lr_decay_starting_step:
            lmbda = initial_lr
        elif a.lr_decay_style is not None and current_step < lr_decay_starting_step + lr_decay_steps:
            if a.lr_decay_style == "cosine":
                lmbda = a.min_decay_lr + (initial_lr - a.min_decay_lr) * (
                    1 + math.cos(math.pi * (current_step - lr_decay_starting_step) / lr_decay_steps)
                ) / 2
            elif a.lr_decay_style == "linear":
                lmbda = a.min_decay_lr + (initial_lr - a.min_decay_lr) * (
                    lr_decay_steps - (current_step - lr_decay_starting_step)) / lr_decay_steps
            elif a.lr_decay_style == "1-sqrt":
                lmbda = a.min_decay_lr + (initial_lr - a.min_decay_lr) * (
                    1 - math.sqrt((current_step - lr_decay_starting_step) / lr_decay_steps))
        else:
            lmbda = a.min_decay_lr
        lmbda /= initial_lr
        return lmbda

    return np.array([a.learning_rate * lr_lambda(t) for t in range(n)])


NANOTRON = [
    HEADLINE["wsd-1-sqrt"],
    HEADLINE["cosine"],
    wsd("linear", warmup_init=0.0),
    Linear(T, PEAK, 0.0, warmup_steps=W, warmup_init=0.0),
    Constant(T, PEAK, warmup_steps=W, warmup_init=0.0),
    ConstantThenDecay(T, PEAK, 1e-5, decay_fraction=0.25, decay_shape="cosine"),
    Cosine(T, PEAK, 3e-5),
]


@pytest.mark.parametrize("i", range(len(NANOTRON)))
def test_nanotron_yaml_reproduces_plan(i):
    s = NANOTRON[i]
    res = export(s, "nanotron")
    assert res.native
    doc = yaml.safe_load(res.files["nanotron_lr_scheduler.yaml"])
    assert doc == res.payload
    assert_same_lrs(nanotron_lrs(doc, T), planned(s))


def parse_olmo(text):
    """The scheduler class and keyword arguments from the emitted Python snippet."""
    tree = ast.parse(text)
    call = next(n.value for n in tree.body if isinstance(n, ast.Assign))
    return call.func.id, {k.arg: ast.literal_eval(k.value) for k in call.keywords}


def olmo_lrs(cls, kw, initial_lr, max_steps):
    """olmo_core/optim/scheduler.py get_lr; the Trainer increments global_step before the batch,
    so update t calls get_lr(initial_lr, current=t + 1, t_max=max_steps)."""

    def _linear_warmup(initial_lr, current, warmup, warmup_min_lr=0.0):
        assert 0 <= warmup_min_lr < initial_lr
        return warmup_min_lr + (initial_lr - warmup_min_lr) * min(current, warmup) / warmup

    def _linear_decay(initial_lr, step_from_end, decay, decay_min_lr=0.0):
        assert 0 <= decay_min_lr < initial_lr
        return decay_min_lr + (initial_lr - decay_min_lr) * min(step_from_end, decay) / decay

    def get_lr(current, t_max):
        warmup = kw.get("warmup")
        m = kw.get("warmup_min_lr", 0.0)
        if cls == "ConstantScheduler":
            return initial_lr
        if cls == "ConstantWithWarmup":
            if current <= warmup:
                return _linear_warmup(initial_lr, current, warmup, m)
            return initial_lr
        if cls == "WSD":
            if current <= warmup:
                return _linear_warmup(initial_lr, current, warmup, m)
            decay = kw["decay"]
            if current >= t_max - decay:
                return _linear_decay(initial_lr, t_max - current, decay, kw["decay_min_lr"])
            return initial_lr
        if cls in ("CosWithWarmup", "LinearWithWarmup"):
            t_max = t_max if kw.get("t_max") is None else kw["t_max"]
            eta_min = initial_lr * kw["alpha_f"]
            if current < warmup:
                return _linear_warmup(initial_lr, current, warmup, m)
            elif current >= t_max:
                return eta_min
            current = current - warmup
            t_max = t_max - warmup
            if cls == "CosWithWarmup":
                return eta_min + (initial_lr - eta_min) * (1 + math.cos(math.pi * current / t_max)) / 2
            return initial_lr - (initial_lr - eta_min) * (current / t_max)
        if cls == "InvSqrtWithWarmup":
            if current < warmup:
                return _linear_warmup(initial_lr, current, warmup, m)
            eta_min = initial_lr * kw["alpha_f"]
            return eta_min + (initial_lr - eta_min) * math.sqrt(warmup / current)
        raise AssertionError(cls)

    return np.array([get_lr(t + 1, max_steps) for t in range(max_steps)])


OLMO = [
    Cosine(T, PEAK, 3e-5, warmup_steps=W, warmup_init=0.05),
    Cosine(T, PEAK, 0.0),
    Linear(T, PEAK, 3e-5, warmup_steps=W, warmup_init=0.1),
    Constant(T, PEAK, warmup_steps=W),
    Constant(T, PEAK, warmup_steps=W, warmup_init=0.2),
    wsd("linear"),
    wsd("linear", warmup_init=0.1),
    ConstantThenDecay(T, PEAK, 0.0, decay_fraction=0.25),
    InverseSqrt(T, PEAK),
]


@pytest.mark.parametrize("i", range(len(OLMO)))
def test_olmo_core_scheduler_reproduces_plan(i):
    s = OLMO[i]
    res = export(s, "olmo-core")
    assert res.native
    cls, kw = parse_olmo(res.files["olmo_core_scheduler.py"])
    assert (cls, kw) == (res.payload["class"], res.payload["kwargs"])
    assert_same_lrs(olmo_lrs(cls, kw, res.payload["lr"], res.payload["max_steps"]), planned(s))


def maxtext_lrs(config):
    """maxtext_utils.create_learning_rate_schedule (65dda9a) built with real optax; update t
    uses schedule(t)."""
    c = types.SimpleNamespace(**config)

    def make_cos_schedule(init_lr, final_lr, len_steps):
        def schedule(step):
            pct = step / (len_steps - 1) if len_steps > 1 else 1.0
            a = 0.5 * (jnp.cos(jnp.pi * pct) + 1)
            return init_lr * a + final_lr * (1 - a)

        return schedule

    lr = c.learning_rate
    final_lr = lr * c.learning_rate_final_fraction
    warmup_steps = int(c.learning_rate_schedule_steps * c.warmup_steps_fraction)
    constant_zero_steps = c.steps - c.learning_rate_schedule_steps
    pieces, boundaries = [], []
    if warmup_steps > 0:
        pieces.append(optax.linear_schedule(init_value=0.0, end_value=lr,
                                            transition_steps=warmup_steps - 1))
        boundaries.append(warmup_steps)
    if c.lr_schedule_type == "cosine":
        cos_steps = c.learning_rate_schedule_steps - warmup_steps
        if cos_steps > 0:
            pieces.append(make_cos_schedule(lr, final_lr, cos_steps))
            boundaries.append(warmup_steps + cos_steps)
    else:
        decay_steps = int(c.learning_rate_schedule_steps * c.wsd_decay_steps_fraction)
        stable_steps = c.learning_rate_schedule_steps - warmup_steps - decay_steps
        if stable_steps > 0:
            pieces.append(optax.constant_schedule(lr))
            boundaries.append(warmup_steps + stable_steps)
        if decay_steps > 0:
            if c.wsd_decay_style == "linear":
                pieces.append(optax.linear_schedule(init_value=lr, end_value=final_lr,
                                                    transition_steps=decay_steps - 1))
            else:
                pieces.append(make_cos_schedule(lr, final_lr, decay_steps))
            boundaries.append(warmup_steps + stable_steps + decay_steps)
    if constant_zero_steps > 0:
        pieces.append(optax.constant_schedule(0.0))
        boundaries.append(c.learning_rate_schedule_steps)
    schedule = optax.join_schedules(pieces, boundaries)
    return optax_lrs(schedule, c.steps)


@pytest.mark.parametrize("s", [Constant(T, PEAK, warmup_steps=W, warmup_init=0.0),
                               Constant(T, PEAK), wsd("1-sqrt", warmup_init=0.0, final_lr=PEAK)])
def test_maxtext_overrides_reproduce_plan(s):
    res = export(s, "maxtext")
    assert res.native
    cfg = yaml.safe_load(res.files["maxtext_lr.yml"])
    assert cfg == res.payload
    assert_same_lrs(maxtext_lrs(cfg), planned(s))


def levanter_lrs(doc):
    """levanter OptimizerConfig.lr_scheduler (928e69f) with real optax, one cycle; levanter wraps
    it in optax.inject_hyperparams, so update t uses schedule(t)."""
    o = types.SimpleNamespace(**{"decay": None, "rewarmup": 0.0, **doc["optimizer"]})
    num_train_steps = doc["trainer"]["num_train_steps"]

    def _convert_frac_or_steps(frac_or_steps, num_train_steps):
        if frac_or_steps < 0.0 or (frac_or_steps > 1.0 and frac_or_steps % 1 != 0):
            raise ValueError(f"Invalid fraction {frac_or_steps}.")
        if frac_or_steps <= 1.0:
            return int(frac_or_steps * num_train_steps)
        return int(frac_or_steps)

    cooldown_points = [0, num_train_steps]
    learning_rate = o.learning_rate
    min_lr = learning_rate * o.min_lr_ratio
    schedules, boundaries = [], []
    previous_end = 0.0
    for cycle, (start, end) in enumerate(zip(cooldown_points[:-1], cooldown_points[1:], strict=True)):
        cycle_steps = end - start
        if cycle == 0:
            warmup_steps = _convert_frac_or_steps(o.warmup, cycle_steps)
        else:
            warmup_steps = _convert_frac_or_steps(o.rewarmup, cycle_steps)
        if warmup_steps != 0:
            schedules.append(optax.linear_schedule(previous_end, learning_rate, warmup_steps))
            boundaries.append(start + warmup_steps)
        lr_decay_steps = (_convert_frac_or_steps(o.decay, cycle_steps) if o.decay is not None
                          else cycle_steps - warmup_steps)
        stable_steps = cycle_steps - warmup_steps - lr_decay_steps
        if stable_steps != 0:
            schedules.append(optax.constant_schedule(learning_rate))
            boundaries.append(start + warmup_steps + stable_steps)
        if o.lr_schedule == "constant":
            schedule = optax.constant_schedule(learning_rate)
        elif o.lr_schedule == "cosine":
            schedule = optax.cosine_decay_schedule(learning_rate, lr_decay_steps, o.min_lr_ratio)
        elif o.lr_schedule == "linear":
            schedule = optax.linear_schedule(learning_rate, min_lr, lr_decay_steps)
        previous_end = schedule(lr_decay_steps)
        schedules.append(schedule)
        boundaries.append(end)
    schedule = optax.join_schedules(schedules, boundaries) if len(schedules) > 1 else schedules[0]
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=schedule)
    return optax_lrs(None, num_train_steps, tx=tx)


LEVANTER = [
    HEADLINE["cosine"],
    Linear(T, PEAK, 3e-5, warmup_steps=W, warmup_init=0.0),
    wsd("linear", warmup_init=0.0),
    wsd("cosine", warmup_init=0.0, final_lr=0.0),
    Constant(T, PEAK, warmup_steps=W, warmup_init=0.0),
    Cosine(T, PEAK, 3e-5, warmup_steps=1, warmup_init=0.0),  # 1 step: written as a fraction
    ConstantThenDecay(T, PEAK, 0.0, decay_fraction=1 / T),  # 1-step decay: a fraction too
]


@pytest.mark.parametrize("i", range(len(LEVANTER)))
def test_levanter_yaml_reproduces_plan(i):
    s = LEVANTER[i]
    res = export(s, "levanter")
    assert res.native
    doc = yaml.safe_load(res.files["levanter_optimizer.yaml"])
    assert doc == res.payload
    assert_same_lrs(levanter_lrs(doc), planned(s))


# ------------------------------------------------------------------------------------- refusals
REFUSALS = [
    (Cosine(T, PEAK, warmup_steps=W, warmup_init=0.0), "torchtitan",
     r"^torchtitan: cannot express kind='cosine': warmup_init=0 \(torchtitan warms up as "
     r"\(step\+1\)/warmup_steps, i\.e\. cptdyn warmup_init=None\)$"),
    (InverseSqrt(T, PEAK), "torchtitan",
     r"^torchtitan: cannot express kind='inverse-sqrt': torchtitan has only warmup \+ "
     r"linear/sqrt/cosine decay$"),
    (wsd("exponential"), "torchtitan", r"decay_shape='exponential' "
     r"\(torchtitan decay_type is linear, sqrt or cosine\)$"),
    (wsd("exponential", warmup_init=0.0), "megatron",
     r"^megatron: cannot express kind='wsd': decay_shape='exponential' \(--lr-wsd-decay-style "
     r"is linear, cosine or minus_sqrt; Megatron's 'exponential' is 2\*0\.5\^x-1, not geometric\)$"),
    (MultiStep.multistep_811(T, PEAK), "megatron",
     r"^megatron: cannot express kind='multistep': Megatron-LM's --lr-decay-style has no such "
     r"shape$"),
    (Cosine(T, PEAK, warmup_steps=W), "megatron",
     r"^megatron: cannot express kind='cosine': warmup_init=None \(Megatron's warmup is linear"),
    (Cosine(T, PEAK, warmup_steps=W), "nanotron",
     r"^nanotron: cannot express kind='cosine': warmup_init=None \(nanotron warms up as "
     r"lr\*step/lr_warmup_steps from 0, i\.e\. cptdyn warmup_init=0\.0\)$"),
    (wsd("square", warmup_init=0.0), "nanotron", r"decay_shape='square' \(nanotron "),
    (wsd("1-sqrt"), "olmo-core",
     r"^olmo-core: cannot express kind='wsd': decay_shape='1-sqrt' \(OLMo-core's WSD decays "
     r"linearly only\)$"),
    (Cosine(T, PEAK, warmup_steps=W, warmup_init=0.0), "olmo-core",
     r"^olmo-core: cannot express kind='cosine': warmup_init=0 \(OLMo-core counts steps from 1, "
     r"so its linear warmup from warmup_min_lr >= 0 needs warmup_init >= "
     r"1/\(warmup_steps\+1\)=0\.04\)$"),
    (InverseSqrt(T, PEAK, timescale=100.0), "olmo-core", r"timescale=100 \(OLMo-core's "),
    (Cosine(T, PEAK, 3e-5, warmup_steps=W, warmup_init=0.0), "maxtext",
     r"^maxtext: cannot express kind='cosine': final_lr=3e-05 < peak_lr \(MaxText decays over "
     r"len-1 steps and reaches the final LR at step T-1; cptdyn decays reach final_lr at step "
     r"T\)$"),
    (Cosine(T, PEAK, warmup_steps=W), "maxtext", r"^maxtext: cannot express kind='cosine': "
     r"warmup_init=None \(MaxText warms up from 0"),
    (wsd("1-sqrt", warmup_init=0.0), "levanter",
     r"^levanter: cannot express kind='wsd': decay_shape='1-sqrt' \(levanter decays are linear "
     r"or cosine\)$"),
    (InverseSqrt(T, PEAK), "levanter", r"^levanter: cannot express kind='inverse-sqrt': "),
    (WSD(T, PEAK, decay_fraction=0.2004), "levanter",
     r"decay_fraction=0\.2004 \(48\.096 decay steps, not a whole number\)$"),
    (MultiStep.multistep_811(T, PEAK), "hf", None),  # not refused: LambdaLR route
]


@pytest.mark.parametrize("i", range(len(REFUSALS)))
def test_refusal_messages(i):
    s, target, pattern = REFUSALS[i]
    if pattern is None:
        assert not export(s, target).native
        with pytest.raises(ExportError, match=r"^hf: cannot express kind='multistep' as an "
                           r"lr_scheduler_type: Hugging Face has no lr_scheduler_type of this "
                           r"form$"):
            export(s, target, require_native=True)
        return
    with pytest.raises(ExportError, match=pattern) as e:
        export(s, target)
    assert "\n" not in str(e.value)
    assert isinstance(e.value, ValueError)


def test_option_and_target_errors(tmp_path):
    s = HEADLINE["cosine"]
    with pytest.raises(ExportError, match=r"^target='deepspeed' is unknown; choose one of optax, "):
        export(s, "deepspeed")
    with pytest.raises(ExportError, match=r"^megatron: option 'mode' is not supported$"):
        export(s, "megatron", mode="array")
    with pytest.raises(ExportError, match=r"^json: mode='yaml' must be 'spec' or 'array'$"):
        export(s, "json", mode="yaml")
    with pytest.raises(ExportError, match=r"warmup_from_previous=True needs a preceding"):
        export(Cosine(T, PEAK, warmup_steps=W, warmup_from_previous=True), "csv")
    with pytest.raises(ExportError, match=r"^schedule must be a Schedule or a spec dict"):
        export([1, 2], "csv")
    with pytest.raises(ExportError, match=r"kind 'wsd-ish' is unknown"):
        export({"kind": "wsd-ish"}, "csv")


# ---------------------------------------------------------------------------- CSV, JSON, write
def test_csv_and_json_round_trip(tmp_path):
    s = HEADLINE["wsd-1-sqrt"]
    want = planned(s)
    c = export(s, "csv")
    lines = c.files["lr.csv"].splitlines()
    assert lines[0] == "step,lr" and len(lines) == T + 1
    got = np.array([float(x.split(",")[1]) for x in lines[1:]])
    assert [int(x.split(",")[0]) for x in lines[1:]] == list(range(T))
    np.testing.assert_array_equal(got, want)  # float64 repr round-trips exactly
    j = export(s, "json")
    assert j.native and j.payload == s.to_spec()
    np.testing.assert_array_equal(planned(schedule_from_spec(json.loads(j.text()))), want)
    ja = export(s, "json", mode="array")
    np.testing.assert_array_equal(np.array(json.loads(ja.text())["lr"]), want)
    assert sorted(EXPORT_TARGETS) == sorted(
        ["optax", "torch", "hf", "megatron", "torchtitan", "nanotron", "olmo-core", "maxtext",
         "levanter", "csv", "json"])


def test_write_single_file_bundle_and_errors(tmp_path, monkeypatch):
    s = HEADLINE["cosine"]
    res = export(s, "hf")
    [path] = write(res, tmp_path / "args.json")
    assert json.loads(path.read_text()) == res.payload["training_args"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0o600
    # an existing directory receives the file under its default name
    (tmp_path / "d").mkdir()
    assert write(res, tmp_path / "d") == [tmp_path / "d" / "hf_training_args.json"]
    # bundles go to a directory (new or existing)
    t = export(s, "torch")
    paths = write(t, tmp_path / "bundle")
    assert sorted(p.name for p in paths) == ["cptdyn_lr_scheduler.py", "lr_table.json"]
    write(t, tmp_path / "bundle")  # rewriting an existing bundle works
    with pytest.raises(ExportError, match=r"looks like a file but torch writes 2 files "
                       r"\(lr_table\.json, cptdyn_lr_scheduler\.py\); give a directory$"):
        write(t, tmp_path / "args.json")
    with pytest.raises(ExportError, match=r"looks like a file"):
        write(t, tmp_path / "new.json")
    with pytest.raises(ExportError, match=r"^write: directory .* does not exist$"):
        write(res, tmp_path / "missing" / "x.json")
    # an error while renaming leaves neither a half-written target nor temporary files
    before = path.read_text()
    res2 = export(Constant(T, 1e-3), "hf")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write(res2, path)
    with pytest.raises(OSError, match="disk full"):
        write(t, tmp_path / "bundle2")
    monkeypatch.undo()
    assert path.read_text() == before
    assert not (tmp_path / "bundle2").exists()
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_result_text_and_notes():
    s = HEADLINE["wsd-1-sqrt"]
    r = export(s, "hf")
    assert isinstance(r, ExportResult) and r.text() == r.files["hf_training_args.json"]
    assert "native" in r.note and f"all {T} steps" in r.note
    t = export(s, "torch")
    assert t.text().startswith("# ---- lr_table.json ----\n")
    assert "# ---- cptdyn_lr_scheduler.py ----" in t.text()
    assert "per-step route" in t.note and "Past the end" in t.note
