"""Fuzz: law parameter files (`--params` of simulate/evaluate/plan), D-CPT law files
(`plan-mixture --params`) and run files of every format (`evaluate RUN`), driven in-process.
Run files are a corpus of malformed and extreme files generated here."""

from __future__ import annotations

import copy
import gzip
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .conftest import check, cli, snapshot

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])

WSD = {"version": 1, "kind": "wsd", "total_steps": 300, "peak_lr": 3e-4, "final_lr": 0.0,
       "warmup_steps": 20, "decay_fraction": 0.2}
# parameters of the momentum law fitted on the MultiPowerLaw 400M curves (laws.md §8.2, as in
# tests/cli/test_dynamics.py) and the MultiPowerLaw repository defaults for the mpl law
LAWS = {
    "momentum": {"law": "momentum", "params": {"L0": 2.670, "A": 0.630, "alpha": 0.727,
                                               "C": 0.556}, "options": {"lam": 0.999}},
    "mpl": {"law": "mpl", "params": {"L0": 3.0, "A": 0.5, "alpha": 0.5, "B": 400.0, "C": 2.0,
                                     "beta": 0.5, "gamma": 0.5},
            "options": {"warmup": "paper", "n_nodes": 64}},
    "fsl": {"law": "fsl", "params": {"L0": 2.6, "c1": 0.45, "s": 0.55, "c2": 300.0, "c3": 0.5,
                                     "c4": 50.0, "gamma": 0.6}, "options": {"warmup": "peak"}},
}
BAD_VALUES = st.one_of(
    st.sampled_from(["0.5", "abc", "", True, False, None, [1.0], [], {"v": 1}, float("nan"),
                     float("inf"), float("-inf"), 1e308, -1e308, 1e7, -1e7]),
    st.floats(min_value=1e7, max_value=1e300),
)


def _dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="cptdyn-fuzz-"))


def _simulate(cls: str, doc_text: str, needles: tuple[str, ...], must_fail: bool) -> None:
    d = _dir()
    (d / "p.json").write_text(doc_text)
    (d / "s.json").write_text(json.dumps(WSD))
    before = snapshot(d)
    r = cli(["simulate", "--params", "p.json", "--schedule", "s.json", "--out", "c.csv",
             "--every", "50", "--json"], cwd=d)
    check(cls, r, before, snapshot(d), needles=needles, must_fail=must_fail, json_out=True)
    if r.rc == 0:
        import numpy as np
        import pandas as pd

        df = pd.read_csv(d / "c.csv")
        assert np.all(np.isfinite(df.to_numpy())), df


@settings(max_examples=120, **SETTINGS)
@given(law=st.sampled_from(sorted(LAWS)), data=st.data())
def test_params_values(law, data):
    doc = copy.deepcopy(LAWS[law])
    name = data.draw(st.sampled_from(sorted(doc["params"])))
    value = data.draw(st.one_of(BAD_VALUES, st.floats(-10, -1e-9)))
    doc["params"][name] = value
    # negative values are refused where the constraint is positive (all but a few "real" ones)
    must_fail = not (isinstance(value, float) and -1e7 < value < 0 and law == "cpt-open")
    _simulate("params: value", json.dumps(doc), needles=(f"params.{name}", "not a finite",
                                                          "JSON"), must_fail=must_fail)


@settings(max_examples=100, **SETTINGS)
@given(law=st.sampled_from(sorted(LAWS)), data=st.data())
def test_params_structure(law, data):
    doc = copy.deepcopy(LAWS[law])
    op = data.draw(st.sampled_from(["drop", "unknown", "option", "law", "params-type",
                                    "toplevel", "truncate", "laws-map", "samples"]))
    needles: tuple[str, ...] = ()
    if op == "drop":
        name = data.draw(st.sampled_from(sorted(doc["params"])))
        del doc["params"][name]
        needles = (f"params.{name}",)
    elif op == "unknown":
        doc["params"]["zeta"] = 1.0
        needles = ("'zeta'",)
    elif op == "option":
        key = data.draw(st.sampled_from(sorted(doc["options"]) + ["n_nodes", "bogus"]))
        doc["options"][key] = data.draw(st.sampled_from(
            [1e8, 100000000, -3, "x", None, [1, 2], True, 2.5, 0]))
        needles = (key,)
    elif op == "law":
        doc["law"] = data.draw(st.sampled_from(["momentun", "", 3, None, ["momentum"]]))
        needles = ("law",)
    elif op == "params-type":
        doc["params"] = data.draw(st.sampled_from([[1, 2], "L0=2", 3, None]))
        needles = ("params",)
    elif op == "toplevel":
        doc = data.draw(st.sampled_from([[doc], "momentum", 1, None]))
        needles = ("law", "params")
    elif op == "truncate":
        text = json.dumps(doc)
        _simulate("params: truncate", text[: data.draw(st.integers(0, len(text) - 1))],
                  needles=("JSON", "empty"), must_fail=True)
        return
    elif op == "laws-map":
        doc = {"version": 1, "laws": data.draw(st.sampled_from(
            [{}, [], {"val": "momentum"}, {"val": {"law": "momentum"}}, None]))}
        needles = ("laws", "law", "params")
    else:
        doc["samples"] = data.draw(st.sampled_from(
            [[{"L0": "x"}], "many", [1, 2], [{"L0": float("nan")}], [{}] * 3, {"a": 1}]))
        doc["interval"] = {"level": 0.9, "model_error": 0.0}
        needles = ("samples", "params", "not a finite")
    must_fail = not (op == "option" and doc.get("options", {}).get("n_nodes") == 64)
    _simulate(f"params: {op}", json.dumps(doc), needles=needles, must_fail=must_fail)


DCPT = {"E": 1.5, "A": 400.0, "alpha": 0.34, "B": 410.0, "beta": 0.28, "C": 0.1, "gamma": 0.5,
        "eta": 0.05}


@settings(max_examples=80, **SETTINGS)
@given(part=st.sampled_from(["general", "domain"]), name=st.sampled_from(sorted(DCPT)),
       value=st.one_of(BAD_VALUES, st.sampled_from(["nan", -0.3, -1, "1e-3"])))
def test_dcpt_files(part, name, value):
    d = _dir()
    doc = {"general": {"law": "dcpt", "form": "L3", "params": dict(DCPT)},
           "domain": {"law": "dcpt", "form": "L3", "params": dict(DCPT)}}
    doc[part]["params"][name] = value
    (d / "laws.json").write_text(json.dumps(doc))
    before = snapshot(d)
    r = cli(["plan-mixture", "--params", "laws.json", "--model-size", "1B", "--tokens", "10B",
             "--json", "--out", "plan.json"], cwd=d)
    # coefficients up to 1e6 (Chinchilla's A, B ~ 400), exponents in [0, 10]
    limit = 10 if name in ("alpha", "beta", "gamma", "eta") else 1e6
    ok_value = isinstance(value, float) and 0 <= value <= limit and not (
        name in ("E", "A", "B", "C") and value == 0)
    check("dcpt: value", r, before, snapshot(d), needles=(name,), must_fail=not ok_value,
          json_out=True)


# ------------------------------------------------------------------------------ run files
GOOD_ROWS = [(s, 3e-4, 3.5 - 0.3 * (s / 300) ** 0.5) for s in range(10, 301, 10)]


def _csv(rows, header="step,lr,loss", sep=",", nl="\n") -> str:
    return header + nl + nl.join(sep.join(str(x) for x in r) for r in rows) + nl


def _corpus() -> list[tuple[str, str, object, bool]]:
    """(class, file name, content: str | bytes | callable(folder), must_fail)."""
    good = _csv(GOOD_ROWS)
    c: list[tuple[str, str, object, bool]] = [
        ("csv", "empty.csv", "", True),
        ("csv", "header.csv", "step,lr,loss\n", True),
        ("csv", "bom.csv", "\ufeff" + good, False),
        ("csv", "crlf.csv", _csv(GOOD_ROWS, nl="\r\n"), False),
        ("csv", "latin1.csv", ("step,lr,loss,note\n" + "\n".join(
            f"{s},{lr},{v},caf\xe9" for s, lr, v in GOOD_ROWS)).encode("latin-1"), False),
        ("csv", "binary.csv", bytes(range(256)) * 4, True),
        ("csv", "nan_loss.csv", _csv(GOOD_ROWS[:5] + [(60, 3e-4, "nan")] + GOOD_ROWS[6:]), True),
        ("csv", "inf_loss.csv", _csv(GOOD_ROWS[:5] + [(60, 3e-4, "inf")] + GOOD_ROWS[6:]), True),
        ("csv", "neg_loss.csv", _csv([(s, lr, -v) for s, lr, v in GOOD_ROWS]), True),
        ("csv", "neg_lr.csv", _csv([(s, -lr, v) for s, lr, v in GOOD_ROWS]), True),
        ("csv", "huge_lr.csv", _csv([(s, 1e308, v) for s, lr, v in GOOD_ROWS]), True),
        ("csv", "nan_lr.csv", _csv([(s, "nan", v) for s, lr, v in GOOD_ROWS]), True),
        ("csv", "unsorted.csv", _csv(GOOD_ROWS[::-1]), True),
        # same-step rows are merged by the readers (their documented convention)
        ("csv", "dup.csv", _csv(GOOD_ROWS[:3] + GOOD_ROWS[2:]), False),
        ("csv", "ragged.csv", good + "310,3e-4\n", True),
        ("csv", "text.csv", _csv(GOOD_ROWS[:3] + [(40, "3e-4", "abc")]), True),
        ("csv", "huge_step.csv", _csv(GOOD_ROWS[:3] + [(99999999999, 3e-4, 3.0)]), True),
        ("csv", "neg_step.csv", _csv([(-10, 3e-4, 3.6)] + GOOD_ROWS), True),
        ("csv", "frac_step.csv", _csv([(1.5, 3e-4, 3.6)] + GOOD_ROWS), True),
        ("csv", "nosteps.csv", "lr,loss\n3e-4,3.0\n", True),
        ("csv", "semicolon.csv", _csv(GOOD_ROWS, header="step;lr;loss", sep=";"), False),
        ("csv", "tabs.tsv", _csv(GOOD_ROWS, header="step\tlr\tloss", sep="\t"), False),
        ("csv", "gz.csv.gz", gzip.compress(good.encode()), False),
        ("csv", "gzbad.csv.gz", b"\x1f\x8bnot gzip", True),
        ("csv", "two_obs.csv", _csv(GOOD_ROWS[-2:]), False),
        ("csv", "one_obs.csv", _csv(GOOD_ROWS[-1:]), False),
        ("csv", "step0.csv", _csv([(0, 3e-4, 3.6)] + GOOD_ROWS), False),
        ("csv", "dupcol.csv", "step,loss,loss\n1,3,3\n", True),
        ("csv", "quotes.csv", 'step,lr,loss\n"10,3e-4,3.0\n', True),
        ("json", "wandb.json", '{"_step": [1, 2], "loss": ', True),
        ("json", "wandb_types.json", json.dumps([{"_step": "a", "loss": [1]}]), True),
        ("json", "trainer_state.json", '{"log_history": "nope"}', True),
        ("json", "trainer_state2.json", json.dumps({"log_history": [
            {"step": "x", "eval_loss": True}]}), True),
        ("json", "deep.json", "[" * 100000 + "]" * 100000, True),
        ("folder", "emptydir", lambda p: p.mkdir(), True),
        ("folder", "tbdir", lambda p: (p.mkdir(), (p / "events.out.tfevents.1.x").write_bytes(
            b"\x00garbage" * 10)), True),
        ("folder", "ckpt", lambda p: (p.mkdir(), (p / "trainer_state.json").write_text("{")),
         True),
    ]
    return c


CORPUS = _corpus()


@pytest.fixture(scope="module")
def momentum_params(tmp_path_factory):
    p = tmp_path_factory.mktemp("params") / "p.json"
    p.write_text(json.dumps(LAWS["momentum"]))
    return p


@pytest.mark.parametrize("cls,name,content,must_fail", CORPUS, ids=[c[1] for c in CORPUS])
def test_run_files(cls, name, content, must_fail, momentum_params):
    d = _dir()
    path = d / name
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    before = snapshot(d)
    for extra in ([], ["--json"]):
        r = cli(["evaluate", "--params", str(momentum_params), name, *extra], cwd=d)
        check(f"runs: {cls}", r, before, snapshot(d), needles=(name, path.stem),
              must_fail=must_fail, json_out=bool(extra))


def test_corpus_size():
    assert len(CORPUS) >= 35
