"""`cptdyn schedule` and `cptdyn cpt`: outputs, and the one-line exit-2 error contract."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cptdyn.cli import main


def run(argv, capsys):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_schedule_json_and_csv(tmp_path, capsys):
    spec = tmp_path / "wsd.json"
    rc, out, err = run(["schedule", "wsd", "--total-steps", "1000", "--peak-lr", "3e-4",
                        "--warmup-steps", "50", "--decay-shape", "1-sqrt",
                        "--decay-fraction", "0.2", "--out", str(spec)], capsys)
    assert rc == 0, err
    doc = json.loads(spec.read_text())
    assert doc["kind"] == "wsd" and doc["decay_shape"] == "1-sqrt" and doc["version"] == 2
    csv = tmp_path / "wsd.csv"
    rc, _, err = run(["schedule", "wsd", "--total-steps", "1000", "--peak-lr", "3e-4",
                      "--warmup-steps", "50", "--decay-shape", "1-sqrt", "--out", str(csv),
                      "--plot", str(tmp_path / "p.html")], capsys)
    assert rc == 0, err
    df = pd.read_csv(csv)
    assert list(df.columns) == ["step", "lr"] and len(df) == 1000
    # default warmup (spec version 2): linear from 0, peak first reached at step W = 50
    assert df.lr.iloc[0] == 0.0 and df.lr.iloc[49] == pytest.approx(3e-4 * 49 / 50)
    assert df.lr.iloc[50] == pytest.approx(3e-4) and df.lr.iloc[799] == pytest.approx(3e-4)
    assert df.lr.iloc[800 + 25] == pytest.approx(3e-4 * (1 - np.sqrt(25 / 200)))
    assert (tmp_path / "p.html").stat().st_size > 1000


def test_multistep_polyline_array(tmp_path, capsys):
    out = tmp_path / "m.json"
    assert run(["schedule", "multistep", "--total-steps", "100", "--peak-lr", "1e-3",
                "--milestones", "0.8,0.9", "--factors", "0.316,0.1", "--out", str(out)],
               capsys)[0] == 0
    assert json.loads(out.read_text())["milestones"] == [80, 90]
    assert run(["schedule", "polyline", "--total-steps", "100", "--knots", "0:0,10:1e-3,99:0",
                "--out", str(out)], capsys)[0] == 0
    np.save(tmp_path / "v.npy", np.linspace(1e-3, 0, 20))
    assert run(["schedule", "array", "--values", str(tmp_path / "v.npy"), "--out", str(out)],
               capsys)[0] == 0
    assert len(json.loads(out.read_text())["values"]) == 20


def test_cpt_join(tmp_path, capsys):
    pt, cpt, joined = tmp_path / "pt.json", tmp_path / "cpt.json", tmp_path / "j.json"
    run(["schedule", "wsd", "--total-steps", "1000", "--peak-lr", "2e-4", "--final-lr", "2e-5",
         "--out", str(pt)], capsys)
    run(["schedule", "cosine", "--total-steps", "500", "--peak-lr", "1e-4", "--warmup-steps",
         "50", "--warmup-from-previous", "--out", str(cpt)], capsys)
    rc, out, err = run(["cpt", "--pt", str(pt), "--cpt", str(cpt), "--out", str(joined)], capsys)
    assert rc == 0, err
    assert "transfer at step 1000" in out and "loss potential" in out
    doc = json.loads(joined.read_text())
    assert doc["kind"] == "cpt" and doc["pt"]["kind"] == "wsd"


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["schedule", "wsd", "--total-steps", "100", "--peak-lr=-1e-3"], "peak_lr=-0.001"),
        (["schedule", "wsd", "--total-steps", "100", "--peak-lr", "1e-3",
          "--warmup-steps", "200"], "warmup_steps=200"),
        (["schedule", "wsd", "--total-steps", "100", "--peak-lr", "1e-3",
          "--decay-fraction", "1.5"], "decay_fraction=1.5"),
        (["schedule", "wsd", "--total-steps", "100", "--peak-lr", "1e-3",
          "--decay-shape", "zigzag"], "decay_shape='zigzag'"),
        (["schedule", "wsd", "--total-steps", "100", "--peak-lr", "nan"], "'nan' is not a finite number"),
        (["schedule", "zigzag"], "invalid choice: 'zigzag'"),
        (["schedule", "wsd", "--total-steps", "100", "--peak-lr", "1e-3", "--out",
          "/nonexistent-dir/x.json"], "does not exist"),
        (["schedule", "wsd", "--total-steps", "100", "--peak-lr", "1e-3", "--out", "x.txt"],
         "use a .json"),
        (["cpt", "--pt", "missing.json", "--cpt", "missing.json", "--out", "j.json"],
         "--pt 'missing.json' does not exist"),
    ],
)
def test_errors_are_one_line_exit_2(argv, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if "--out" not in argv and argv[0] == "schedule":
        argv = argv + ["--out", "x.json"]
    rc, out, err = run(argv, capsys)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("cptdyn: error:")
    assert needle in err
    assert not (tmp_path / "x.json").exists()  # nothing half-written


def test_malformed_spec(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    rc, _, err = run(["cpt", "--pt", str(bad), "--cpt", str(bad), "--out", "x.json"], capsys)
    assert rc == 2 and "not valid JSON" in err
    bad.write_text(json.dumps({"kind": "wsd", "total_steps": 10}))
    rc, _, err = run(["cpt", "--pt", str(bad), "--cpt", str(bad), "--out", "x.json"], capsys)
    assert rc == 2 and "peak_lr is required" in err


def test_console_script_entry_point(tmp_path):
    # the installed module entry point, as a user runs it (no traceback on error)
    r = subprocess.run([sys.executable, "-m", "cptdyn", "schedule", "wsd", "--total-steps", "10",
                        "--peak-lr", "1e-3", "--warmup-steps", "20", "--out",
                        str(tmp_path / "x.json")], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "cptdyn: error: WSD: warmup_steps=20 is longer than total_steps=10"
    ]


def test_aliases_and_import_roundtrip(tmp_path, capsys):
    # HF names on the command line: the same spec as cptdyn's own names
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run(["schedule", "warmup_stable_decay", "--max-steps", "1000", "--lr", "3e-4",
                "--warmup-ratio", "0.05", "--num-decay-steps", "200", "--decay-type", "1-sqrt",
                "--out", str(a)], capsys)[0] == 0
    assert run(["schedule", "wsd", "--total-steps", "1000", "--peak-lr", "3e-4",
                "--warmup-steps", "50", "--decay-fraction", "0.2", "--decay-shape", "1-sqrt",
                "--out", str(b)], capsys)[0] == 0
    assert json.loads(a.read_text()) == json.loads(b.read_text())
    # Megatron names (absolute --lr-warmup-init becomes a fraction of peak)
    m = tmp_path / "m.json"
    assert run(["schedule", "--lr-decay-style", "cosine", "--train-iters", "100", "--lr", "1e-3",
                "--min-lr", "1e-4", "--lr-warmup-iters", "10", "--lr-warmup-init", "1e-4",
                "--out", str(m)], capsys)[0] == 0
    assert json.loads(m.read_text())["warmup_init"] == pytest.approx(0.1)
    # export -> import through the command line, HF: the same spec comes back
    hf = tmp_path / "hf.json"
    assert run(["export", str(b), "--to", "hf", "--out", str(hf)], capsys)[0] == 0
    back = tmp_path / "back.json"
    rc, out, err = run(["import", str(hf), "--from", "hf", "--out", str(back)], capsys)
    assert rc == 0, err
    assert "reproduces all 1000 steps" in out
    assert json.loads(back.read_text()) == json.loads(b.read_text())
    rc, _, err = run(["import", str(hf), "--from", "torchtitan", "--out", str(back)], capsys)
    assert rc == 2 and "no [lr_scheduler] table" in err


def test_kind_aliases_and_sources_written_out():
    from cptdyn.cli._common import IMPORT_SOURCES, KIND_ALIASES
    from cptdyn.schedules._core import KIND_ALIASES as CORE_ALIASES
    from cptdyn.schedules._import import IMPORT_SOURCES as CORE_SOURCES

    assert tuple(CORE_ALIASES) == KIND_ALIASES and tuple(CORE_SOURCES) == IMPORT_SOURCES


def test_v1_spec_file_keeps_its_meaning(tmp_path, capsys):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"version": 1, "kind": "constant", "total_steps": 10,
                               "peak_lr": 1e-3, "warmup_steps": 4}))
    out = tmp_path / "old.csv"
    assert run(["export", str(old), "--to", "csv", "--out", str(out)], capsys)[0] == 0
    df = pd.read_csv(out)
    assert df.lr.iloc[0] == pytest.approx(2.5e-4)  # version 1: (t+1)/W
