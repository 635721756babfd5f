"""Real vs predicted CPT curves of lab runs the law never saw, as an offline HTML page (and a PNG).

    python benchmarks/cptlab/plot_heldout.py --runs OUT_OF_RUN_STUDY --out docs/cptlab_heldout.html \\
        [--run ho-wsd-r25] [--png docs/cptlab_heldout.png]

Fits the replay variant of the CPT law (``cpt-replay``, or ``--law cpt-replay-curve``) on the study's training runs and no-switch
controls exactly as ``bench_cpt_law.py`` does, then draws, for each chosen held-out run (default:
every one), both validation sets: the measured losses as markers and the prediction as a line of
the same colour, the transfer step marked. The PNG is a screenshot of the page in headless
Chromium (``chromium`` on the PATH); without it only the HTML is written.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.cptlab.bench_cpt_law import DATASETS, errors, fit_laws, load  # noqa: E402

NAMES = {"pt": "D_pt (English, the PT domain)", "cpt": "D_cpt (Python, the CPT domain)"}
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")


def figure(rows: list[dict[str, Any]], laws: dict[str, Any], ids: list[str], law: str) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=[NAMES[d] for d in DATASETS],
                        horizontal_spacing=0.08)
    by = {r["run_id"]: r for r in rows}
    for k, rid in enumerate(ids):
        colour = COLOURS[k % len(COLOURS)]
        for j, d in enumerate(DATASETS):
            run = by[rid]["runs"][d]
            pred = np.asarray(laws[d].predict(run), dtype=np.float64)
            e = errors(laws[d], run)
            show = j == 0
            fig.add_trace(go.Scatter(
                x=run.steps, y=run.loss, mode="markers", marker={"color": colour, "size": 5},
                name=f"{rid} measured", legendgroup=rid, showlegend=show), row=1, col=j + 1)
            fig.add_trace(go.Scatter(
                x=run.steps, y=pred, mode="lines", line={"color": colour, "width": 2},
                name=f"{rid} predicted", legendgroup=rid, showlegend=show,
                hovertemplate=f"PredE {e['prede']:.2%}, final error {e['final_err']:+.4f}"
                              "<extra></extra>"), row=1, col=j + 1)
            if k == 0 and run.transfer_step is not None:
                fig.add_vline(x=run.transfer_step, line={"dash": "dot", "color": "grey"},
                              row=1, col=j + 1)
                fig.add_annotation(x=run.transfer_step, y=1.0, yref=f"y{'' if j == 0 else 2} domain",
                                   text="switch to CPT", showarrow=False, xanchor="left",
                                   row=1, col=j + 1)
    fig.update_xaxes(title_text="update")
    fig.update_yaxes(title_text="validation loss (nats per byte)", col=1)
    fig.update_layout(template="plotly_white", width=1200, height=540,
                      title=f"CPT lab: held-out runs, measured (markers) vs {law} fitted on the "
                            "training runs (lines)",
                      legend={"orientation": "h", "y": -0.18})
    return fig


def screenshot(html: Path, png: Path) -> bool:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which(
        "google-chrome")
    if exe is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                            f"--user-data-dir={tmp}", "--window-size=1240,580", "--hide-scrollbars",
                            "--virtual-time-budget=5000", f"--screenshot={png.resolve()}",
                            html.resolve().as_uri()], capture_output=True, text=True,
                           timeout=120)
    return r.returncode == 0 and png.is_file()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", required=True, help="run_study --out folder")
    ap.add_argument("--out", required=True, help="HTML file to write")
    ap.add_argument("--png", default=None, help="also a PNG screenshot (needs chromium)")
    ap.add_argument("--run", default=None, help="comma-separated run ids (default: held-out runs)")
    ap.add_argument("--law", default="cpt-replay", choices=("cpt-replay", "cpt-replay-curve"),
                    help="the law fitted on the training runs (default cpt-replay)")
    ap.add_argument("--min-step", type=int, default=250,
                    help="ignore observations before this update, as bench_cpt_law.py")
    a = ap.parse_args(argv)
    rows, _ = load(Path(a.runs), a.min_step)
    ids = a.run.split(",") if a.run else [r["run_id"] for r in rows if r["role"] == "heldout"]
    known = {r["run_id"] for r in rows}
    bad = [i for i in ids if i not in known]
    if bad or not ids:
        print(f"plot_heldout: error: --run {','.join(bad) or '(none held out)'} not in {a.runs}",
              file=sys.stderr)
        return 2
    laws = fit_laws(rows, a.law)["laws"]
    if any(v is None for v in laws.values()):
        print("plot_heldout: error: the CPT law could not be fitted", file=sys.stderr)
        return 1
    fig = figure(rows, laws, ids, a.law)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(out, include_plotlyjs=True, full_html=True)
    print(f"wrote {out}")
    if a.png:
        if screenshot(out, Path(a.png)):
            print(f"wrote {a.png}")
        else:
            print("plot_heldout: no PNG (chromium not found or failed)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
