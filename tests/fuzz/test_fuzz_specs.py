"""Fuzz: schedule specs (the JSON parser behind `export`, `cpt`, `simulate --schedule`) and the
schedule flags of `cptdyn schedule`, driven in-process.

Every case must end with exit 0 and finite output, or exit 2 with one line naming the field or
flag, and nothing written; values that cannot be valid (wrong JSON types, NaN, negative counts,
absurd magnitudes) must be refused."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .conftest import check, cli, snapshot

# fast and reproducible: fixed examples, no example database, no shrinking (a failure prints
# the generated case as it is)
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate])

WSD = {"version": 1, "kind": "wsd", "total_steps": 200, "peak_lr": 3e-4, "final_lr": 0.0,
       "warmup_steps": 10, "decay_fraction": 0.2}
BASES = {
    "wsd": WSD,
    "cosine": {"version": 1, "kind": "cosine", "total_steps": 200, "peak_lr": 1e-3,
               "final_lr": 1e-5, "warmup_steps": 10},
    "multistep": {"version": 1, "kind": "multistep", "total_steps": 200, "peak_lr": 1e-3,
                  "milestones": [100, 150], "factors": [0.1, 0.01]},
    "polyline": {"version": 1, "kind": "polyline", "total_steps": 200,
                 "knot_steps": [0, 100, 199], "knot_lrs": [1e-3, 5e-4, 0.0]},
    "two-stage": {"version": 1, "kind": "two-stage", "total_steps": 200, "peak_lr": 1e-3,
                  "second_lr": 1e-4, "switch_step": 150},
    "cyclic-cosine": {"version": 1, "kind": "cyclic-cosine", "total_steps": 200,
                      "peak_lr": 1e-3, "final_lr": 0.0, "cycle_steps": 50, "rewarmup_steps": 5},
    "inverse-sqrt": {"version": 1, "kind": "inverse-sqrt", "total_steps": 200, "peak_lr": 1e-3,
                     "warmup_steps": 20},
}
REQUIRED = {"total_steps", "peak_lr", "knot_steps", "knot_lrs", "milestones", "second_lr"}
NUMERIC = {"total_steps", "peak_lr", "final_lr", "warmup_steps", "decay_fraction", "second_lr",
           "switch_step", "cycle_steps", "rewarmup_steps", "warmup_init", "timescale"}

# values no numeric field may hold (wrong JSON types, NaN/inf, negative, absurd magnitudes)
BAD_NUMBERS = st.one_of(
    st.sampled_from(["0.5", "abc", "", "nan", "1e-3", True, False, None, [1], [], {"a": 1},
                     float("nan"), float("inf"), float("-inf"), -1, -1e-3, -5, 1e308,
                     99999999999, 10**30]),
    st.floats(max_value=-1e-12, allow_nan=False, allow_infinity=False),
    st.floats(min_value=1e12, allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
)
ANY = st.one_of(BAD_NUMBERS, st.integers(-10, 10**4), st.floats(0, 2),
                st.lists(st.integers(-5, 300), max_size=4))


def _case_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="cptdyn-fuzz-"))


def _run_spec(cls: str, text: str, needles: tuple[str, ...], must_fail: bool) -> None:
    d = _case_dir()
    (d / "spec.json").write_text(text)
    before = snapshot(d)
    r = cli(["export", "spec.json", "--to", "csv"], cwd=d)
    check(cls, r, before, snapshot(d), needles=needles, must_fail=must_fail)


@settings(max_examples=160, **SETTINGS)
@given(kind=st.sampled_from(sorted(BASES)), data=st.data())
def test_spec_field_values(kind, data):
    spec = copy.deepcopy(BASES[kind])
    field = data.draw(st.sampled_from(sorted(set(spec) - {"version", "kind"}) +
                                      ["warmup_init", "warmup_steps"]))
    numeric = field in NUMERIC
    value = data.draw(BAD_NUMBERS if numeric else ANY)
    spec[field] = value
    text = json.dumps(spec)  # NaN/inf become the non-JSON literals NaN/Infinity
    if value is None:  # JSON null means "not given": refused only where the field is required
        numeric = field in REQUIRED
    _run_spec("spec: field value", text, needles=(field, "not a finite number", "JSON"),
              must_fail=numeric)


@settings(max_examples=80, **SETTINGS)
@given(kind=st.sampled_from(sorted(BASES)), data=st.data())
def test_spec_structure(kind, data):
    spec = copy.deepcopy(BASES[kind])
    op = data.draw(st.sampled_from(["drop", "unknown", "kind", "version", "truncate",
                                    "toplevel", "nested-cpt"]))
    needles: tuple[str, ...] = ()
    must_fail = True
    if op == "drop":
        field = data.draw(st.sampled_from(sorted(spec)))
        del spec[field]
        needles = (field, "missing", "needs")
        must_fail = field in REQUIRED | {"kind"}
        text = json.dumps(spec)
    elif op == "unknown":
        name = data.draw(st.sampled_from(["peak", "lr", "steps", "warmup", "Total_Steps", "x"]))
        spec[name] = 1
        needles = (repr(name), name)
        text = json.dumps(spec)
    elif op == "kind":
        spec["kind"] = data.draw(st.one_of(st.sampled_from(["cosin", "", "cpt"]),
                                           st.integers(), st.none(), st.booleans()))
        needles = ("kind", "unknown field")
        text = json.dumps(spec)
    elif op == "version":
        spec["version"] = data.draw(st.sampled_from([0, 3, "1", None, 1.5, True]))
        needles = ("version",)
        text = json.dumps(spec)
    elif op == "truncate":
        full = json.dumps(spec)
        cut = data.draw(st.integers(0, len(full) - 1))
        text = full[:cut]
        needles = ("JSON", "empty")
    elif op == "toplevel":
        text = json.dumps(data.draw(st.sampled_from([[spec], "wsd", 3, None, []])))
        needles = ("object", "JSON")
    else:  # a PT->CPT spec with a hostile part
        part = data.draw(st.sampled_from(["pt", "cpt"]))
        bad = copy.deepcopy(WSD)
        field = data.draw(st.sampled_from(["peak_lr", "total_steps", "warmup_steps"]))
        bad[field] = data.draw(BAD_NUMBERS)
        spec = {"version": 1, "kind": "cpt", "pt": copy.deepcopy(WSD), "cpt": copy.deepcopy(WSD)}
        spec[part] = bad
        text = json.dumps(spec)
        needles = (field,)
    _run_spec(f"spec: {op}", text, needles=needles, must_fail=must_fail)


@pytest.mark.parametrize("payload", [b"", b"\xef\xbb\xbf" + json.dumps(WSD).encode(),
                                     json.dumps(WSD, indent=1).replace("\n", "\r\n").encode(),
                                     b"\xff\xfe\x00\x01binary\x00", "{\"kind\": \"wsd\", \u00e9}"
                                     .encode("latin-1"), b"   \n  "])
def test_spec_bytes(payload):
    d = _case_dir()
    (d / "spec.json").write_bytes(payload)
    before = snapshot(d)
    r = cli(["export", "spec.json", "--to", "csv"], cwd=d)
    # BOM and CRLF are valid JSON text: they must be accepted
    valid = payload.startswith(b"\xef\xbb\xbf") or b"\r\n" in payload
    check("spec: bytes", r, before, snapshot(d), needles=("spec.json",), must_fail=not valid)
    if valid:
        assert r.rc == 0, r.err


FLAG_VALUES = st.one_of(st.sampled_from(["nan", "inf", "-inf", "-1", "1e308", "abc", "", "0",
                                         "99999999999", "1e-300", "0x10", "1_000", "-0"]),
                        st.integers(-10, 10**5).map(str),
                        st.floats(-1, 2, allow_nan=False).map(repr))
FLAGS = ["--total-steps", "--peak-lr", "--final-lr", "--warmup-steps", "--warmup-fraction",
         "--warmup-init", "--decay-fraction", "--decay-steps", "--decay-power", "--second-lr",
         "--switch-step", "--switch-fraction", "--timescale", "--cycle-steps",
         "--rewarmup-steps", "--milestones", "--factors", "--knots", "--decay-shape"]
KIND_ARGS = {
    "wsd": ["--total-steps", "300", "--peak-lr", "1e-3"],
    "cosine": ["--total-steps", "300", "--peak-lr", "1e-3"],
    "multistep": ["--total-steps", "300", "--peak-lr", "1e-3", "--milestones", "100,200",
                  "--factors", "0.1,0.01"],
    "two-stage": ["--total-steps", "300", "--peak-lr", "1e-3", "--second-lr", "1e-4",
                  "--switch-step", "200"],
    "constant": ["--total-steps", "300", "--peak-lr", "1e-3"],
    "polyline": ["--total-steps", "300", "--knots", "0:1e-3,299:0"],
}


@settings(max_examples=200, **SETTINGS)
@given(kind=st.sampled_from(sorted(KIND_ARGS)), flag=st.sampled_from(FLAGS),
       value=FLAG_VALUES, out=st.sampled_from(["s.csv", "s.json"]))
def test_schedule_flags(kind, flag, value, out):
    d = _case_dir()
    argv = ["schedule", kind, *KIND_ARGS[kind]]
    if flag in argv:
        i = argv.index(flag)
        argv[i + 1] = value
    else:
        argv += [flag, value]
    argv += ["--out", out, "--json"]
    before = snapshot(d)
    r = cli(argv, cwd=d)
    bad = value.strip().lower() in ("nan", "inf", "-inf", "1e308", "abc", "", "99999999999")
    check("flags: schedule", r, before, snapshot(d),
          needles=(flag, flag.lstrip("-").replace("-", "_"), value or "''", "argument"),
          must_fail=bad and flag not in ("--decay-shape",), json_out=True)
    if r.rc == 0:
        if out.endswith(".csv"):
            import numpy as np
            import pandas as pd

            lr = pd.read_csv(d / out)["lr"].to_numpy()
            assert np.all(np.isfinite(lr)) and np.all(lr >= 0) and lr.max() <= 1e3
        else:
            json.loads((d / out).read_text())
