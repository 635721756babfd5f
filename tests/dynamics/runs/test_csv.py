"""Generic CSV / TSV files (and the same tables as DataFrames): columns, runs, schedules, and
malformed input."""

import gzip

import numpy as np
import pandas as pd
import pytest

from cptdyn.dynamics._run import RunError
from cptdyn.dynamics._runs import load_runs


def test_generic_csv_reconstruction_and_meta(tmp_path):
    p = tmp_path / "runs.csv"
    p.write_text("step,lr,loss\n100,0.001,4.0\n200,0.001,3.5\n300,0.0005,3.3\n400,0.0001,3.2\n")
    (run,) = load_runs(p, warmup_steps=50)
    assert run.total_steps == 400 and run.warmup_steps == 50
    lr = run.lr
    assert lr[0] == pytest.approx(0.001 / 50) and lr[49] == pytest.approx(0.001)  # warmup from 0
    assert lr[60] == 0.001 and lr[100] == 0.001  # held until the first logged point
    assert lr[250] == pytest.approx(0.00075)  # linear interpolation; lr[s] logged at step s
    assert lr[399] == pytest.approx(0.0005)  # the LR logged at the last step belongs to no update
    assert run.meta["lr_source"] == "logged"
    assert "linear interpolation between 4 logged LR points" in run.meta["lr_reconstruction"]
    (held,) = load_runs(p)  # no warmup known: held before the first point
    assert held.lr[0] == 0.001
    (last,) = load_runs(p, lr_at="last")  # logged LR = LR of the update that produced the loss
    assert last.lr[299] == pytest.approx(0.0005) and last.lr[249] == pytest.approx(0.00075)
    assert last.lr[399] == pytest.approx(0.0001)


def test_csv_column_names_runs_and_schedule(tmp_path):
    p = tmp_path / "many.tsv"
    p.write_text("it\tname\tvalid\tLR\n10\ta\t3.0\t1e-3\n20\ta\t2.9\t1e-3\n10\tb\t3.1\t2e-3\n"
                 "20\tb\t3.0\t\n30\tb\t2.8\t1e-3\n")
    runs = load_runs(p, step_col="it", loss_col="valid", lr_col="LR", run_col="name",
                     total_steps=40)
    assert [r.name for r in runs] == ["a", "b"]
    assert all(r.total_steps == 40 for r in runs)
    np.testing.assert_array_equal(runs[1].steps, [10, 20, 30])
    assert runs[1].lr[20] == pytest.approx(1.5e-3)  # the empty LR cell is skipped
    # exact schedule: array, callable, cptdyn schedule object, mapping
    from cptdyn.schedules import Cosine

    sched = Cosine(total_steps=40, peak_lr=1e-3, final_lr=1e-4, warmup_steps=5)
    for s in (np.asarray(sched.array()), lambda t: np.asarray(sched.lr(t)), sched,
              {"a": sched, "b": sched}):
        a, b = load_runs(p, step_col="it", loss_col="valid", run_col="name", schedule=s,
                         total_steps=40)
        np.testing.assert_allclose(a.lr, np.asarray(sched.array()), rtol=1e-6)
        assert a.meta["lr_source"] == "schedule"
    a, _ = load_runs(p, step_col="it", loss_col="valid", run_col="name", schedule=sched)
    assert a.warmup_steps == 5  # taken from the schedule


def test_cpt_two_loss_columns(tmp_path):
    df = pd.DataFrame({"step": [100, 200, 300, 400], "lr": [3e-4, 3e-4, 1e-4, 5e-5],
                       "loss_pt": [2.5, 2.4, 2.6, 2.7], "loss_cpt": [3.5, 3.3, 2.9, 2.8]})
    p = tmp_path / "cpt.csv"
    df.to_csv(p, index=False)
    for src in (p, df):
        pt, cpt = load_runs(src, transfer_step=200)
        assert (pt.dataset, cpt.dataset) == ("pt", "cpt")
        assert pt.transfer_step == cpt.transfer_step == 200
        np.testing.assert_array_equal(pt.lr, cpt.lr)
        np.testing.assert_array_equal(cpt.loss, [3.5, 3.3, 2.9, 2.8])
    d1, d2 = load_runs(df, loss_col={"loss_pt": "general", "loss_cpt": "math"}, transfer_step=200)
    assert (d1.dataset, d2.dataset) == ("general", "math")


@pytest.mark.parametrize(
    "text, match",
    [
        ("step,lr\n1,0.1\n", r"runs\.csv: no loss column"),
        ("step,lr,loss\n100,0.001,3.0\n200,0.001,nan\n", r"runs\.csv row 3 column 'loss': 'nan' is not a finite number"),
        ("step,lr,loss\n100,0.001,3.0\n200,-0.001,2.9\n", r"runs\.csv row 3 column 'lr': lr -0\.001 is negative"),
        ("step,lr,loss\n200,0.001,3.0\n100,0.001,2.9\n", r"runs\.csv row 3 column 'step': step 100 does not follow step 200"),
        ("step,lr,loss\n100,0.001,3.0\n100,0.001,2.9\n", r"runs\.csv row 3 column 'loss': step 100 is logged twice with different values \(3 at row 2, 2\.9 here"),
        ("", r"runs\.csv: empty file"),
        ("step,lr,loss\n", r"runs\.csv: no data rows"),
        ("step,lr,loss\n100,0.001,abc\n", r"runs\.csv row 2 column 'loss': 'abc' is not a number"),
        ("step,lr,loss\n100.5,0.001,3.0\n", r"runs\.csv row 2 column 'step': 100\.5 is not a whole number"),
        ("step,lr,loss\n100,0.001,0\n", r"runs\.csv row 2 column 'loss': loss 0 must be > 0"),
        ("step,lr,loss\n100,0.001\n", r"runs\.csv row 2: 2 fields but the header has 3"),
        ("step,loss\n100,3.0\n", r"runs\.csv: run 'runs' has no LR column"),
    ],
)
def test_malformed_csv(tmp_path, text, match):
    p = tmp_path / "runs.csv"
    p.write_text(text)
    with pytest.raises(RunError, match=match):
        load_runs(p)


def test_malformed_options(tmp_path):
    p = tmp_path / "runs.csv"
    p.write_text("\n".join(["step,lr,loss"] + [f"{i},0.001,3.0" for i in range(100, 2000, 100)]))
    with pytest.raises(RunError, match=r"runs\.csv column 'val': not found \(loss\); columns are: step, lr, loss"):
        load_runs(p, loss_col="val")
    with pytest.raises(TypeError, match="option 'lr_source' does not apply to format 'csv'"):
        load_runs(p, lr_source="config")
    with pytest.raises(RunError, match="a loss at step 1900 but the LR covers only 1000 steps"):
        load_runs(p, total_steps=1000)
    with pytest.raises(RunError, match="a loss at step 1900 but the LR covers only 10 steps"):
        load_runs(p, schedule=np.full(10, 1e-3))
    with pytest.raises(RunError, match="schedule for run 'runs' has 10 steps but the run needs 20"):
        load_runs(p, schedule=np.full(10, 1e-3), total_steps=20)
    with pytest.raises(RunError, match=r"lr\[3\] = -1\.0 is not a finite LR >= 0"):
        load_runs(p, schedule=np.r_[np.full(3, 1e-3), -1.0, np.full(2000, 1e-3)])
    with pytest.raises(RunError, match="no such file"):
        load_runs(p.with_name("missing.csv"))


def test_gzipped_csv(tmp_path):
    p = tmp_path / "curve.csv.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("step,lr,loss\n10,0.001,3.0\n20,0.001,2.9\n")
    (run,) = load_runs(p)
    assert run.name == "curve" and run.total_steps == 20
