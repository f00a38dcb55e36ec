"""The batched forward pass over a net's graph with a snapshot's weights,
where the reports need more than ``TNNet.layer_outputs``: the outputs of
a few layers only, the part of the net from one layer on (the refinement
keeps what comes before it), or a hook before each unit layer that may
change its weights first (REPAIR folds its corrections in front to back,
in one pass).

Each layer's arithmetic is the layer's own (``pre_activation`` and
``activate``, ``forward_batch``), as in ``TNNet.compute_batch``, so the
values are its bits. Dropout passes its input through: the reports
measure the function, on work copies with dropout disabled.
"""
import numpy as np

from .._blocks import map_row_blocks
from ..volume import TNNetVolume
from .symmetry import is_unit_layer


def walk(net, params, X, until=None, before=None, start=None, keep=None):
    """The output of layer ``until`` (default the last) on the rows of X.

    Parameters
    ----------
    net : TNNet
        Gives the layers (its own weights are not read).
    params : list
        One flat float32 parameter array (or volume) per layer, as a
        snapshot holds them (only the weighted layers' entries are read).
    X : ndarray or dict
        Input rows, float32; with ``start``, a dict: the outputs of the
        layers before ``start`` that the layers from ``start`` on read
        (``read_before(net, start)``).
    until : int, optional
        The layer whose output is returned.
    before : callable, optional
        ``before(index, h)`` is called before unit layer ``index`` runs,
        with its input ``h``; it may change that layer's entry of
        ``params`` in place, and may return the layer's pre-activation for
        them (else the layer computes it).
    start : int, optional
        Run the layers from this one on.
    keep : iterable of int, optional
        Return the outputs of these layers instead, as a dict.

    Returns
    -------
    ndarray (float32, one row per row of X), or a dict with ``keep``.
    """
    layers = net.layers
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
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i in range(first, stop + 1):
            layer, reads = layers[i], layers[i].input_indices()
            if layer.merges:
                h = layer.forward_batch([outs[j] for j in reads])
            elif layer.has_weights:
                z = before(i, outs[reads[0]]) if before and is_unit_layer(layer) else None
                w, b = layer.split(param_array(params[i]))
                if is_unit_layer(layer):
                    if z is None:
                        z = layer.pre_activation(outs[reads[0]], w, b)
                    h = layer.activate(z)
                else:
                    h = layer.forward_batch(outs[reads[0]], w, b)
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


def read_before(net, start):
    """The layers before ``start`` whose outputs the layers from ``start``
    on read."""
    return sorted({j for layer in net.layers[start:] for j in layer.input_indices()
                   if j < start})


def by_rows(net, fn, X):
    """``fn`` (rows -> array) over the rows of X as ``compute_batch`` splits
    them: in row blocks side by side on the cores when the net has
    volumes (convolutions, poolings), else at once."""
    if any(hasattr(layer, "input_shape") for layer in net.layers):
        return map_row_blocks(fn, X)
    return fn(X)


def outputs(net, snap, X, layers, exact=False):
    """The outputs of ``layers`` (net-layer indices) on the rows of X with
    the weights of ``snap``: a dict index -> (samples, size) float32.
    ``exact``: the per-sample kernel's bits (``net``'s weights are then
    overwritten with ``snap``'s)."""
    layers = sorted(set(layers))
    if exact:
        net.restore(snap)
        outs = net.layer_outputs(X, exact=True)
        return {j: outs[j] for j in layers}
    sizes = [net.layers[j].output.size for j in layers]
    flat = by_rows(net, lambda rows: np.hstack(list(
        walk(net, snap, rows, layers[-1], keep=layers).values())), X)
    return {j: np.ascontiguousarray(part)
            for j, part in zip(layers, np.split(flat, np.cumsum(sizes)[:-1], axis=1))}
