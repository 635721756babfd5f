"""Schedule import: export -> import is the identity per trainer (the LR at every step), and the
settings as users keep them (HF TrainingArguments JSON/YAML, Megatron launch scripts, torchtitan
job TOML, step,lr CSV) are read with the trainers' own defaults."""

import json

import numpy as np
import pytest

from cptdyn._pytree import x64_context
from cptdyn.schedules import WSD, Constant, Cosine, InverseSqrt, Linear, export, write
from cptdyn.schedules._import import ScheduleImportError, import_schedule

T, W, PEAK = 240, 24, 3e-4


def arr(s):
    with x64_context():
        return np.asarray(s.array(), dtype=np.float64)


def roundtrip(s, target, tmp_path, **opts):
    res = export(s, target, **opts)
    (tmp_path / target).mkdir()
    paths = write(res, tmp_path / target)
    main = {"hf": "hf_training_args.json", "megatron": "megatron_lr_flags.txt",
            "torchtitan": "torchtitan_lr_scheduler.toml", "torch": "lr_table.json",
            "csv": "lr_schedule.csv"}[target]
    path = next((p for p in paths if p.name == main), paths[0])
    source = "torch" if target == "torch" else target
    return res, import_schedule(path, source)


CASES = {
    "hf": [
        WSD(T, PEAK, 0.0, 0.2, "1-sqrt", warmup_steps=W),  # the quick start's WSD form
        WSD(T, PEAK, 3e-5, 0.25, "cosine", warmup_steps=W, warmup_init=0.1),
        Cosine(T, PEAK, 0.0, warmup_steps=W),
        Cosine(T, PEAK, 3e-5, warmup_steps=W),
        Linear(T, PEAK, 0.0, warmup_steps=W),
        Linear(T, PEAK, 3e-5, warmup_steps=W),
        Constant(T, PEAK, warmup_steps=W),
        Constant(T, PEAK),
        InverseSqrt(T, PEAK, warmup_steps=W),
    ],
    "megatron": [
        WSD(T, PEAK, 0.0, 0.2, "1-sqrt", warmup_steps=W),
        WSD(T, PEAK, 3e-5, 0.25, "linear", warmup_steps=W, warmup_init=None),
        Cosine(T, PEAK, 3e-5, warmup_steps=W, warmup_init=0.1),
        Linear(T, PEAK, 0.0, warmup_steps=W),
        Constant(T, PEAK, warmup_steps=W),
        InverseSqrt(T, PEAK, warmup_steps=W),
    ],
    "torchtitan": [
        WSD(T, PEAK, 0.0, 0.2, "1-sqrt", warmup_steps=W, warmup_init=None),
        WSD(T, PEAK, 3e-5, 0.25, "cosine", warmup_steps=W, warmup_init=None),
        Cosine(T, PEAK, 3e-5, warmup_steps=W, warmup_init=None),
        Linear(T, PEAK, 0.0, warmup_steps=W, warmup_init=None),
        Constant(T, PEAK, warmup_steps=W, warmup_init=None),
    ],
    "torch": [WSD(T, PEAK, 3e-5, 0.2, "exponential", warmup_steps=W)],
    "csv": [WSD(T, PEAK, 3e-5, 0.2, "mirror-cosine", warmup_steps=W)],
}


@pytest.mark.parametrize("target,i", [(t, i) for t, ss in CASES.items() for i in range(len(ss))])
def test_export_then_import_is_the_identity(target, i, tmp_path):
    s = CASES[target][i]
    res, imp = roundtrip(s, target, tmp_path)
    if target not in ("csv",):
        assert res.native or target == "torch", res.note
    want = arr(s)
    got = arr(imp.schedule)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-18)
    if target in ("hf", "megatron", "torchtitan", "torch"):
        # a named family comes back, and exporting it again gives the same file
        assert imp.exact_family and type(imp.schedule) is type(s), imp.note
        again = export(imp.schedule, target)
        assert again.files == res.files


def test_quick_start_wsd_exports_natively_to_hf():
    # README quick start: cptdyn schedule wsd --warmup-steps 2160 --decay-fraction 0.2 (final 0)
    s = WSD(24_000, 3e-4, 0.0, 0.2, "1-sqrt", warmup_steps=2160)
    r = export(s, "hf")
    assert r.native, r.note
    ta = r.payload["training_args"]
    assert ta["lr_scheduler_type"] == "warmup_stable_decay"
    assert ta["lr_scheduler_kwargs"]["decay_type"] == "1-sqrt"
    assert len(r.files["hf_training_args.json"]) < 1000


def test_hf_as_users_keep_it(tmp_path):
    # TrainingArguments.to_json_string()-like: epochs (max_steps -1), kwargs as a JSON string,
    # transformers 5 warmup_steps < 1 read as a ratio (ceil(ratio * T), training_args.py)
    p = tmp_path / "training_args.json"
    p.write_text(json.dumps({"output_dir": "out", "learning_rate": 2e-4, "max_steps": -1,
                             "lr_scheduler_type": "cosine_with_min_lr",
                             "lr_scheduler_kwargs": '{"min_lr_rate": 0.1}',
                             "warmup_steps": 0.05, "num_train_epochs": 3}))
    with pytest.raises(ScheduleImportError, match=r"max_steps is -1; give the run length"):
        import_schedule(p, "hf")
    imp = import_schedule(p, "hf", total_steps=1000)
    assert imp.exact_family
    np.testing.assert_allclose(arr(imp.schedule), arr(Cosine(1000, 2e-4, 2e-5, warmup_steps=50)),
                               rtol=1e-12, atol=1e-18)
    y = tmp_path / "args.yaml"
    y.write_text("learning_rate: 1.0e-3\nmax_steps: 100\nlr_scheduler_type: linear\n"
                 "warmup_ratio: 0.1\n")
    imp = import_schedule(y, "hf")
    np.testing.assert_allclose(arr(imp.schedule), arr(Linear(100, 1e-3, warmup_steps=10)),
                               rtol=1e-12, atol=1e-18)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lr_scheduler_type": "cosine_with_restarts", "max_steps": 10}))
    with pytest.raises(ScheduleImportError, match=r"lr_scheduler_type='cosine_with_restarts' "
                       r"has no cptdyn form"):
        import_schedule(bad, "hf")


def test_megatron_launch_script(tmp_path):
    # a launch script as users keep it: other flags, comments, --flag=value, continuations
    p = tmp_path / "pretrain.sh"
    p.write_text(
        "#!/bin/bash\n# 1.3B run\ntorchrun --nproc-per-node 8 pretrain_gpt.py \\\n"
        "  --num-layers 24 --hidden-size 2048 \\\n"
        "  --lr 3e-4 --min-lr=3e-5 --lr-decay-style cosine \\\n"
        "  --lr-warmup-iters 100 --train-iters 1000  # warmup from 0\n"
        "  --bf16\n")
    imp = import_schedule(p, "megatron")
    assert imp.exact_family and isinstance(imp.schedule, Cosine)
    np.testing.assert_allclose(arr(imp.schedule), arr(Cosine(1000, 3e-4, 3e-5, warmup_steps=100)),
                               rtol=1e-12, atol=1e-18)
    # lr_decay_iters shorter than the run: not a cptdyn family, read as the exact array
    q = tmp_path / "short.sh"
    q.write_text("--lr 3e-4 --min-lr 3e-5 --lr-decay-style cosine --lr-decay-iters 800 "
                 "--train-iters 1000\n")
    imp = import_schedule(q, "megatron")
    assert not imp.exact_family and imp.schedule.KIND == "array"
    assert arr(imp.schedule)[900] == pytest.approx(3e-5)
    with pytest.raises(ScheduleImportError, match=r"no --lr found"):
        (tmp_path / "e.sh").write_text("--train-iters 10\n")
        import_schedule(tmp_path / "e.sh", "megatron")


def test_torchtitan_job_toml(tmp_path):
    # a job config as in torchtitan's train_configs (older lr_min name for min_lr_factor)
    p = tmp_path / "llama3_8b.toml"
    p.write_text('[job]\ndescription = "x"\n[optimizer]\nname = "AdamW"\nlr = 3e-4\n'
                 '[lr_scheduler]\nwarmup_steps = 20\ndecay_ratio = 0.25\n'
                 'decay_type = "cosine"\nlr_min = 0.1\n[training]\nsteps = 200\n')
    imp = import_schedule(p, "torchtitan")
    assert imp.exact_family and isinstance(imp.schedule, WSD)
    assert imp.schedule.warmup_style == "torchtitan"
    assert float(imp.schedule.final_lr) == pytest.approx(3e-5)


def test_csv_table_errors(tmp_path):
    p = tmp_path / "lr.csv"
    p.write_text("step,lr\n0,1e-4\n2,2e-4\n")
    with pytest.raises(ScheduleImportError, match=r"row 3: step 2 where 1 was expected"):
        import_schedule(p, "csv")
    with pytest.raises(ScheduleImportError, match=r"source='x' is unknown"):
        import_schedule(p, "x")
