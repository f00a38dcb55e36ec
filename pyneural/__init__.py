"""pyneural: CAI Neural API's dense and convolutional nets in Python, bit-exact with the
Pascal original, with weight-space diagnostics (mode connectivity and
permutation alignment)."""
from . import rng, toy
from .layers import (TNNetAvgChannel, TNNetAvgPool, TNNetChannelStdNormalization,
                     TNNetConcat, TNNetConvolution, TNNetConvolutionLinear,
                     TNNetConvolutionReLU, TNNetDeepConcat, TNNetDropout, TNNetFullConnect,
                     TNNetFullConnectLinear, TNNetFullConnectReLU, TNNetFullConnectSigmoid,
                     TNNetHyperbolicTangent, TNNetIdentity, TNNetInput, TNNetLayer,
                     TNNetLeakyReLU, TNNetMaxChannel, TNNetMaxPool, TNNetMovingStdNormalization,
                     TNNetPointwiseConv, TNNetPointwiseConvLinear, TNNetPointwiseConvReLU,
                     TNNetReLU, TNNetReLU6, TNNetSELU, TNNetSigmoid, TNNetSoftMax, TNNetSum,
                     TNNetSwish)
from .net import ArchitectureError, TNNet
from .nnformat import NNFormatError, float_to_str
from .volume import (TNNetVolume, TNNetVolumePair, TNNetVolumePairList, image_rows,
                     images_from_rows)
from .io import FormatError, from_torch, load
from .reports.interpolation import DEFAULT_K

__version__ = "0.1.0"


def merge_many(nets_or_snapshots, samples, weights=None, **options):
    """Merge several nets of one architecture (align to a reference, then
    MergeMany rounds, then average; ``repair=True`` to REPAIR). The nets
    may be TNNets, paths of files ``load`` reads, whole or data-only `.nn`
    texts, or snapshots (at least one of them a whole net). See
    ``pyneural.reports.merge.merge_many``; returns a MergeResult."""
    from .io import as_nets
    from .reports.merge import merge_many as _merge_many
    return _merge_many(as_nets(nets_or_snapshots), samples, weights, **options)


def permute(net, permutations):
    """A new net: ``net`` with its hidden units moved, computing the same
    function (every layer that reads them follows). Gives the aligned B
    of an alignment: ``permute(b, a.permutation_align_report(b, X_Y).permutations)``.

    Parameters
    ----------
    net : TNNet
        Not changed.
    permutations : sequence of int arrays
        One per permutation group of ``reports.symmetry.hidden_layers(net)``,
        in its order (a layer whose units a later layer reads; on a net
        with branches, the layers writing into one sum share a group; a
        convolution's units are its channels), or one per layer the
        original permutes (a report with ``permute_channels=False``), each
        a permutation of its units, new position -> old unit: ``perm[i]``
        is the unit placed at position i (as
        ``PermutationAlignResult.permutations``).

    Returns
    -------
    TNNet
        The permuted copy (weights, biases and momentum moved).

    Raises
    ------
    ValueError
        Another number of permutations than groups, or an array that is
        not a permutation of its group's units (the message names its layers).
    TypeError
        ``net`` is not a TNNet, or a permutation is not of integers.
    """
    from .reports.symmetry import permuted_net
    if not isinstance(net, TNNet):
        raise TypeError(f"permute() needs a TNNet, got {type(net).__name__}")
    return permuted_net(net, permutations)


def repair(merged, endpoints, samples, weights=None, **options):
    """REPAIR a merged net: reset its hidden units' pre-activation mean/std
    to the endpoints', folded into weights and biases. The endpoints may be
    TNNets, paths of files ``load`` reads, whole or data-only `.nn` texts,
    or snapshots. See ``pyneural.reports.repair.repair``; returns a
    RepairResult (``.net``)."""
    from .io import as_nets
    from .reports.repair import repair as _repair
    return _repair(merged, as_nets(endpoints, "endpoint"), samples, weights, **options)


def barrier_matrix(nets, samples, *, align=True, eval_samples=None, k=DEFAULT_K, n_jobs=1,
                   scheduler=None, names=None, **alignment_options):
    """The pre- and post-alignment barrier of every pair of nets, serially,
    in ``n_jobs`` local processes or on a Dask cluster (``scheduler``).

    Parameters
    ----------
    nets : sequence
        Two or more nets of one architecture, each a TNNet, a file path (str
        or path-like) that ``pyneural.load`` reads (``.nn``, ``.safetensors``
        written by pyneural, ``.npz``), a whole ``save_to_string()`` text, or (with
        a TNNet among them) a data-only text or a snapshot.
    samples, align, eval_samples, k, n_jobs, scheduler, **alignment_options :
        As in ``pyneural.reports.sweep.barrier_matrix`` (also ``seed`` and
        ``progress``).
    names : sequence of str, optional
        Labels of the nets (default: for files, the shortest tails of
        their paths that tell them apart, ``sweep.path_labels``; else
        "net i").

    Returns
    -------
    SweepResult (``pre``, ``post``, ``permutations``; ``str()``, ``to_dict()``,
    ``plot()``).

    Raises
    ------
    OSError
        A path that cannot be read.
    FormatError
        A file ``pyneural.load`` cannot read (as it says).
    NNFormatError, ArchitectureError, ValueError, TypeError, ImportError
        As in ``pyneural.reports.sweep.barrier_matrix``.
    """
    import os
    from .io import as_nets, is_path
    from .reports.sweep import barrier_matrix as _barrier_matrix, path_labels
    items = [nets] if isinstance(nets, (str, bytes, os.PathLike)) else list(nets)
    labels = [f"net {i}" for i in range(len(items))]
    # Files are labelled by the shortest tails of their paths that differ.
    paths = {i: os.fsdecode(item) for i, item in enumerate(items) if is_path(item)}
    for i, label in zip(paths, path_labels(paths.values())):
        labels[i] = label
    return _barrier_matrix(as_nets(items), samples, align=align, eval_samples=eval_samples, k=k,
                           n_jobs=n_jobs, scheduler=scheduler,
                           names=labels if names is None else names, **alignment_options)


__all__ = [
    "rng", "toy", "TNNet", "TNNetVolume", "TNNetVolumePair", "TNNetVolumePairList",
    "TNNetLayer", "TNNetInput", "TNNetFullConnectLinear", "TNNetFullConnectReLU",
    "TNNetFullConnect", "TNNetFullConnectSigmoid", "TNNetReLU", "TNNetSigmoid",
    "TNNetHyperbolicTangent", "TNNetIdentity", "TNNetSoftMax", "TNNetConvolution",
    "TNNetConvolutionReLU", "TNNetConvolutionLinear", "TNNetMaxPool",
    "TNNetPointwiseConv", "TNNetPointwiseConvReLU", "TNNetPointwiseConvLinear", "TNNetSum",
    "TNNetConcat", "TNNetDeepConcat", "TNNetDropout", "TNNetLeakyReLU", "TNNetReLU6",
    "TNNetSwish", "TNNetSELU", "TNNetMovingStdNormalization", "TNNetChannelStdNormalization",
    "TNNetAvgPool", "TNNetAvgChannel", "TNNetMaxChannel", "ArchitectureError", "NNFormatError", "float_to_str", "merge_many", "repair",
    "FormatError", "load", "from_torch", "barrier_matrix", "permute", "image_rows",
    "images_from_rows",
]
