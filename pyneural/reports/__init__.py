"""Weight-space diagnostics: mode connectivity and permutation alignment.

The reports work on the TNNet instance they are given (endpoint A) and a
snapshot of endpoint B; they never import the net module, and they always
restore A's weights bit-for-bit.
"""
from .interpolation import Curve
from .mode_connectivity import Connectivity, ModeConnectivityResult, mode_connectivity_report

__all__ = ["Curve", "Connectivity", "ModeConnectivityResult", "mode_connectivity_report"]
