"""The command line's output contract: --json on every command, --quiet/--verbose, the exit-code
table in --help, errors said once, a parser that does not import JAX, the progress hook API, and
Ctrl-C (a real process, SIGINT) ending with exit 130 and nothing written."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cptdyn import _progress
from cptdyn.cli import main
from cptdyn.cli._output import EXIT_CODES, one_line

ROOT = Path(__file__).resolve().parents[2]
D400 = ROOT / "data" / "MultiPowerLaw" / "loss_curve_repo" / "csv_400"
# momentum law on the MultiPowerLaw 400M curves (laws.md §8.2, as in test_dynamics.py)
PARAMS = {"law": "momentum", "params": {"L0": 2.670, "A": 0.630, "alpha": 0.727, "C": 0.556}}


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_parser_does_not_import_jax():
    code = ("import sys\nfrom cptdyn.cli import build_parser\nbuild_parser()\n"
            "assert 'jax' not in sys.modules, sorted(m for m in sys.modules if 'jax' in m)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_help_lists_exit_codes_and_output_options(capsys):
    rc, out, _ = run(["--help"], capsys)
    assert rc == 0
    for code, _text in EXIT_CODES:
        assert f"  {code} " in out
    assert "CPTDYN_DEBUG" in out and "--json" in out and "--quiet" in out
    rc, out, _ = run(["fit", "--help"], capsys)
    assert rc == 0 and "--json" in out and "--verbose" in out and "130" in out


@pytest.mark.parametrize("text,expected", [
    ("cptdyn: --pt 'a.json': --pt 'a.json' does not exist", "--pt 'a.json' does not exist"),
    ("spec 's.json': spec 's.json': bad", "spec 's.json': bad"),
    ("WSD: peak_lr=1 is\n  negative", "WSD: peak_lr=1 is negative"),
])
def test_errors_said_once(text, expected):
    assert one_line(text) == expected


def test_usage_error_is_not_prefixed_twice(capsys):
    rc, out, err = run(["schedule", "cosik", "--out", "x.json"], capsys)
    assert rc == 2 and err.count("cptdyn") == 1 and err.startswith("cptdyn: error: schedule:")


def test_json_on_every_command(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.json").write_text(json.dumps(PARAMS))
    docs = {}
    cmds = {
        "schedule": ["schedule", "wsd", "--total-steps", "2000", "--peak-lr", "3e-4",
                     "--warmup-steps", "100", "--out", "s.json"],
        "cpt": ["cpt", "--pt", "s.json", "--cpt", "s.json", "--out", "j.json"],
        "export": ["export", "s.json", "--to", "optax"],
        "simulate": ["simulate", "--params", "params.json", "--schedule", "s.json", "--out",
                     "c.csv"],
        "evaluate": ["evaluate", "--params", "params.json", D400 / "cosine_24000.csv",
                     D400 / "wsd_20000_24000.csv"],
        "plan": ["plan", "--params", "params.json", "--schedule", "s.json", "--tune",
                 "decay_fraction", "--out", "plan.json"],
        "plan-mixture": ["plan-mixture", "--allocation", "zheng-cpt", "--compute", "1e21"],
    }
    for name, argv in cmds.items():
        rc, out, err = run([*argv, "--json"], capsys)
        assert rc in (0, 3), (name, err)
        doc = json.loads(out)  # one object, nothing else on stdout
        assert doc["command"] == name and doc["exit_code"] == rc, doc
        docs[name] = doc
    assert docs["schedule"]["outputs"] == ["s.json"] and docs["schedule"]["total_steps"] == 2000
    assert docs["cpt"]["transfer_step"] == 2000
    assert "text" in docs["export"] and docs["export"]["target"] == "optax"
    assert docs["simulate"]["final_loss"]["val"] > 2.5
    assert [r["run"] for r in docs["evaluate"]["runs"]] == ["cosine_24000", "wsd_20000_24000"]
    assert docs["evaluate"]["mean"]["PredE"] > 0
    assert docs["plan"]["status"] in ("ok", "boundary") and "tuned" in docs["plan"]
    assert docs["plan-mixture"]["N"] > 0
    # the human text went to stderr
    rc, out, err = run(["schedule", "wsd", "--total-steps", "200", "--peak-lr", "1e-3",
                        "--out", "t.json", "--json"], capsys)
    assert "wrote t.json" in err and json.loads(out)["ok"]


def test_json_error_object_and_no_bare_nan(tmp_path, capsys):
    rc, out, err = run(["simulate", "--params", tmp_path / "nope.json", "--schedule", "x.json",
                        "--out", tmp_path / "c.csv", "--json"], capsys)
    doc = json.loads(out)
    assert rc == 2 and doc == {"command": "simulate", "ok": False, "exit_code": 2,
                               "error": f"--params '{tmp_path / 'nope.json'}' does not exist"}
    assert err.count("\n") == 1


def test_quiet_and_evaluate_mean_row_aligned(tmp_path, capsys):
    p = tmp_path / "params.json"
    p.write_text(json.dumps(PARAMS))
    runs = [D400 / "cosine_24000.csv", D400 / "wsd_20000_24000.csv"]
    rc, out, err = run(["evaluate", "--params", p, *runs, "--quiet"], capsys)
    assert rc == 0 and out == "" and err == ""
    rc, out, _ = run(["evaluate", "--params", p, *runs], capsys)
    lines = out.splitlines()
    assert lines[-1].startswith("mean") and len(lines[-1]) == len(lines[2]), out
    assert set(lines[-2]) <= {"-", " "}  # a rule above the mean row


def test_verbose_reports_finished_tasks(tmp_path, capsys):
    rc, out, err = run(["fit", D400 / "cosine_24000.csv", "--law", "momentum", "--n-random",
                        "0", "--verbose"], capsys)
    assert rc == 0 and "cptdyn: fit momentum: done" in err


def test_progress_hooks_without_the_cli():
    seen = []

    class Rep:
        def start(self, label, total, depth):
            seen.append(("start", label, total, depth))

            class T:
                def advance(self, n, note):
                    seen.append(("advance", n, note))

                def close(self, ok):
                    seen.append(("close", ok))
            return T()

    with _progress.reporting(Rep()):
        with _progress.task("outer", total=2) as t:
            t.advance()
            inner = _progress.start_task("inner", total=1)
            inner.advance(note="x")  # closes itself
            t.advance()
    assert seen == [("start", "outer", 2, 0), ("advance", 1, None),
                    ("start", "inner", 1, 1), ("advance", 1, "x"), ("close", True),
                    ("advance", 1, None), ("close", True)]
    # no reporter: the same calls are silent no-ops
    with _progress.task("quiet", total=1) as t:
        t.advance()
    _progress.request_interrupt()
    try:
        with pytest.raises(KeyboardInterrupt):
            _progress.checkpoint()
    finally:
        _progress.clear_interrupt()


def test_ctrl_c_exits_130_and_writes_nothing(tmp_path):
    """A real process interrupted during `fit --law auto`: exit 130, 'interrupted', no crash
    (exit 139 was seen before the handler only flagged the interrupt), no output file."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CPTDYN_NO_CACHE": "1"}
    runs = [str(D400 / f"{n}.csv") for n in ("cosine_24000", "constant_24000", "wsdcon_9")]
    codes = []
    for delay in (3.0, 8.0):
        p = subprocess.Popen([sys.executable, "-m", "cptdyn", "fit", *runs, "--law", "auto",
                              "--out", "auto.json"], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=240)
        except subprocess.TimeoutExpired:  # the second Ctrl-C ends it at once
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=60)
        codes.append(p.returncode)
        assert p.returncode == 130, (p.returncode, err[-2000:])
        assert err.strip().splitlines()[-1] == "cptdyn: interrupted", err
        assert "Traceback" not in err and "Segmentation" not in err
        assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())
    assert codes == [130, 130]
