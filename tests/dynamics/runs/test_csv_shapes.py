"""CSV details: a UTF-8 BOM (Excel), MultiPowerLaw-named files that must not lose rows, the CPT
lab's per-run columns, same-step rows, and the guess warning."""

import gzip

import numpy as np
import pytest

from cptdyn.dynamics._run import RunError
from cptdyn.dynamics._runs import RunReadWarning, load_runs, mpl_schedule


def test_utf8_bom_is_read(tmp_path):
    p = tmp_path / "excel.csv"
    p.write_bytes(b"\xef\xbb\xbfstep,lr,loss\r\n100,0.001,3.0\r\n200,0.001,2.9\r\n")
    (run,) = load_runs(p)
    np.testing.assert_array_equal(run.steps, [100, 200])


def test_mpl_named_file_keeps_its_rows(tmp_path):
    """cosine_2200.csv: the file's own LR column wins; the name is used only without one, with a
    warning, and never drops rows after the step count it gives."""
    lr_name, _, _ = mpl_schedule("cosine_2200")
    p = tmp_path / "cosine_2200.csv"
    steps = np.arange(100, 5001, 100)
    p.write_text("step,lr,loss\n" + "".join(f"{s},1e-4,{3 - s / 1e4}\n" for s in steps))
    (run,) = load_runs(p)  # its own LR column disagrees with the name: the column is used
    assert run.meta["lr_source"] == "logged" and run.steps.size == steps.size
    p.write_text("step,loss\n" + "".join(f"{s},{3 - s / 1e4}\n" for s in steps))
    with pytest.raises(RunError, match=r"has a loss at step 5000 but the file name says 2200 "
                                       r"steps \(the MultiPowerLaw naming convention\)"):
        load_runs(p)
    p.write_text("step,loss\n" + "".join(f"{s},{3 - s / 1e4}\n" for s in range(100, 2201, 100)))
    with pytest.warns(RunReadWarning, match=r"no LR column: the per-step LR is rebuilt from the "
                                            r"file name .*loss at step 2200 is dropped"):
        (run,) = load_runs(p)
    assert run.meta["lr_source"] == "mpl-repository" and run.steps[-1] == 2100
    assert run.meta["dropped_steps"] == [2200]
    np.testing.assert_array_equal(run.lr, lr_name)


def _lab_file(path, *, transfer, replay, seed, T=300):
    with gzip.open(path, "wt", newline="") as f:
        f.write("step,lr,loss_pt,loss_cpt,transfer_step,replay_ratio,seed\n")
        for t in range(T + 1):
            ev = t % 50 == 0
            lp = f"{3 + 1 / (t + 1):.6f}" if ev else ""
            lc = f"{4 + 1 / (t + 1):.6f}" if ev else ""
            f.write(f"{t},{1e-3 if t < transfer else 3e-4:.9g},{lp},{lc},{transfer},"
                    f"{'' if replay is None else format(replay, 'g')},{seed}\n")


def test_cpt_lab_columns_set_each_run(tmp_path):
    a, b = tmp_path / "r1.csv.gz", tmp_path / "r2.csv.gz"
    _lab_file(a, transfer=200, replay=0.1, seed=1)
    _lab_file(b, transfer=150, replay=0.25, seed=2)
    pt1, cpt1, pt2, cpt2 = load_runs([a, b])
    assert (pt1.transfer_step, pt1.replay_ratio, pt1.meta["seed"]) == (200, 0.1, 1)
    assert (cpt2.transfer_step, cpt2.replay_ratio, cpt2.meta["seed"]) == (150, 0.25, 2)
    assert pt1.dataset == "pt" and cpt1.dataset == "cpt" and pt2.lr.size == 300
    (x, _) = load_runs(a, transfer_step=200, replay_ratio=0.1)  # agreeing options are fine
    assert x.transfer_step == 200
    with pytest.raises(RunError, match=r"column 'replay_ratio': run 'r1' has replay_ratio 0\.1 in "
                                       r"the file but 0\.5 was given \(--replay-ratio\)"):
        load_runs(a, replay_ratio=0.5)
    with pytest.raises(RunError, match=r"run 'r2' has transfer_step 150 in the file but 200"):
        load_runs([a, b], transfer_step=200)
    c = tmp_path / "pt.csv.gz"  # a PT run: empty transfer_step / replay_ratio cells
    with gzip.open(c, "wt") as f:
        f.write("step,lr,loss_pt,loss_cpt,transfer_step,replay_ratio,seed\n0,1e-3,3.5,4.5,,,0\n"
                "50,1e-3,3.2,4.3,,,0\n100,1e-3,3.1,4.2,,,0\n")
    (pt, _) = load_runs(c)
    assert pt.transfer_step is None and pt.replay_ratio is None


def test_several_lab_runs_in_one_file_are_keyed_by_their_columns(tmp_path):
    rows = ["step,lr,loss,replay_ratio,seed"]
    for rr in (0.1, 0.2):
        for s in (100, 200):
            rows.append(f"{s},1e-3,{3 - rr},{rr},7")
    p = tmp_path / "lab.csv"
    p.write_text("\n".join(rows) + "\n")
    r1, r2 = load_runs(p)
    assert (r1.name, r2.name) == ("lab[replay_ratio=0.1]", "lab[replay_ratio=0.2]")
    assert (r1.replay_ratio, r2.replay_ratio) == (0.1, 0.2)
    p.write_text("step,lr,loss,transfer_step\n0,1e-3,,50\n100,1e-3,3,50\n0,1e-3,,60\n"
                 "200,1e-3,2.9,60\n")
    r = load_runs(p)  # two values without a run column: two runs
    assert [x.transfer_step for x in r] == [50, 60]
    p.write_text("run,step,lr,loss,transfer_step\na,100,1e-3,3,50\na,200,1e-3,2.9,60\n")
    with pytest.raises(RunError, match=r"row 3 column 'transfer_step': run 'a' has transfer_step "
                                       r"50 and 60 \(must be one value per run\)"):
        load_runs(p)


def test_same_step_rows_are_merged_unless_they_conflict(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("step,lr,loss\n100,1e-3,\n100,,3.0\n200,1e-3,\n200,,2.9\n")
    (run,) = load_runs(p)
    np.testing.assert_array_equal(run.steps, [100, 200])
    p.write_text("step,lr,loss\n100,1e-3,3.0\n200,1e-3,2.9\n100,1e-3,2.95\n")
    with pytest.raises(RunError, match=r"row 4 column 'step': step 100 does not follow step 200"):
        load_runs(p)
    (last,) = load_runs(p, merge_duplicate_steps=True)  # a resumed run: the last value wins
    assert last.loss[0] == 2.95
    with pytest.raises(RunError, match="does not follow"):
        load_runs(tmp_path / "m.csv", merge_duplicate_steps=False)


def test_ambiguous_columns_warn_and_are_recorded(tmp_path):
    p = tmp_path / "two.csv"
    p.write_text("step,lr,learning_rate,val_loss,eval_loss\n0,1e-3,1e-3,,\n100,1e-3,1e-3,3.0,3.1\n")
    with pytest.warns(RunReadWarning, match=r"loss column 'val_loss' \(also present: 'eval_loss'"):
        (run,) = load_runs(p)
    assert any("lr column 'lr' (also present: 'learning_rate'" in g for g in run.meta["guesses"])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (named,) = load_runs(p, loss_col="eval_loss", lr_col="lr")  # named: no warning
    assert named.meta["guesses"][0] == "step column 'step' (by its name)"
    assert "lr_at='next'" in named.meta["guesses"][1]
