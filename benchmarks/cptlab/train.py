"""The CPT lab's trainer: a byte-level pre-LN GPT in JAX + optax, LR from a cptdyn schedule.

* The LR of update ``t`` is ``export(schedule, "optax").payload(t)``: cptdyn's own optax export
  (the lab and the product share one definition). It is evaluated for the updates of each
  compiled chunk and fed to ``optax.inject_hyperparams(optax.adamw)``, exactly what
  ``adamw(learning_rate=schedule)`` computes from its update count, but one compiled program
  then serves every schedule.
* Training is ``lax.scan`` over several updates per call (one jitted function per chunk length);
  the batch of update ``t`` is drawn from ``fold_in(PRNGKey(data_seed), t)``, so a run resumed
  from a checkpoint (parameters + optimizer state + step) sees the same batches as an unbroken
  one.
* Replay: a CPT batch holds ``round(replay * batch)`` D_pt rows and the rest D_cpt rows.
* Validation: fixed, evenly spaced windows of each domain's validation split, mean cross-entropy
  in nats per byte.

Imports only ``cptdyn.schedules`` from cptdyn (no plotting stack).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cptdyn.schedules import Schedule, export

SIZES: dict[str, dict[str, int]] = {
    # d_model, layers, context, batch (sequences per update); heads = d_model // 64
    "tiny": {"d": 32, "layers": 1, "ctx": 32, "batch": 8},  # tests only
    "small": {"d": 128, "layers": 2, "ctx": 128, "batch": 32},  # 0.44M parameters
    "medium": {"d": 192, "layers": 3, "ctx": 128, "batch": 32},  # 1.4M
    "large": {"d": 256, "layers": 4, "ctx": 128, "batch": 32},  # 3.3M
    "gpu": {"d": 384, "layers": 6, "ctx": 128, "batch": 32},  # 10.8M, for the GPU machine
}
VOCAB = 256


@dataclass(frozen=True)
class Config:
    d: int
    layers: int
    ctx: int
    batch: int

    @classmethod
    def of(cls, size: str) -> Config:
        if size not in SIZES:
            raise ValueError(f"size={size!r} is not one of {', '.join(SIZES)}")
        return cls(**SIZES[size])

    @property
    def heads(self) -> int:
        return max(1, self.d // 64)


# ----------------------------------------------------------------------------------- model
def init_params(cfg: Config, seed: int) -> dict[str, Any]:
    k = jax.random.split(jax.random.PRNGKey(seed), 2 + 4 * cfg.layers)
    std, d = 0.02, cfg.d
    out_std = std / math.sqrt(2 * cfg.layers)

    def nrm(key: jax.Array, shape: tuple[int, ...], s: float = std) -> jax.Array:
        return s * jax.random.normal(key, shape, jnp.float32)

    blocks = []
    for i in range(cfg.layers):
        kk = k[2 + 4 * i: 6 + 4 * i]
        blocks.append({
            "ln1_g": jnp.ones(d), "ln1_b": jnp.zeros(d),
            "qkv_w": nrm(kk[0], (d, 3 * d)), "qkv_b": jnp.zeros(3 * d),
            "proj_w": nrm(kk[1], (d, d), out_std), "proj_b": jnp.zeros(d),
            "ln2_g": jnp.ones(d), "ln2_b": jnp.zeros(d),
            "fc_w": nrm(kk[2], (d, 4 * d)), "fc_b": jnp.zeros(4 * d),
            "out_w": nrm(kk[3], (4 * d, d), out_std), "out_b": jnp.zeros(d),
        })
    return {"wte": nrm(k[0], (VOCAB, d)), "wpe": nrm(k[1], (cfg.ctx, d), 0.01),
            "blocks": blocks, "lnf_g": jnp.ones(d), "lnf_b": jnp.zeros(d)}


def n_params(params: Any) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(params)))


def _ln(x: jax.Array, g: jax.Array, b: jax.Array) -> jax.Array:
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) * jax.lax.rsqrt(v + 1e-5) * g + b


def logits_fn(params: dict[str, Any], x: jax.Array, heads: int) -> jax.Array:
    """x: [B, T] int32 bytes -> [B, T, 256] logits (tied input/output embedding)."""
    B, T = x.shape
    h = params["wte"][x] + params["wpe"][:T]
    mask = jnp.tril(jnp.ones((T, T), bool))
    for blk in params["blocks"]:
        a = _ln(h, blk["ln1_g"], blk["ln1_b"]) @ blk["qkv_w"] + blk["qkv_b"]
        q, k, v = jnp.split(a, 3, axis=-1)
        d = q.shape[-1]
        hd = d // heads

        def sh(t: jax.Array, hd: int = hd) -> jax.Array:
            return t.reshape(B, T, heads, hd).transpose(0, 2, 1, 3)

        att = (sh(q) @ sh(k).transpose(0, 1, 3, 2)) / math.sqrt(hd)
        att = jax.nn.softmax(jnp.where(mask, att, -1e30), axis=-1)
        y = (att @ sh(v)).transpose(0, 2, 1, 3).reshape(B, T, d)
        h = h + y @ blk["proj_w"] + blk["proj_b"]
        m = jax.nn.gelu(_ln(h, blk["ln2_g"], blk["ln2_b"]) @ blk["fc_w"] + blk["fc_b"])
        h = h + m @ blk["out_w"] + blk["out_b"]
    h = _ln(h, params["lnf_g"], params["lnf_b"])
    return h @ params["wte"].T


def loss_fn(params: dict[str, Any], seq: jax.Array, heads: int) -> jax.Array:
    """Mean next-byte cross-entropy (nats) of [B, T+1] windows."""
    x, y = seq[:, :-1], seq[:, 1:]
    lg = logits_fn(params, x, heads)
    return optax.softmax_cross_entropy_with_integer_labels(lg, y).mean()


# ----------------------------------------------------------------------------------- optimizer
def make_optimizer() -> optax.GradientTransformation:
    """AdamW (b1 0.9, b2 0.95, weight decay 0.1 on matrices), clip 1.0; LR injected per update."""
    def decay_mask(p: Any) -> Any:
        return jax.tree_util.tree_map(lambda x: x.ndim >= 2, p)

    return optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.inject_hyperparams(optax.adamw)(
            learning_rate=0.0, b1=0.9, b2=0.95, eps=1e-8, weight_decay=0.1, mask=decay_mask),
    )


def _set_lr(opt_state: Any, lr: jax.Array) -> Any:
    clip, inj = opt_state
    hp = dict(inj.hyperparams)
    hp["learning_rate"] = jnp.asarray(lr, hp["learning_rate"].dtype)
    return (clip, inj._replace(hyperparams=hp))


def lr_table(schedule: Schedule) -> tuple[np.ndarray, str]:
    """LR of every update of ``schedule`` from cptdyn's optax export, and the export note.

    Checked against ``schedule.array()`` to 1e-5 of the schedule's largest LR: the export is
    evaluated in float32, as the trainer uses it, so a pointwise relative check would fail where
    a cosine reaches ~1e-9 at its end (the export itself is proven to 1e-9 in float64)."""
    res = export(schedule, "optax")
    fn: Callable[[Any], Any] = res.payload
    T = int(schedule.total_steps)
    lr = np.asarray(fn(jnp.arange(T)), dtype=np.float64).reshape(-1)
    if lr.size == 1:
        lr = np.full(T, float(lr[0]))
    ref = np.asarray(schedule.array(), dtype=np.float64)
    dev = np.max(np.abs(lr - ref)) / max(float(np.max(np.abs(ref))), 1e-12) if T else 0.0
    if dev > 1e-5:
        raise RuntimeError(f"optax export of {schedule.KIND!r} differs from the schedule by {dev:g}")
    return lr, res.note


# ----------------------------------------------------------------------------------- training
class Trainer:
    """Compiled pieces for one model size (shared by every run of a process)."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.tx = make_optimizer()
        self._chunks: dict[tuple[int, int], Callable[..., Any]] = {}
        heads = cfg.heads
        self._eval = jax.jit(lambda p, w: loss_fn(p, w, heads))

    def init(self, seed: int) -> tuple[Any, Any]:
        params = init_params(self.cfg, seed)
        return params, self.tx.init(params)

    def _chunk(self, n: int, n_pt: int) -> Callable[..., Any]:
        key = (n, n_pt)
        if key in self._chunks:
            return self._chunks[key]
        cfg, tx, heads = self.cfg, self.tx, self.cfg.heads
        n_cpt = cfg.batch - n_pt
        L = cfg.ctx + 1

        def windows(data: jax.Array, k: jax.Array, rows: int) -> jax.Array:
            off = jax.random.randint(k, (rows,), 0, data.shape[0] - L)
            return data[off[:, None] + jnp.arange(L)[None, :]].astype(jnp.int32)

        def one(carry: Any, inp: Any) -> Any:
            params, opt_state = carry
            step, lr, seed, pt, cpt = inp[0], inp[1], inp[2], inp[3], inp[4]
            k = jax.random.fold_in(jax.random.PRNGKey(seed), step)
            k1, k2 = jax.random.split(k)
            parts = []
            if n_pt:
                parts.append(windows(pt, k1, n_pt))
            if n_cpt:
                parts.append(windows(cpt, k2, n_cpt))
            seq = jnp.concatenate(parts, 0) if len(parts) > 1 else parts[0]
            loss, g = jax.value_and_grad(loss_fn)(params, seq, heads)
            opt_state = _set_lr(opt_state, lr)
            upd, opt_state = tx.update(g, opt_state, params)
            return (optax.apply_updates(params, upd), opt_state), loss

        def run(params: Any, opt_state: Any, step0: jax.Array, lrs: jax.Array, seed: jax.Array,
                pt: jax.Array, cpt: jax.Array) -> Any:
            steps = step0 + jnp.arange(n, dtype=jnp.int32)

            def body(c: Any, x: Any) -> Any:
                return one(c, (x[0], x[1], seed, pt, cpt))

            (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), (steps, lrs))
            return params, opt_state, losses

        f = jax.jit(run, donate_argnums=(0, 1))
        self._chunks[key] = f
        return f

    def evaluate(self, params: Any, windows: dict[str, jax.Array]) -> dict[str, float]:
        return {name: float(self._eval(params, w)) for name, w in windows.items()}

    def train(self, params: Any, opt_state: Any, *, lr: np.ndarray, start: int, end: int,
              data_seed: int, replay: float | None, data: dict[str, jax.Array],
              windows: dict[str, jax.Array], eval_every: int, steps_per_call: int,
              on_eval: Callable[[int, dict[str, float], float], None],
              eval_start: bool = True) -> tuple[Any, Any]:
        """Updates ``start..end-1``; ``replay=None``: all rows D_pt (PT); else the CPT mixture.

        Evaluates after every multiple of ``eval_every`` (and at ``end``); ``on_eval(step,
        losses, mean train loss since the last evaluation)``."""
        cfg = self.cfg
        n_pt = cfg.batch if replay is None else int(round(replay * cfg.batch))
        if eval_start:
            on_eval(start, self.evaluate(params, windows), float("nan"))
        s = start
        acc, acc_n = 0.0, 0
        while s < end:
            nxt = min(end, (s // eval_every + 1) * eval_every)
            n = min(steps_per_call, nxt - s)
            f = self._chunk(n, n_pt)
            params, opt_state, losses = f(
                params, opt_state, jnp.asarray(s, jnp.int32),
                jnp.asarray(lr[s:s + n], jnp.float32), jnp.asarray(data_seed, jnp.uint32),
                data["pt_train"], data["cpt_train"])
            acc += float(jnp.sum(losses))
            acc_n += n
            s += n
            if s == nxt:
                on_eval(s, self.evaluate(params, windows), acc / acc_n)
                acc, acc_n = 0.0, 0
        return params, opt_state


def eval_windows(val: np.ndarray, cfg: Config, n: int = 64) -> np.ndarray:
    """``n`` evenly spaced windows of ``ctx + 1`` bytes of a validation split."""
    L = cfg.ctx + 1
    if val.size < L + 1:
        raise ValueError(f"validation split of {val.size} bytes is shorter than a window ({L})")
    off = np.linspace(0, val.size - L, n).astype(np.int64)
    return np.stack([val[o:o + L] for o in off]).astype(np.int32)


def device_data(corpus: dict[str, np.ndarray], cfg: Config, n_windows: int = 64) -> tuple[
        dict[str, jax.Array], dict[str, jax.Array]]:
    data = {k: jnp.asarray(corpus[k]) for k in ("pt_train", "cpt_train")}
    for k, v in data.items():
        if v.shape[0] < cfg.ctx + 2:
            raise ValueError(f"{k}: {v.shape[0]} bytes is shorter than a training window")
    win = {d: jnp.asarray(eval_windows(corpus[f"{d}_val"], cfg, n_windows)) for d in ("pt", "cpt")}
    return data, win


# ----------------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | os.PathLike[str], params: Any, opt_state: Any,
                    meta: dict[str, Any]) -> None:
    leaves = jax.tree_util.tree_leaves((params, opt_state))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp.npz")
    np.savez(tmp, *[np.asarray(x) for x in leaves], meta=np.frombuffer(
        json.dumps(meta).encode(), dtype=np.uint8))
    os.replace(tmp, p)


def load_checkpoint(path: str | os.PathLike[str], trainer: Trainer) -> tuple[Any, Any,
                                                                             dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint {p} does not exist")
    like = trainer.init(0)
    leaves, tree = jax.tree_util.tree_flatten(like)
    with np.load(p) as z:
        got = [z[f"arr_{i}"] for i in range(len(leaves))]
        meta = json.loads(bytes(z["meta"]).decode())
    for a, b in zip(leaves, got, strict=True):
        if np.shape(a) != np.shape(b):
            raise ValueError(f"checkpoint {p} does not match the model size {trainer.cfg}")
    params, opt_state = jax.tree_util.tree_unflatten(
        tree, [jnp.asarray(g, dtype=jnp.asarray(a).dtype) for a, g in zip(leaves, got,
                                                                           strict=True)])
    return params, opt_state, meta


def progress_line(tag: str, step: int, end: int, lr: float, losses: dict[str, float],
                  train_loss: float, t0: float, start: int) -> str:
    el = time.perf_counter() - t0
    done = max(step - start, 0)
    rate = el / done if done else float("nan")
    eta = rate * (end - step) if done else float("nan")
    return (f"[{tag}] step {step:5d}/{end} lr {lr:.2e} train {train_loss:.3f} "
            f"pt {losses['pt']:.4f} cpt {losses['cpt']:.4f} | {rate:.3f} s/step eta {eta:5.0f} s")
