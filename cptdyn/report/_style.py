"""Colours, axis formats and labels shared by every report figure."""

from __future__ import annotations

import math
from typing import Any

#: Distinct colours, one per run / schedule: Okabe-Ito-like dark colours first (they read on white
#: and survive common colour-vision deficiencies), then plotly's Dark24 and Alphabet. 40 entries
#: before a colour repeats.
PALETTE: tuple[str, ...] = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8C564B",
    "#7F3C8D", "#11A579", "#3969AC", "#F2B701", "#E73F74", "#80BA5A", "#E68310", "#008695",
    "#CF1C90", "#f97b72", "#4b4b8f", "#A5AA99", "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D",
    "#DA16FF", "#222A2A", "#B68100", "#750D86", "#EB663B", "#511CFB", "#00A08B", "#FB00D1",
    "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1", "#620042", "#1616A7",
)
DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot")

#: d3 format of learning rates: ``3e-4``, ``2.5e-5`` (never SI prefixes such as ``300µ``).
LR_FORMAT = ".3~e"
LOSS_FORMAT = ".4f"

#: Words for the usual CPT validation-set names (the name itself is always shown as given).
SET_WORDS = {"pt": "general / pre-training data", "cpt": "domain / CPT data"}

TEMPLATE = "plotly_white"
FONT = {"family": "Inter, 'Helvetica Neue', Arial, sans-serif", "size": 13}


def colour(i: int) -> str:
    """The ``i``-th colour of :data:`PALETTE`."""
    return PALETTE[i % len(PALETTE)]


def dash(i: int) -> str:
    """A line dash that, with :func:`colour`, keeps entries distinct past the palette's end."""
    return DASHES[(i // len(PALETTE)) % len(DASHES)]


def fill(c: str, alpha: float) -> str:
    """``rgba(...)`` of a ``#rrggbb`` colour at opacity ``alpha``."""
    h = c.lstrip("#")
    r, g, b = (int(h[k:k + 2], 16) for k in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def set_label(name: str) -> str:
    """A validation set's name as the user gave it, with words for the bare ``pt``/``cpt``."""
    words = SET_WORDS.get(name)
    return f"{name} ({words})" if words else name


def lr_text(v: float) -> str:
    """An LR as people write it: ``3e-4``, ``2.5e-5``, ``0``."""
    if v == 0:
        return "0"
    if 1e-2 <= abs(v) < 1e3:
        return f"{v:g}"
    m, e = f"{v:.3e}".split("e")
    m = m.rstrip("0").rstrip(".")
    return f"{m}e{int(e)}"


def lr_ticks(vmax: float, n: int = 6) -> tuple[list[float], list[str]]:
    """Tick values from 0 to ``vmax`` at a round step (1, 2, 2.5 or 5 x 10^k), written by
    :func:`lr_text` (plotly would write ``300µ``)."""
    if not (vmax > 0 and math.isfinite(vmax)):
        return [0.0], ["0"]
    raw = vmax / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw * (1 - 1e-9))
    k = int(math.floor(vmax * 1.0000001 / step))
    vals = [round(i * step / mag, 6) * mag for i in range(k + 1)]
    return vals, [lr_text(v) for v in vals]


def lr_axis(vmax: float | None = None, **extra: Any) -> dict[str, Any]:
    """Axis settings of an LR axis: ticks written ``3e-4`` (never ``300µ``), LR hover format."""
    out: dict[str, Any] = {"title_text": "learning rate", "hoverformat": LR_FORMAT,
                           "exponentformat": "e", "rangemode": "tozero"}
    if vmax is not None and vmax > 0 and math.isfinite(vmax):
        vals, text = lr_ticks(vmax)
        out.update(tickmode="array", tickvals=vals, ticktext=text, range=[0, vmax * 1.06])
    else:
        out["tickformat"] = LR_FORMAT
    return {**out, **extra}


def base_layout(title: str, height: int) -> dict[str, Any]:
    """The layout every figure starts from."""
    return {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 16}},
        "template": TEMPLATE,
        "font": FONT,
        "height": height,
        "margin": {"l": 70, "r": 20, "t": 60, "b": 50},
        "legend": {"orientation": "v", "x": 1.01, "y": 1.0, "xanchor": "left",
                   "font": {"size": 11}, "tracegroupgap": 2},
        "hovermode": "closest",
    }
