"""pyneural: CAI Neural API's dense nets in Python, bit-exact with the
Pascal original, with weight-space diagnostics (mode connectivity and
permutation alignment)."""
from . import rng, toy
from .layers import (TNNetFullConnect, TNNetFullConnectLinear, TNNetFullConnectReLU,
                     TNNetFullConnectSigmoid, TNNetHyperbolicTangent, TNNetIdentity,
                     TNNetInput, TNNetLayer, TNNetReLU, TNNetSigmoid, TNNetSoftMax)
from .net import ArchitectureError, TNNet
from .nnformat import NNFormatError, float_to_str
from .volume import TNNetVolume, TNNetVolumePair, TNNetVolumePairList

__version__ = "0.1.0"

__all__ = [
    "rng", "toy", "TNNet", "TNNetVolume", "TNNetVolumePair", "TNNetVolumePairList",
    "TNNetLayer", "TNNetInput", "TNNetFullConnectLinear", "TNNetFullConnectReLU",
    "TNNetFullConnect", "TNNetFullConnectSigmoid", "TNNetReLU", "TNNetSigmoid",
    "TNNetHyperbolicTangent", "TNNetIdentity", "TNNetSoftMax",
    "ArchitectureError", "NNFormatError", "float_to_str",
]
