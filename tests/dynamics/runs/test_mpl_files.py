"""MultiPowerLaw curve files: the per-step LR rebuilt exactly as the repository does."""

import numpy as np
import pandas as pd
import pytest

from cptdyn.dynamics._runs import load_runs, mpl_schedule

from .helpers import MPL


def repo_array(kind, total, a=0, b=0.0, W=2160, peak=3e-4, end=3e-5):
    """The MPL repository's schedule array (index 0 is a dummy 0), built from its formulas."""
    warm = np.linspace(0, peak, W)
    i = np.arange(W, total)
    if kind == "constant":
        post = np.full(i.size, peak)
    elif kind == "cosine":
        post = end + 0.5 * (peak - end) * (1 + np.cos(np.pi * (i - W) / (total - W)))
    elif kind == "wsdcon":
        post = np.where(i < a, peak, b)
    elif kind == "wsd":
        post = np.where(i < a, peak, peak ** ((total - i) / (total - a)) * end ** ((i - a) / (total - a)))
    else:
        post = np.where(i < a, peak, peak * (1 - (i - a) / (total - a)) + end * (i - a) / (total - a))
    return np.concatenate([warm, post])


@pytest.mark.parametrize("size", ["25", "100", "400"])
def test_mpl_csvs_rebuild_the_repository_schedule(size):
    files = sorted((MPL / f"csv_{size}").glob("*.csv"))
    assert len(files) == 9
    for f in files:
        (run,) = load_runs(f)
        df = pd.read_csv(f)
        assert run.meta["lr_source"] == "mpl-repository"
        assert run.warmup_steps == 2160
        # the logged lr at step s is the LR of the s-th update = lr[s - 1]
        np.testing.assert_allclose(run.lr[df.step.to_numpy() - 1], df.lr.to_numpy(), rtol=1e-9)
        np.testing.assert_array_equal(run.steps, df.step.to_numpy())
        np.testing.assert_array_equal(run.loss, df.loss.to_numpy())
        # the repository's S1 at step s is cumsum(r)[s] with r[0] = 0: identical LR sums
        stem = f.stem
        if stem.startswith("wsdcon"):
            r = repo_array("wsdcon", 16000, 8000, int(stem.split("_")[1]) * 1e-5)
        elif stem.startswith(("wsd_", "wsdld_")):
            kind, a, total = stem.split("_")
            r = repo_array(kind, int(total), int(a))
        else:
            kind, total = stem.split("_")
            r = repo_array(kind, int(total))
        assert run.total_steps == r.size
        np.testing.assert_allclose(np.cumsum(run.lr)[run.steps - 1], np.cumsum(r)[run.steps],
                                   rtol=1e-12)


def test_mpl_schedule_families():
    lr, w, info = mpl_schedule("wsd_20000_24000.csv")
    assert (lr.size, w, info["family"], info["decay_start"]) == (24000, 2160, "wsd", 20000)
    assert lr[0] == pytest.approx(3e-4 / 2159) and lr[2158] == pytest.approx(3e-4)
    assert lr[20063] == pytest.approx(2.8915e-4, rel=1e-4)  # logged at step 20064
    assert lr[-1] == pytest.approx(3e-5)
    lr, _, info = mpl_schedule("wsdcon_18")
    assert lr[7998] == 3e-4 and lr[7999] == pytest.approx(1.8e-4)  # step 8000 carries the new LR
    assert mpl_schedule("cosine_run.csv") is None and mpl_schedule("wsd_100_24000") is None


def test_mpl_family_ignored_when_logged_lr_disagrees(tmp_path):
    p = tmp_path / "cosine_5000.csv"
    p.write_text("step,lr,loss\n100,0.001,4.0\n200,0.001,3.9\n300,0.0005,3.8\n")
    (run,) = load_runs(p)
    assert run.meta["lr_source"] == "logged"
