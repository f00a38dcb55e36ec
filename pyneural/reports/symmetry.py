"""The weight-space symmetries of a net, applied to snapshots: the
permutation spec, derived from the graph.

A *unit* is a neuron of a fully-connected layer or an output channel of a
convolution (the *unit layers*, ``is_unit_layer``). Units can be moved
(permutation) or, where every function they pass through allows,
rescaled, with the layers that read them compensating, and the function
does not change. On a net with branches, units are tied: the layers that
write into one ``TNNetSum`` must move their channels alike (the sum adds
channel c of each), so a residual stream, carried through the sum and past
it into further sums, is one group. ``hidden_layers`` finds the groups
(``PermutationGroup``), as Git Re-Basin's ``permutation_spec`` does, by
following every unit through the graph:

- a unit layer's output is its own units (a convolution's at every
  position); it is a *producer* of the groups its units belong to;
- element-wise layers, dropout, the moving-std normalisation (one mean
  and one deviation for the whole volume) pass a permutation through;
- poolings (max, average, channel max and average) and the channel-std
  normalisation act per channel: they pass it through when every position
  of a channel holds the same unit (a convolution's output), and the
  channel-std layer's two weights of that channel move with it;
- a ``TNNetSum`` ties, element by element, the units of its inputs;
  ``TNNetDeepConcat`` places its inputs' channels side by side and
  ``TNNetConcat`` their values one after the other, so each input keeps
  its own units;
- a unit layer reads units through its weight columns: a fully-connected
  layer one column per input value (a unit of a convolution at every
  position), a convolution its kernel's ``(ky, kx, channel)`` columns
  (every kernel position of the channel).

Units that reach the output, come from the input, or are tied in a way no
permutation respects (a sum of a unit and the input, a pooled channel that
mixes units, a producer twice in one tie) are fixed. Each group is the set
of tied units whose producers are the same layers; it moves every
producer's rows and biases, every reader's columns and every channel-std
weight of its units with one permutation. Layers the output does not
depend on (a branch nothing reads) take no part.

Everything here works on snapshots (lists of parameter volumes, in each
layer's own layout, read through ``layer.split``) and returns new ones:
nothing is modified in place.

A permutation is an integer array, new position -> old unit: ``perm[i]`` is
the unit placed at position i (for a group, position i of its units in the
order of its first producer).
"""
from dataclasses import dataclass, field

import numpy as np

from ..layers import (TNNetChannelStdNormalization, TNNetConvolution, TNNetConvolutionLinear,
                      TNNetConvolutionReLU, TNNetDeepConcat, TNNetSum)

# What rescaling each function a unit passes through survives: positive
# factors (positively homogeneous: ReLU, leaky ReLU, linear maps, a max),
# sign flips (odd functions), or neither (sigmoid, softmax, ReLU6, swish,
# SELU, the normalisations). A sum, a concatenation and disabled dropout
# are linear; the reports disable dropout on their work copies.
_POSITIVE = {"identity", "relu", "leaky_relu", "maxpool", "avgpool", "maxchannel", "sum",
             "concat", "deepconcat", "dropout"}
_SIGN = {"identity", "tanh", "avgpool", "sum", "concat", "deepconcat", "dropout"}
# Weightless layers named by what they do to a channel rather than by
# their (identity) activation.
_STRUCTURAL = {"maxpool", "avgpool", "maxchannel", "sum", "concat", "deepconcat",
               "moving_std", "channel_std", "dropout"}
# Layers that act on each channel over its positions.
_PER_CHANNEL = {"maxpool", "avgpool", "maxchannel"}
_CONVOLUTIONS = (TNNetConvolution, TNNetConvolutionReLU, TNNetConvolutionLinear)
_FIXED = 0          # the slot every fixed unit is tied to


def is_conv(layer):
    """True for a convolution layer (pointwise ones included)."""
    return isinstance(layer, _CONVOLUTIONS)


def is_unit_layer(layer):
    """True for a fully-connected layer or a convolution: a weighted layer
    whose rows are units (the normalisations' neurons are not)."""
    return layer.has_weights and hasattr(layer, "pre_activation")


def _name(layer):
    """What a layer does to the units passing through it (its activation,
    or its kind for poolings, merges, normalisations and dropout)."""
    return layer.kind if layer.kind in _STRUCTURAL else layer.activation


@dataclass(frozen=True, eq=False)
class PermutationGroup:
    """Units that move with one permutation.

    ``index`` is the first producer's position in ``net.layers`` (the
    group's name in the reports); ``producers`` are the unit layers whose
    rows and biases it moves, ``readers`` the unit layers whose weight
    columns it moves; ``width`` is its number of units; ``activations``
    lists, in layer order, the producers' activations and what every
    weightless layer the units pass through does (``"maxpool"``,
    ``"sum"``, ...); ``positions`` is how many columns of the first reader
    read each unit (1 for a fully-connected pair); ``conv`` says the units
    are a convolution's channels.

    The index maps, in the group's unit order: ``units[p]`` the rows of
    producer p; ``columns[r]`` a ``(width, m)`` array, the weight columns
    of reader (or channel-std layer) r that read each unit; ``inputs[t]``
    a ``(width, m)`` array, the values of layer t's output (a reader's
    input) that hold each unit; ``sums[s]`` the same for the output of
    each sum that ties the producers (the residual stream as written).
    """
    index: int
    width: int
    producers: tuple
    readers: tuple
    activations: tuple
    positions: int = 1
    conv: bool = False
    units: dict = field(default_factory=dict, repr=False)
    columns: dict = field(default_factory=dict, repr=False)
    inputs: dict = field(default_factory=dict, repr=False)
    sums: dict = field(default_factory=dict, repr=False)

    def _key(self):
        return (self.index, self.width, self.producers, self.readers, self.activations,
                self.positions, self.conv, tuple(self.columns))

    def __eq__(self, other):
        return isinstance(other, PermutationGroup) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    @property
    def next_index(self):
        """The first reader's position in ``net.layers``."""
        return self.readers[0]

    @property
    def tied(self):
        """True when several layers produce the group (a residual stream)."""
        return len(self.producers) > 1

    @property
    def positive_scale(self):
        """True when every function the units pass through is positively
        homogeneous: positive rescaling of a unit is a symmetry."""
        return all(a in _POSITIVE for a in self.activations)

    @property
    def sign_flip(self):
        """True when every function the units pass through is odd:
        flipping a unit's sign is a symmetry."""
        return all(a in _SIGN for a in self.activations)

    @property
    def dense(self):
        """True for one fully-connected layer read by one fully-connected
        layer through one weight per unit, in unit order (what the swap
        refinement is written for)."""
        if self.conv or self.positions != 1 or self.tied or len(self.columns) != 1:
            return False
        order = np.arange(self.width)
        return (np.array_equal(self.units[self.index], order)
                and np.array_equal(self.columns[self.next_index][:, 0], order))

    def describe(self):
        """``net layer 4`` or, for a tied group, ``net layers 1, 3, 8``."""
        if not self.tied:
            return f"net layer {self.index}"
        return "net layers " + ", ".join(map(str, self.producers))


# ----------------------------------------------------------- the graph --

class _Slots:
    """Union-find over units (slots); slot 0 is ``_FIXED`` and stays a root."""

    def __init__(self):
        self.parent = [_FIXED]

    def new(self, n):
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        return np.arange(start, start + n)

    def find(self, s):
        parent = self.parent
        while parent[s] != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    def union(self, a, b):
        ra, rb = self.find(int(a)), self.find(int(b))
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)      # the fixed slot stays the root

    def union_arrays(self, a, b):
        """Tie ``a[i]`` to ``b[i]`` for every i."""
        for x, y in np.unique(np.stack([a, b], axis=1), axis=0):
            self.union(x, y)

    def fix(self, slots):
        for s in np.unique(slots):
            self.union(s, _FIXED)

    def roots(self, slots):
        """Each slot's root (a new array)."""
        values, where = np.unique(slots, return_inverse=True)
        return np.array([self.find(int(v)) for v in values], np.int64)[where.reshape(-1)]


def _reads_flat(layer):
    """True when a convolution's kernel covers its whole input at one
    position without padding: its columns are then the input's values in
    their raw order, as a fully-connected layer's."""
    sx, sy, _ = layer.input_shape
    return (layer.input_padding == 0 and (layer.feature_size_x, layer.feature_size_y) == (sx, sy)
            and layer.output.size == layer.neurons)


def _by_channel(labels, depth):
    return labels.reshape(-1, depth)


def live_layers(net):
    """Per layer, True when the output depends on it (a branch nothing
    reads is not live)."""
    live = [False] * len(net.layers)
    live[-1] = True
    for layer in reversed(net.layers):
        if live[layer.index]:
            for j in layer.input_indices():
                live[j] = True
    return live


def _label(net, live):
    """Follow every unit through the live layers of the graph. Returns the
    slots (union-find), each layer's output as an array of slots (raw
    order; fixed for the input and dead layers), each unit layer's slots,
    and the per-channel inputs (a layer's input labels as (positions,
    channels)) that must hold one unit per channel."""
    slots = _Slots()
    labels, units, per_channel = [], {}, []
    for layer in net.layers:
        reads = layer.input_indices()
        if not reads or not live[layer.index]:
            labels.append(np.zeros(layer.output.size, np.int64))
            continue
        if layer.merges:
            ins = [labels[j] for j in reads]
            if isinstance(layer, TNNetSum):
                for other in ins[1:]:
                    slots.union_arrays(ins[0], other)
                out = ins[0]
            elif isinstance(layer, TNNetDeepConcat):
                planes = layer.output.shape[0] * layer.output.shape[1]
                out = np.concatenate([h.reshape(planes, -1) for h in ins], axis=1).ravel()
            else:
                out = np.concatenate(ins)
            labels.append(out)
            continue
        h = labels[reads[0]]
        depth = net.layers[reads[0]].output.shape[2]
        if is_unit_layer(layer):
            if is_conv(layer) and not _reads_flat(layer):
                per_channel.append(_by_channel(h, depth))
            units[layer.index] = u = slots.new(layer.neurons)
            out = np.tile(u, layer.output.size // layer.neurons)
        elif layer.kind in _PER_CHANNEL:
            per_channel.append(_by_channel(h, depth))
            out = np.tile(_by_channel(h, depth)[0], layer.output.size // depth)
        else:
            if isinstance(layer, TNNetChannelStdNormalization) and depth > 1:
                per_channel.append(_by_channel(h, depth))
            out = h
        labels.append(out)
    slots.fix(labels[-1])                       # the output is never permuted
    return slots, labels, units, per_channel


def _fix_unpermutable(slots, units, per_channel):
    """Fix the tied units no permutation can move: a channel of a
    per-channel layer's input holding several units, a producer with two
    units in one tie."""
    for h in per_channel:
        r = np.stack([slots.roots(column) for column in h.T], axis=1)
        mixed = np.any(r != r[:1], axis=0)
        slots.fix(r[:, mixed])
    for u in units.values():
        r = slots.roots(u)
        values, counts = np.unique(r, return_counts=True)
        slots.fix(values[counts > 1])


def _by_class(labels, classes):
    """Per class (in order), the positions of ``labels`` that hold it, as
    a ``(classes, m)`` array; None when none does."""
    classes = np.asarray(classes)
    order = np.argsort(classes)
    at = np.minimum(np.searchsorted(classes[order], labels), len(classes) - 1)
    k = np.where(classes[order][at] == labels, order[at], -1)
    if not np.any(k >= 0):
        return None
    order = np.argsort(k, kind="stable")
    counts = np.bincount(k[k >= 0], minlength=len(classes))
    return order[len(k) - counts.sum():].reshape(len(classes), counts[0])


def _graph_groups(net):
    """The permutation groups of ``net``'s graph (see the module's docstring)."""
    live = live_layers(net)
    slots, labels, units, per_channel = _label(net, live)
    _fix_unpermutable(slots, units, per_channel)
    roots = {p: slots.roots(u) for p, u in units.items()}
    members = {}            # class -> its producers, in order
    for p, r in roots.items():
        for c in r:
            if c != _FIXED:
                members.setdefault(int(c), []).append(p)
    families = {}           # producers -> their classes, in the first producer's unit order
    for c, ps in members.items():
        families.setdefault(tuple(ps), []).append(c)
    layer_roots = [slots.roots(h) for h in labels]
    present = [set(np.unique(r).tolist()) for r in layer_roots]
    groups = []
    for producers, classes in families.items():
        group = _group(net, producers, classes, roots, layer_roots, present, live)
        if group is not None:
            groups.append(group)
    return sorted(groups, key=lambda g: (g.index, int(g.units[g.index][0])))


def _group(net, producers, classes, roots, layer_roots, present, live):
    """One PermutationGroup of ``classes`` (tied units) made by
    ``producers``, or None when no unit layer reads it. ``layer_roots``:
    each layer's output as tied units, ``present``: the set of them."""
    own = set(classes)
    unit_maps = {p: _by_class(roots[p], classes)[:, 0] for p in producers}
    columns, inputs, readers, sums = {}, {}, [], {}
    for layer in net.layers[1:]:
        if not live[layer.index]:
            continue
        if layer.merges:
            if isinstance(layer, TNNetSum) and own & present[layer.index]:
                sums[layer.index] = _by_class(layer_roots[layer.index], classes)
            continue
        j = layer.input_indices()[0]
        lab = layer_roots[j]
        depth = net.layers[j].output.shape[2]
        if is_unit_layer(layer):
            if is_conv(layer) and not _reads_flat(layer):
                cols = np.tile(_by_channel(lab, depth)[0],
                               layer.feature_size_x * layer.feature_size_y)
            else:
                cols = lab
            found = _by_class(cols, classes)
            if found is not None:
                columns[layer.index] = found
                inputs[j] = _by_class(lab, classes)
                readers.append(layer.index)
        elif isinstance(layer, TNNetChannelStdNormalization) and depth > 1:
            found = _by_class(_by_channel(lab, depth)[0], classes)
            if found is not None:
                columns[layer.index] = found
    if not readers:
        return None
    activations = tuple(
        net.layers[i].activation if i in unit_maps else _name(net.layers[i])
        for i in range(1, len(net.layers))
        if i in unit_maps or (not is_unit_layer(net.layers[i]) and any(
            own & present[j] for j in net.layers[i].input_indices())))
    return PermutationGroup(producers[0], len(classes), producers, tuple(readers), activations,
                            columns[readers[0]].shape[1],
                            any(is_conv(net.layers[i]) for i in producers + tuple(readers)),
                            unit_maps, columns, inputs, sums)


def _original_groups(net):
    """The original's rule: a trainable layer whose next trainable layer
    (in layer order) has one input weight per unit of it."""
    trainable = [i for i, layer in enumerate(net.layers) if layer.has_weights]
    groups = []
    for i, j in zip(trainable, trainable[1:]):
        layer, nxt = net.layers[i], net.layers[j]
        width = layer.neurons
        if nxt.fan_in != width:
            continue
        acts = tuple(_name(l) for l in net.layers[i + 1:j])
        order = np.arange(width)
        groups.append(PermutationGroup(i, width, (i,), (j,), (layer.activation,) + acts, 1,
                                       is_conv(layer) or is_conv(nxt), {i: order},
                                       {j: order[:, None]}, {nxt.prev: order[:, None]}))
    return groups


def hidden_layers(net, channels=True):
    """The permutation spec of ``net``: its permutation groups, ordered by
    their first producer (then by its first unit).

    With ``channels`` (the default), derived from the graph (see the
    module's docstring): on a chain, one group per unit layer that a later
    unit layer reads (a fully-connected pair, or a convolution's channels
    read by a convolution or a fully-connected layer at every position).
    Without, the original's rule: a trainable layer whose next trainable
    layer, in layer order, has exactly one input weight per unit of it.

    Returns
    -------
    list of PermutationGroup
    """
    return _graph_groups(net) if channels else _original_groups(net)


# ------------------------------------------------------------- applying --

def rows(net, snap, index):
    """The ``(units, fan_in)`` incoming weights of a layer in a snapshot (a view)."""
    return net.layers[index].split(snap[index].data)[0]


def bias(net, snap, index):
    """The bias vector of a layer in a snapshot (a view)."""
    return net.layers[index].split(snap[index].data)[1]


def unit_activations(outputs, width):
    """A unit layer's outputs ``(samples, size)`` as ``(observations,
    units)``: for channels, every sample at every position is one
    observation."""
    return outputs.reshape(-1, width)


def group_values(outputs, elements):
    """A layer's outputs ``(samples, size)`` as ``(observations, units)``
    for the group whose units the layer holds at ``elements`` (a
    ``group.inputs`` entry, ``(width, m)``): every sample at every place
    is one observation."""
    return outputs[:, elements.T].reshape(-1, elements.shape[0])


def _with_replaced(snap, group):
    out = list(snap)
    for index in set(group.units) | set(group.columns):
        out[index] = snap[index].copy()
    return out


def permute(net, snap, group, perm):
    """Move unit ``perm[i]`` of a group to position i: every producer's
    rows and biases, every reader's columns (at every position) and every
    channel-std weight of the units with it."""
    perm = np.asarray(perm)
    out = _with_replaced(snap, group)
    for index, units in group.units.items():
        w, b = net.layers[index].split(out[index].data)
        w[units] = w[units[perm]]
        b[units] = b[units[perm]]
    for index, cols in group.columns.items():
        w = rows(net, out, index)
        w[:, cols] = w[:, cols[perm]]
    return out


def permute_all(net, snap, groups, perms):
    """Apply one permutation per group."""
    for group, perm in zip(groups, perms):
        snap = permute(net, snap, group, perm)
    return snap


def scale(net, snap, group, factors):
    """Multiply each unit's incoming weights and bias by ``factors[i]`` in
    every producer and its weights by ``1 / factors[i]`` in every reader
    (float32 throughout). A symmetry when ``group.positive_scale`` (for
    positive factors) or ``group.sign_flip`` (for -1)."""
    factors = np.asarray(factors, dtype=np.float32)
    out = _with_replaced(snap, group)
    for index, units in group.units.items():
        w, b = net.layers[index].split(out[index].data)
        w[units] *= factors[:, None]
        b[units] *= factors
    for index, cols in group.columns.items():
        w = rows(net, out, index)
        w[:, cols] /= factors[:, None]
    return out


def is_identity(perm):
    """True when ``perm`` is ``0, 1, ..., n-1``."""
    return bool(np.array_equal(perm, np.arange(len(perm))))


def churn(perm):
    """Fraction of positions whose unit moved."""
    perm = np.asarray(perm)
    return float(np.mean(perm != np.arange(len(perm)))) if len(perm) else 0.0


def random_permutations(groups, generator):
    """One uniformly random permutation per group (numpy Generator)."""
    return [generator.permutation(g.width) for g in groups]


def inverse(perm):
    """The inverse permutation: ``inverse(perm)[perm[i]] == i``."""
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    return inv


def check_permutations(groups, permutations):
    """``permutations`` as integer arrays, one per group, each a
    permutation of its units; ValueError / TypeError naming the group."""
    if isinstance(permutations, (str, bytes)) or not hasattr(permutations, "__len__"):
        raise TypeError("permutations must be a list with one integer array per permutation "
                        f"group, got {type(permutations).__name__}")
    if len(permutations) != len(groups):
        raise ValueError(f"{len(permutations)} permutation(s) given, but the net has "
                         f"{len(groups)} hidden layer(s), that is permutation groups ("
                         f"{'; '.join(g.describe() for g in groups) or 'none'})")
    checked = []
    for g, perm in zip(groups, permutations):
        a = np.asarray(perm)
        where = f"permutation of {g.describe()} (width {g.width})"
        if a.dtype.kind not in "iu":
            raise TypeError(f"{where} must hold integers, got dtype {a.dtype}")
        if a.shape != (g.width,) or not np.array_equal(np.sort(a), np.arange(g.width)):
            raise ValueError(f"{where} must hold each of 0..{g.width - 1} once, got shape "
                             f"{a.shape}" + ("" if a.shape != (g.width,) else
                                             " with repeats or values out of range"))
        checked.append(a.astype(np.intp))
    return checked


def permuted_net(net, permutations):
    """A new net: ``net`` with each group's units moved by its permutation
    (new position -> old unit) and the readers compensating, momentum
    moved with the weights. It computes ``net``'s function; ``net`` is not
    changed. One permutation per group of ``hidden_layers(net)``, in its
    order, or one per layer the original permutes (what a report with
    ``permute_channels=False`` gives)."""
    out = net.clone()           # one state of net: the permutations are checked against it
    groups = hidden_layers(out)
    original = hidden_layers(out, channels=False)
    if (not isinstance(permutations, (str, bytes)) and hasattr(permutations, "__len__")
            and len(permutations) == len(original) != len(groups)):
        groups = original
    perms = check_permutations(groups, permutations)
    params = permute_all(out, out.snapshot(), groups, perms)
    momentum = permute_all(out, [layer.momentum.copy() if layer.has_weights else v
                                 for layer, v in zip(out.layers, params)], groups, perms)
    out.restore(params)
    for layer, m in zip(out.layers, momentum):
        if layer.has_weights:
            layer.momentum.data[:] = m.data
    return out
