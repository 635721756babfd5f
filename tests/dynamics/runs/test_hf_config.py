"""A run's Hugging Face TrainingArguments -> per-step LR, checked against transformers' own
schedulers; the logging convention by version; W&B's config.yaml shape."""

import json

import numpy as np
import pytest

from cptdyn.dynamics._run import RunError
from cptdyn.dynamics._runs import hf_schedule
from cptdyn.dynamics._runs._hf_config import hf_lr_at
from cptdyn.dynamics._runs._table import read_run_config

T, W, LR0 = 300, 30, 3e-4
CASES = [("linear", {}), ("cosine", {}), ("cosine_with_restarts", {"num_cycles": 3}),
         ("polynomial", {"power": 2.0, "lr_end": 1e-6}), ("constant", {}),
         ("constant_with_warmup", {}), ("inverse_sqrt", {}), ("cosine_with_min_lr",
                                                               {"min_lr_rate": 0.1}),
         ("cosine_with_min_lr", {"min_lr": 3e-5}),
         ("warmup_stable_decay", {"num_decay_steps": 60, "decay_type": "1-sqrt"}),
         ("warmup_stable_decay", {"num_decay_steps": 60, "num_stable_steps": 200,
                                  "min_lr_ratio": 0.1, "decay_type": "linear"})]


@pytest.mark.parametrize("kind,kw", CASES)
def test_schedule_matches_transformers(kind, kw):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=LR0)
    with _no_check():
        sched = transformers.get_scheduler(kind, opt, num_warmup_steps=W, num_training_steps=T,
                                           scheduler_specific_kwargs=dict(kw))
    ref = []
    for _ in range(T):  # the LR each update runs at
        ref.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    lr, warm, meta = hf_schedule({"learning_rate": LR0, "lr_scheduler_type": kind,
                                  "warmup_steps": W, "max_steps": T,
                                  "lr_scheduler_kwargs": kw}, None, "cfg")
    np.testing.assert_allclose(lr, ref, rtol=1e-12, atol=1e-20)
    assert warm == W and meta["lr_source"] == "run-config"


class _no_check:
    def __enter__(self):
        import warnings

        self._c = warnings.catch_warnings()
        self._c.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *a):
        self._c.__exit__(*a)


def test_warmup_ratio_and_errors():
    base = {"learning_rate": 1e-3, "lr_scheduler_type": "linear", "max_steps": 1000}
    _, w, _ = hf_schedule({**base, "warmup_ratio": 0.05}, None, "cfg")
    assert w == 50
    _, w, _ = hf_schedule({**base, "warmup_steps": 0.1}, None, "cfg")  # transformers 5: a ratio
    assert w == 100
    _, w, _ = hf_schedule({**base, "warmup_steps": 7, "warmup_ratio": 0.5}, None, "cfg")
    assert w == 7  # warmup_steps > 0 wins, as in TrainingArguments.get_warmup_steps
    with pytest.raises(RunError, match=r"cfg field 'max_steps': 1000 but total_steps=900"):
        hf_schedule(base, 900, "cfg")
    with pytest.raises(RunError, match=r"warmup_stable_decay needs lr_scheduler_kwargs "
                                       r"num_decay_steps"):
        hf_schedule({**base, "lr_scheduler_type": "warmup_stable_decay"}, None, "cfg")
    with pytest.raises(RunError, match=r"'lr_scheduler_type': 'cyclic' cannot be rebuilt"):
        hf_schedule({**base, "lr_scheduler_type": "cyclic"}, None, "cfg")
    lr, _, _ = hf_schedule({**base, "lr_scheduler_type": "SchedulerType.COSINE"}, None, "cfg")
    assert lr[0] == 1e-3


def test_logging_convention_by_version():
    # huggingface/transformers PR #36973 (merged 2025-03-25, first released in 4.51.0)
    assert hf_lr_at({"transformers_version": "4.51.0"})[0] == "last"
    assert hf_lr_at({"transformers_version": "5.0.0.dev0"})[0] == "last"
    assert hf_lr_at({"transformers_version": "4.50.3"})[0] == "next"
    assert hf_lr_at({}) is None


def test_wandb_config_yaml_and_json_string_kwargs(tmp_path):
    pytest.importorskip("yaml")
    p = tmp_path / "config.yaml"
    p.write_text("wandb_version: 1\n\n_wandb:\n  desc: null\n  value:\n    cli_version: 0.19.1\n"
                 "learning_rate:\n  desc: null\n  value: 0.0003\nlr_scheduler_type:\n  desc: null\n"
                 "  value: cosine_with_min_lr\nlr_scheduler_kwargs:\n  desc: null\n"
                 "  value: '{\"min_lr_rate\": 0.1}'\nmax_steps:\n  desc: null\n  value: 100\n"
                 "warmup_steps:\n  desc: null\n  value: 10\n")
    cfg = read_run_config(p)
    assert cfg["learning_rate"] == 3e-4 and cfg["lr_scheduler_kwargs"] == {"min_lr_rate": 0.1}
    lr, _, _ = hf_schedule(cfg, None, "cfg")
    assert lr[-1] == pytest.approx(3e-5, rel=0.01)
    q = tmp_path / "bad.json"
    q.write_text(json.dumps({"learning_rate": 1e-3, "lr_scheduler_kwargs": "{oops"}))
    with pytest.raises(RunError, match=r"field 'lr_scheduler_kwargs': '\{oops' is not JSON"):
        read_run_config(q)
