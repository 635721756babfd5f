"""Plotly figures of runs, predictions, schedules, law terms and plans (one function each).

Every function takes plain arrays (no laws, no JAX) and returns a ``plotly.graph_objects.Figure``,
so the figures work in notebooks as they are and are assembled into pages by ``_page``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._style import base_layout, colour, dash, fill, lr_axis

#: Fraction of the run shown by the tail zoom panels.
TAIL_FRACTION = 0.2


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def _subplots(**kw: Any) -> Any:
    from plotly.subplots import make_subplots

    return make_subplots(**kw)


@dataclass
class Curve:
    """One named curve of a figure: ``steps`` and ``loss`` (observed or predicted), an optional
    prediction ``pred`` at the same steps, an optional band ``lo``/``hi`` and its ``level``."""

    name: str
    steps: np.ndarray
    loss: np.ndarray
    pred: np.ndarray | None = None
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    level: float = 0.9
    colour: str = ""
    width: float = 2.0
    extra: dict[str, Any] = field(default_factory=dict)


def _finite_range(values: Sequence[np.ndarray], pad: float = 0.06) -> list[float] | None:
    v = np.concatenate([np.asarray(x, float).ravel() for x in values]) if values else np.array([])
    v = v[np.isfinite(v)]
    if not v.size:
        return None
    lo, hi = float(v.min()), float(v.max())
    p = pad * max(hi - lo, 1e-4 * max(abs(hi), 1.0))
    return [lo - p, hi + p]


def _past_start(c: Curve, s_max: float, frac: float = 0.05) -> list[np.ndarray]:
    """The parts of a curve after the first ``frac`` of the run: laws diverge at the first steps
    (S1 -> 0 makes A*S1^-alpha blow up), which would flatten the interesting part of the view."""
    keep = np.asarray(c.steps, float) >= frac * s_max
    out = [np.asarray(c.loss, float)[keep]]
    if c.pred is not None:
        out.append(np.asarray(c.pred, float)[keep])
    return out


def _mark_transfer(fig: Any, transfer_step: int | None, rows: Sequence[int],
                   col: int = 1) -> None:
    """A dashed line at the transfer step on every row, labelled on the first."""
    if transfer_step is None:
        return
    for r in rows:
        fig.add_vline(x=transfer_step, line={"color": "#555", "dash": "dash", "width": 1.2},
                      row=r, col=col)
    fig.add_annotation(x=transfer_step, y=1.0, xref="x", yref="y domain",
                       text=f"transfer step {transfer_step:,} (PT → CPT)", showarrow=False,
                       xanchor="left", yanchor="top", xshift=4,
                       font={"size": 11, "color": "#333"}, bgcolor="rgba(255,255,255,0.8)")


def runs_figure(curves: Sequence[Curve], title: str = "Observed and predicted loss",
                transfer_step: int | None = None) -> Any:
    """Observed loss (markers) and the law's prediction (a line of the same colour) per run, with
    a residual panel (predicted - observed, nats) below."""
    go = _go()
    fig = _subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32],
                    vertical_spacing=0.06)
    s_max = max((float(np.max(c.steps)) for c in curves if len(c.steps)), default=1.0)
    keep_vals: list[np.ndarray] = []
    resid: list[np.ndarray] = []
    # observed markers first, every prediction line above them (legend: observed/predicted pairs)
    for i, c in enumerate(curves):
        col = c.colour or colour(i)
        fig.add_trace(go.Scatter(
            x=np.asarray(c.steps), y=np.asarray(c.loss), mode="markers",
            name=f"{c.name} · observed", legendgroup=f"run{i}", legendrank=2 * i + 1,
            marker={"color": col, "size": 4, "opacity": 0.6},
            hovertemplate="%{x:,} steps: observed %{y:.4f}<extra>" + c.name + "</extra>"),
            row=1, col=1)
        keep_vals += _past_start(c, s_max)
    for i, c in enumerate(curves):
        if c.pred is None:
            continue
        col = c.colour or colour(i)
        steps = np.asarray(c.steps)
        group = f"run{i}"
        fig.add_trace(go.Scatter(
            x=steps, y=np.asarray(c.pred), mode="lines", name=f"{c.name} · predicted",
            legendgroup=group, legendrank=2 * i + 2,
            line={"color": col, "width": 2, "dash": dash(i)},
            hovertemplate="%{x:,} steps: predicted %{y:.4f}<extra>" + c.name + "</extra>"),
            row=1, col=1)
        r = np.asarray(c.pred, float) - np.asarray(c.loss, float)
        resid.append(r[np.asarray(c.steps, float) >= 0.05 * s_max])
        fig.add_trace(go.Scatter(
            x=steps, y=r, mode="lines+markers", name=f"{c.name} · residual",
            legendgroup=group, showlegend=False,
            line={"color": col, "width": 1}, marker={"color": col, "size": 3},
            hovertemplate="%{x:,} steps: predicted - observed %{y:+.4f}<extra>" + c.name
            + "</extra>"), row=2, col=1)
    fig.add_hline(y=0.0, line={"color": "#888", "width": 1}, row=2, col=1)
    fig.update_layout(**base_layout(title, 640))
    rng = _finite_range(keep_vals)
    if rng:
        fig.update_yaxes(range=rng, row=1, col=1)
    rr = _finite_range(resid, pad=0.1)
    if rr:
        m = max(abs(rr[0]), abs(rr[1]))
        fig.update_yaxes(range=[-m, m], row=2, col=1)
    fig.update_yaxes(title_text="loss (nats)", tickformat=".3f", row=1, col=1)
    fig.update_yaxes(title_text="pred − obs", tickformat="+.3f", row=2, col=1)
    fig.update_xaxes(title_text="step", row=2, col=1)
    _mark_transfer(fig, transfer_step, rows=(1, 2))
    return fig


def schedule_figure(lrs: Mapping[str, np.ndarray], title: str = "Learning-rate schedules",
                    transfer_step: int | None = None,
                    colours: Mapping[str, str] | None = None,
                    widths: Mapping[str, float] | None = None) -> Any:
    """Per-step LR of each named schedule (``lr[t]`` is the LR of update ``t``)."""
    go = _go()
    fig = go.Figure()
    for i, (name, a) in enumerate(lrs.items()):
        a = np.asarray(a, float)
        col = (colours or {}).get(name) or colour(i)
        x = np.arange(a.size)
        if a.size > 4000:  # keep the page light: ~2000 points, plus the LR jumps when few
            keep = np.unique(np.rint(np.linspace(0, a.size - 1, 2000)).astype(np.int64))
            jumps = np.flatnonzero(np.diff(a))
            if jumps.size <= 2000:
                keep = np.union1d(keep, np.union1d(jumps, jumps + 1))
            x, a = x[keep], a[keep]
        fig.add_trace(go.Scatter(x=x, y=a, mode="lines", name=name,
                                 line={"color": col, "width": (widths or {}).get(name, 2.0),
                                       "dash": dash(i)},
                                 hovertemplate="step %{x:,}: %{y:.3~e}<extra>" + name
                                 + "</extra>"))
    fig.update_layout(**base_layout(title, 360))
    vmax = max((float(np.nanmax(np.asarray(a, float))) for a in lrs.values()
                if np.asarray(a).size and np.any(np.isfinite(a))), default=None)
    fig.update_yaxes(**lr_axis(vmax))
    fig.update_xaxes(title_text="step")
    _mark_transfer(fig, transfer_step, rows=(1,))
    return fig


#: Readable names of the terms returned by the laws' ``terms`` methods.
TERM_NOTES = {
    "power (S1)": "power term A·S1^−α (LR area)",
    "annealing (S2)": "annealing term −C·S2 (LR decrease with momentum)",
    "annealing PT (S2pt)": "annealing term of the PT phase",
    "annealing CPT (S2cpt)": "annealing term of the CPT phase",
    "annealing (loss drop)": "annealing term −B·LD (Multi-Power Law loss drop)",
    "annealing (LR decrease)": "annealing term (FSL LR-decrease sum)",
    "distribution shift": "distribution-shift term B(1 − (1 + E·S1cpt)^−β)",
    "model size (N)": "model-size term",
}


def terms_figure(terms: Mapping[str, tuple[np.ndarray, Mapping[str, np.ndarray]]],
                 title: str = "The predicted loss split into the law's terms",
                 transfer_step: int | None = None,
                 colours: Mapping[str, str] | None = None) -> Any:
    """One panel per additive term of the law (``L0`` in the title), one line per curve.

    ``terms``: ``{curve name: (steps, {term name: values})}`` as given by the laws' ``terms``."""
    go = _go()
    names: list[str] = []
    l0: dict[str, float] = {}
    for cname, (_, parts) in terms.items():
        for k, v in parts.items():
            if k == "L0":
                l0[cname] = float(np.asarray(v).ravel()[0])
                continue
            if k not in names and np.any(np.abs(np.asarray(v, float)[np.isfinite(v)]) > 0):
                names.append(k)
    n = max(1, len(names))
    fig = _subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=0.08 if n > 1 else 0.0,
                    subplot_titles=[TERM_NOTES.get(k, k) for k in names] or [""])
    in_view: dict[str, list[np.ndarray]] = {k: [] for k in names}
    for i, (cname, (steps, parts)) in enumerate(terms.items()):
        col = (colours or {}).get(cname) or colour(i)
        s = np.asarray(steps)
        for r, k in enumerate(names, start=1):
            if k not in parts:
                continue
            v = np.asarray(parts[k], float)
            fig.add_trace(go.Scatter(x=s, y=v, mode="lines", name=cname, legendgroup=cname,
                                     showlegend=r == 1, line={"color": col, "width": 2,
                                                              "dash": dash(i)},
                                     hovertemplate="step %{x:,}: %{y:+.4f}<extra>" + cname
                                     + " · " + k + "</extra>"), row=r, col=1)
            in_view[k].append(v[s >= 0.05 * s.max()] if s.size else v)
    for r, k in enumerate(names, start=1):
        rng = _finite_range(in_view[k], pad=0.08)
        if rng:
            fig.update_yaxes(range=rng, row=r, col=1)
        fig.update_yaxes(title_text="nats", tickformat="+.3f", row=r, col=1)
    if l0:
        vals = sorted(set(round(v, 4) for v in l0.values()))
        title += " (plus the constant L0 = " + ", ".join(f"{v:.4f}" for v in vals) + ")"
    fig.update_layout(**base_layout(title, 170 + 210 * n))
    fig.update_xaxes(title_text="step", row=n, col=1)
    _mark_transfer(fig, transfer_step, rows=tuple(range(1, n + 1)))
    return fig


def prediction_figure(curves: Sequence[Curve], title: str = "Predicted loss",
                      transfer_step: int | None = None,
                      tail_fraction: float = TAIL_FRACTION) -> Any:
    """Predicted curves (``Curve.loss``) with shaded bands (``lo``/``hi``, in the legend) over the
    whole run, and a zoom on the last ``tail_fraction`` of it, where the bands and the gaps
    between schedules are visible."""
    go = _go()
    s_max = max((float(np.max(c.steps)) for c in curves if len(c.steps)), default=1.0)
    t0 = (1.0 - tail_fraction) * s_max
    fig = _subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.08,
                    subplot_titles=["whole run",
                                    f"zoom: last {tail_fraction:.0%} of the run"])
    full_vals: list[np.ndarray] = []
    tail_vals: list[np.ndarray] = []
    for i, c in enumerate(curves):
        col = c.colour or colour(i)
        st = np.asarray(c.steps)
        y = np.asarray(c.loss, float)
        group = f"c{i}"
        tail = st >= t0
        for k, sel in ((1, slice(None)), (2, tail)):
            if c.lo is not None and c.hi is not None:
                lo = np.asarray(c.lo, float)[sel]
                hi = np.asarray(c.hi, float)[sel]
                xs = st[sel]
                fig.add_trace(go.Scatter(
                    x=np.concatenate([xs, xs[::-1]]), y=np.concatenate([hi, lo[::-1]]),
                    fill="toself", fillcolor=fill(col, 0.22), line={"width": 0.6, "color":
                                                                      fill(col, 0.5)},
                    name=f"{c.name} · {c.level:.0%} band", legendgroup=group + "b",
                    showlegend=k == 1, hoverinfo="skip"), row=1, col=k)
                if k == 1:
                    past = np.asarray(xs, float) >= 0.05 * s_max
                    full_vals.extend([lo[past], hi[past]])
                else:
                    tail_vals.extend([lo, hi])
            fig.add_trace(go.Scatter(
                x=st[sel], y=y[sel], mode="lines", name=c.name, legendgroup=group,
                showlegend=k == 1, line={"color": col, "width": c.width, "dash": dash(i)},
                hovertemplate="step %{x:,}: %{y:.4f}<extra>" + c.name + "</extra>"),
                row=1, col=k)
        full_vals += _past_start(c, s_max)
        tail_vals.append(y[tail])
    fig.update_layout(**base_layout(title, 460))
    fig.update_layout(legend={"orientation": "h", "x": 0.0, "y": -0.16, "xanchor": "left",
                              "yanchor": "top"}, margin={"b": 120})
    r1 = _finite_range(full_vals)
    if r1:
        fig.update_yaxes(range=r1, row=1, col=1)
    r2 = _finite_range(tail_vals, pad=0.08)
    if r2:
        fig.update_yaxes(range=r2, row=1, col=2)
    fig.update_xaxes(range=[t0, s_max], row=1, col=2)
    fig.update_yaxes(title_text="loss (nats)", tickformat=".3f", row=1, col=1)
    fig.update_yaxes(tickformat=".4f", row=1, col=2)
    fig.update_xaxes(title_text="step", row=1, col=1)
    fig.update_xaxes(title_text="step", row=1, col=2)
    if transfer_step is not None:
        fig.add_vline(x=transfer_step, line={"color": "#555", "dash": "dash", "width": 1.2},
                      row=1, col=1)
        fig.add_annotation(x=transfer_step, y=1.0, xref="x", yref="y domain",
                           text=f"transfer step {transfer_step:,}", showarrow=False,
                           xanchor="left", yanchor="top", xshift=4, font={"size": 11},
                           bgcolor="rgba(255,255,255,0.8)")
    return fig


def pareto_front(points: Sequence[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """The points no other point beats on both coordinates (lower is better), sorted by x."""
    pts = sorted(points, key=lambda p: (p[1], p[2]))
    front: list[tuple[str, float, float]] = []
    best_y = np.inf
    for p in pts:
        if p[2] < best_y:
            front.append(p)
            best_y = p[2]
    return front


def pareto_figure(points: Sequence[tuple[str, float, float]], x_label: str, y_label: str,
                  title: str = "Final losses: the trade-off between the validation sets",
                  highlight: str | None = None,
                  colours: Mapping[str, str] | None = None) -> Any:
    """Every schedule as a point (final loss on two validation sets) and the Pareto front."""
    go = _go()
    fig = go.Figure()
    front = pareto_front(points)
    if len(front) >= 1:
        fig.add_trace(go.Scatter(x=[p[1] for p in front], y=[p[2] for p in front],
                                 mode="lines", name="Pareto front (no schedule beats these on "
                                 "both sets)", line={"color": "#999", "dash": "dash"},
                                 hoverinfo="skip"))
    on_front = {p[0] for p in front}
    for i, (name, x, y) in enumerate(points):
        col = (colours or {}).get(name) or colour(i)
        big = name == highlight
        labelled = big or name in on_front or len(points) <= 4  # the rest: legend and hover
        fig.add_trace(go.Scatter(
            x=[x], y=[y], mode="markers+text" if labelled else "markers", name=name,
            text=[name],
            textposition="top center", textfont={"size": 10},
            marker={"color": col, "size": 16 if big else 10,
                    "symbol": "star" if big else "circle", "line": {"width": 1, "color": "#fff"}},
            hovertemplate=f"{name}<br>{x_label}: %{{x:.4f}}<br>{y_label}: %{{y:.4f}}<extra>"
            "</extra>"))
    fig.update_layout(**base_layout(title, 460))
    fig.update_xaxes(title_text=x_label, tickformat=".4f")
    fig.update_yaxes(title_text=y_label, tickformat=".4f")
    return fig


def bars_figure(rows: Sequence[tuple[str, float]], x_label: str,
                title: str = "Objective of the plan and each baseline",
                highlight: str | None = None,
                colours: Mapping[str, str] | None = None) -> Any:
    """Horizontal bars of one number per schedule, best first, values printed on the bars."""
    go = _go()
    rows = sorted(rows, key=lambda r: r[1])
    vals = np.array([r[1] for r in rows], float)
    fig = go.Figure(go.Bar(
        x=vals, y=[r[0] for r in rows], orientation="h",
        marker={"color": [(colours or {}).get(r[0]) or colour(i) for i, r in enumerate(rows)],
                "line": {"color": ["#000" if r[0] == highlight else "rgba(0,0,0,0)"
                                   for r in rows], "width": 2}},
        text=[f"{v:.4f}" for v in vals], textposition="outside",
        hovertemplate="%{y}: %{x:.5f}<extra></extra>", showlegend=False))
    rng = _finite_range([vals], pad=0.5)
    if rng:
        fig.update_xaxes(range=rng)
    fig.update_layout(**base_layout(title, 140 + 34 * len(rows)))
    fig.update_layout(margin={"l": 190})
    fig.update_xaxes(title_text=x_label, tickformat=".3f")
    fig.update_yaxes(autorange="reversed")
    return fig
