"""The Python API refuses bad arguments with ValueError (RunError / FitError) naming the field,
never a TypeError from deep inside: Run fields and fit's scalar options (the command line's
fuzz suite covers files and flags; this covers the objects a notebook user builds)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cptdyn.dynamics import MomentumLaw, Run, fit

BAD = [None, "x", True, [1, 2], {"a": 1}, np.array([np.nan]), float("nan")]


def _run(**kw):
    base = dict(name="r", steps=np.arange(10, 101, 10), loss=np.linspace(4.0, 3.0, 10),
                lr=np.full(100, 1e-3))
    return Run(**{**base, **kw})


@pytest.mark.parametrize(("field", "bad"), list(itertools.product(
    ["steps", "loss", "lr", "warmup_steps", "transfer_step", "replay_ratio", "model_size"], BAD)))
def test_run_fields(field, bad):
    if field in ("transfer_step", "replay_ratio", "model_size", "loss") and bad is None:
        _run(**{field: bad})  # None: not a CPT run / unknown / no observations: valid
        return
    # a two-element LR array is a valid array: refused for the steps it cannot cover
    with pytest.raises(ValueError, match="step" if field == "lr" and isinstance(bad, list) else field):
        _run(**{field: bad})


@pytest.mark.parametrize(("option", "bad"), list(itertools.product(
    ["n_random", "max_iter", "seed", "delta", "n_keep", "tol", "ftol"], BAD)))
def test_fit_options(option, bad):
    if option == "n_keep" and bad is None:
        return  # None: optimise every start (valid)
    with pytest.raises(ValueError, match=option):
        fit(MomentumLaw(), [_run()], **{option: bad})
