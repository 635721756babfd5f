"""``cptdyn plan-mixture``: domain ratio, model size and token budget from D-CPT laws.

Laws come from ``--params FILE`` (``{"general": law, "domain": law}``, each as written by
``DCPTLaw.to_dict``) or are fitted from ``--data CSV`` (columns ``N, D, r_d, loss_general,
loss_domain``; the general law is fitted at ``r_g = 1 - r_d``), optionally saved with
``--save-params``. ``--allocation zheng-cpt|zheng-scratch`` instead prints the compute-optimal
N / D of the cross-lingual CPT law (Zheng et al. 2024) at ``--compute``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cptdyn._errors import CLIError
from cptdyn._io import read_json

from ._common import one_line, write_json
from ._output import set_result

_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}
_NUM = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([KMBGT]?)\s*$", re.I)

COLUMNS = {
    "N": ("N", "model_size", "params"),
    "D": ("D", "tokens"),
    "r_d": ("r_d", "domain_ratio"),
    "loss_general": ("loss_general", "general_loss", "loss_g"),
    "loss_domain": ("loss_domain", "domain_loss", "loss_d"),
}


def parse_count(text: str, flag: str) -> float:
    """``'1.8B'`` -> 1.8e9 (suffixes K, M, B/G, T; plain numbers and 1e21 accepted)."""
    m = _NUM.match(str(text))
    if not m:
        raise CLIError(f"{flag} {text!r}: expected a number such as 1.8B, 5e9 or 1e21")
    value = float(m.group(1)) * _SUFFIX[m.group(2).upper()]
    if not value > 0:
        raise CLIError(f"{flag} {text!r}: must be positive")
    return value


def _counts(text: str | None, flag: str) -> list[float] | None:
    if text is None:
        return None
    items = [t for t in str(text).split(",") if t.strip()]
    if not items:
        raise CLIError(f"{flag} {text!r}: expected comma-separated numbers")
    return [parse_count(t, flag) for t in items]


def _one(text: str | None, flag: str) -> float | None:
    return None if text is None else parse_count(text, flag)


def _laws_from_params(path: str) -> tuple[Any, Any]:
    from cptdyn.dynamics.mixture import dcpt_from_dict

    doc = read_json(path, "--params")
    if not isinstance(doc, Mapping) or "general" not in doc or "domain" not in doc:
        raise CLIError(f"--params {path!r}: expected an object with fields 'general' and 'domain'")
    try:
        return dcpt_from_dict(doc["general"]), dcpt_from_dict(doc["domain"])
    except ValueError as e:
        raise CLIError(f"--params {path!r}: {one_line(e)}") from None


def _laws_from_data(path: str, form: str) -> tuple[Any, Any, dict[str, Any]]:
    import numpy as np
    import pandas as pd

    from cptdyn.dynamics.mixture import fit_dcpt

    if not Path(path).exists():
        raise CLIError(f"--data {path!r} does not exist")
    try:
        df = pd.read_csv(path)
    except Exception as e:  # noqa: BLE001 - any parse error is a user error here
        msg = one_line(e)
        raise CLIError(f"--data {path!r} cannot be read as CSV: {msg}") from None
    cols: dict[str, Any] = {}
    for key, aliases in COLUMNS.items():
        name = next((a for a in aliases if a in df.columns), None)
        if name is None:
            raise CLIError(f"--data {path!r}: missing column {key!r} (or {', '.join(aliases[1:])})")
        v = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(v)):
            bad = int(np.argmax(~np.isfinite(v)))
            raise CLIError(f"--data {path!r} row {bad + 2} column {name!r}: not a finite number")
        cols[key] = v
    try:
        fg = fit_dcpt(cols["N"], cols["D"], 1.0 - cols["r_d"], cols["loss_general"], form=form)
        fd = fit_dcpt(cols["N"], cols["D"], cols["r_d"], cols["loss_domain"], form=form)
    except ValueError as e:
        raise CLIError(f"--data {path!r}: {one_line(e)}") from None
    info = {"general": {"huber": fg.huber, "r2": fg.r2}, "domain": {"huber": fd.huber, "r2": fd.r2},
            "n_points": fg.n_points}
    return fg.law, fd.law, info


def _emit_json(doc: Mapping[str, Any], args: argparse.Namespace) -> bool:
    """Write ``doc`` to ``--out`` if given; it is the ``--json`` object too. True with
    ``--json`` (the command then prints nothing else)."""
    if args.out:
        write_json(args.out, doc)
    set_result({**doc, **({"outputs": [args.out]} if args.out else {})})
    return bool(getattr(args, "json", False))


def _fmt(x: float | None, f: str = ".4g") -> str:
    return "-" if x is None else format(x, f)


def cmd_plan_mixture(args: argparse.Namespace) -> int:
    if args.allocation:
        return _allocation(args)
    if (args.params is None) == (args.data is None):
        raise CLIError("plan-mixture: give exactly one of --params FILE or --data CSV")
    sizes = _counts(args.model_size, "--model-size")
    if sizes is None:
        raise CLIError("plan-mixture: --model-size is required (e.g. 0.5B,1.8B,4B)")
    fit_info = None
    if args.params is not None:
        general, domain = _laws_from_params(args.params)
    else:
        general, domain, fit_info = _laws_from_data(args.data, args.form)
        if args.save_params:
            doc = {"general": general.to_dict(), "domain": domain.to_dict(), "fit": fit_info}
            write_json(args.save_params, doc)
    from cptdyn.dynamics.mixture import check_monotone
    from cptdyn.planner import plan_mixture

    if args.tolerance is not None and args.general_loss0 is None:
        raise CLIError("--tolerance needs --general-loss0 (general loss before CPT)")
    try:
        plan = plan_mixture(
            general, domain, model_sizes=sizes, tokens=_one(args.tokens, "--tokens"),
            compute=_one(args.compute, "--compute"),
            domain_tokens=_one(args.domain_tokens, "--domain-tokens"), tolerance=args.tolerance,
            general_loss0=args.general_loss0, general_weight=args.general_weight,
            ratio_min=args.ratio_min, ratio_max=args.ratio_max,
        )
    except ValueError as e:
        raise CLIError(f"plan-mixture: {one_line(e)}") from None
    warnings = []
    for name, law, r in (("general", general, 1.0 - plan.domain_ratio),
                         ("domain", domain, plan.domain_ratio)):
        rep = check_monotone(law, sizes, [plan.tokens * f for f in (0.1, 0.5, 1.0)],
                             [max(r, 1e-3), min(1.0, r + 0.05), max(1e-3, r - 0.05)])
        if not rep.ok:
            bad = ", ".join(f"{k} ({v} points)" for k, v in rep.violations.items() if v)
            warnings.append(f"{name} law not monotone near the plan: {bad}")
    doc = {"plan": plan.to_dict(), "warnings": warnings}
    if fit_info is not None:
        doc["fit"] = fit_info
    if _emit_json(doc, args):
        return 0
    p = plan
    print(f"domain ratio r_d    {p.domain_ratio:.4f}   (replay ratio of the CPT law r_pt = "
          f"{p.replay_ratio:.4f})")
    print(f"model size N        {p.model_size:.4g}")
    print(f"CPT tokens D        {p.tokens:.4g}   (domain tokens {p.domain_tokens:.4g}, "
          f"compute 6ND {p.compute:.4g})")
    print(f"general loss        {p.general_loss:.4f}" + (
        f"   (limit {p.general_limit:.4f})" if p.general_limit is not None else ""))
    print(f"domain loss         {p.domain_loss:.4f}")
    print(f"binding             {', '.join(p.binding) or 'none'}")
    if len(p.by_model_size) > 1:
        print("\nN            r_d      D          L_g      L_d")
        for row in p.by_model_size:
            print(f"{_fmt(row['model_size']):<12} {_fmt(row['domain_ratio'], '.4f'):<8} "
                  f"{_fmt(row['tokens']):<10} {_fmt(row['general_loss'], '.4f'):<8} "
                  f"{_fmt(row['domain_loss'], '.4f')}")
    for w in warnings:
        print(f"warning: {w}")
    return 0


def _allocation(args: argparse.Namespace) -> int:
    from cptdyn.dynamics.mixture import CrossLingualLaw, allocation
    from cptdyn.dynamics.presets import ZHENG_CPT, ZHENG_SCRATCH

    if args.compute is None:
        raise CLIError("--allocation needs --compute (FLOPs, e.g. 1e21)")
    params = ZHENG_CPT if args.allocation == "zheng-cpt" else ZHENG_SCRATCH
    a = allocation(CrossLingualLaw(**params), parse_count(args.compute, "--compute"))
    doc = {"law": args.allocation, "params": params, "N_coef": a.n_coef, "N_exp": a.a,
           "D_coef": a.d_coef, "D_exp": a.b, "compute": a.C, "N": a.N, "D": a.D, "loss": a.loss}
    if _emit_json(doc, args):
        return 0
    print(f"{args.allocation}: N_opt = {a.n_coef:.4g} C^{a.a:.3f}, "
          f"D_opt = {a.d_coef:.4g} C^{a.b:.3f}")
    print(f"at C = {a.C:.4g}: N = {a.N:.4g}, D = {a.D:.4g}, predicted loss {a.loss:.4f}")
    return 0


def add_commands(sub: Any) -> None:
    """Register ``plan-mixture`` on the ``cptdyn`` subparsers."""
    p = sub.add_parser(
        "plan-mixture",
        help="domain ratio, model size and token budget from D-CPT laws",
        description="Choose the CPT domain ratio r_d, model size N and token budget D that "
        "minimise the predicted domain loss (D-CPT Law) under a general-loss tolerance, a token, "
        "compute or domain-data budget. The replay ratio of the CPT law is 1 - r_d.",
    )
    src = p.add_argument_group("laws")
    src.add_argument("--params", help="JSON {'general': law, 'domain': law} of fitted D-CPT laws")
    src.add_argument("--data", help="CSV with columns N, D, r_d, loss_general, loss_domain to fit")
    src.add_argument("--form", choices=["L3", "L1"], default="L3", help="D-CPT form to fit")
    src.add_argument("--save-params", help="write the fitted laws (JSON) here")
    src.add_argument("--allocation", choices=["zheng-cpt", "zheng-scratch"],
                     help="print the cross-lingual compute-optimal N/D at --compute instead")
    c = p.add_argument_group("choices and constraints")
    c.add_argument("--model-size", help="candidate model sizes, e.g. 0.5B,1.8B,4B")
    c.add_argument("--tokens", help="maximum CPT tokens D (e.g. 10B)")
    c.add_argument("--compute", help="maximum compute 6*N*D in FLOPs (e.g. 1e20)")
    c.add_argument("--domain-tokens", help="available domain tokens (usage 2, e.g. 5B)")
    c.add_argument("--tolerance", type=float,
                   help="max relative rise of the general loss (usage 1, e.g. 0.03)")
    c.add_argument("--general-loss0", type=float, help="general loss before CPT")
    c.add_argument("--general-weight", type=float, default=0.0,
                   help="objective (1-w)*L_d + w*L_g (default 0: domain loss only)")
    c.add_argument("--ratio-min", type=float, default=0.0, help="smallest domain ratio")
    c.add_argument("--ratio-max", type=float, default=1.0, help="largest domain ratio")
    o = p.add_argument_group("files")
    o.add_argument("--out", help="write the plan (JSON) here")
    p.set_defaults(func=cmd_plan_mixture)
