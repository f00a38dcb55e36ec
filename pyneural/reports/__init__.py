"""Weight-space diagnostics: mode connectivity and permutation alignment.

The reports take the TNNet instance they are given (endpoint A) and a
snapshot of endpoint B; they never import the net module, and never write
to A: every pass runs on a private copy (``interpolation.work_copy``:
``net.clone()`` with dropout disabled, so they measure the function).
"""
from .interpolation import Curve
from .mode_connectivity import Connectivity, ModeConnectivityResult, mode_connectivity_report

__all__ = ["Curve", "Connectivity", "ModeConnectivityResult", "mode_connectivity_report"]
