"""Fuzz: every command with hostile flags and output paths (outputs naming inputs, missing
folders, folders, paths under a file), unknown commands/flags, valid-but-extreme inputs, and a
handful of cases through real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .conftest import check, cli, count, snapshot

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "data" / "MultiPowerLaw" / "loss_curve_repo" / "csv_400" / "cosine_24000.csv"
WSD = {"version": 1, "kind": "wsd", "total_steps": 300, "peak_lr": 3e-4, "final_lr": 0.0,
       "warmup_steps": 20, "decay_fraction": 0.2}
# momentum law on the MultiPowerLaw 400M curves (laws.md §8.2, as in tests/cli/test_dynamics.py)
PARAMS = {"law": "momentum", "params": {"L0": 2.670, "A": 0.630, "alpha": 0.727, "C": 0.556}}
DCPT = {"law": "dcpt", "form": "L3", "params": {"E": 1.5, "A": 400.0, "alpha": 0.34, "B": 410.0,
                                                "beta": 0.28, "C": 0.1, "gamma": 0.5,
                                                "eta": 0.05}}


def _dir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="cptdyn-fuzz-"))
    (d / "spec.json").write_text(json.dumps(WSD))
    (d / "params.json").write_text(json.dumps(PARAMS))
    (d / "laws.json").write_text(json.dumps({"general": DCPT, "domain": DCPT}))
    (d / "run.csv").write_text("step,lr,loss\n" + "".join(
        f"{s},3e-4,{3.5 - 0.3 * (s / 300) ** 0.5}\n" for s in range(10, 301, 10)))
    (d / "data.csv").write_text("N,D,r_d,loss_general,loss_domain\n1e9,1e10,0.5,2.5,2.0\n")
    (d / "afile").write_text("x")
    (d / "adir").mkdir()
    return d


# (command argv with {OUT} for the output flag under test, the output flag)
COMMANDS = [
    (["schedule", "wsd", "--total-steps", "300", "--peak-lr", "3e-4", "--out", "{OUT}"], "--out"),
    (["schedule", "wsd", "--total-steps", "300", "--peak-lr", "3e-4", "--out", "s.json",
      "--plot", "{OUT}"], "--plot"),
    (["cpt", "--pt", "spec.json", "--cpt", "spec.json", "--out", "{OUT}"], "--out"),
    (["export", "spec.json", "--to", "hf", "--out", "{OUT}"], "--out"),
    (["simulate", "--params", "params.json", "--schedule", "spec.json", "--out", "{OUT}"],
     "--out"),
    (["simulate", "--params", "params.json", "--schedule", "spec.json", "--out", "c.csv",
      "--report", "{OUT}"], "--report"),
    (["evaluate", "--params", "params.json", "run.csv"], None),
    (["fit", "run.csv", "--law", "momentum", "--n-random", "0", "--out", "{OUT}"], "--out"),
    (["plan", "--params", "params.json", "--schedule", "spec.json", "--tune", "decay_fraction",
      "--out", "{OUT}"], "--out"),
    (["plan", "--params", "params.json", "--schedule", "spec.json", "--tune", "decay_fraction",
      "--out", "plan.json", "--report", "{OUT}"], "--report"),
    (["plan-mixture", "--params", "laws.json", "--model-size", "1B", "--tokens", "10B",
      "--out", "{OUT}"], "--out"),
    (["plan-mixture", "--data", "data.csv", "--model-size", "1B", "--tokens", "10B",
      "--save-params", "{OUT}"], "--save-params"),
]
BAD_OUTPUTS = ["spec.json", "params.json", "run.csv", "laws.json", "data.csv", "missing/x.json",
               "adir", "afile/x.json", ""]


@pytest.mark.parametrize("i", range(len(COMMANDS)))
@pytest.mark.parametrize("out", BAD_OUTPUTS)
def test_outputs_naming_inputs_or_impossible(i, out):
    argv, flag = COMMANDS[i]
    if flag is None:
        pytest.skip("no output flag")
    d = _dir()
    inputs = {p: (d / p).read_bytes() for p in ("spec.json", "params.json", "run.csv",
                                                  "laws.json", "data.csv")}
    if out == "adir" and argv[0] == "export":
        pytest.skip("export writes a bundle into a folder")
    if out in inputs and out not in argv:
        pytest.skip("this command does not read that file: overwriting it is legitimate")
    argv = [a.replace("{OUT}", out) for a in argv]
    before = snapshot(d)
    r = cli(argv, cwd=d)
    check("paths: output", r, before, snapshot(d), needles=(flag, out or "''", "argument"),
          must_fail=True)
    for p, data in inputs.items():
        assert (d / p).read_bytes() == data, f"{p} was modified"


def test_two_outputs_on_one_file():
    d = _dir()
    before = snapshot(d)
    r = cli(["schedule", "wsd", "--total-steps", "300", "--peak-lr", "3e-4", "--out", "x.json",
             "--plot", "x.json"], cwd=d)
    check("paths: output", r, before, snapshot(d), needles=("--plot",), must_fail=True)


@pytest.mark.parametrize("missing", ["nope.json", "adir", "afile"])
@pytest.mark.parametrize("flag", ["--params", "--schedule"])
def test_missing_or_wrong_inputs(flag, missing):
    d = _dir()
    argv = ["simulate", "--params", "params.json", "--schedule", "spec.json", "--out", "c.csv"]
    argv[argv.index(flag) + 1] = missing
    before = snapshot(d)
    r = cli(argv, cwd=d)
    check("paths: input", r, before, snapshot(d), needles=(flag,), must_fail=True)


HOSTILE = st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e308", "abc", "", "99999999999",
                           "30000", "2", "0.5", "-0.5", "1e-300"])
FLAG_CASES = [
    ("simulate", ["simulate", "--params", "params.json", "--schedule", "spec.json", "--out",
                  "c.csv"], ["--every", "--warmup-steps", "--replay-ratio", "--model-size"]),
    ("plan", ["plan", "--params", "params.json", "--schedule", "spec.json", "--tune",
              "decay_fraction", "--out", "p.json"], ["--every", "--budget-steps", "--max-iter",
                                                     "--objective", "--bounds", "--tune"]),
    ("plan free-form", ["plan", "--params", "params.json", "--family", "free-form",
                        "--total-steps", "300", "--peak-lr", "3e-4", "--max-iter", "3", "--out",
                        "p.json"], ["--warmup-init", "--warmup-steps", "--final-lr",
                                    "--peak-lr", "--total-steps"]),
    ("fit", ["fit", "run.csv", "--law", "momentum", "--n-random", "0", "--out", "f.json"],
     ["--n-random", "--seed", "--samples", "--lam", "--warmup-steps", "--total-steps"]),
    ("plan-mixture", ["plan-mixture", "--params", "laws.json", "--model-size", "1B",
                      "--tokens", "10B", "--out", "m.json"],
     ["--model-size", "--tokens", "--compute", "--tolerance", "--general-weight",
      "--ratio-min", "--ratio-max", "--domain-tokens"]),
    ("schedule multistep", ["schedule", "multistep", "--total-steps", "10000", "--peak-lr",
                            "1e-3", "--factors", "0.1,0.01", "--out", "m.json"],
     ["--milestones"]),
]
MUST_FAIL = {"nan", "inf", "-inf", "1e308", "abc", "", "99999999999"}


@settings(max_examples=150, **SETTINGS)
@given(case=st.sampled_from(FLAG_CASES), data=st.data(), value=HOSTILE)
def test_command_flags(case, data, value):
    name, argv, flags = case
    flag = data.draw(st.sampled_from(flags))
    d = _dir()
    argv = list(argv)
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]
    if name == "schedule multistep":
        argv[argv.index(flag) + 1] = data.draw(st.sampled_from(
            ["0.5,9000", "5000,9000", "0.5,0.9", "nan,1", "-1,5", "9000,5000", "0.5,0.5"]))
    before = snapshot(d)
    r = cli([*argv, "--json"], cwd=d)
    check(f"flags: {name}", r, before, snapshot(d),
          needles=(flag, flag.lstrip("-").replace("-", "_"), "argument", value or "''"),
          must_fail=value in MUST_FAIL and name != "schedule multistep", json_out=True)
    if name == "schedule multistep" and "0.5,9000" in argv:
        assert r.rc == 2, "mixed fractions and steps must be refused"


@pytest.mark.parametrize("argv", [
    ["frobnicate"], ["schedule"], ["schedule", "wsd", "--bogus", "1", "--out", "x.json"],
    ["fit"], ["plan", "--params"], ["export", "spec.json", "--to", "nowhere"],
    ["--json", "frobnicate"], ["evaluate", "--params", "params.json"], ["-q", "-v", "demo"],
])
def test_unknown_commands_and_flags(argv):
    d = _dir()
    before = snapshot(d)
    r = cli(argv, cwd=d)
    check("flags: usage", r, before, snapshot(d), must_fail=True)


def test_extreme_but_valid():
    d = _dir()
    # one step
    r = cli(["schedule", "constant", "--total-steps", "1", "--peak-lr", "1e-3", "--out",
             "one.csv"], cwd=d)
    check("extreme: valid", r, set(), set(), must_fail=False)
    assert r.rc == 0 and (d / "one.csv").read_text().count("\n") == 2
    # 10^7 steps: the spec, its export, and a prediction at every 10^6-th step
    r = cli(["schedule", "wsd", "--total-steps", "10000000", "--peak-lr", "3e-4",
             "--warmup-steps", "2000", "--out", "big.json"], cwd=d)
    check("extreme: valid", r, set(), set())
    assert r.rc == 0
    r = cli(["simulate", "--params", "params.json", "--schedule", "big.json", "--every",
             "1000000", "--out", "big.csv", "--json"], cwd=d)
    check("extreme: valid", r, set(), set(), json_out=True)
    assert r.rc == 0, r.err
    doc = json.loads(r.out)
    assert doc["rows"] == 10 and 2.0 < doc["final_loss"]["val"] < 3.0
    # two observations: evaluated (R2 defined), one observation: R2 shown as undefined
    (d / "two.csv").write_text("step,lr,loss\n100,3e-4,3.2\n300,3e-4,3.1\n")
    (d / "one_obs.csv").write_text("step,lr,loss\n300,3e-4,3.1\n")
    r = cli(["evaluate", "--params", "params.json", "two.csv", "--json"], cwd=d)
    check("extreme: valid", r, set(), set(), json_out=True)
    assert r.rc == 0, r.err
    # one observation: works or is refused clearly (check: one line, exit 2)
    r = cli(["evaluate", "--params", "params.json", "one_obs.csv", "--json"], cwd=d)
    check("extreme: valid", r, set(), set(), json_out=True)
    # one step past the limit is refused before allocating
    before = snapshot(d)
    r = cli(["schedule", "constant", "--total-steps", "100000001", "--peak-lr", "1e-3",
             "--out", "huge.csv"], cwd=d)
    check("extreme: limit", r, before, snapshot(d), needles=("total_steps", "--total-steps"),
          must_fail=True)
    # simulate --every longer than the schedule
    r = cli(["simulate", "--params", "params.json", "--schedule", "spec.json", "--every",
             "30000", "--out", "c.csv"], cwd=d)
    check("extreme: limit", r, before, snapshot(d), needles=("--every",), must_fail=True)


def _sub(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CPTDYN_NO_CACHE": "1"}
    return subprocess.run([sys.executable, "-m", "cptdyn", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("argv,needle", [
    (["export", "spec.json", "--to", "csv", "--out", "spec.json"], "--out"),
    (["schedule", "wsd", "--total-steps", "300", "--peak-lr", "1e308", "--out", "s.csv"],
     "peak_lr"),
    (["cpt", "--pt", "spec.json", "--cpt", "bad.json", "--out", "j.json"], "--cpt"),
    (["frobnicate"], "frobnicate"),
    (["--json", "simulate", "--params", "nope.json", "--schedule", "spec.json", "--out",
      "c.csv"], "--params"),
])
def test_real_subprocesses(argv, needle):
    d = _dir()
    (d / "bad.json").write_text(json.dumps({**WSD, "peak_lr": "abc"}))
    before = snapshot(d)
    p = _sub(argv, d)
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cptdyn: error: "), p.stderr
    assert needle in lines[0] and "Traceback" not in p.stderr
    assert snapshot(d) == before
    if "--json" in argv:
        doc = json.loads(p.stdout)
        assert doc["ok"] is False and doc["exit_code"] == 2 and needle in doc["error"]
    count("subprocess: refused", "refused")
