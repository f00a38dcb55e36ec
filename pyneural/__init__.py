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
from .io import FormatError, from_torch, load

__version__ = "0.1.0"


def merge_many(nets_or_snapshots, samples, weights=None, **options):
    """Merge several nets of one architecture (align to a reference, then
    MergeMany rounds, then average; ``repair=True`` to REPAIR). See
    ``pyneural.reports.merge.merge_many``; returns a MergeResult."""
    from .reports.merge import merge_many as _merge_many
    return _merge_many(nets_or_snapshots, samples, weights, **options)


def repair(merged, endpoints, samples, weights=None, **options):
    """REPAIR a merged net: reset its hidden units' pre-activation mean/std
    to the endpoints', folded into weights and biases. See
    ``pyneural.reports.repair.repair``; returns a RepairResult (``.net``)."""
    from .reports.repair import repair as _repair
    return _repair(merged, endpoints, samples, weights, **options)


__all__ = [
    "rng", "toy", "TNNet", "TNNetVolume", "TNNetVolumePair", "TNNetVolumePairList",
    "TNNetLayer", "TNNetInput", "TNNetFullConnectLinear", "TNNetFullConnectReLU",
    "TNNetFullConnect", "TNNetFullConnectSigmoid", "TNNetReLU", "TNNetSigmoid",
    "TNNetHyperbolicTangent", "TNNetIdentity", "TNNetSoftMax",
    "ArchitectureError", "NNFormatError", "float_to_str", "merge_many", "repair",
    "FormatError", "load", "from_torch",
]
