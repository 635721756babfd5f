"""Published parameter tables: the numbers the papers print, in one namespace.

Import them as ``from cptdyn.dynamics.presets import P2_FIG2`` (the flat names
``cptdyn.dynamics.P2_FIG2`` ... still work for one release, with a ``DeprecationWarning``).

Sources:

* ``P1_*``: Wang et al. 2025, "Learning Dynamics in Continual Pre-Training for Large Language
  Models" (the CPT law, Eq. 4/7/8); signs as printed (``B`` is negative for the CPT domain).
* ``P2_*``: Tissue et al. 2024, "Scaling Law with Learning Rate Annealing" (Eq. 1, 5, 7).
* ``REPO_PARAMS`` / ``PAPER_PARAMS``: Luo et al. 2025, "A Multi-Power Law for Loss Curve
  Prediction Across Learning Rate Schedules" (released code and Table 7).
* ``DCPT_TABLE1``: Que et al. 2024, "D-CPT Law" Table 1 (fit quality of the five forms).
* ``ZHENG_*``: Zheng et al. 2024, "Breaking Language Barriers: Cross-Lingual Continual
  Pre-Training at Scale", Table 2.

Plain dictionaries: copy before changing (``dict(P2_FIG2)``).

Citation keys used in cptdyn's comments and docstrings: P1 = Wang et al. 2025 (ICML 2025,
arXiv 2505.07796); P2 = Tissue et al. 2024 (arXiv 2408.11029); MPL = Luo et al. 2025 (ICLR 2025,
arXiv 2503.12811; code github.com/thu-yao-01-luo/MultiPowerLaw @ 8da9f19); FSL = Li et al.
(NeurIPS 2025, arXiv 2509.19189); D-CPT = Que et al. 2024 (NeurIPS 2024,
arXiv 2406.01375); Zheng et al. 2024 (EMNLP 2024, arXiv 2407.02118).
"""

__all__ = [
    "P1_FIG3_DPT",
    "P1_FIG3_DCPT",
    "P1_FIG11_DPT",
    "P1_FIG11_DCPT",
    "P1_FIG15_DPT",
    "P1_FIG15_DCPT",
    "P1_FIG18_MODEL1_DCPT",
    "P1_FIG19_DPT",
    "P1_FIG19_DCPT",
    "P1_OOD",
    "P2_FIG2",
    "P2_FIG7B",
    "REPO_PARAMS",
    "PAPER_PARAMS",
    "DCPT_TABLE1",
    "ZHENG_CPT",
    "ZHENG_SCRATCH",
]

#: P1 Fig. 3, Setting A (106M, FineWeb -> Knowledge-Pile), D_pt = FineWeb.
P1_FIG3_DPT = {
    "L0": 3.057, "A": 0.490, "alpha": 0.497, "C1": 0.299, "C2": 0.298, "B": 0.366, "E": 28.0,
    "beta": 0.189,
}

#: P1 Fig. 3, D_cpt = Knowledge-Pile.
P1_FIG3_DCPT = {
    "L0": 3.024, "A": 0.412, "alpha": 0.677, "C1": 0.278, "C2": 0.324, "B": -0.666,
    "E": 5662.0, "beta": 0.146,
}

#: P1 Fig. 11, Setting B (Pile-of-Law as D_cpt), D_pt = FineWeb.
P1_FIG11_DPT = {
    "L0": 3.064, "A": 0.482, "alpha": 0.511, "C1": 0.294, "C2": 0.264, "B": 1.353, "E": 37.0,
    "beta": 0.262,
}

#: P1 Fig. 11, D_cpt = Pile-of-Law.
P1_FIG11_DCPT = {
    "L0": 2.978, "A": 0.485, "alpha": 0.701, "C1": 0.274, "C2": 0.298, "B": -1.409, "E": 383.0,
    "beta": 0.368,
}

#: P1 Fig. 15 (Eq. 7, N in millions), D_pt.
P1_FIG15_DPT = {
    "L0": 1.829, "A": 0.504, "alpha": 0.537, "C1": 0.090, "C2": 0.103, "B": 0.278, "E": 12.0,
    "beta": 0.359, "gamma1": 0.235, "gamma2": 0.199, "F": 3.072, "gamma3": 0.195,
}

#: P1 Fig. 15 (Eq. 7), D_cpt.
P1_FIG15_DCPT = {
    "L0": 1.860, "A": 0.438, "alpha": 0.585, "C1": 0.333, "C2": 0.140, "B": -0.552, "E": 187.0,
    "beta": 0.326, "gamma1": 0.012, "gamma2": 0.145, "F": 2.718, "gamma3": 0.189,
}

#: P1 Fig. 18, Model I (LLaMA-3.2-1B), D_cpt = Pile-of-Law (open-source variant).
P1_FIG18_MODEL1_DCPT = {
    "L0": 2.101, "A": 0.326, "alpha": 0.241, "S1pt": 0.102, "C2": 0.099, "B": -0.932, "E": 12.0,
    "beta": 12.195,
}

#: P1 Fig. 19 (Eq. 8, joint replay fit), D_pt. beta is NOT printed in the paper (no key).
P1_FIG19_DPT = {
    "L0": 3.067, "A": 0.480, "alpha": 0.510, "C1": 0.280, "C2": 0.263, "B": 0.276, "E": 99.35,
    "a1": 0.055, "a2": 3.238,
}

#: P1 Fig. 19, D_cpt (the caption's annealing factor is e^(0.037 r_pt), Eq. 8 says r_cpt).
P1_FIG19_DCPT = {
    "L0": 2.992, "A": 0.456, "alpha": 0.510, "C1": 0.285, "C2": 0.279, "B": -0.526, "E": 100.34,
    "a1": 0.037, "a2": 5.696,
}

#: P1 Fig. 9 / Fig. 21: L_ood = l1 * L_Dpt + l2 * L_Dcpt with D_pt = FineWeb and D_cpt =
#: Knowledge-Pile (the open-web-math / philpapers name-box pairing is inferred from the figure).
P1_OOD: dict[str, tuple[float, float]] = {
    "c4": (0.867, 0.152),
    "slimpajama": (0.622, 0.385),
    "stories": (1.409, -0.516),
    "books": (0.611, 0.475),
    "stackexchange": (-0.546, 1.853),
    "arxiv": (-0.609, 1.631),
    "open-web-math": (-0.078, 1.2),
    "philpapers": (-0.178, 1.505),
}

#: P2 Fig. 2 (Setting A, 594M, constant + cosine 20K steps, lambda 0.999): R^2 = 0.99964.
P2_FIG2 = {"L0": 2.628, "A": 0.429, "alpha": 0.550, "C": 0.411}

#: P2 Fig. 7b (Eq. 7, cosine 60K, N = 85M..904M in millions): R^2 = 0.99880.
P2_FIG7B = {
    "L0": 1.504, "A": 0.440, "alpha": 0.546, "B": 3.067, "beta": 0.158, "C": 0.273, "gamma": 0.052,
}

#: Parameters released in the MPL repository (``src/config.py``); valid with ``warmup="repo"``.
REPO_PARAMS: dict[str, dict[str, float]] = {
    "25M": dict(L0=3.04045406, A=0.52468604, alpha=0.50786857, B=363.78751622, C=2.06560812,
                beta=0.58279013, gamma=0.64142257),
    "100M": dict(L0=2.6514477, A=0.60115152, alpha=0.45295811, B=437.9464276, C=2.13245612,
                 beta=0.59785199, gamma=0.65523644),
    "400M": dict(L0=2.37474466, A=0.65421216, alpha=0.42878731, B=523.42464371, C=2.02462735,
                 beta=0.59350493, gamma=0.63472457),
}

#: Paper Table 7 parameters (rounded to 2 decimals by the authors); valid with ``warmup="paper"``.
PAPER_PARAMS: dict[str, dict[str, float]] = {
    "25M": dict(L0=3.17, A=0.51, alpha=0.53, B=446.40, C=2.07, beta=0.41, gamma=0.52),
    "100M": dict(L0=2.79, A=0.59, alpha=0.46, B=521.40, C=0.24, beta=0.60, gamma=0.65),
    "400M": dict(L0=2.52, A=0.66, alpha=0.42, B=614.30, C=0.16, beta=0.88, gamma=0.56),
}

#: D-CPT Table 1: average over six domains.
DCPT_TABLE1 = {
    "L1": {"huber_g": 0.0064, "huber_d": 0.0169, "r2_g": 0.9945, "r2_d": 0.9767, "n_params": 8},
    "L2": {"huber_g": 0.0050, "huber_d": 0.0166, "r2_g": 0.9965, "r2_d": 0.9783, "n_params": 9},
    "L3": {"huber_g": 0.0048, "huber_d": 0.0157, "r2_g": 0.9968, "r2_d": 0.9796, "n_params": 9},
    "L4": {"huber_g": 0.0066, "huber_d": 0.0160, "r2_g": 0.9936, "r2_d": 0.9784, "n_params": 8},
    "L5": {"huber_g": 0.0328, "huber_d": 0.0438, "r2_g": 0.9496, "r2_d": 0.9512, "n_params": 6},
}

#: Zheng et al. 2024 Table 2: CPT fit (E, A, alpha frozen from the PT fit).
ZHENG_CPT = {"E": 1.55, "A": 420.0, "alpha": 0.40, "B": 433.3, "beta": 0.20, "gamma": 0.08}

#: Zheng et al. 2024 Table 2: from-scratch Chinchilla fit (gamma = 0).
ZHENG_SCRATCH = {"E": 1.55, "A": 420.0, "alpha": 0.40, "B": 719.5, "beta": 0.30, "gamma": 0.0}
