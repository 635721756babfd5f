"""Make ``runs.csv``: a small synthetic D-CPT grid (NOT measured), for the README's mixture
walkthrough. Run from the repository root: ``python data/dcpt_synthetic/make_runs.py``.

Each row is one (imagined) CPT run: model size N (parameters), CPT tokens D, domain share r_d of
the CPT mixture, and its final validation losses on the general and the domain set, drawn from the
D-CPT Law's form L3 (Que et al. 2024, "D-CPT Law: Domain-specific Continual Pre-Training Scaling
Law for Large Language Models", Eq. L3):

    L(N, D, r) = E + A / N^alpha + B * r^eta / D^beta + C / (r + eps)^gamma

with r = r_d for the domain loss and r = 1 - r_d for the general loss, with the parameters below
(chosen by hand to give losses of the usual size, 1.9-2.9 nats; they are not the paper's fits,
which it does not print), times multiplicative noise exp(0.003 * N(0, 1)), seed 0. Needs only
NumPy.
"""

import csv
from pathlib import Path

import numpy as np

GENERAL = dict(E=1.9, A=250.0, alpha=0.34, B=150.0, beta=0.28, C=0.12, gamma=0.5, eta=0.1,
               eps=0.01)
DOMAIN = dict(E=1.2, A=300.0, alpha=0.35, B=400.0, beta=0.3, C=0.5, gamma=0.6, eta=0.1, eps=0.01)
SIZES = (0.5e9, 1.8e9, 4e9)
TOKENS = (1e9, 3e9, 1e10)
RATIOS = (0.2, 0.5, 0.8, 0.95)


def law(p: dict, N: float, D: float, r: float) -> float:
    return (p["E"] + p["A"] / N ** p["alpha"] + p["B"] * r ** p["eta"] / D ** p["beta"]
            + p["C"] / (r + p["eps"]) ** p["gamma"])


def main() -> None:
    rng = np.random.default_rng(0)
    out = Path(__file__).with_name("runs.csv")
    with out.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["N", "D", "r_d", "loss_general", "loss_domain"])
        for N in SIZES:
            for D in TOKENS:
                for r in RATIOS:
                    g = law(GENERAL, N, D, 1.0 - r) * np.exp(0.003 * rng.standard_normal())
                    d = law(DOMAIN, N, D, r) * np.exp(0.003 * rng.standard_normal())
                    w.writerow([f"{N:g}", f"{D:g}", r, f"{g:.5f}", f"{d:.5f}"])


if __name__ == "__main__":
    main()
