"""PyTorch's ``nn.Sequential`` state-dict layout of a net, in numpy (torch
is not needed).

Layout. A chain ``Input -> FC -> ... -> FC`` is the ``nn.Sequential`` of
the same modules: each fully-connected layer is one ``Linear`` (tensors
``"<i>.weight"``, shape (out, in), and ``"<i>.bias"``), followed by its
activation module when it has one (``ReLU``, ``Tanh``, ``Sigmoid``); a
weightless layer is its own module (``TNNetReLU`` -> ``ReLU``,
``TNNetSoftMax`` -> ``Softmax(dim=-1)``, ``TNNetIdentity`` -> ``Identity``
...). ``<i>`` is the module's index in that Sequential, so
``net.to_torch().state_dict()`` has the keys of ``net.to_state_dict()``.
The torch model takes rows of ``input_size`` values in pyneural's flat order.

Convolutional nets. A convolution is a ``Conv2d`` (zeros padding, dilation
1, groups 1; weight ``(features, depth, k, k)``) followed by its activation
module, a max-pool a ``MaxPool2d``, and a ``Flatten`` stands before the
first ``Linear`` after them. The torch model then takes NCHW images, with
C = depth, H = size_y, W = size_x (``pyneural.image_rows`` turns them into
the rows ``compute_batch`` reads, ``pyneural.images_from_rows`` back). The
conversion reorders the kernels (pyneural's are ``(ky, kx, depth)`` in raw
order) and that first Linear's columns (pyneural reads the volume flat in
raw order ``(y, x, depth)``, torch's Flatten in ``(depth, y, x)``), so both
compute the same function of the same image.

A layer with ``suppress_bias`` is ``Linear(bias=False)``: its state dict
has no bias (the forward pass does not use the one pyneural stores). A
state dict from elsewhere needs ``activations``, one name per Linear
layer; a Linear without a bias (``bias=False``) is a ``suppress_bias``
layer, and stays bias-less when saved.
"""
import numpy as np

from ..layers import (TNNetFullConnect, TNNetFullConnectLinear, TNNetFullConnectReLU,
                      TNNetFullConnectSigmoid, TNNetHyperbolicTangent, TNNetIdentity,
                      TNNetInput, TNNetMaxPool, TNNetReLU, TNNetSigmoid, TNNetSoftMax)
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


def _spatial(layer):
    return isinstance(layer, TNNetMaxPool) or (layer.has_weights and hasattr(layer, "kernels"))


def _sequential(net):
    """``(kind, layer, flat_from)`` for each module of the net's
    ``nn.Sequential``, in order: ``("linear", fc_layer, ...)`` for a
    fully-connected layer and ``("conv2d", conv_layer, None)`` for a
    convolution, each followed by its activation as ``(name, None, None)``;
    ``("maxpool2d", pool, None)``; ``("flatten", None, None)`` before the
    first fully-connected layer after a spatial one; a weightless layer is
    ``(name, layer, None)``. ``flat_from`` is the ``(size_x, size_y, depth)``
    that a Linear right after the Flatten reads, else None.

    Raises FormatError for a chain torch's Sequential cannot hold here (a
    convolution or pooling after a fully-connected layer; a softmax over a
    3-D volume)."""
    modules, spatial, flat = [], False, False
    for layer in net.layers[1:]:
        if _spatial(layer):
            if flat:
                raise FormatError(f"layer {layer.index} ({layer.class_name}) follows a fully-"
                                  "connected layer: no nn.Sequential counterpart")
            spatial = True
            if isinstance(layer, TNNetMaxPool):
                modules.append(("maxpool2d", layer, None))
                continue
            modules.append(("conv2d", layer, None))
            if layer.activation != "identity":
                modules.append((layer.activation, None, None))
        elif layer.has_weights:
            flat_from = None
            if spatial and not flat:
                modules.append(("flatten", None, None))
                flat_from = tuple(net.layers[layer.index - 1].output.shape)
            flat = True
            modules.append(("linear", layer, flat_from))
            if layer.activation != "identity":
                modules.append((layer.activation, None, None))
        else:
            if spatial and not flat and layer.activation == "softmax":
                raise FormatError(f"layer {layer.index} (TNNetSoftMax) is a softmax over a 3-D "
                                  "volume: no torch module computes it")
            modules.append((layer.activation, layer, None))
    return modules


def _weighted_keys(net):
    """``(layer, weight key, bias key or None, flat_from)`` for each weighted
    layer, keys as ``to_state_dict`` names them."""
    return [(layer, f"{i}.weight", None if layer.suppress_bias else f"{i}.bias", flat_from)
            for i, (kind, layer, flat_from) in enumerate(_sequential(net))
            if kind in ("linear", "conv2d")]


def _torch_shape(layer, flat_from=None):
    """The shape of ``layer``'s weight tensor in torch."""
    if hasattr(layer, "kernels"):
        return (layer.neurons, layer.input_shape[2], layer.feature_size_y, layer.feature_size_x)
    return (layer.neurons, layer.fan_in)


def _to_torch_layout(layer, weights, flat_from=None):
    """pyneural ``weights`` (neurons, fan_in) of ``layer`` in torch's layout."""
    if hasattr(layer, "kernels"):
        return layer.kernels(weights).transpose(0, 3, 1, 2)          # (F, C, ky, kx)
    if flat_from is not None:
        sx, sy, d = flat_from
        return weights.reshape(-1, sy, sx, d).transpose(0, 3, 1, 2).reshape(len(weights), -1)
    return weights


def _from_torch_layout(layer, tensor, flat_from=None):
    """A torch weight tensor of ``layer`` in pyneural's (neurons, fan_in) layout."""
    n = tensor.shape[0]
    if hasattr(layer, "kernels"):
        return tensor.transpose(0, 2, 3, 1).reshape(n, -1)            # (F, ky, kx, C)
    if flat_from is not None:
        sx, sy, d = flat_from
        return tensor.reshape(n, d, sy, sx).transpose(0, 2, 3, 1).reshape(n, -1)
    return tensor


def activations_of(net):
    """The ``activations`` list that describes ``net``: for each FC layer,
    the activation module that follows its Linear (``"linear"`` for none).

    Parameters
    ----------
    net : TNNet

    Returns
    -------
    list of str
        One of ``ACTIVATIONS`` per fully-connected layer.
    """
    kinds = [kind for kind, _, _ in _sequential(net)]
    return [kinds[i + 1] if i + 1 < len(kinds) and kinds[i + 1] in ACTIVATIONS else "linear"
            for i, kind in enumerate(kinds) if kind == "linear"]


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
    """The net's weights in PyTorch's ``nn.Sequential`` layout.

    Parameters
    ----------
    net : TNNet

    Returns
    -------
    dict of str to numpy.ndarray
        ``"<i>.weight"`` (out, in) for a Linear, (out, in channels, k, k)
        for a Conv2d, and ``"<i>.bias"``, float32 copies in module order;
        no bias for a ``suppress_bias`` layer.

    Raises
    ------
    FormatError
        A chain with no ``nn.Sequential`` counterpart (a convolution after
        a fully-connected layer, a softmax over a 3-D volume).
    """
    state = {}
    with net.lock:                       # all the weights at once: no torn read
        for layer, weight_key, bias_key, flat_from in _weighted_keys(net):
            # np.array copies: a one-neuron layer's weights view is already
            # "contiguous", so ascontiguousarray would hand out the live view.
            state[weight_key] = np.array(_to_torch_layout(layer, layer.weights, flat_from),
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
    ``layout`` lists ``(layer, weight key, bias key or None, flat_from)``;
    every tensor must be used. A layer without a bias key keeps its zero
    bias (it is a suppress_bias layer, or pyneural's metadata fills the
    unused bias next)."""
    used = {key for _, w_key, b_key, _ in layout for key in (w_key, b_key) if key}
    for key in arrays:
        if key not in used:
            raise FormatError(f"{source}: unexpected tensor '{key}' (the net's are "
                              f"{', '.join(sorted(used, key=_natural))})")
    for layer, w_key, b_key, flat_from in layout:
        for key, shape in ((w_key, _torch_shape(layer, flat_from)), (b_key, (layer.neurons,))):
            if key is not None and key not in arrays:
                raise FormatError(f"{source}: tensor '{key}' is missing")
            if key is not None and arrays[key].shape != shape:
                raise FormatError(f"{source}: '{key}' has shape {arrays[key].shape}, the net's "
                                  f"layer {layer.index} ({layer.class_name}) needs {shape}")
    for layer, w_key, b_key, flat_from in layout:
        layer.weights[:] = _from_torch_layout(layer, arrays[w_key], flat_from)
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
