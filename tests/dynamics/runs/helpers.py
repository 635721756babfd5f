"""Paths of the stored run files the reader tests use."""

from pathlib import Path

DATA = Path(__file__).resolve().parents[3] / "data"
MPL = DATA / "MultiPowerLaw" / "loss_curve_repo"
SWEEP = DATA / "lr-scheduling"
WJ = SWEEP / "wandb_json"
TRUNK = WJ / ("stable-124m_slimpajama_llama_norm_nlayers12_nhead12_lr0.001_sched_wsd_warmup300_"
              "decay_linear_0.0_iter50000_bs50x2_ws2_seed0_data_seed1337.json")
BRANCH_02 = WJ / ("ann124-0.2_slimpajama_llama_norm_nlayers12_nhead12_lr0.001_sched_wsd_warmup300_"
                  "decay_linear_0.2_iter50000_bs50x2_ws2_seed0_data_seed1337.json")
BRANCH_SQRT = WJ / ("ann124-0.2_slimpajama_llama_norm_nlayers12_nhead12_lr0.001_sched_wsd_warmup300_"
                    "decay_sqrt_0.2_iter50000_bs50x2_ws2_seed0_data_seed1337.json")
BRANCH_04 = WJ / ("ann124-0.4_slimpajama_llama_norm_nlayers12_nhead12_lr0.001_sched_wsd_warmup300_"
                  "decay_linear_0.4_iter50000_bs50x2_ws2_seed0_data_seed1337.json")
FIX = Path(__file__).resolve().parent / "fixtures"
