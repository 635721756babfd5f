"""Plotly figures: schedules, loss curves, fits and plans (self-contained HTML files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def schedule_figure(named_arrays: Mapping[str, np.ndarray], title: str = "LR schedule") -> Any:
    go = _go()
    fig = go.Figure()
    for name, a in named_arrays.items():
        a = np.asarray(a)
        fig.add_trace(go.Scatter(x=np.arange(a.size), y=a, mode="lines", name=name))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="learning rate",
                      template="plotly_white")
    return fig


def curves_figure(
    curves: Sequence[Mapping[str, Any]],
    lr: Mapping[str, np.ndarray] | None = None,
    title: str = "Loss",
) -> Any:
    """``curves``: dicts with ``name``, ``steps``, ``loss`` and optional ``kind`` ('observed' draws
    markers, anything else lines) and optional ``lo``/``hi`` (an uncertainty band)."""
    go = _go()
    from plotly.subplots import make_subplots

    rows = 2 if lr else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True,
                        row_heights=[0.7, 0.3] if lr else [1.0], vertical_spacing=0.05)
    for c in curves:
        steps = np.asarray(c["steps"])
        if c.get("lo") is not None and c.get("hi") is not None:
            fig.add_trace(go.Scatter(
                x=np.concatenate([steps, steps[::-1]]),
                y=np.concatenate([np.asarray(c["hi"]), np.asarray(c["lo"])[::-1]]),
                fill="toself", line={"width": 0}, opacity=0.25, showlegend=False,
                name=f"{c['name']} interval", hoverinfo="skip"), row=1, col=1)
        observed = c.get("kind") == "observed"
        fig.add_trace(go.Scatter(
            x=steps, y=np.asarray(c["loss"]), name=str(c["name"]),
            mode="markers" if observed else "lines",
            marker={"size": 4} if observed else None), row=1, col=1)
    if lr:
        for name, a in lr.items():
            a = np.asarray(a)
            fig.add_trace(go.Scatter(x=np.arange(a.size), y=a, mode="lines", name=f"LR {name}",
                                     line={"dash": "dot"}), row=2, col=1)
        fig.update_yaxes(title_text="LR", row=2, col=1)
    # Default view: the loss range past the first 5% of the run. Laws diverge at the first steps
    # (S1 -> 0 makes A*S1^-alpha blow up), which would otherwise flatten the interesting part;
    # zooming out still shows everything.
    vals = []
    s_max = max((float(np.max(np.asarray(c["steps"]))) for c in curves if len(c["steps"])),
                default=0.0)
    for c in curves:
        st, y = np.asarray(c["steps"], float), np.asarray(c["loss"], float)
        keep = (st >= 0.05 * s_max) & np.isfinite(y)
        vals.append(y[keep])
    allv = np.concatenate(vals) if vals else np.array([])
    if allv.size:
        lo, hi = float(allv.min()), float(allv.max())
        pad = 0.05 * max(hi - lo, 1e-6)
        fig.update_yaxes(range=[lo - pad, hi + pad], row=1, col=1)
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_xaxes(title_text="step", row=rows, col=1)
    fig.update_layout(title=title, template="plotly_white")
    return fig


def write_html(fig: Any, path: str) -> None:
    """Self-contained HTML (plotly.js embedded: works offline), written atomically."""
    from cptdyn._io import atomic_write

    atomic_write(path, fig.to_html(include_plotlyjs=True, full_html=True))
