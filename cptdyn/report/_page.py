"""A report: figures and tables on one self-contained offline HTML page (plotly.js embedded once),
and static PNG/SVG pictures of its figures (with the optional ``kaleido``)."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cptdyn._errors import CptdynError

#: Image formats :meth:`Report.write_image` writes (through kaleido).
IMAGE_FORMATS = ("png", "svg", "pdf")


class ReportError(CptdynError):
    """A report cannot be built or written (bad input, missing optional dependency)."""


@dataclass
class Table:
    """A table on the page: ``columns`` are ``(key, header, format)``; a format is a Python
    format spec (``".4f"``), ``"e"`` for LRs (``3e-04`` written ``3e-4``) or ``""`` for text."""

    title: str
    rows: Sequence[Mapping[str, Any]]
    columns: Sequence[tuple[str, str, str]]
    note: str = ""

    def cell(self, value: Any, fmt: str) -> str:
        if value is None:
            return "–"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, (int, float)) and fmt:
            v = float(value)
            if not math.isfinite(v):
                return "–"
            if fmt == "e":
                return re.sub(r"e([+-])0*(\d)", lambda m: "e" + ("-" if m[1] == "-" else "")
                              + m[2], f"{v:.3g}") if v else "0"
            return format(int(round(v)), fmt) if fmt.endswith("d") else format(v, fmt)
        return str(value)

    def to_html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in self.columns)
        body = []
        for r in self.rows:
            cls = ' class="hl"' if r.get("_highlight") else ""
            cells = []
            for k, _, f in self.columns:
                text = html.escape(self.cell(r.get(k), f))
                num = f and isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)
                cells.append(f'<td class="num">{text}</td>' if num else f"<td>{text}</td>")
            body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
        note = f'<p class="note">{html.escape(self.note)}</p>' if self.note else ""
        return (f"<h2>{html.escape(self.title)}</h2>\n<table><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table>{note}")


@dataclass
class Report:
    """A titled page of figures (plotly ``Figure`` objects, in :attr:`figures` by name) and
    tables. ``to_html()`` embeds plotly.js once for the whole page and works offline."""

    title: str
    subtitle: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the order of the page: ``("figure", name)`` / ``("table", index)``
    order: list[tuple[str, Any]] = field(default_factory=list)

    def add_figure(self, name: str, fig: Any) -> None:
        self.figures[name] = fig
        self.order.append(("figure", name))

    def add_table(self, table: Table) -> None:
        self.tables.append(table)
        self.order.append(("table", len(self.tables) - 1))

    def to_html(self) -> str:
        """The page: one ``<script>`` with plotly.js, then every figure and table in order."""
        import plotly.io as pio
        from plotly.offline import get_plotlyjs

        config = {"displaylogo": False, "responsive": True,
                  "toImageButtonOptions": {"format": "svg", "scale": 1}}
        parts = []
        for kind, key in self.order:
            if kind == "table":
                parts.append(f'<section class="table">{self.tables[key].to_html()}</section>')
                continue
            div = pio.to_html(self.figures[key], full_html=False, include_plotlyjs=False,
                              include_mathjax=False, config=config,
                              div_id=f"fig-{_slug(key)}")
            parts.append(f'<section class="figure" data-figure="{html.escape(key)}">{div}'
                         "</section>")
        notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in self.notes)
        sub = f'<p class="sub">{html.escape(self.subtitle)}</p>' if self.subtitle else ""
        return _PAGE.format(title=html.escape(self.title), sub=sub, notes=notes,
                            body="\n".join(parts), css=_CSS, plotlyjs=get_plotlyjs())

    def write_html(self, path: str | Path, what: str = "report") -> None:
        """Write :meth:`to_html` to ``path`` atomically (a failed write leaves no file)."""
        from cptdyn._io import atomic_write

        atomic_write(str(path), self.to_html(), what=what)

    def write_image(self, path: str | Path, figure: str | None = None,
                    width: int = 1100, height: int | None = None, scale: float = 2.0) -> None:
        """A static picture (PNG, SVG or PDF, from the file suffix) of one figure (default: the
        first). Needs the optional kaleido (``pip install 'cptdyn[images]'``)."""
        name = figure or next(iter(self.figures), None)
        if name is None or name not in self.figures:
            raise ReportError(f"figure={figure!r}: the report has figures "
                              f"{', '.join(self.figures) or 'none'}")
        write_image(self.figures[name], path, width=width, height=height, scale=scale)


def image_format(path: str | Path) -> str:
    """The image format named by a file suffix; ReportError for any other suffix."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in IMAGE_FORMATS:
        raise ReportError(f"image {str(path)!r}: the suffix must be one of "
                          + ", ".join("." + f for f in IMAGE_FORMATS))
    return fmt


def write_image(fig: Any, path: str | Path, width: int = 1100, height: int | None = None,
                scale: float = 2.0) -> None:
    """A static PNG/SVG/PDF of a plotly figure (format from the suffix), written atomically.
    Needs kaleido: ``pip install 'cptdyn[images]'``."""
    from cptdyn._io import atomic_write

    fmt = image_format(path)
    try:
        import kaleido  # noqa: F401
    except ImportError:
        raise ReportError(f"{fmt.upper()} export needs kaleido: pip install 'cptdyn[images]'"
                          ) from None
    h = height or int(fig.layout.height or 500)
    try:
        data = fig.to_image(format=fmt, width=width, height=h, scale=scale)
    except Exception as e:  # kaleido reports a missing browser etc. in its own exception types
        raise ReportError(f"{fmt.upper()} export failed: {' '.join(str(e).split())[:300]}"
                          ) from None
    atomic_write(str(path), data, what="image")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "figure"


def tables_text(tables: Sequence[Table]) -> str:
    """The tables as plain text (for logs and tests)."""
    out = []
    for t in tables:
        out.append(t.title)
        for r in t.rows:
            out.append("  " + "  ".join(f"{h}={t.cell(r.get(k), f)}" for k, h, f in t.columns))
    return "\n".join(out)


_CSS = """
body{font-family:Inter,'Helvetica Neue',Arial,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#fff;border-bottom:1px solid #e2e5ea;padding:18px 32px}
header h1{margin:0;font-size:22px} .sub{margin:4px 0 0;color:#555;font-size:14px}
main{max-width:1240px;margin:0 auto;padding:12px 24px 40px}
section{background:#fff;border:1px solid #e2e5ea;border-radius:6px;margin:16px 0;padding:8px 12px}
h2{font-size:16px;margin:8px 4px 10px}
table{border-collapse:collapse;font-size:13px;margin:0 4px 8px}
th,td{padding:4px 10px;border-bottom:1px solid #eceef2;text-align:left;white-space:nowrap}
th{background:#f2f4f7;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.hl td{background:#fff7e0;font-weight:600}
.note{color:#555;font-size:12.5px;margin:6px 4px}
footer{color:#888;font-size:12px;text-align:center;padding:12px}
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
<script type="text/javascript">{plotlyjs}</script>
</head>
<body>
<header><h1>{title}</h1>{sub}</header>
<main>
{notes}
{body}
</main>
<footer>cptdyn report · self-contained: works offline</footer>
</body>
</html>
"""
