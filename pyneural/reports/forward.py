"""What the reports need of the batched pass (``pyneural.batched.walk``)
beyond ``TNNet.layer_outputs``: the outputs of a few layers only, the
part of the net from one layer on (the refinement keeps what comes before
it), or a hook before each unit layer that may change its weights first
(REPAIR folds its corrections in front to back, in one pass). Dropout
passes its input through: the reports measure the function, on work copies
with dropout disabled.
"""
import numpy as np

from .._blocks import map_row_blocks
from ..batched import walk as _walk
from .symmetry import is_unit_layer


def walk(net, params, X, until=None, before=None, start=None, keep=None):
    """``pyneural.batched.walk`` over ``net``'s layers, ``before`` called
    before the unit layers only (see ``symmetry.is_unit_layer``): the
    pass the refinement and REPAIR hook into."""
    hook = None
    if before is not None:
        def hook(i, h):
            return before(i, h) if is_unit_layer(net.layers[i]) else None
    return _walk(net.layers, params, X, until=until, keep=keep, start=start, before=hook)


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
