"""The batched forward pass over a net's graph with a snapshot's weights,
where the reports need more than ``TNNet.layer_outputs``: the values of
one layer only (the refinement's part of the net before the layers it
swaps), or a hook before each unit layer that may change its weights
first (REPAIR folds its corrections in front to back, in one pass).

Each layer's arithmetic is the layer's own (``pre_activation`` and
``activate``, ``forward_batch``), as in every batched pass. Dropout passes
its input through: the reports measure the function, on work copies with
dropout disabled.
"""
import numpy as np

from ..volume import TNNetVolume
from .symmetry import is_unit_layer


def walk(net, params, X, until=None, before=None):
    """The output of layer ``until`` (default the last) on the rows of X.

    Parameters
    ----------
    net : TNNet
        Gives the layers (its own weights are not read).
    params : list
        One flat float32 parameter array (or volume) per layer, as a
        snapshot holds them.
    X : ndarray
        Input rows, float32.
    until : int, optional
        The layer whose output is returned.
    before : callable, optional
        ``before(index, h)`` is called before unit layer ``index`` runs,
        with its input ``h``; it may change that layer's entry of
        ``params`` in place, and may return the layer's pre-activation for
        them (else the layer computes it).

    Returns
    -------
    ndarray, float32, one row per row of X.
    """
    layers = net.layers
    stop = len(layers) - 1 if until is None else until
    last = list(range(stop + 1))
    for layer in layers[1:stop + 1]:
        for j in layer.input_indices():
            last[j] = layer.index
    outs = [X] + [None] * stop
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i in range(1, stop + 1):
            layer, reads = layers[i], layers[i].input_indices()
            if layer.merges:
                h = layer.forward_batch([outs[j] for j in reads])
            elif layer.has_weights:
                z = before(i, outs[reads[0]]) if before and is_unit_layer(layer) else None
                p = params[i]
                w, b = layer.split(p.data if isinstance(p, TNNetVolume) else p)
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
                if last[j] == i and j != stop:
                    outs[j] = None
    return outs[stop]
