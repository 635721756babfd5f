"""Hugging Face: native TrainingArguments (built with transformers' own get_scheduler) and the
LambdaLR route, driven with real SGD updates."""

import json

import pytest

from cptdyn.schedules._export import ExportError, export

from .helpers import HEADLINE, assert_same_lrs, planned
from .torch_helpers import hf_lrs, torch_lrs


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


def test_readme_snippet_training_arguments(tmp_path):
    # the README's HF snippet: TrainingArguments(output_dir=..., **training_args) builds, and the
    # Trainer's own scheduler from those arguments follows the plan (needs accelerate: cptdyn[hf])
    pytest.importorskip("accelerate")
    torch = pytest.importorskip("torch")
    from transformers import TrainingArguments, get_scheduler

    from cptdyn.schedules import WSD

    s = WSD(2000, 3e-4, 0.0, decay_fraction=0.2, decay_shape="1-sqrt", warmup_steps=200)
    r = export(s, "hf")
    assert r.native
    args = TrainingArguments(output_dir=str(tmp_path / "out"), **r.payload["training_args"])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=args.learning_rate)
    sched = get_scheduler(args.lr_scheduler_type, opt,
                          num_warmup_steps=args.get_warmup_steps(args.max_steps),
                          num_training_steps=args.max_steps,
                          scheduler_specific_kwargs=args.lr_scheduler_kwargs)
    got = []
    for _ in range(args.max_steps):
        got.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert_same_lrs(got, planned(s))
