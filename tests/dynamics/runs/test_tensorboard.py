"""TensorBoard event files, with either backend, and the missing optional dependency."""

import numpy as np
import pytest

from cptdyn.dynamics._run import RunError
from cptdyn.dynamics._runs import load_runs, sniff_format


@pytest.fixture(scope="module")
def tb_dir(tmp_path_factory):
    writer_mod = pytest.importorskip("torch.utils.tensorboard")
    root = tmp_path_factory.mktemp("tb")
    for run, peak in (("run_a", 1e-3), ("run_b", 2e-3)):
        w = writer_mod.SummaryWriter(str(root / run))
        for s in range(0, 1001, 10):
            w.add_scalar("train/learning_rate", peak * min(1.0, (s + 1) / 100), s)
            if s % 100 == 0:
                w.add_scalar("eval/loss", 4.0 - s / 1000 - peak, s)
        w.add_scalar("eval/loss", 3.5, 1000)  # a repeated event (restart): the last one wins
        w.close()
    return root


@pytest.mark.parametrize("backend", ["tbparse", "tensorboard"])
def test_tensorboard(tb_dir, backend):
    pytest.importorskip(backend)
    assert sniff_format(tb_dir) == "tensorboard"
    runs = load_runs(tb_dir, backend=backend, warmup_steps=100, lr_at="next")
    assert [r.name for r in runs] == ["run_a", "run_b"]
    a = runs[0]
    np.testing.assert_array_equal(a.steps, np.arange(100, 1001, 100))
    assert a.loss[-1] == pytest.approx(3.5)
    assert a.loss[0] == pytest.approx(4.0 - 0.1 - 1e-3, rel=1e-6)
    assert a.lr[500] == pytest.approx(1e-3, rel=1e-6) and a.total_steps == 1000
    assert a.lr[15] == pytest.approx(1e-3 * 16 / 100, rel=1e-6)
    (one,) = load_runs(next((tb_dir / "run_b").glob("events.out.tfevents*")), backend=backend,
                       loss_col="eval/loss", lr_col="train/learning_rate", lr_at="next")
    assert one.name == "run_b"


def test_tensorboard_missing_dependency(tb_dir, monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name.startswith(("tbparse", "tensorboard")):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(RunError, match=r"needs the optional dependency tbparse or tensorboard "
                                       r"\(pip install 'cptdyn\[tensorboard\]'\)"):
        load_runs(tb_dir, format="tensorboard")
