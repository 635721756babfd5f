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
    assert doc["kind"] == "wsd" and doc["decay_shape"] == "1-sqrt" and doc["version"] == 1
    csv = tmp_path / "wsd.csv"
    rc, _, err = run(["schedule", "wsd", "--total-steps", "1000", "--peak-lr", "3e-4",
                      "--warmup-steps", "50", "--decay-shape", "1-sqrt", "--out", str(csv),
                      "--plot", str(tmp_path / "p.html")], capsys)
    assert rc == 0, err
    df = pd.read_csv(csv)
    assert list(df.columns) == ["step", "lr"] and len(df) == 1000
    assert df.lr.iloc[49] == pytest.approx(3e-4) and df.lr.iloc[799] == pytest.approx(3e-4)
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
        (["schedule", "wsd", "--total-steps", "100", "--peak-lr", "nan"], "--peak-lr: 'nan'"),
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
