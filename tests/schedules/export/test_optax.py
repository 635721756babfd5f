"""optax: the emitted code and the payload under jit; the per-step lookup past the end."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cptdyn._pytree import x64_context
from cptdyn.schedules._core import InverseSqrt
from cptdyn.schedules._export import ArrayLookupSchedule, ExportError, export

from .helpers import HEADLINE, PEAK, T, W, assert_same_lrs, planned


def test_optax_jit_and_past_end():
    s = HEADLINE["cosine"]
    ox = export(s, "optax")
    assert ox.native and ox.max_rel_error < 1e-12
    code = ox.files["optax_schedule.py"]
    assert "optax.warmup_cosine_decay_schedule(" in code
    ns: dict = {}
    exec(compile(code, "optax_schedule.py", "exec"), ns)  # the emitted code rebuilds it
    with x64_context():
        a = np.asarray(jax.jit(ns["schedule"])(jnp.arange(T)))
        b = np.asarray(jax.jit(ox.payload)(jnp.arange(T)))
    assert_same_lrs(a, planned(s))
    assert_same_lrs(b, planned(s))

    arr = export(InverseSqrt(T, PEAK, warmup_steps=W, warmup_init=0.0), "optax")
    assert not arr.native and isinstance(arr.payload, ArrayLookupSchedule)
    assert "per-step route" in arr.note and "inverse-square-root" in arr.note
    f = jax.jit(arr.payload)
    assert f(0).dtype == jnp.float32  # JAX default dtype without x64
    want = planned(InverseSqrt(T, PEAK, warmup_steps=W, warmup_init=0.0))
    assert float(f(T + 50)) == pytest.approx(want[-1], rel=1e-6)  # past the end: hold
    assert float(f(-3)) == pytest.approx(want[0], rel=1e-6, abs=1e-15)
    with pytest.raises(ExportError, match=r"^optax: no exactly equivalent optax schedule for "
                       r"kind='inverse-sqrt': optax has no inverse-square-root schedule$"):
        export(InverseSqrt(T, PEAK), "optax", require_native=True)


def test_optax_table_file_needs_only_jax(tmp_path):
    # the per-step route's optax_schedule.py runs with cptdyn unimportable (only JAX needed)
    import subprocess
    import sys

    s = InverseSqrt(T, PEAK, warmup_steps=W, warmup_init=0.0)
    ox = export(s, "optax")
    assert not ox.native
    (tmp_path / "optax_schedule.py").write_text(ox.files["optax_schedule.py"])
    prog = (
        "import sys, json; sys.modules['cptdyn'] = None\n"  # any cptdyn import fails
        "import jax; jax.config.update('jax_enable_x64', True)\n"
        "import jax.numpy as jnp\n"
        "from optax_schedule import schedule\n"
        f"print(json.dumps([float(x) for x in jax.jit(schedule)(jnp.arange({T + 3}))]))\n"
    )
    out = subprocess.run([sys.executable, "-c", prog], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env={"PATH": "", "JAX_PLATFORMS": "cpu"})
    import json

    got = np.asarray(json.loads(out.stdout))
    want = planned(s)
    assert_same_lrs(got[:T], want)
    assert got[T + 2] == want[-1]  # past the end: the last LR is held
