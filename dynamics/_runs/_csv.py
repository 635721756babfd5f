"""CSV / TSV run files (``.gz`` allowed): a step, a loss and (optionally) an LR column, several runs
keyed by a run column.

The delimiter is a tab for ``.tsv`` files, else the most frequent of ``,``, tab and ``;`` in the
header line. Blank lines are skipped; "row" in error messages is the line number (the header is
row 1). A UTF-8 byte-order mark (Excel) is skipped. A Lightning ``CSVLogger`` ``metrics.csv``
(beside its ``hparams.yaml``) has its validation steps read one update later
(``_lightning_shift``). Files named like the MultiPowerLaw curves (``cosine_24000.csv``) get their
per-step LR rebuilt from the name (``_mpl_files``) only when the file's own LR column agrees with
it, or when it has no LR column (then with a ``RunReadWarning``); a loss logged after the step
count the name gives is an error, never silently dropped.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Any

from cptdyn._errors import RunError

from .._run import Run
from ._columns import LR_ALIASES, STEP_ALIASES, number_column, pick_column, where
from ._files import file_stem, open_text
from ._guess import Guesses
from ._mpl_files import logged_deviation, mpl_schedule
from ._table import MplSchedule, RunOptions, Table, check_options, table_runs

__all__ = ["read_csv_rows", "load_csv"]


def read_csv_rows(path: Path, src: str) -> tuple[list[str], list[list[str]], list[int]]:
    """(header, data records, line number of each record) of a delimited text file."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    delim = "\t" if name.endswith(".tsv") else None
    try:
        with open_text(path) as fh:
            text = fh.read()
    except FileNotFoundError:
        raise RunError(f"{src}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RunError(f"{src}: cannot read ({e})") from None
    if not text.strip():
        raise RunError(f"{src}: empty file")
    if delim is None:
        head = text.splitlines()[0]
        delim = max((",", "\t", ";"), key=head.count)
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    header: list[str] | None = None
    data: list[list[str]] = []
    lines: list[int] = []
    for rec in reader:
        if not rec or all(not x.strip() for x in rec):
            continue
        if header is None:
            header = [h.strip() for h in rec]
            if len(set(header)) != len(header):
                dup = next(h for h in header if header.count(h) > 1)
                raise RunError(f"{where(src, reader.line_num, dup)}: duplicate column name")
            continue
        if len(rec) != len(header):
            raise RunError(
                f"{where(src, reader.line_num)}: {len(rec)} fields but the header has "
                f"{len(header)}"
            )
        data.append(rec)
        lines.append(reader.line_num)
    assert header is not None
    return header, data, lines


def _mpl_for_file(stem: str, table: Table, options: dict[str, Any]) -> MplSchedule | None:
    """``mpl_schedule(stem)`` unless the file's logged LR column disagrees with it (relative
    deviation > 1e-6, the logged value at step ``s`` read as ``lr[s - 1]``)."""
    mpl = mpl_schedule(stem)
    if mpl is None:
        return None
    src, header, lines = table.src, table.columns, table.rows
    lcol = pick_column(header, options.get("lr_col"), LR_ALIASES, src, "lr", required=False)
    scol = pick_column(header, options.get("step_col"), STEP_ALIASES, src, "step")
    if lcol is not None and scol is not None:
        st = number_column(table.get(scol), lines, src, scol)
        lv = number_column(table.get(lcol), lines, src, lcol)
        dev = logged_deviation(mpl[0], st, lv)
        if dev is not None and dev > 1e-6:
            return None
    return mpl


def _lightning_shift(p: Path, header: list[str], options: dict[str, Any],
                     guesses: Guesses) -> dict[str, int] | None:
    """``{validation loss column: 1}`` for a Lightning ``CSVLogger`` file (``metrics.csv`` with
    ``epoch`` and ``step`` columns beside the logger's ``hparams.yaml``), else None.

    Lightning runs validation in ``on_advance_end`` before ``_batches_that_stepped += 1``, so a
    validation loss logged at step ``k`` was measured after ``k + 1`` optimizer steps; training
    rows (logged before the increment, for the batch that ran after ``k`` steps) and
    ``LearningRateMonitor`` rows (the LR of update ``k``) are read as logged."""
    if (p.name != "metrics.csv" or not (p.parent / "hparams.yaml").exists()
            or not {"epoch", "step"} <= set(header)
            or options.get("step_col") not in (None, "step")):
        return None
    cols = [c for c in header if re.match(r"^(val|valid|validation)[_/-]", c)]
    if not cols:
        return None
    guesses.add(f"Lightning CSVLogger file: validation columns {', '.join(map(repr, cols))} "
                "read one step later than logged (validation runs after the update, before "
                "Lightning's step counter is increased)")
    return {c: 1 for c in cols}


def load_csv(path: str | os.PathLike[str], *, name: str | None = None, mpl_families: bool = True,
             **options: Any) -> list[Run]:
    """Runs from a CSV/TSV file (``.gz`` allowed): step, loss and LR columns, optional run column.

    Files named like the MultiPowerLaw curves (``cosine_24000.csv`` ...) get their exact per-step
    LR from ``mpl_schedule`` when ``mpl_families`` is true, no ``schedule`` is given and the
    logged ``lr`` column (if any) agrees with it (read as ``lr[s - 1]``; relative deviation
    < 1e-6); otherwise the generic reconstruction applies. Other options as ``load_runs``.
    """
    check_options(options, "csv")
    p = Path(path)
    if p.is_dir():  # every CSV/TSV file of the folder, sorted by name
        files = sorted(f for f in p.iterdir()
                       if re.search(r"\.(csv|tsv)(\.gz)?$", f.name) and f.is_file())
        if not files:
            raise RunError(f"{path}: no .csv/.tsv files in this directory")
        return [r for f in files for r in load_csv(f, mpl_families=mpl_families, **options)]
    src = str(path)
    header, data, lines = read_csv_rows(p, src)
    index = {h: i for i, h in enumerate(header)}
    table = Table(src, header, lambda c: [rec[index[c]] for rec in data], lines)
    stem = file_stem(p.name, (".gz", ".csv", ".tsv", ".txt"))
    use_mpl = (mpl_families and options.get("schedule") is None
               and options.get("run_config") is None)
    mpl = _mpl_for_file(stem, table, options) if use_mpl else None
    guesses = Guesses(src)
    shift = _lightning_shift(p, header, options, guesses)
    return table_runs(table, RunOptions.of(options), base_name=name or stem, mpl=mpl,
                      meta={"format": "lightning-csv" if shift is not None else "csv"},
                      merge_duplicate_steps=options.get("merge_duplicate_steps", "auto"),
                      guesses=guesses, loss_step_shift=shift)


