"""The batched forward pass over a net's graph: every batched computation in
pyneural (``TNNet.compute_batch`` and ``layer_outputs``, the reports'
sweeps, refinement and REPAIR) runs the layers through ``walk``, so the
graph is walked in one place and each layer's arithmetic is its own
(``forward_batch``, or ``pre_activation`` then ``activate``).
"""
import numpy as np

from .volume import TNNetVolume


def walk(layers, params, X, until=None, keep=None, start=None, before=None, masks=None):
    """The output of layer ``until`` (default the last) on the rows of X.

    Parameters
    ----------
    layers : list of TNNetLayer
        A net's layers (their own weights are not read).
    params : list
        One flat float32 parameter array (or volume) per layer, as a
        snapshot holds them (only the weighted layers' entries are read).
    X : ndarray or dict
        Input rows, float32; with ``start``, a dict: the outputs of the
        layers before ``start`` that the layers from ``start`` on read.
    until : int, optional
        The layer whose output is returned.
    keep : iterable of int, optional
        Return the outputs of these layers instead, as a dict (every
        other output is freed once its last reader has run).
    start : int, optional
        Run the layers from this one on.
    before : callable, optional
        ``before(index, h)`` is called before each weighted layer runs,
        with its input ``h``; it may change that layer's entry of
        ``params`` in place, and may return the layer's pre-activation
        (else None: the layer computes it).
    masks : dict, optional
        A dropout layer's index -> its kept values (``TNNetDropout.keep_masks``).

    Returns
    -------
    ndarray (float32, one row per row of X), or a dict with ``keep``.
    """
    stop = len(layers) - 1 if until is None else until
    first = 1 if start is None else start
    kept = set(keep or ()) | {stop}
    last = list(range(stop + 1))
    for layer in layers[first:stop + 1]:
        for j in layer.input_indices():
            last[j] = layer.index
    outs = [None] * (stop + 1)
    for j, h in ({0: X} if start is None else X).items():
        outs[j] = h
    # Overflow and NaN are results here, as in the exact kernels (which do
    # not warn): no RuntimeWarnings from the numpy pass.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i in range(first, stop + 1):
            layer, reads = layers[i], layers[i].input_indices()
            if layer.merges:
                h = layer.forward_batch([outs[j] for j in reads])
            elif layer.has_weights:
                z = before(i, outs[reads[0]]) if before is not None else None
                if z is None:
                    h = layer.forward_batch(outs[reads[0]], *layer.split(param_array(params[i])))
                else:
                    h = layer.activate(z)
            elif masks and i in masks:
                h = layer.forward_batch(outs[reads[0]], masks[i])
            else:
                h = layer.forward_batch(outs[reads[0]])
            outs[i] = np.ascontiguousarray(h, dtype=np.float32)
            for j in reads:
                if last[j] == i and j not in kept:
                    outs[j] = None
    return {j: outs[j] for j in keep} if keep is not None else outs[stop]


def param_array(p):
    """A snapshot entry (a volume or a flat array) as its flat array."""
    return p.data if isinstance(p, TNNetVolume) else p
