"""The weight-space symmetries of a dense net, applied to snapshots.

A hidden unit can be moved (permutation) or, where its activation allows,
rescaled, with the next trainable layer's input column compensating, and
the function does not change. Everything here works on snapshots (lists of
parameter volumes, ``[W^T | bias]`` per fully-connected layer) and returns
new ones: nothing is modified in place.

A permutation is an integer array, new position -> old unit: ``perm[i]`` is
the unit placed at position i.
"""
from dataclasses import dataclass

import numpy as np

# What rescaling each activation survives: positive factors (ReLU is
# positively homogeneous), sign flips (odd functions), or neither.
_POSITIVE = {"identity", "relu"}
_SIGN = {"identity", "tanh"}


@dataclass(frozen=True)
class HiddenLayer:
    """A trainable layer whose units feed a later trainable layer.

    ``index`` and ``next_index`` are positions in ``net.layers``;
    ``activations`` lists the activation of the layer itself and of every
    weightless layer between the two.
    """
    index: int
    next_index: int
    width: int
    activations: tuple

    @property
    def positive_scale(self):
        """True when every activation is ReLU or identity: positive rescaling
        of a unit is a symmetry."""
        return all(a in _POSITIVE for a in self.activations)

    @property
    def sign_flip(self):
        """True when every activation is tanh or identity (odd): flipping a
        unit's sign is a symmetry."""
        return all(a in _SIGN for a in self.activations)


def hidden_layers(net):
    """The permutable hidden layers of ``net``, front to back."""
    trainable = [i for i, layer in enumerate(net.layers) if layer.has_weights]
    hidden = []
    for i, j in zip(trainable, trainable[1:]):
        acts = tuple(layer.activation for layer in net.layers[i:j])
        hidden.append(HiddenLayer(i, j, net.layers[i].neurons, acts))
    return hidden


def _split(net, snap, index):
    """Views (W^T, bias) of one layer's parameter volume in a snapshot."""
    w, b = net.layers[index].split(snap[index].data)
    return w.T, b


def rows(net, snap, index):
    """The (neurons, fan_in) incoming weights of a layer in a snapshot."""
    return _split(net, snap, index)[0].T


def bias(net, snap, index):
    """The bias vector of a layer in a snapshot (a view)."""
    return _split(net, snap, index)[1]


def _with_replaced(net, snap, hidden):
    out = list(snap)
    for index in (hidden.index, hidden.next_index):
        out[index] = snap[index].copy()
    return out


def permute(net, snap, hidden, perm):
    """Move unit ``perm[i]`` of a hidden layer to position i, and the matching
    input rows of the next trainable layer with it."""
    perm = np.asarray(perm)
    out = _with_replaced(net, snap, hidden)
    wt, b = _split(net, out, hidden.index)
    wt[:] = wt[:, perm]
    b[:] = b[perm]
    wt_next, _ = _split(net, out, hidden.next_index)
    wt_next[:] = wt_next[perm, :]
    return out


def permute_all(net, snap, hidden_list, perms):
    """Apply one permutation per hidden layer."""
    for hidden, perm in zip(hidden_list, perms):
        snap = permute(net, snap, hidden, perm)
    return snap


def scale(net, snap, hidden, factors):
    """Multiply each unit's incoming weights and bias by ``factors[i]`` and
    its outgoing weights by ``1 / factors[i]`` (float32 throughout)."""
    factors = np.asarray(factors, dtype=np.float32)
    out = _with_replaced(net, snap, hidden)
    wt, b = _split(net, out, hidden.index)
    wt *= factors
    b *= factors
    wt_next, _ = _split(net, out, hidden.next_index)
    wt_next /= factors[:, None]
    return out


def is_identity(perm):
    """True when ``perm`` is ``0, 1, ..., n-1``."""
    return bool(np.array_equal(perm, np.arange(len(perm))))


def churn(perm):
    """Fraction of positions whose unit moved."""
    perm = np.asarray(perm)
    return float(np.mean(perm != np.arange(len(perm)))) if len(perm) else 0.0


def random_permutations(hidden_list, generator):
    """One uniformly random permutation per hidden layer (numpy Generator)."""
    return [generator.permutation(h.width) for h in hidden_list]


def inverse(perm):
    """The inverse permutation: ``inverse(perm)[perm[i]] == i``."""
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    return inv


def check_permutations(hidden_list, permutations):
    """``permutations`` as integer arrays, one per hidden layer, each a
    permutation of its units; ValueError / TypeError naming the layer."""
    if isinstance(permutations, (str, bytes)) or not hasattr(permutations, "__len__"):
        raise TypeError("permutations must be a list with one integer array per hidden layer,"
                        f" got {type(permutations).__name__}")
    if len(permutations) != len(hidden_list):
        raise ValueError(f"{len(permutations)} permutation(s) given, but the net has "
                         f"{len(hidden_list)} hidden layer(s) (layers "
                         f"{', '.join(str(h.index) for h in hidden_list) or 'none'})")
    checked = []
    for h, perm in zip(hidden_list, permutations):
        a = np.asarray(perm)
        where = f"permutation of layer {h.index} (width {h.width})"
        if a.dtype.kind not in "iu":
            raise TypeError(f"{where} must hold integers, got dtype {a.dtype}")
        if a.shape != (h.width,) or not np.array_equal(np.sort(a), np.arange(h.width)):
            raise ValueError(f"{where} must hold each of 0..{h.width - 1} once, got shape "
                             f"{a.shape}" + ("" if a.shape != (h.width,) else
                                             " with repeats or values out of range"))
        checked.append(a.astype(np.intp))
    return checked


def permuted_net(net, permutations):
    """A new net: ``net`` with each hidden layer's units moved by its
    permutation (new position -> old unit) and the next layer compensating,
    momentum moved with the weights. It computes ``net``'s function;
    ``net`` is not changed."""
    hidden_list = hidden_layers(net)
    perms = check_permutations(hidden_list, permutations)
    out = net.clone()
    params = permute_all(out, out.snapshot(), hidden_list, perms)
    momentum = permute_all(out, [layer.momentum.copy() if layer.has_weights else v
                                 for layer, v in zip(out.layers, params)], hidden_list, perms)
    out.restore(params)
    for layer, m in zip(out.layers, momentum):
        if layer.has_weights:
            layer.momentum.data[:] = m.data
    return out
