"""Drive real torch optimizers with exported schedulers (torch and transformers are required: the
importing test module is skipped without them)."""

import importlib.util
import os
import types
import uuid

import numpy as np
import pytest

from cptdyn.schedules._export import write

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from transformers import TrainingArguments  # noqa: E402
from transformers.optimization import get_scheduler  # noqa: E402


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
