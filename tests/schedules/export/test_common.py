"""Behaviour every exporter shares, proven against the real libraries (torch, transformers, optax):
every WSD shape and every family through the torch, hf and optax routes, CPT parts, one-line
refusals, options, write() and the result text."""

import json
import os

import numpy as np
import pytest

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
)
from cptdyn.schedules._export import ExportError, ExportResult, export, write

from .helpers import HEADLINE, PEAK, T, W, assert_same_lrs, optax_lrs, planned, wsd
from .torch_helpers import hf_lrs, torch_lrs

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
    # PT warmup in torchtitan's (t+1)/W convention: the PT part must also export to torchtitan
    "cpt": (CPTSchedule(WSD(T, PEAK, 0.0, decay_fraction=0.25, warmup_steps=W, warmup_init=None),
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


REFUSALS = [
    (Cosine(T, PEAK, warmup_steps=W, warmup_init=0.0), "torchtitan",
     r"^torchtitan: cannot express kind='cosine': warmup_init=0 \(torchtitan warms up as "
     r"\(step\+1\)/warmup_steps, i\.e\. cptdyn warmup_style='torchtitan'\)$"),
    (InverseSqrt(T, PEAK), "torchtitan",
     r"^torchtitan: cannot express kind='inverse-sqrt': torchtitan has only warmup \+ "
     r"linear/sqrt/cosine decay$"),
    (wsd("exponential", warmup_init=None), "torchtitan", r"decay_shape='exponential' "
     r"\(torchtitan decay_type is linear, sqrt or cosine\)$"),
    (wsd("exponential", warmup_init=0.0), "megatron",
     r"^megatron: cannot express kind='wsd': decay_shape='exponential' \(--lr-wsd-decay-style "
     r"is linear, cosine or minus_sqrt; Megatron's 'exponential' is 2\*0\.5\^x-1, not geometric\)$"),
    (MultiStep.multistep_811(T, PEAK), "megatron",
     r"^megatron: cannot express kind='multistep': Megatron-LM's --lr-decay-style has no such "
     r"shape$"),
    (Cosine(T, PEAK, warmup_steps=W, warmup_init=None), "megatron",
     r"^megatron: cannot express kind='cosine': warmup_init=None \(Megatron's warmup is linear"),
    (Cosine(T, PEAK, warmup_steps=W, warmup_init=None), "nanotron",
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
    (Cosine(T, PEAK, warmup_steps=W, warmup_init=None), "maxtext", r"^maxtext: cannot express kind='cosine': "
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
