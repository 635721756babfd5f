"""Every kind of report, rendered by a real browser (headless Chromium) with the network off.

For each report written by the command line (``fit``, ``evaluate``, ``simulate``, ``plan``,
``schedule --plot``, ``cptdyn report``; PT runs from the shipped MultiPowerLaw data, CPT from the
published CPT-law parameters), a copy of the page gets a probe script in front of everything else
that records console errors, page errors and failed resource loads; after the page has rendered,
the probe writes into the DOM, per plotly figure, how many traces the figure has and how many
trace groups the browser drew (``.scatterlayer .trace`` / ``.barlayer .trace``), plus every
resource fetched from outside the file. Chromium prints that DOM (``--dump-dom``) and takes a
screenshot in the same run. The test fails on any console error, any figure that drew fewer
traces than it has, any network fetch, or a page with more than one embedded plotly.js.

Screenshots are kept under ``$CPTDYN_ARTIFACTS/report-browser`` (default
``<tmp>/cptdyn-artifacts/report-browser``); the test prints the folder. The test skips, saying why,
only when no Chromium/Chrome executable is found (``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from cptdyn.cli import main

ROOT = Path(__file__).resolve().parents[2]
MPL = ROOT / "data" / "MultiPowerLaw" / "loss_curve_repo" / "csv_400"  # MIT, see SOURCE.md
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

PROBE = r"""<script>
window.__cptdynErrors = [];
(function () {
  var orig = console.error;
  console.error = function () {
    window.__cptdynErrors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    return orig.apply(console, arguments);
  };
  window.addEventListener('error', function (e) {
    var t = e.target || {};
    window.__cptdynErrors.push('error: ' + (e.message || t.src || t.href || 'resource failed'));
  }, true);
  window.addEventListener('unhandledrejection', function (e) {
    window.__cptdynErrors.push('unhandled rejection: ' + e.reason);
  });
  window.addEventListener('load', function () { setTimeout(function () {
    var plots = Array.prototype.map.call(document.querySelectorAll('.js-plotly-plot'),
      function (gd) {
        return {id: gd.id, data: (gd.data || []).length,
                drawn: gd.querySelectorAll('.scatterlayer .trace, .barlayer .trace').length,
                paths: gd.querySelectorAll('.scatterlayer .trace path, .barlayer .trace path')
                  .length};
      });
    var net = performance.getEntriesByType('resource').map(function (r) { return r.name; })
      .filter(function (u) { return !/^(file|data|blob|about):/.test(u); });
    var pre = document.createElement('pre');
    pre.id = 'cptdyn-probe';
    pre.style.display = 'none';
    pre.textContent = JSON.stringify({errors: window.__cptdynErrors, plots: plots, network: net,
                                      height: document.documentElement.scrollHeight});
    document.body.appendChild(pre);
  }, 1500); });
})();
</script>"""


def _browser() -> str | None:
    env = os.environ.get("CPTDYN_CHROMIUM")
    if env and shutil.which(env):
        return shutil.which(env)
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def _artifacts() -> Path:
    base = Path(os.environ.get("CPTDYN_ARTIFACTS")
                or Path(tempfile.gettempdir()) / "cptdyn-artifacts")
    out = base / "report-browser"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _cli(*argv: str) -> None:
    assert main([str(a) for a in argv]) == 0, argv


def _cpt_files(d: Path) -> dict[str, Path]:
    """A CPT params file (P1 Fig. 3 parameters, cptdyn.dynamics.presets), PT/CPT schedule specs,
    and one synthetic CPT run: the law's curves on a WSD PT -> cosine CPT schedule plus seeded
    Gaussian noise (sd 0.004 nats), logged every 500 steps."""
    from cptdyn.dynamics import CPTLaw
    from cptdyn.dynamics.presets import P1_FIG3_DCPT, P1_FIG3_DPT
    from cptdyn.planner import evaluate_schedule
    from cptdyn.schedules import WSD, Cosine, CPTSchedule

    laws = {"pt": CPTLaw(**P1_FIG3_DPT), "cpt": CPTLaw(**P1_FIG3_DCPT)}
    params = d / "cpt_params.json"
    params.write_text(json.dumps({"version": 1, "laws": {k: v.to_dict()
                                                          for k, v in laws.items()}}))
    pt = WSD(20_000, 2e-4, 0.0, 0.1, "linear", warmup_steps=500)
    cpt = Cosine(8_000, 1e-4, 1e-5, warmup_steps=400, warmup_from_previous=True)
    (d / "pt.json").write_text(json.dumps(pt.to_spec()))
    (d / "cpt.json").write_text(json.dumps(cpt.to_spec()))
    joined = CPTSchedule(pt, cpt)
    (d / "joined.json").write_text(json.dumps(joined.to_spec()))
    curves = evaluate_schedule(laws, joined)
    lr = joined.array()
    rng = np.random.default_rng(0)
    steps = np.arange(500, lr.size + 1, 500)
    lines = ["step,lr,loss_pt,loss_cpt"]
    for s in steps:
        lines.append(f"{s},{lr[s - 1]:.8g},{curves['pt'][s - 1] + rng.normal(0, 0.004):.6f},"
                     f"{curves['cpt'][s - 1] + rng.normal(0, 0.004):.6f}")
    (d / "cpt_run.csv").write_text("\n".join(lines) + "\n")
    return {"params": params, "pt": d / "pt.json", "joined": d / "joined.json",
            "run": d / "cpt_run.csv"}


def _with_samples(params: Path, out: Path) -> None:
    """The fitted params plus parameter samples, as `fit --law auto` stores them: here 8 copies
    with L0 and C moved by up to +-0.4% / +-6% (seeded) and a model error of 0.3%, so that the
    band has a known, visible width."""
    doc = json.loads(params.read_text())
    rng = np.random.default_rng(1)
    p = doc["params"]
    doc["samples"] = [{**p, "L0": p["L0"] * (1 + rng.uniform(-4e-3, 4e-3)),
                       "C": p["C"] * (1 + rng.uniform(-0.06, 0.06))} for _ in range(8)]
    doc["interval"] = {"level": 0.9, "method": "test", "model_error": 0.003}
    out.write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("reports")
    train = [MPL / f"{n}.csv" for n in ("cosine_24000", "constant_24000", "wsdcon_9")]
    held = [MPL / f"{n}.csv" for n in ("wsd_20000_24000", "cosine_72000", "constant_72000",
                                       "wsdcon_3", "wsdcon_18", "wsdld_20000_24000")]
    out = {k: d / f"{k}.html" for k in ("fit", "evaluate", "simulate", "plan", "schedule",
                                         "report_fit", "report_plan", "cpt_evaluate",
                                         "cpt_simulate", "cpt_plan")}
    _cli("fit", *train, "--law", "momentum", "--out", d / "params.json", "--report", out["fit"])
    _cli("evaluate", "--params", d / "params.json", *held, "--report", out["evaluate"])
    _cli("schedule", "wsd", "--total-steps", 24000, "--peak-lr", 3e-4, "--final-lr", 3e-5,
         "--warmup-steps", 2160, "--decay-fraction", 0.2, "--decay-shape", "1-sqrt",
         "--out", d / "wsd.json", "--plot", out["schedule"])
    _with_samples(d / "params.json", d / "params_samples.json")
    _cli("simulate", "--params", d / "params_samples.json", "--schedule", d / "wsd.json",
         "--out", d / "curve.csv", "--report", out["simulate"])
    _cli("plan", "--params", d / "params_samples.json", "--family", "wsd", "--total-steps",
         24000, "--peak-lr", 3e-4, "--warmup-steps", 2160, "--warmup-init", 0, "--decay-shape",
         "1-sqrt", "--tune", "decay_fraction", "--out", d / "plan.json", "--report", out["plan"])
    _cli("report", d / "params.json", "--out", out["report_fit"])
    _cli("report", d / "plan.json", "--out", out["report_plan"])
    c = _cpt_files(d)
    _cli("evaluate", "--params", c["params"], c["run"], "--loss-col", "loss_pt=pt",
         "--loss-col", "loss_cpt=cpt", "--transfer-step", 20000, "--report", out["cpt_evaluate"])
    _cli("simulate", "--params", c["params"], "--schedule", c["joined"], "--out",
         d / "cpt_curve.csv", "--report", out["cpt_simulate"])
    _cli("plan", "--params", c["params"], "--pt", c["pt"], "--family", "cosine",
         "--total-steps", 8000, "--peak-lr", 1e-4, "--warmup-steps", 400, "--tune", "peak_lr",
         "--objective", "constrained:0.05", "--out", d / "cpt_plan.json",
         "--report", out["cpt_plan"])
    return out


def _render(browser: str, page: Path, shot: Path) -> dict:
    html = page.read_text(encoding="utf-8")
    assert html.count("<script") >= 2
    # plotly.js once per page, not once per figure
    assert len(re.findall(r"plotly\.js v\d", html)) == 1, page.name
    probe = page.with_name(page.stem + ".probe.html")
    i = html.index("<head>") + len("<head>")
    probe.write_text(html[:i] + PROBE + html[i:], encoding="utf-8")
    profile = tempfile.mkdtemp(prefix="cptdyn-chromium-")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
           # network off: every host resolves to nothing and every proxy connection fails
           "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
           "--virtual-time-budget=30000", "--window-size=1300,4400",
           f"--screenshot={shot}", "--dump-dom", probe.as_uri()]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    m = re.search(r'<pre id="cptdyn-probe"[^>]*>(.*?)</pre>', res.stdout, re.S)
    assert m, f"{page.name}: the page did not finish rendering (rc {res.returncode}): " \
              f"{res.stderr[-800:]}"
    import html as htmllib

    return json.loads(htmllib.unescape(m.group(1)))


def test_reports_render_in_chromium(reports: dict[str, Path]) -> None:
    browser = _browser()
    if browser is None:
        pytest.skip("no chromium / google-chrome executable found (install Debian's `chromium`;"
                    " .ci/run does): the HTML reports were not rendered in a browser")
    art = _artifacts()
    print(f"\nreport screenshots: {art}")
    expect_min = {"fit": 3, "evaluate": 3, "simulate": 3, "plan": 4, "schedule": 1,
                  "report_fit": 3, "report_plan": 4, "cpt_evaluate": 3, "cpt_simulate": 4,
                  "cpt_plan": 5}
    failures = []
    for name, page in reports.items():
        shot = art / f"report_{name}.png"
        got = _render(browser, page, shot)
        assert shot.is_file() and shot.stat().st_size > 10_000, shot
        if got["errors"]:
            failures.append(f"{name}: console errors {got['errors'][:3]}")
        if got["network"]:
            failures.append(f"{name}: fetched from the network {got['network'][:3]}")
        plots = got["plots"]
        if len(plots) < expect_min[name]:
            failures.append(f"{name}: {len(plots)} figures, expected >= {expect_min[name]}")
        for p in plots:
            if p["data"] == 0 or p["drawn"] < p["data"] or p["paths"] == 0:
                failures.append(f"{name}: figure {p['id']} drew {p['drawn']} of {p['data']} "
                                "traces")
    assert not failures, "; ".join(failures)
