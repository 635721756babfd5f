"""Data-mixture and scale laws of continual pre-training: how the loss depends on model size
``N``, CPT tokens ``D`` and the mixture ratio ``r`` (not on the LR schedule).

* :class:`DCPTLaw` (D-CPT Law, Que et al. 2024) with :func:`fit_dcpt`, its usages
  (:func:`max_domain_ratio`, :func:`best_ratio_limited_data`, :func:`dcpt_compute_optimal`) and
  :func:`check_monotone`;
* :class:`CrossDomainDCPTLaw` (the cross-domain extension, domain coefficients ``k1, k2``);
* :class:`CrossLingualLaw` (Zheng et al. 2024) with :func:`fit_cross_lingual` and the
  compute-optimal :func:`allocation`.

The published tables are in :mod:`cptdyn.dynamics.presets` (``DCPT_TABLE1``, ``ZHENG_*``).
"""

from ._mixture._dcpt import DCPT_FORMS as DCPT_FORMS
from ._mixture._dcpt import Allocation as Allocation
from ._mixture._dcpt import CrossDomainDCPTLaw as CrossDomainDCPTLaw
from ._mixture._dcpt import CrossLingualLaw as CrossLingualLaw
from ._mixture._dcpt import DCPTLaw as DCPTLaw
from ._mixture._dcpt import MonotoneReport as MonotoneReport
from ._mixture._dcpt import TableFit as TableFit
from ._mixture._dcpt import allocation as allocation
from ._mixture._dcpt import best_ratio_limited_data as best_ratio_limited_data
from ._mixture._dcpt import check_monotone as check_monotone
from ._mixture._dcpt import chinchilla_allocation as chinchilla_allocation
from ._mixture._dcpt import dcpt_compute_optimal as dcpt_compute_optimal
from ._mixture._dcpt import dcpt_from_dict as dcpt_from_dict
from ._mixture._dcpt import dlc as dlc
from ._mixture._dcpt import domain_coefficients as domain_coefficients
from ._mixture._dcpt import fit_cross_domain as fit_cross_domain
from ._mixture._dcpt import fit_cross_lingual as fit_cross_lingual
from ._mixture._dcpt import fit_dcpt as fit_dcpt
from ._mixture._dcpt import max_domain_ratio as max_domain_ratio
from ._mixture._dcpt import monotone_min_tokens as monotone_min_tokens

__all__ = [
    "DCPT_FORMS",
    "Allocation",
    "CrossDomainDCPTLaw",
    "CrossLingualLaw",
    "DCPTLaw",
    "MonotoneReport",
    "TableFit",
    "allocation",
    "best_ratio_limited_data",
    "check_monotone",
    "chinchilla_allocation",
    "dcpt_compute_optimal",
    "dcpt_from_dict",
    "dlc",
    "domain_coefficients",
    "fit_cross_domain",
    "fit_cross_lingual",
    "fit_dcpt",
    "max_domain_ratio",
    "monotone_min_tokens",
]
