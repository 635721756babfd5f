"""cptdyn.report: figures, pages and the report outputs of the command line.

Runs are the MultiPowerLaw 400M curves shipped in data/ (MIT, data/MultiPowerLaw/SOURCE.md); the
CPT law uses the published P1 Fig. 3 parameters (cptdyn.dynamics.presets).
"""

from __future__ import annotations

import builtins
import json
import re
from pathlib import Path

import numpy as np
import pytest

from cptdyn import report as rp
from cptdyn.cli import main

ROOT = Path(__file__).resolve().parents[2]
MPL = ROOT / "data" / "MultiPowerLaw" / "loss_curve_repo" / "csv_400"


def _lr(n: int = 1500, warm: int = 100) -> np.ndarray:
    return np.concatenate([np.linspace(3e-4 / warm, 3e-4, warm), np.full(n - warm - 400, 3e-4),
                           np.linspace(3e-4, 3e-5, 400)])


# ------------------------------------------------------------------------------ law terms
def _law_names() -> list[str]:
    from cptdyn.dynamics import law_names

    return law_names()


@pytest.mark.parametrize("name", _law_names())  # every registered law splits into its terms
def test_law_terms_sum_to_the_prediction(name: str) -> None:
    from cptdyn._pytree import x64_context
    from cptdyn.dynamics import law_class

    law = law_class(name)()
    lr = _lr()
    steps = np.arange(100, lr.size + 1, 100)
    ctx = {"warmup_steps": 100, "transfer_step": 1000, "dataset": "pt", "replay_ratio": 0.25,
           "model_size": 400.0}
    terms = law.terms(lr, steps, **ctx)
    with x64_context():
        pred = np.asarray(law.predict_lr(np.asarray(lr, np.float64), steps, **ctx))
    assert "L0" in terms and "power (S1)" in terms
    assert any(k.startswith("annealing") for k in terms)
    if name.startswith("cpt"):
        assert "distribution shift" in terms
    total = sum(np.asarray(v) for v in terms.values())
    np.testing.assert_allclose(total, pred, rtol=0, atol=1e-10)
    if not name.startswith("cpt"):  # the annealing term lowers the loss once the LR decays
        ann = next(v for k, v in terms.items() if k.startswith("annealing"))
        assert float(np.asarray(ann)[-1]) < 0.0


# --------------------------------------------------------------------------------- figures
def test_lr_axis_reads_like_people_write_lrs() -> None:
    vals, text = rp._style.lr_ticks(3e-4)  # type: ignore[attr-defined]
    assert text[0] == "0" and "3e-4" in text and "1.5e-4" in text
    assert not any("µ" in t or "e-04" in t for t in text)
    fig = rp.schedule_figure({"wsd": _lr()})
    assert "3e-4" in fig.layout.yaxis.ticktext and fig.layout.yaxis.hoverformat == ".3~e"


def test_one_colour_per_run_observed_and_predicted_paired() -> None:
    curves = []
    for i in range(12):  # the case: 12 traces used to cycle 10 colours
        s = np.arange(10, 1000, 10)
        y = 3.0 + 1.0 / np.sqrt(s) + 0.01 * i
        curves.append(rp.Curve(f"run{i}", s, y, pred=y + 1e-3))
    fig = rp.runs_figure(curves)
    obs = [t for t in fig.data if t.name.endswith("observed")]
    pred = [t for t in fig.data if t.name.endswith("predicted")]
    res = [t for t in fig.data if t.name.endswith("residual")]
    assert len(obs) == len(pred) == len(res) == 12
    assert all(o.mode == "markers" and p.mode == "lines" for o, p in zip(obs, pred, strict=True))
    assert [o.marker.color for o in obs] == [p.line.color for p in pred]
    assert len({o.marker.color for o in obs}) == 12
    assert res[0].yaxis == "y2"  # the residual panel
    np.testing.assert_allclose(res[0].y, 1e-3)


def test_prediction_band_is_shaded_in_the_legend_and_zoomed() -> None:
    s = np.arange(1, 1001)
    y = 3 + 1 / np.sqrt(s)
    fig = rp.prediction_figure([rp.Curve("val", s, y, lo=y - 0.01, hi=y + 0.01)])
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(bands) == 2 and bands[0].showlegend and "90% band" in bands[0].name
    assert bands[1].xaxis == "x2"  # the tail zoom panel
    assert tuple(fig.layout.xaxis2.range) == (800.0, 1000.0)
    lo, hi = fig.layout.yaxis2.range  # zoomed to the tail, where the band is visible
    assert hi - lo < 0.1


def test_pareto_front() -> None:
    pts = [("a", 1.0, 3.0), ("b", 2.0, 2.0), ("c", 2.5, 2.5), ("d", 3.0, 1.0)]
    assert [p[0] for p in rp.pareto_front(pts)] == ["a", "b", "d"]


def test_page_embeds_plotly_once_and_works_offline(tmp_path: Path) -> None:
    rep = rp.Report("t")
    for k in range(3):
        rep.add_figure(f"f{k}", rp.schedule_figure({"wsd": _lr()}))
    rep.add_table(rp.Table("numbers", [{"a": 1.23456, "b": "x"}], [("a", "A", ".3f"),
                                                                    ("b", "B", "")]))
    out = tmp_path / "r.html"
    rep.write_html(out)
    html = out.read_text()
    assert len(re.findall(r"plotly\.js v\d", html)) == 1
    assert html.count('class="plotly-graph-div"') == 3
    assert not re.search(r"<script[^>]+src=", html)  # nothing fetched
    assert "1.235" in html


# ------------------------------------------------------------------------------- reports
@pytest.fixture(scope="module")
def fitted():
    from cptdyn.dynamics import MomentumLaw, load_runs

    runs = load_runs([str(MPL / f"{n}.csv") for n in ("cosine_24000", "wsdcon_9")])
    # the momentum law fitted to cosine_24000, constant_24000, wsdcon_9 (README "Fitting")
    return MomentumLaw(L0=2.67, A=0.63, alpha=0.727, C=0.556), runs


def test_fit_report_contents(fitted) -> None:
    law, runs = fitted
    rep = rp.fit_report(law, runs, what="evaluate")
    assert list(rep.figures) == ["observed vs predicted", "schedules", "terms"]
    metrics = rep.tables[0]
    assert [r["run"] for r in metrics.rows] == ["cosine_24000", "wsdcon_9", "mean"]
    assert {"r2", "pred_e_pct", "final_error"} <= set(metrics.rows[0])
    assert metrics.rows[0]["r2"] > 0.99  # the published fit on its own training curve
    terms = rep.figures["terms"]
    assert {t.name for t in terms.data} == {"cosine_24000", "wsdcon_9"}


def test_plan_report_shows_every_baseline_with_numbers() -> None:
    from cptdyn.dynamics import MomentumLaw
    from cptdyn.planner import Problem, plan
    from cptdyn.schedules import WSD

    law = MomentumLaw(L0=2.67, A=0.63, alpha=0.727, C=0.556)
    tmpl = WSD(6000, 3e-4, 0.0, 0.2, "1-sqrt", warmup_steps=500, warmup_init=0.0)
    res = plan(Problem.make(law, tmpl, ["decay_fraction"]))
    doc = res.to_dict(every=50)
    assert all("schedule" in b for b in doc["baselines"])
    rep = rp.plan_report(doc, {"val": law})
    names = [t.name for t in rep.figures["predicted loss val"].data if t.xaxis == "x"]
    assert names == ["plan"] + [b["name"] for b in doc["baselines"]]
    table = rep.tables[0]
    assert len(table.rows) == 1 + len(doc["baselines"]) >= 7
    for row, b in zip(table.rows[1:], doc["baselines"], strict=True):
        assert row["delta"] == pytest.approx(b["plan_minus_baseline"])
        assert row["L_val"] == pytest.approx(b["predicted_final_loss"]["val"])
    assert "pareto" not in rep.figures  # one validation set: no trade-off to draw


def test_cpt_simulate_report_names_sets_and_marks_transfer() -> None:
    from cptdyn.dynamics import CPTLaw
    from cptdyn.dynamics.presets import P1_FIG3_DCPT, P1_FIG3_DPT
    from cptdyn.schedules import WSD, Cosine, CPTSchedule

    laws = {"web": CPTLaw(**P1_FIG3_DPT), "code": CPTLaw(**P1_FIG3_DCPT)}
    s = CPTSchedule(WSD(4000, 2e-4, 0.0, 0.1, "linear", warmup_steps=200),
                    Cosine(2000, 1e-4, 1e-5, warmup_steps=100, warmup_from_previous=True))
    rep = rp.simulate_report(laws, s)
    for ds in ("web", "code"):  # as the user named them, one figure (and tail zoom) each
        fig = rep.figures[f"predicted loss {ds}"]
        assert {t.name for t in fig.data} == {ds}
        assert any(sh.x0 == 4000 for sh in fig.layout.shapes)
        assert any("transfer step 4,000" in a.text for a in fig.layout.annotations)
    assert "distribution-shift term" in " ".join(a.text for a in rep.figures["terms"].layout.annotations)
    assert rp.set_label("pt") == "pt (general / pre-training data)"


# ---------------------------------------------------------------------------- command line
def _run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_report_output_naming_an_input_is_refused(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run.csv"
    run.write_bytes((MPL / "wsdcon_9.csv").read_bytes())
    before = run.read_bytes()
    rc, _, err = _run(["fit", run, "--law", "momentum", "--report", run], capsys)
    assert rc == 2 and "--report" in err and "input" in err
    assert run.read_bytes() == before
    rc, _, err = _run(["fit", run, "--law", "momentum", "--out", tmp_path / "p.json",
                       "--report", tmp_path / "p.json"], capsys)
    assert rc == 2 and "is also --out" in err and not (tmp_path / "p.json").exists()


def test_nothing_written_when_the_report_fails(tmp_path: Path, capsys, monkeypatch) -> None:
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"law": "momentum", "params": {"L0": 2.67, "A": 0.63,
                                                                "alpha": 0.727, "C": 0.556}}))
    spec = tmp_path / "wsd.json"
    assert main(["schedule", "wsd", "--total-steps", "3000", "--peak-lr", "3e-4",
                 "--warmup-steps", "300", "--out", str(spec)]) == 0
    capsys.readouterr()
    # a report suffix that is no page nor picture: refused before any work
    rc, _, err = _run(["simulate", "--params", params, "--schedule", spec, "--out",
                       tmp_path / "c.csv", "--report", tmp_path / "r.txt"], capsys)
    assert rc == 2 and ".html" in err and not (tmp_path / "c.csv").exists()
    # a PNG without kaleido: one line, and neither the curve nor the report is written
    real_import = builtins.__import__

    def no_kaleido(name, *a, **k):
        if name == "kaleido":
            raise ImportError("no kaleido")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_kaleido)
    rc, _, err = _run(["simulate", "--params", params, "--schedule", spec, "--out",
                       tmp_path / "c.csv", "--report", tmp_path / "r.png"], capsys)
    assert rc == 2 and "pip install 'cptdyn[images]'" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "c.csv").exists() and not (tmp_path / "r.png").exists()


def test_report_command_needs_runs_or_a_schedule(tmp_path: Path, capsys) -> None:
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"law": "momentum", "params": {"L0": 2.67, "A": 0.63,
                                                                "alpha": 0.727, "C": 0.556}}))
    rc, _, err = _run(["report", params, "--out", tmp_path / "r.html"], capsys)
    assert rc == 2 and "RUN" in err and not (tmp_path / "r.html").exists()
    rc, _, err = _run(["report", params, "--out", params], capsys)
    assert rc == 2 and "input" in err
    rc, out, _ = _run(["report", params, MPL / "wsdcon_9.csv", "--out", tmp_path / "r.html"],
                      capsys)
    assert rc == 0 and (tmp_path / "r.html").stat().st_size > 1_000_000
    assert "observed vs predicted" in out
