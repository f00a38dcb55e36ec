"""PyTorch's state-dict layout of a net, in numpy (torch is not needed).

Layout. The net is a torch model of modules, numbered in the order they
are made, layer by layer: each fully-connected layer is one ``Linear``
(tensors ``"<i>.weight"``, shape (out, in), and ``"<i>.bias"``) followed
by its activation module when it has one (``ReLU``, ``Tanh``,
``Sigmoid``); a weightless layer is its own module (``TNNetReLU`` ->
``ReLU``, ``TNNetSoftMax`` -> ``Softmax(dim=-1)``, ``TNNetIdentity`` ->
``Identity`` ...). ``<i>`` is the module's number, so
``net.to_torch().state_dict()`` has the keys of ``net.to_state_dict()``;
for a chain (every layer reads the one before it) the model is the
``nn.Sequential`` of those modules and ``<i>`` its index there. The torch
model takes rows of ``input_size`` values in pyneural's flat order.

Convolutional nets. A convolution is a ``Conv2d`` (zeros padding, dilation
1, groups 1; weight ``(features, depth, k, k)``) followed by its activation
module, a max-pool a ``MaxPool2d``, and a ``Flatten`` stands before a
``Linear`` that reads a volume (one per volume read). The torch model then
takes NCHW images, with C = depth, H = size_y, W = size_x
(``pyneural.image_rows`` turns them into the rows ``compute_batch`` reads,
``pyneural.images_from_rows`` back). The conversion reorders the kernels
(pyneural's are ``(ky, kx, depth)`` in raw order) and such a Linear's
columns (pyneural reads the volume flat in raw order ``(y, x, depth)``,
torch's Flatten in ``(depth, y, x)``), so both compute the same function
of the same image.

Nets with branches (``TNNetSum``, ``TNNetConcat``, ``TNNetDeepConcat``, a
layer reading another than the one before it). The same modules, numbered
the same way, wired as a graph (``to_torch`` gives a ``torch.fx``
GraphModule): a sum is ``+`` (in its links' order), a depth concatenation
``torch.cat(dim=1)`` of images, a flat concatenation ``torch.cat(dim=1)``
of rows in pyneural's raw order (an image becomes such rows by
``permute(0, 2, 3, 1).flatten(1)``). Sums, concatenations and permutes are
no modules: they take no number and have no tensors. The layers of the
original that torch lacks are small modules of ``pyneural.io.torch_layers``
whose tensors are the layer's own ``weight`` (neurons, fan_in) and ``bias``
(the two normalisations; the original's SELU, which has none).

A layer with ``suppress_bias`` is ``Linear(bias=False)`` (``Conv2d(...,
bias=False)``): its state dict has no bias (the forward pass does not use
the one pyneural stores). A state dict from elsewhere
(``from_state_dict``) is a chain of Linear layers and needs
``activations``, one name per Linear layer; a Linear without a bias
(``bias=False``) is a ``suppress_bias`` layer, and stays bias-less when
saved. Tensors do not say how convolutions and branches are wired: those
nets come from ``from_torch(module)`` or from pyneural's own files, whose
metadata holds the structure.
"""
from typing import NamedTuple

import numpy as np

from ..layers import (TNNetAvgChannel, TNNetAvgPool, TNNetChannelStdNormalization,
                      TNNetConcat, TNNetConvolution, TNNetConvolutionLinear,
                      TNNetConvolutionReLU, TNNetDeepConcat, TNNetDropout, TNNetFullConnect,
                      TNNetFullConnectLinear, TNNetFullConnectReLU, TNNetFullConnectSigmoid,
                      TNNetHyperbolicTangent, TNNetIdentity, TNNetInput, TNNetLeakyReLU,
                      TNNetMaxChannel, TNNetMaxPool, TNNetMovingStdNormalization, TNNetReLU,
                      TNNetReLU6, TNNetSELU, TNNetSigmoid, TNNetSoftMax, TNNetSum, TNNetSwish)
from ..net import TNNet
from .errors import FormatError
from .tensors import _checked_tensors, _natural

# One name per Linear layer, as `activations` takes them.
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear", "softmax")

# An activation module right after a Linear folds into the FC class; the
# others (softmax among them, as in the original) are weightless layers.
_FOLDED = {"relu": TNNetFullConnectReLU, "tanh": TNNetFullConnect,
           "sigmoid": TNNetFullConnectSigmoid}
_WEIGHTLESS = {"relu": TNNetReLU, "tanh": TNNetHyperbolicTangent, "sigmoid": TNNetSigmoid,
               "identity": TNNetIdentity, "softmax": TNNetSoftMax}

_CONVOLUTIONS = (TNNetConvolutionLinear, TNNetConvolutionReLU, TNNetConvolution)
_FULL_CONNECTS = (TNNetFullConnectLinear, TNNetFullConnectReLU, TNNetFullConnect,
                  TNNetFullConnectSigmoid)
# The module kind of each layer class that is one module (exact classes:
# TNNetAvgChannel is no TNNetAvgPool subclass, nor the reverse).
_MODULE_KINDS = {
    TNNetReLU: "relu", TNNetSigmoid: "sigmoid", TNNetHyperbolicTangent: "tanh",
    TNNetIdentity: "identity", TNNetSoftMax: "softmax", TNNetLeakyReLU: "leakyrelu",
    TNNetReLU6: "relu6", TNNetSwish: "silu", TNNetSELU: "selu", TNNetDropout: "dropout",
    TNNetMaxPool: "maxpool2d", TNNetAvgPool: "avgpool2d", TNNetAvgChannel: "avgchannel",
    TNNetMaxChannel: "adaptivemaxpool2d", TNNetMovingStdNormalization: "movingstd",
    TNNetChannelStdNormalization: "channelstd"}
# Kinds that read images (NCHW) only.
_IMAGE_KINDS = {"conv2d", "maxpool2d", "avgpool2d", "avgchannel", "adaptivemaxpool2d"}
# Steps that are graph operations, not modules (no number, no tensors).
_OPERATIONS = {"input", "add", "cat", "rows"}


class _Step(NamedTuple):
    """One value of the torch model: ``kind`` (a module kind, or one of
    ``_OPERATIONS``), the layer it computes (None for the activation module
    of a weighted layer, a Flatten, a permute), the steps it reads, its
    module's name (None for an operation), ``cols`` (a Linear after a
    Flatten: the pyneural column of each torch column, None when the
    orders agree) and whether its value is an NCHW image (else rows)."""
    kind: str
    layer: object
    reads: tuple
    name: object
    cols: object
    image: bool


def _chw_columns(shape):
    """The raw (y, x, c) index of each position of a volume of shape
    ``(size_x, size_y, depth)`` as torch flattens it, (c, y, x); None when
    the two orders agree (one channel, or a 1x1 plane)."""
    sx, sy, d = shape
    if d == 1 or sx * sy == 1:
        return None
    return np.arange(sx * sy * d).reshape(sy, sx, d).transpose(2, 0, 1).ravel()


def _torch_plan(net):
    """The torch model of ``net`` as a list of ``_Step`` in the order they
    compute (step 0 reads the model's input; each layer's output is the
    step ``out[layer.index]``), and ``out``.

    The model takes NCHW images when a layer needs them (a convolution, a
    pooling, a depth concatenation), else rows. Raises FormatError for a
    layer torch's modules cannot compute where it stands (a convolution or
    pooling after a fully-connected layer, a softmax over a 3-D volume, a
    class with no counterpart)."""
    layers = net.layers
    images = any(isinstance(layer, _CONVOLUTIONS + (TNNetDeepConcat,))
                 or _MODULE_KINDS.get(type(layer)) in _IMAGE_KINDS for layer in layers[1:])
    steps = [_Step("input", layers[0], (), None, None, images)]
    out, flattened, as_rows = [0], {}, {}

    def add(kind, layer, reads, image, cols=None):
        name = None if kind in _OPERATIONS else str(sum(s.name is not None for s in steps))
        steps.append(_Step(kind, layer, tuple(reads), name, cols, image))
        return len(steps) - 1

    def rows(i):
        # Step i's value as rows in pyneural's raw order.
        if steps[i].image and i not in as_rows:
            as_rows[i] = add("rows", None, (i,), False)
        return as_rows.get(i, i)

    for layer in layers[1:]:
        where = f"layer {layer.index} ({layer.class_name})"
        reads = [out[j] for j in layer.input_indices()]
        image = all(steps[i].image for i in reads)
        kind = ("conv2d" if isinstance(layer, _CONVOLUTIONS) else
                "linear" if isinstance(layer, _FULL_CONNECTS) else
                "add" if isinstance(layer, TNNetSum) else
                "cat" if isinstance(layer, (TNNetConcat, TNNetDeepConcat)) else
                _MODULE_KINDS.get(type(layer)))
        if kind is None:
            raise FormatError(f"{where} has no torch counterpart")
        if (kind in _IMAGE_KINDS or isinstance(layer, TNNetDeepConcat)) and not image:
            raise FormatError(f"{where} follows a fully-connected layer or a flat "
                              "concatenation (it reads rows, not images): no torch counterpart")
        if kind == "softmax" and image:
            raise FormatError(f"{where} is a softmax over a 3-D volume: no torch module "
                              "computes it")
        cols = None
        if isinstance(layer, TNNetConcat) or (kind == "add" and not image):
            reads, image = [rows(i) for i in reads], False
        elif kind == "linear" and image:
            if reads[0] not in flattened:
                flattened[reads[0]] = add("flatten", None, reads, False)
            cols = _chw_columns(layers[layer.prev].output.shape)
            reads, image = [flattened[reads[0]]], False
        last = add(kind, layer, reads, image, cols)
        if kind in ("conv2d", "linear") and layer.activation != "identity":
            last = add(layer.activation, None, (last,), image)
        out.append(last)
    return steps, out


def _weighted_keys(net):
    """``(layer, weight key, bias key or None, cols)`` for each weighted
    layer, keys as ``to_state_dict`` names them (``cols`` as in ``_Step``)."""
    return [(s.layer, f"{s.name}.weight", None if s.layer.suppress_bias else f"{s.name}.bias",
             s.cols) for s in _torch_plan(net)[0] if s.layer is not None and s.layer.has_weights]


def _kernel_size(layer):
    """``(height, width)`` of a convolution's kernels (square unless clamped
    to a smaller input)."""
    return (layer.feature_size_y, layer.feature_size_x)


def _torch_shape(layer):
    """The shape of ``layer``'s weight tensor in torch."""
    if isinstance(layer, _CONVOLUTIONS):
        return (layer.neurons, layer.input_shape[2]) + _kernel_size(layer)
    return (layer.neurons, layer.fan_in)


def _to_torch_layout(layer, weights, cols=None):
    """pyneural ``weights`` (neurons, fan_in) of ``layer`` in torch's layout."""
    if isinstance(layer, _CONVOLUTIONS):
        return layer.kernels(weights).transpose(0, 3, 1, 2)          # (F, C, ky, kx)
    return weights if cols is None else weights[:, cols]


def _from_torch_layout(layer, tensor, cols=None):
    """A torch weight tensor of ``layer`` in pyneural's (neurons, fan_in) layout."""
    if isinstance(layer, _CONVOLUTIONS):
        return tensor.transpose(0, 2, 3, 1).reshape(len(tensor), -1)  # (F, ky, kx, C)
    if cols is None:
        return tensor
    weights = np.empty_like(tensor)
    weights[:, cols] = tensor
    return weights


def activations_of(net):
    """The ``activations`` list that describes ``net``: for each FC layer,
    the activation module that reads its Linear (``"linear"`` for none,
    or for several readers).

    Parameters
    ----------
    net : TNNet

    Returns
    -------
    list of str
        One of ``ACTIVATIONS`` per fully-connected layer.
    """
    steps = _torch_plan(net)[0]
    readers = {}
    for step in steps:
        for i in step.reads:
            readers.setdefault(i, []).append(step.kind)
    return [readers[i][0] if len(readers.get(i, ())) == 1 and readers[i][0] in ACTIVATIONS
            else "linear" for i, step in enumerate(steps) if step.kind == "linear"]


def parse_activations(activations):
    """``activations`` as a tuple of names, checked.

    Parameters
    ----------
    activations : str or sequence of str
        Names of ``ACTIVATIONS``, case-insensitive: a sequence, or one
        comma-separated string (``"relu,relu,linear"``).

    Returns
    -------
    tuple of str

    Raises
    ------
    ValueError
        An empty list or an unknown name (the message names it).
    TypeError
        Neither a str nor a sequence of str.
    """
    items = activations.split(",") if isinstance(activations, str) else activations
    try:
        names = tuple(name.strip().lower() for name in items)
    except (TypeError, AttributeError):
        raise TypeError("activations must be names like 'relu,relu,linear' or a list of "
                        f"them, got {activations!r}") from None
    for name in names:
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r} in {activations!r} (use "
                             f"{', '.join(ACTIVATIONS)})")
    if not names:
        raise ValueError("activations is empty: give one name per Linear layer")
    return names


def to_state_dict(net):
    """The net's weights in PyTorch's layout: the state dict of
    ``to_torch(net)`` (see the module's docstring), without torch.

    Parameters
    ----------
    net : TNNet
        A chain or a net with branches.

    Returns
    -------
    dict of str to numpy.ndarray
        ``"<i>.weight"`` (out, in) for a Linear, (out, in channels, k, k)
        for a Conv2d, (neurons, fan_in) for a normalisation, and
        ``"<i>.bias"``, float32 copies in module order; no bias for a
        ``suppress_bias`` layer. ``<i>`` numbers the torch model's modules
        (the ``nn.Sequential`` index for a chain).

    Raises
    ------
    FormatError
        A net with no torch counterpart (a convolution or pooling after a
        fully-connected layer, a softmax over a 3-D volume), naming the
        layer.
    """
    state = {}
    with net.lock:                       # all the weights at once: no torn read
        for layer, weight_key, bias_key, cols in _weighted_keys(net):
            # np.array copies: a one-neuron layer's weights view is already
            # "contiguous", so ascontiguousarray would hand out the live view.
            state[weight_key] = np.array(_to_torch_layout(layer, layer.weights, cols),
                                         dtype=np.float32, order="C")
            if bias_key is not None:
                state[bias_key] = layer.bias.copy()
    return state


def _linear_groups(arrays, source):
    """``(weight key, bias key or None)`` per Linear layer, in the order the
    keys first appear, checked: only ``.weight`` / ``.bias`` tensors, 2-D
    weights, biases that fit, shapes that chain."""
    groups = {}
    for key in arrays:
        prefix, _, suffix = key.rpartition(".")
        if suffix not in ("weight", "bias"):
            raise FormatError(f"{source}: unexpected tensor '{key}': only Linear layers' "
                              "'<name>.weight' and '<name>.bias' are supported")
        groups.setdefault(prefix, {})[suffix] = key
    if not groups:
        raise FormatError(f"{source}: no tensors (no Linear layer)")
    layout, prev = [], None
    for prefix, keys in groups.items():
        if "weight" not in keys:
            raise FormatError(f"{source}: '{keys['bias']}' has no weight "
                              f"('{prefix + '.' if prefix else ''}weight' is missing)")
        w_key, b_key = keys["weight"], keys.get("bias")
        w = arrays[w_key]
        if w.ndim == 4:
            raise FormatError(f"{source}: '{w_key}' has shape {w.shape}, a Conv2d weight: a "
                              "convolutional net's tensors do not say its input size, strides "
                              "or pooling; build it with from_torch(module, input_shape=...) "
                              "or load a file pyneural saved")
        if w.ndim != 2 or 0 in w.shape:
            raise FormatError(f"{source}: '{w_key}' has shape {w.shape}: a Linear weight is "
                              "2-D (out, in), with no zero size")
        if b_key is not None and arrays[b_key].shape != (w.shape[0],):
            raise FormatError(f"{source}: '{b_key}' has shape {arrays[b_key].shape}, but "
                              f"'{w_key}' has {w.shape[0]} outputs")
        if prev is not None and w.shape[1] != arrays[prev].shape[0]:
            raise FormatError(
                f"{source}: '{w_key}' has shape {w.shape} ({w.shape[1]} inputs), but the "
                f"Linear before it, '{prev}', has {arrays[prev].shape[0]} outputs (Linear "
                f"layers are taken in this order: {', '.join(groups)}; a dict from "
                "safetensors' load_file is in file order: pyneural.load sorts the names)")
        layout.append((w_key, b_key))
        prev = w_key
    return layout


def _fill(net, layout, arrays, source):
    """Copy the tensors (torch layout) into the weighted layers of a new net:
    ``layout`` lists ``(layer, weight key, bias key or None, cols)``;
    every tensor must be used. A layer without a bias key keeps its zero
    bias (it is a suppress_bias layer, or pyneural's metadata fills the
    unused bias next)."""
    used = {key for _, w_key, b_key, _ in layout for key in (w_key, b_key) if key}
    for key in arrays:
        if key not in used:
            raise FormatError(f"{source}: unexpected tensor '{key}' (the net's are "
                              f"{', '.join(sorted(used, key=_natural))})")
    for layer, w_key, b_key, _ in layout:
        for key, shape in ((w_key, _torch_shape(layer)), (b_key, (layer.neurons,))):
            if key is not None and key not in arrays:
                raise FormatError(f"{source}: tensor '{key}' is missing")
            if key is not None and arrays[key].shape != shape:
                raise FormatError(f"{source}: '{key}' has shape {arrays[key].shape}, the net's "
                                  f"layer {layer.index} ({layer.class_name}) needs {shape}")
    for layer, w_key, b_key, cols in layout:
        layer.weights[:] = _from_torch_layout(layer, arrays[w_key], cols)
        layer.bias[:] = arrays[b_key] if b_key is not None else 0
    net.clear_momentum()
    return net


def _net_for_modules(kinds, arrays, source, generator):
    """A new net for a Sequential of module ``kinds`` ("linear", "relu",
    ...) holding the tensors of ``arrays`` (torch layout, any key prefix,
    Linear layers in the order of the keys)."""
    layout = _linear_groups(arrays, source)
    if len(layout) != kinds.count("linear"):
        raise FormatError(f"{source}: {len(layout)} Linear layer(s) in the tensors, but "
                          f"{kinds.count('linear')} in the activations/modules")
    # The tensors hold every weight: nothing is drawn (no time spent, and
    # the global random stream does not move).
    net = TNNet(generator)
    net._append(TNNetInput(arrays[layout[0][0]].shape[1]), None)
    groups, filled, i = iter(layout), [], 0
    while i < len(kinds):
        if kinds[i] == "linear":
            w_key, b_key = next(groups)
            after = kinds[i + 1] if i + 1 < len(kinds) else None
            cls = _FOLDED.get(after, TNNetFullConnectLinear)
            # Linear(bias=False): a layer whose forward pass adds no bias,
            # so that saving it writes no bias torch would refuse.
            layer = cls(arrays[w_key].shape[0], int(b_key is None))
            filled.append((net._append(layer, None), w_key, b_key, None))
            i += 2 if after in _FOLDED else 1
        else:
            net._append(_WEIGHTLESS[kinds[i]](), None)
            i += 1
    return _fill(net, filled, arrays, source)


def from_state_dict(state, activations=None, generator=None, source="state dict"):
    """A new TNNet from a state dict in PyTorch's layout.

    Parameters
    ----------
    state : mapping of str to array-like
        Linear layers' ``"<name>.weight"`` (out, in) and optional
        ``"<name>.bias"`` (numpy arrays, torch CPU tensors, anything with
        ``__array__``). Keys may carry any prefix (``"model.0.weight"``,
        ``"fc1.weight"``); the layers are taken in the mapping's order.
    activations : str or sequence of str
        One of ``relu``, ``tanh``, ``sigmoid``, ``linear``, ``softmax`` per
        Linear layer (``"relu,relu,linear"`` works too); it picks the FC
        class (``softmax`` is a linear FC layer and a TNNetSoftMax).
    generator : pyneural.rng.FPCRandom, optional
        The new net's generator (building draws initial weights from it,
        as ``TNNet.from_string`` does, before the tensors replace them).
    source : str
        What error messages call the state dict.

    Returns
    -------
    TNNet
        Weights copied bit for bit (float32); a Linear without a bias is
        a ``suppress_bias`` layer.

    Raises
    ------
    FormatError
        No ``activations``, or one name per Linear layer missing; a tensor
        that is not a Linear weight or bias, of a non-float dtype, the
        wrong rank or a shape that does not chain, or with NaN / Inf. The
        message names the key.
    ValueError
        An unknown activation name.
    TypeError
        ``state`` is not a mapping.

    Warns
    -----
    UserWarning
        float16 / float64 tensors were converted to float32.
    """
    return _from_arrays(_checked_tensors(state, source), activations, generator, source)


def _from_arrays(arrays, activations, generator, source):
    """``from_state_dict`` of tensors ``_checked_tensors`` returned."""
    if activations is None:
        raise FormatError(f"{source}: which activation follows each Linear layer? Pass "
                          f"activations, e.g. 'relu,relu,linear' (one name per Linear layer, "
                          f"of {', '.join(ACTIVATIONS)})")
    names = parse_activations(activations)
    kinds = []
    for name in names:
        kinds += ["linear"] if name == "linear" else ["linear", name]
    return _net_for_modules(kinds, arrays, source, generator)


def _check_activations(net, activations, source):
    """FormatError when ``activations`` does not describe ``net``."""
    expected = list(activations_of(net))
    given = list(parse_activations(activations))
    if given != expected:
        raise FormatError(f"{source}: activations {','.join(given)} do not match the net's "
                          f"own structure ({','.join(expected)})")
