"""The weight-space symmetries of a net, applied to snapshots.

A hidden unit can be moved (permutation) or, where its activation allows,
rescaled, with the next trainable layer's inputs compensating, and the
function does not change. A fully-connected layer's units are its neurons;
a convolution's are its output channels (features). The next layer reads
a unit through one weight (a fully-connected layer after a
fully-connected one), or through one weight per position: a convolution's
kernel ``(ky, kx, channel)`` and a fully-connected layer after a volume
``(y, x, channel)`` both keep the channel fastest, so the next layer's
``(neurons, fan_in)`` weights are ``(neurons, positions, units)`` and the
compensation acts on the last axis. Max-pooling and element-wise layers in
between pass a permutation (and a positive scale) through.

Everything here works on snapshots (lists of parameter volumes, in each
layer's own layout, read through ``layer.split``) and returns new ones:
nothing is modified in place.

A permutation is an integer array, new position -> old unit: ``perm[i]`` is
the unit placed at position i.
"""
from dataclasses import dataclass

import numpy as np

from ..layers import (TNNetConvolution, TNNetConvolutionLinear, TNNetConvolutionReLU,
                      TNNetMaxPool)

# What rescaling each activation survives: positive factors (ReLU is
# positively homogeneous, and so is a max), sign flips (odd functions), or
# neither.
_POSITIVE = {"identity", "relu", "maxpool"}
_SIGN = {"identity", "tanh"}
_CONVOLUTIONS = (TNNetConvolution, TNNetConvolutionReLU, TNNetConvolutionLinear)


def is_conv(layer):
    """True for a convolution layer."""
    return isinstance(layer, _CONVOLUTIONS)


@dataclass(frozen=True)
class HiddenLayer:
    """A trainable layer whose units feed a later trainable layer.

    ``index`` and ``next_index`` are positions in ``net.layers``;
    ``activations`` lists the activation of the layer itself and of every
    weightless layer between the two (``"maxpool"`` for a pooling);
    ``positions`` is how many weights of the next layer read each unit
    (1 for a fully-connected pair); ``conv`` says the units are a
    convolution's channels.
    """
    index: int
    next_index: int
    width: int
    activations: tuple
    positions: int = 1
    conv: bool = False

    @property
    def positive_scale(self):
        """True when every activation is ReLU, identity or a max-pool:
        positive rescaling of a unit is a symmetry."""
        return all(a in _POSITIVE for a in self.activations)

    @property
    def sign_flip(self):
        """True when every activation is tanh or identity (odd): flipping a
        unit's sign is a symmetry."""
        return all(a in _SIGN for a in self.activations)

    @property
    def dense(self):
        """True for a fully-connected layer read by a fully-connected layer,
        one weight per unit (what the swap refinement is written for)."""
        return not self.conv and self.positions == 1


def hidden_layers(net, channels=True):
    """The permutable hidden layers of ``net``, front to back.

    A trainable layer is one when the next trainable layer reads each of
    its units through one weight (the original's rule), or, with
    ``channels``, when its units are its output channels and the next
    layer reads each channel at every position (a convolution followed by
    a convolution or a fully-connected layer).
    """
    trainable = [i for i, layer in enumerate(net.layers) if layer.has_weights]
    hidden = []
    for i, j in zip(trainable, trainable[1:]):
        layer, nxt = net.layers[i], net.layers[j]
        units = layer.neurons
        one_weight = nxt.fan_in == units
        per_channel = (channels and layer.output.shape[2] == units
                       and nxt.fan_in % units == 0)
        if not (one_weight or per_channel):
            continue
        acts = tuple("maxpool" if isinstance(l, TNNetMaxPool) else l.activation
                     for l in net.layers[i:j])
        hidden.append(HiddenLayer(i, j, units, acts, nxt.fan_in // units,
                                  is_conv(layer) or is_conv(nxt)))
    return hidden


def _with_replaced(net, snap, hidden):
    out = list(snap)
    for index in (hidden.index, hidden.next_index):
        out[index] = snap[index].copy()
    return out


def rows(net, snap, index):
    """The ``(units, fan_in)`` incoming weights of a layer in a snapshot (a view)."""
    return net.layers[index].split(snap[index].data)[0]


def bias(net, snap, index):
    """The bias vector of a layer in a snapshot (a view)."""
    return net.layers[index].split(snap[index].data)[1]


def by_unit(weights, units):
    """A next layer's ``(neurons, fan_in)`` weights as ``(neurons,
    positions, units)``: the last axis is the hidden layer's units."""
    return weights.reshape(weights.shape[0], -1, units)


def input_columns(width, fan_in, perm):
    """The column order of a next layer's ``fan_in`` inputs that moves the
    hidden units by ``perm`` at every position."""
    return (np.arange(fan_in).reshape(-1, width)[:, perm]).ravel()


def unit_activations(outputs, width):
    """A hidden layer's outputs ``(samples, size)`` as ``(observations,
    units)``: for channels, every sample at every position is one
    observation."""
    return outputs.reshape(-1, width)


def permute(net, snap, hidden, perm):
    """Move unit ``perm[i]`` of a hidden layer to position i, and the matching
    inputs of the next trainable layer with it (at every position)."""
    perm = np.asarray(perm)
    out = _with_replaced(net, snap, hidden)
    w, b = net.layers[hidden.index].split(out[hidden.index].data)
    w[:] = w[perm]
    b[:] = b[perm]
    w_next = rows(net, out, hidden.next_index)
    w_next[:] = w_next[:, input_columns(hidden.width, w_next.shape[1], perm)]
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
    w, b = net.layers[hidden.index].split(out[hidden.index].data)
    w *= factors[:, None]
    b *= factors
    w_next = rows(net, out, hidden.next_index)
    w_next /= np.tile(factors, hidden.positions)
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
    ``net`` is not changed. One permutation per hidden layer, conv channels
    included, or one per layer the original permutes (what a report with
    ``permute_channels=False`` gives)."""
    out = net.clone()           # one state of net: the permutations are checked against it
    hidden_list = hidden_layers(out)
    original = hidden_layers(out, channels=False)
    if (not isinstance(permutations, (str, bytes)) and hasattr(permutations, "__len__")
            and len(permutations) == len(original) != len(hidden_list)):
        hidden_list = original
    perms = check_permutations(hidden_list, permutations)
    params = permute_all(out, out.snapshot(), hidden_list, perms)
    momentum = permute_all(out, [layer.momentum.copy() if layer.has_weights else v
                                 for layer, v in zip(out.layers, params)], hidden_list, perms)
    out.restore(params)
    for layer, m in zip(out.layers, momentum):
        if layer.has_weights:
            layer.momentum.data[:] = m.data
    return out
