"""pyneural: CAI Neural API's dense and convolutional nets in Python, bit-exact with the
Pascal original, with weight-space diagnostics (mode connectivity and
permutation alignment)."""
from . import rng, toy
from .layers import (TNNetConvolution, TNNetConvolutionLinear, TNNetConvolutionReLU,
                     TNNetFullConnect, TNNetFullConnectLinear, TNNetFullConnectReLU,
                     TNNetFullConnectSigmoid, TNNetHyperbolicTangent, TNNetIdentity,
                     TNNetInput, TNNetLayer, TNNetMaxPool, TNNetReLU, TNNetSigmoid,
                     TNNetSoftMax)
from .net import ArchitectureError, TNNet
from .nnformat import NNFormatError, float_to_str
from .volume import (TNNetVolume, TNNetVolumePair, TNNetVolumePairList, image_rows,
                     images_from_rows)
from .io import FormatError, from_torch, load
from .reports.interpolation import DEFAULT_K

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
        Labels of the nets (default: a path's file name, else "net i").

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
    from .reports.sweep import barrier_matrix as _barrier_matrix
    from .rng import FPCRandom
    items = list(nets) if not isinstance(nets, (str, bytes, os.PathLike)) else [nets]
    loaded, labels = [], []
    for i, item in enumerate(items):
        label = f"net {i}"
        # A private generator: loading draws initial weights, and a sweep
        # must not move the global RandSeed stream.
        if isinstance(item, os.PathLike) or (isinstance(item, str) and _is_path(item)):
            label = os.path.basename(os.fspath(item))
            item = load(item, generator=FPCRandom())
        elif isinstance(item, str) and ">" in item:
            item = TNNet.from_string(item, generator=FPCRandom())
        loaded.append(item)
        labels.append(label)
    if names is None and len(set(labels)) < len(labels):
        # two files of one name in different folders: the table would show
        # two identical labels, so label the files by their paths as given
        labels = [os.fspath(item) if isinstance(item, os.PathLike) or
                  (isinstance(item, str) and _is_path(item)) else label
                  for item, label in zip(items, labels)]
    return _barrier_matrix(loaded, samples, align=align, eval_samples=eval_samples, k=k,
                           n_jobs=n_jobs, scheduler=scheduler,
                           names=labels if names is None else names, **alignment_options)


def _is_path(text):
    """A str that names a file rather than holding a net: one line, no '>'
    or '!' (which every net text has), or an existing file."""
    import os
    one_line = "\n" not in text.strip() and ">" not in text and "!" not in text
    return one_line or os.path.isfile(text)


__all__ = [
    "rng", "toy", "TNNet", "TNNetVolume", "TNNetVolumePair", "TNNetVolumePairList",
    "TNNetLayer", "TNNetInput", "TNNetFullConnectLinear", "TNNetFullConnectReLU",
    "TNNetFullConnect", "TNNetFullConnectSigmoid", "TNNetReLU", "TNNetSigmoid",
    "TNNetHyperbolicTangent", "TNNetIdentity", "TNNetSoftMax", "TNNetConvolution",
    "TNNetConvolutionReLU", "TNNetConvolutionLinear", "TNNetMaxPool",
    "ArchitectureError", "NNFormatError", "float_to_str", "merge_many", "repair",
    "FormatError", "load", "from_torch", "barrier_matrix", "image_rows", "images_from_rows",
]
