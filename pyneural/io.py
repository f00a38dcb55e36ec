"""Nets as files and state dicts: `.nn`, `.safetensors` and `.npz` files,
PyTorch's ``nn.Sequential`` layout, and torch modules.

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
1, groups 1; weight ``(features, depth, kh, kw)``, square unless the
kernel was clamped to a smaller input) followed by its activation
module, a max-pool a ``MaxPool2d``, and a ``Flatten`` stands before the
first ``Linear`` after them. The torch model then takes NCHW images, with
C = depth, H = size_y, W = size_x (``pyneural.image_rows`` turns them into
the rows ``compute_batch`` reads, ``pyneural.images_from_rows`` back). The
conversion reorders the kernels (pyneural's are ``(ky, kx, depth)`` in raw
order) and that first Linear's columns (pyneural reads the volume flat in
raw order ``(y, x, depth)``, torch's Flatten in ``(depth, y, x)``), so both
compute the same function of the same image.

A layer with ``suppress_bias`` is ``Linear(bias=False)``: its state dict
has no bias (the forward pass does not use the one pyneural stores).
pyneural's own `.safetensors` / `.npz` files keep that unused bias, and
the whole structure string, in their metadata, so they reload to the same
bits without ``activations``. A file or state dict from elsewhere needs
``activations``, one name per Linear layer; a Linear without a bias
(``bias=False``) is a ``suppress_bias`` layer, and stays bias-less when
saved.

Files are never unpickled, and whatever a file holds is checked before a
net is built (dtype, rank, shapes that chain, finite values, sizes bounded
by the file's): a bad file is a ``FormatError`` (a ValueError) naming the
file and the tensor, and no net is half-loaded.
"""
import errno
import json
import os
import re
import warnings

import numpy as np

from .layers import (TNNetConvolution, TNNetConvolutionLinear, TNNetConvolutionReLU,
                     TNNetFullConnect, TNNetFullConnectLinear, TNNetFullConnectReLU,
                     TNNetFullConnectSigmoid, TNNetHyperbolicTangent, TNNetIdentity,
                     TNNetInput, TNNetMaxPool, TNNetReLU, TNNetSigmoid, TNNetSoftMax)
from .net import TNNet, _plan_layers
from .nnformat import parse_structure

__all__ = ["FormatError", "ACTIVATIONS", "load", "save", "from_state_dict", "to_state_dict",
           "activations_of", "parse_activations", "from_torch", "to_torch", "file_format",
           "write_atomically", "is_path", "as_net"]

# One name per Linear layer, as `activations` takes them.
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear", "softmax")

# An activation module right after a Linear folds into the FC class; the
# others (softmax among them, as in the original) are weightless layers.
_FOLDED = {"relu": TNNetFullConnectReLU, "tanh": TNNetFullConnect,
           "sigmoid": TNNetFullConnectSigmoid}
_WEIGHTLESS = {"relu": TNNetReLU, "tanh": TNNetHyperbolicTangent, "sigmoid": TNNetSigmoid,
               "identity": TNNetIdentity, "softmax": TNNetSoftMax}
# A Conv2d followed by one of these is one convolution layer of that class.
_CONV_FOLDED = {"relu": TNNetConvolutionReLU, "tanh": TNNetConvolution}
# Module kind -> torch.nn class name (both directions of the torch conversion).
_TORCH_MODULES = {"linear": "Linear", "relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid",
                  "identity": "Identity", "softmax": "Softmax", "conv2d": "Conv2d",
                  "maxpool2d": "MaxPool2d", "flatten": "Flatten"}

_META_KEY = "pyneural"              # safetensors metadata entry (a JSON string)
_NPZ_META_KEY = "__pyneural__"      # the same JSON as a uint8 array in an .npz
_FORMATS = {".nn": "nn", ".safetensors": "safetensors", ".npz": "npz"}
# The suffixes that name a net file, for reading and writing alike.
NET_SUFFIXES = tuple(_FORMATS)
# Float weights hardly compress (~1.1x); beyond this ratio to the file's
# size (plus 1 MiB of slack for zero biases and the like) an archive is a
# zip bomb or a lie.
_MAX_NPZ_RATIO = 100
_NPZ_SLACK = 1 << 20


class FormatError(ValueError):
    """A weight file or state dict that is not a net pyneural can load (the
    message names the file or key); also a net that cannot be saved."""


# ------------------------------------------------------------- layout --

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


# ----------------------------------------------------- checked tensors --

def _natural(key):
    # "10.weight" after "2.weight", "fc10" after "fc2".
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


def _checked_tensors(state, source):
    """``state`` as an ordered dict of float32 arrays, every tensor checked
    (a float dtype, finite values); float16 / float64 converted, with one
    warning."""
    try:
        items = list(state.items())
    except AttributeError:
        raise TypeError(f"a state dict must be a mapping of names to arrays, "
                        f"got {type(state).__name__}") from None
    arrays, converted = {}, {}
    for key, value in items:
        if not isinstance(key, str):
            raise FormatError(f"{source}: key {key!r} is not a str")
        try:
            a = np.asarray(value)
        except Exception as exc:         # __array__ of a foreign type: any error
            raise FormatError(f"{source}: '{key}' cannot be read as an array ({exc}); a torch"
                              " tensor must be on the CPU and float32/float16/float64") from None
        if a.dtype.kind != "f" or a.dtype.itemsize not in (2, 4, 8):
            raise FormatError(f"{source}: '{key}' has dtype {a.dtype}; weights must be "
                              "float32 (float16 and float64 are converted)")
        if a.dtype.itemsize != 4:
            converted.setdefault(str(a.dtype), []).append(key)
        with np.errstate(over="ignore"):
            a = np.array(a, dtype=np.float32, order="C")
        _require_finite(a, key, source)
        arrays[key] = a
    if converted:
        warnings.warn(f"{source}: converted to float32: " + "; ".join(
            f"{dtype} {', '.join(keys)}" for dtype, keys in converted.items()), UserWarning,
            stacklevel=3)
    return arrays


def _require_finite(a, key, source):
    bad = ~np.isfinite(a)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise FormatError(f"{source}: '{key}' has {int(bad.sum())} non-finite value(s) "
                          f"(NaN or +-Inf in float32; the first at index {first})")


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


# ---------------------------------------------------------------- files --

def file_format(path):
    """``"nn"``, ``"safetensors"`` or ``"npz"`` from the suffix of ``path``.

    Raises
    ------
    FormatError
        Any other suffix (pickled ``.pt`` / ``.pth`` files are never read).
    """
    name = os.fsdecode(path)             # a bytes path has a str suffix too
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in _FORMATS:
        raise FormatError(f"{name}: unknown suffix {suffix!r}: pyneural reads and "
                          "writes .nn, .safetensors and .npz (never pickled .pt/.pth: save "
                          "a torch model with safetensors.torch.save_file)")
    return _FORMATS[suffix]


def _format_named(path, format):
    """``format`` checked, or the format of the suffix of ``path``."""
    if format is None:
        return file_format(path)
    if format not in _FORMATS.values():
        raise ValueError(f"unknown format {format!r} (use one of "
                         f"{', '.join(_FORMATS.values())})")
    return format


def _import_safetensors():
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError(".safetensors files need the safetensors package: "
                          "pip install safetensors (or pip install 'pyneural[safetensors]')"
                          ) from None
    return safetensors


def _read_safetensors(path):
    """``(tensors, metadata, file size)`` of a safetensors file, the tensors
    in the natural order of their names (the format keeps no order)."""
    safetensors = _import_safetensors()
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8:
        raise FormatError(f"{path}: {size} bytes, too short for a safetensors file")
    header = int.from_bytes(head, "little")
    if header > size - 8:
        raise FormatError(f"{path}: header length {header} is beyond the file's {size} bytes")
    try:
        with safetensors.safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
            tensors = {key: np.array(f.get_tensor(key))
                       for key in sorted(f.keys(), key=_natural)}
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        # The library's checks (header JSON, offsets, sizes...) raise
        # SafetensorError, TypeError for dtypes numpy lacks, or a Rust
        # panic, which is a BaseException.
        raise FormatError(f"{path}: not a readable safetensors file "
                          f"({type(exc).__name__}: {exc})") from None
    return tensors, metadata.get(_META_KEY), size


def _npy_size(member):
    """The data bytes an npz member's .npy header declares."""
    version = np.lib.format.read_magic(member)
    if version not in ((1, 0), (2, 0)):
        raise FormatError(f"npy format version {version}")
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    shape, _, dtype = read_header(member)
    return int(np.prod(shape, dtype=object)) * dtype.itemsize, dtype


def _read_npz(path):
    """``(tensors, metadata, file size)`` of an .npz, in the archive's order,
    with every member's size checked against the file's before it is read."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        magic = f.read(4)
    # Only a zip goes to np.load: it would read a lone .npy whole, whatever
    # its header declares.
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        what = "a single .npy array" if magic == b"\x93NUM" else "not a zip archive"
        raise FormatError(f"{path}: not a readable .npz file: {what}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            infos = npz.zip.infolist()
            # One budget for the whole archive, not one per member: many
            # members of a small file may not add up to gigabytes.
            declared = sum(info.file_size for info in infos)
            if declared > _MAX_NPZ_RATIO * size + _NPZ_SLACK:
                raise FormatError(f"its {len(infos)} members claim {declared} bytes, more than"
                                  f" a {size}-byte file can hold")
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise FormatError(f"member {info.filename} is not a .npy array")
                with npz.zip.open(info) as member:
                    nbytes, dtype = _npy_size(member)
                    if dtype.hasobject or nbytes > info.file_size:
                        raise FormatError(f"member {info.filename} declares {nbytes} "
                                          f"bytes of {dtype} in {info.file_size}")
            tensors = {name: npz[name] for name in npz.files}
    except FormatError as exc:
        raise FormatError(f"{path}: not a readable .npz file: {exc}") from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:            # zipfile, zlib, numpy's header parser...
        raise FormatError(f"{path}: not a readable .npz file "
                          f"({type(exc).__name__}: {exc})") from None
    meta = tensors.pop(_NPZ_META_KEY, None)
    if meta is not None:
        if meta.dtype != np.uint8 or meta.ndim != 1:
            raise FormatError(f"{path}: '{_NPZ_META_KEY}' must be a 1-D uint8 array")
        try:
            meta = meta.tobytes().decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"{path}: '{_NPZ_META_KEY}' is not UTF-8 text") from None
    return tensors, meta, size


def _in_layer_order(arrays, order, source, implicit):
    """The tensors of a file without pyneural's metadata, Linear layers in
    order: as ``order`` lists their name prefixes, else as the file keeps
    them (``implicit``), else by module number when every prefix is one
    stem and a number. Anything else is refused: sorting names like
    ``hidden`` / ``classifier`` would load the layers reversed."""
    prefixes = list(dict.fromkeys(key.rpartition(".")[0] for key in arrays))
    if order is None:
        stems = {p.rpartition(".")[0] for p in prefixes}
        numbered = all(p.rpartition(".")[2].isdigit() for p in prefixes) and len(stems) == 1
        if implicit or numbered:
            return arrays
        raise FormatError(
            f"{source}: the tensor names ({', '.join(prefixes)}) do not say the layers' order"
            " and a .safetensors file keeps none: pass it, e.g. pyneural.load(path, "
            f"activations, order={prefixes!r}) with the names in layer order")
    if isinstance(order, str) or sorted(map(str, order)) != sorted(prefixes):
        raise FormatError(f"{source}: order {order!r} must list the layers' name prefixes "
                          f"{sorted(prefixes)}, each once")
    rank = {prefix: i for i, prefix in enumerate(order)}
    return {key: arrays[key] for key in sorted(arrays, key=lambda k: rank[k.rpartition(".")[0]])}


def _net_from_metadata(meta_text, arrays, source, generator, size):
    """A new net from pyneural's own metadata (structure string and unused
    biases) and the tensors, which must be exactly the net's."""
    try:
        meta = json.loads(meta_text)
        if not isinstance(meta, dict):
            raise TypeError(f"a JSON object is needed, got {type(meta).__name__}")
        structure, unused = meta["structure"], meta.get("unused_bias", {})
        if not isinstance(structure, str) or not isinstance(unused, dict):
            raise TypeError("structure must be a str, unused_bias an object")
        # Every parameter takes at least two bytes of the file: a structure
        # cannot make the loader allocate more than the file backs.
        layers = _plan_layers(parse_structure(structure), size, size)
        net = TNNet(generator)
        net._build(layers, draw=False)        # the file holds every weight
    except (ValueError, TypeError, KeyError) as exc:
        raise FormatError(f"{source}: bad pyneural metadata ({type(exc).__name__}: "
                          f"{exc})") from None
    try:
        layout = _weighted_keys(net)
    except FormatError as exc:
        raise FormatError(f"{source}: bad pyneural metadata ({exc})") from None
    _fill(net, layout, arrays, source)
    suppressed = {w_key.split(".")[0]: layer for layer, w_key, b_key, _ in layout
                  if b_key is None}
    if set(unused) != set(suppressed):
        raise FormatError(f"{source}: pyneural metadata has unused biases for modules "
                          f"{sorted(unused)}, the net's bias-less Linear layers are "
                          f"{sorted(suppressed)}")
    for index, layer in suppressed.items():
        key = f"unused bias of {index}"
        try:
            bias = np.frombuffer(bytes.fromhex(unused[index]), "<f4")
        except (ValueError, TypeError):
            raise FormatError(f"{source}: pyneural metadata: {key} is not float32 hex") from None
        if bias.shape != (layer.neurons,):
            raise FormatError(f"{source}: pyneural metadata: {key} has {bias.size} values, "
                              f"the layer {layer.neurons}")
        _require_finite(bias, key, source)
        layer.bias[:] = bias
    return net


def load(path, activations=None, generator=None, format=None, order=None):
    """A net from a `.nn`, `.safetensors` or `.npz` file (by suffix).

    Parameters
    ----------
    path : str or path-like
    activations : str or sequence of str, optional
        One name per Linear layer (see ``from_state_dict``); needed for a
        file without pyneural's structure metadata (one torch wrote). For a
        `.nn` file or one pyneural wrote it is checked against the net.
    generator : pyneural.rng.FPCRandom, optional
        The new net's generator (building draws from it, as
        ``TNNet.from_file``).
    format : {"nn", "safetensors", "npz"}, optional
        The file's format, whatever its suffix (default: from the suffix).
    order : sequence of str, optional
        For a file without pyneural's metadata: the Linear layers' name
        prefixes in layer order (``["hidden", "classifier"]`` for
        ``hidden.weight`` / ``classifier.weight``). A `.safetensors` file
        keeps no order, so without ``order`` its names must be numbered
        modules (``0.weight``, ``model.2.weight``), taken by number; an
        `.npz` keeps the order it was written in.

    Returns
    -------
    TNNet

    Raises
    ------
    OSError
        The file cannot be read.
    ImportError
        A `.safetensors` file without the safetensors package.
    FormatError
        An unknown suffix; a file that is not a readable safetensors / npz
        file; tensors as ``from_state_dict`` refuses them; metadata that
        does not fit the tensors; ``activations`` that do not match the
        file's structure; a `.safetensors` file whose layer order its names
        do not give (and no ``order``), or an ``order`` that does not name
        the file's layers.
    NNFormatError, ArchitectureError
        A bad `.nn` text (as ``TNNet.from_file``).
    ValueError
        An unknown activation name.
    """
    source = os.fspath(path)
    fmt = _format_named(path, format)
    if fmt == "nn":
        net = TNNet.from_file(path, generator)
    else:
        tensors, meta, size = (_read_safetensors if fmt == "safetensors" else _read_npz)(path)
        arrays = _checked_tensors(tensors, source)
        if meta is None:
            arrays = _in_layer_order(arrays, order, source, implicit=fmt == "npz")
            return _from_arrays(arrays, activations, generator, source)
        net = _net_from_metadata(meta, arrays, source, generator, size)
    if activations is not None:
        _check_activations(net, activations, source)
    return net


# Every net text has one of these (a whole net '>', data ']' or '!', a
# two-line file a newline); no file name pyneural is given does.
_TEXT_MARKS = (">", "]", "!", "\n")


def is_path(item):
    """The one rule for a net given by name: True for a path-like or bytes,
    and for a str that holds none of the characters every `.nn` text has
    (``>``, ``]``, ``!``, a line break); such a str is a file name."""
    if isinstance(item, (os.PathLike, bytes)):
        return True
    return isinstance(item, str) and not any(mark in item for mark in _TEXT_MARKS)


def as_net(item, what="net"):
    """The one way in for a net given by path or by whole `.nn` text: a path
    is read by ``load``, a ``save_to_string()`` / ``save_to_file`` text by
    ``TNNet.from_string``, each with a private generator (loading draws
    initial weights, and reading a net must not move the global RandSeed
    stream). Anything else (a TNNet, a data-only text, a snapshot) is
    returned as it is, for the caller's architecture check.

    Raises
    ------
    NNFormatError
        A path that names no file (naming ``what`` and the path); a bad
        `.nn` file or text.
    FormatError, OSError, ImportError
        As ``load`` raises them.
    """
    from .nnformat import NNFormatError
    from .rng import FPCRandom
    if is_path(item):
        if not os.path.isfile(item):
            raise NNFormatError(f"{what} is neither .nn text nor the path of an existing file",
                                token=os.fsdecode(item))
        return load(item, generator=FPCRandom())
    if isinstance(item, str) and (">" in item or "\n" in item.strip()):
        return TNNet.from_string(item, generator=FPCRandom())
    return item


def write_atomically(path, write):
    """Call ``write(f)`` with a binary file beside ``path``, then rename it
    to ``path``: a reader never sees half a file, and on error the old file
    is kept.

    A file that exists keeps its permission bits; a new one gets what a
    plain ``open`` would give (0666 less the umask, applied by the system:
    no process-wide state is touched). A symbolic link is written through:
    its target is replaced, the link stays.

    Raises
    ------
    OSError
        The file cannot be written; whatever ``write`` raises.
    """
    path = os.path.realpath(path)
    if os.path.isdir(path):
        # os.replace would fail only after the write, naming the temporary file
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", path)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    directory, name = os.path.split(path)
    for attempt in range(100):
        tmp = os.path.join(directory, f".{name}.{os.getpid()}.{attempt}.pyneural-tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "no free temporary name", tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            write(f)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save(net, path, format=None):
    """Write ``net`` in the format of the suffix of ``path``, atomically
    (``write_atomically``): the one writer of every net file.

    `.nn`: ``save_to_file``'s two lines. `.safetensors` / `.npz`:
    ``to_state_dict()`` plus pyneural's metadata (the structure string and
    the unused biases of ``suppress_bias`` layers), so ``load`` rebuilds
    the same net, bits included; torch's ``load_state_dict`` reads the
    same tensors (``safetensors.torch.load_file``). The same net gives the
    same bytes. All the weights are read in one locked step.

    Parameters
    ----------
    net : TNNet
    path : str or path-like
    format : {"nn", "safetensors", "npz"}, optional
        The format, whatever the suffix (default: from the suffix).

    Raises
    ------
    FormatError
        An unknown suffix; NaN or Inf weights for `.safetensors` / `.npz`
        (the loader refuses them; `.nn` text keeps them).
    ImportError
        `.safetensors` without the safetensors package.
    OSError
        The file cannot be written.
    """
    source = os.fspath(path)
    fmt = _format_named(path, format)
    if fmt == "nn":
        structure, data = net._text()
        text = structure + "\n" + data + "\n"
        write_atomically(path, lambda f: f.write(text.encode("ascii")))
        return
    with net.lock:
        state = to_state_dict(net)
        unused = {w_key.split(".")[0]: layer.bias.copy()
                  for layer, w_key, b_key, _ in _weighted_keys(net) if b_key is None}
        structure = net.save_structure_to_string()
    for key, a in [*state.items(), *((f"unused bias of {i}", b) for i, b in unused.items())]:
        _require_finite(a, key, f"cannot save {source}")
    unused = {i: b.astype("<f4").tobytes().hex() for i, b in unused.items()}
    meta = json.dumps({"structure": structure, "unused_bias": unused}, sort_keys=True)
    if fmt == "safetensors":
        data = _safetensors_bytes(state, {"format": "pt", _META_KEY: meta})
        write_atomically(path, lambda f: f.write(data))
    else:
        state[_NPZ_META_KEY] = np.frombuffer(meta.encode("utf-8"), np.uint8)
        write_atomically(path, lambda f: np.savez(f, **state))


def _safetensors_bytes(state, metadata):
    """The safetensors serialisation of ``state``, with the header's JSON in
    one fixed key order: the library's own header order varies from call to
    call, and the same net must give the same bytes."""
    safetensors = _import_safetensors()
    data = safetensors.numpy.save(state, metadata=metadata)
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    # The format pads the header with spaces so the tensor data is 8-byte aligned.
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data[8 + length:]


# ---------------------------------------------------------------- torch --

def _import_torch(what):
    try:
        import torch
    except ImportError:
        raise ImportError(f"{what} needs PyTorch: pip install torch (or "
                          "pip install 'pyneural[torch]')") from None
    return torch


def _torch_pool_ceil_mode(pool, stride, padding, sx, sy, where, modes=(False, True)):
    """The ``ceil_mode`` (of ``modes``) with which torch's
    ``MaxPool2d(pool, stride)`` gives pyneural's output size on an
    ``sx x sy`` input (pyneural clips the last window, ``ceil((in + 2 *
    padding) / stride)``); FormatError when none does, or with padding
    (pyneural pads with zeros, torch with -inf)."""
    if padding:
        raise FormatError(f"{where}: a max-pool with padding {padding}: pyneural pads with "
                          "zeros, torch's MaxPool2d with -inf")

    def torch_size(n, ceil):
        if not ceil:
            return (n - pool) // stride + 1
        out = -(-(n - pool) // stride) + 1
        return out - 1 if (out - 1) * stride >= n else out

    ours = [-(-sx // stride), -(-sy // stride)]
    for ceil in modes:
        if [torch_size(sx, ceil), torch_size(sy, ceil)] == ours:
            return ceil
    got = " or ".join(f"{torch_size(sx, c)}x{torch_size(sy, c)} (ceil_mode={c})" for c in modes)
    raise FormatError(f"{where}: a {pool}x{pool} max-pool at stride {stride} on {sx}x{sy} gives "
                      f"{ours[0]}x{ours[1]} in pyneural (the last window clipped), but {got} in "
                      "torch's MaxPool2d")


def _square(value, what, where):
    """One int from an int or an (a, a) pair; FormatError otherwise."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise FormatError(f"{where}: {what} {tuple(value)} is not square; pyneural's are")
        value = value[0]
    return int(value)


def _torch_conv_layer(m, after, shape, where):
    """The pyneural convolution for a torch ``Conv2d`` on a volume of
    ``shape`` (FormatError for what pyneural's cannot compute). A kernel of
    two sizes is the clamp of a square one to a smaller input: (2, 3) on an
    input 2 high is pyneural's kernel 3."""
    if m.padding_mode != "zeros":
        raise FormatError(f"{where}: padding_mode={m.padding_mode!r}; pyneural pads with zeros")
    if _square(m.dilation, "dilation", where) != 1:
        raise FormatError(f"{where}: dilation {m.dilation}; pyneural's convolutions have none")
    if m.groups != 1:
        raise FormatError(f"{where}: groups={m.groups}; pyneural's convolutions see every "
                          "input channel")
    padding = m.padding
    if isinstance(padding, str):
        if padding != "valid":
            raise FormatError(f"{where}: padding={padding!r}; give the padding as a number")
        padding = 0
    sx, sy, depth = shape
    if m.in_channels != depth:
        raise FormatError(f"{where}: {m.in_channels} input channels, but its input has {depth}")
    kh, kw = m.kernel_size
    size = max(kh, kw)
    if (min(size, sy), min(size, sx)) != (kh, kw):
        raise FormatError(f"{where}: kernel {(kh, kw)} on an input {sy} high and {sx} wide: "
                          "pyneural's kernels are square, clamped to the unpadded input (a "
                          f"kernel of {size} is {min(size, sy)} high and {min(size, sx)} wide "
                          "there)")
    cls = _CONV_FOLDED.get(after, TNNetConvolutionLinear)
    return cls(m.out_channels, size,
               _square(padding, "padding", where), _square(m.stride, "stride", where),
               0 if m.bias is not None else 1)


def _torch_pool_layer(m, shape, where):
    """The pyneural max-pool for a torch ``MaxPool2d`` on a volume of
    ``shape`` (FormatError for what pyneural's cannot compute)."""
    if m.return_indices:
        raise FormatError(f"{where}: return_indices=True has no pyneural counterpart")
    if _square(m.dilation, "dilation", where) != 1:
        raise FormatError(f"{where}: dilation {m.dilation}; pyneural's max-pool has none")
    pool = _square(m.kernel_size, "kernel", where)
    stride = _square(m.stride if m.stride is not None else pool, "stride", where)
    padding = _square(m.padding, "padding", where)
    _torch_pool_ceil_mode(pool, stride, padding, shape[0], shape[1], where, (m.ceil_mode,))
    return TNNetMaxPool(pool, stride, padding)


_TORCH_SUPPORTED = ("Linear, Conv2d (zeros padding, no dilation, groups 1), MaxPool2d, "
                    "Flatten, ReLU, Tanh, Sigmoid, Identity and Softmax")


def _net_for_torch_conv(mods, input_shape, state, generator):
    """A new net for a torch Sequential with convolutions or max-pools, on
    NCHW images of ``input_shape`` (channels, height, width), holding the
    tensors of ``state`` (checked once every module has a counterpart)."""
    torch = _import_torch("from_torch")
    try:
        depth, height, width = (int(v) for v in input_shape)
    except (TypeError, ValueError):
        raise FormatError("torch module: a Conv2d / MaxPool2d needs input_shape=(channels, "
                          f"height, width), got {input_shape!r}") from None
    if min(depth, height, width) < 1:
        raise FormatError(f"torch module: input_shape {input_shape!r} has a size below 1")
    net = TNNet(generator)
    net._append(TNNetInput(width, height, depth), None)
    layout, spatial, flat, flatten, i = [], False, False, False, 0
    while i < len(mods):
        m, name = mods[i], type(mods[i]).__name__
        where = f"module {i} ({name})"
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        # Exact classes only: a subclass may compute something else.
        after = (type(nxt).__name__.lower()
                 if nxt is not None and type(nxt) is getattr(torch.nn, type(nxt).__name__, None)
                 else None)
        shape = net.layers[-1].output.shape
        step = 1
        try:
            if name in ("Conv2d", "MaxPool2d", "Flatten", "Linear") \
                    and type(m) is not getattr(torch.nn, name):
                raise FormatError(f"{where} is a subclass of torch's {name}: it may compute "
                                  "something else")
            if name in ("Conv2d", "MaxPool2d"):
                if flat:
                    raise FormatError(f"{where} follows a Linear: no pyneural counterpart")
                if name == "Conv2d":
                    layer = _torch_conv_layer(m, after, shape, where)
                    step = 2 if after in _CONV_FOLDED else 1
                else:
                    layer = _torch_pool_layer(m, shape, where)
                net._append(layer, None)
                spatial = True
                if name == "Conv2d":
                    layout.append((layer, f"{i}.weight", f"{i}.bias" if m.bias is not None
                                   else None, None))
            elif name == "Flatten":
                if (m.start_dim, m.end_dim) != (1, -1):
                    raise FormatError(f"{where}: start_dim={m.start_dim}, end_dim={m.end_dim}; "
                                      "only Flatten() (1, -1) is supported")
                flatten = flatten or (spatial and not flat)
            elif name == "Linear":
                flat_from = None
                if spatial and not flat:
                    if not flatten:
                        raise FormatError(f"{where} after a Conv2d / MaxPool2d needs a Flatten "
                                          "before it")
                    flat_from = tuple(shape)
                if m.in_features != shape[0] * shape[1] * shape[2]:
                    raise FormatError(f"{where}: {m.in_features} inputs, but its input has "
                                      f"{shape[0] * shape[1] * shape[2]} values")
                flat = True
                cls = _FOLDED.get(after, TNNetFullConnectLinear)
                step = 2 if after in _FOLDED else 1
                layer = net._append(cls(m.out_features, 0 if m.bias is not None else 1), None)
                layout.append((layer, f"{i}.weight", f"{i}.bias" if m.bias is not None else None,
                               flat_from))
            elif name == "Softmax":
                if spatial and not flat:
                    raise FormatError(f"{where} over a 3-D volume: no pyneural counterpart")
                if m.dim not in (-1, 1):
                    raise FormatError(f"{where}: Softmax(dim={m.dim}); pyneural's softmax is "
                                      "over the last dimension (dim=-1)")
                net._append(TNNetSoftMax(), None)
            else:
                kind = name.lower()
                if kind not in _WEIGHTLESS or type(m) is not getattr(torch.nn, name):
                    raise FormatError(f"{where} has no pyneural layer: only {_TORCH_SUPPORTED} "
                                      "are supported")
                net._append(_WEIGHTLESS[kind](), None)
        except ValueError as exc:
            if isinstance(exc, FormatError):
                raise
            raise FormatError(f"{where}: {exc}") from None
        i += step
    if len(net.layers) < 2:
        raise FormatError("torch module: no layers")
    # bias-less layers store a zero bias, as pyneural's suppress_bias layers
    return _fill(net, layout, _checked_tensors(state, "torch module"), "torch module")


def from_torch(module, generator=None, input_shape=None):
    """A new TNNet with the weights of a torch ``nn.Sequential``.

    Parameters
    ----------
    module : torch.nn.Sequential
        Of ``Linear``, ``Conv2d`` (zeros padding, dilation 1, groups 1,
        square kernels and strides), ``MaxPool2d``, ``Flatten``, ``ReLU``,
        ``Tanh``, ``Sigmoid``, ``Identity`` and ``Softmax`` (over the last
        dimension) modules. A Linear (Conv2d) followed by ReLU / Tanh
        (/ Sigmoid) becomes one fully-connected (convolution) layer of that
        activation; other activation modules become weightless layers. A
        Linear or Conv2d without bias becomes a ``suppress_bias`` layer.
    generator : pyneural.rng.FPCRandom, optional
        As in ``from_state_dict``.
    input_shape : (int, int, int), optional
        ``(channels, height, width)`` of the NCHW images the module takes;
        needed (only) when it has a Conv2d or MaxPool2d.

    Returns
    -------
    TNNet
        For a convolutional module, it computes on ``image_rows(images)``
        what the module computes on ``images`` (within float32 rounding).

    Raises
    ------
    ImportError
        torch is not installed.
    TypeError
        ``module`` is not an ``nn.Sequential``.
    FormatError
        A module with no pyneural counterpart (BatchNorm, AvgPool2d, a
        Conv2d with another padding mode, dilation or groups, a MaxPool2d
        whose windows pyneural's cannot reproduce...: the message names the
        module), a Softmax over another dimension, no ``input_shape`` for a
        convolutional module, or tensors ``from_state_dict`` would refuse
        (bfloat16 ones included: convert with ``module.float()``).
    """
    torch = _import_torch("from_torch")
    if not isinstance(module, torch.nn.Sequential):
        raise TypeError(f"from_torch() needs an nn.Sequential, got {type(module).__name__}")
    mods = list(module)
    state = {key: t.detach().cpu() for key, t in module.state_dict().items()}
    if any(type(m) in (torch.nn.Conv2d, torch.nn.MaxPool2d) for m in mods):
        return _net_for_torch_conv(mods, input_shape, state, generator)
    kind_of = {name: kind for kind, name in _TORCH_MODULES.items()}
    kinds = []
    for i, m in enumerate(mods):
        name = type(m).__name__
        if type(m) is torch.nn.Flatten:
            continue                     # pyneural's rows are flat already
        # Exact classes only: a subclass may compute something else.
        if name not in kind_of or type(m) is not getattr(torch.nn, name):
            raise FormatError(f"module {i} ({name}) has no pyneural layer: only "
                              f"{_TORCH_SUPPORTED} are supported")
        if name == "Softmax" and m.dim not in (-1, 1):
            raise FormatError(f"module {i}: Softmax(dim={m.dim}); pyneural's softmax is over "
                              "the last dimension (dim=-1)")
        kinds.append(kind_of[name])
    return _net_for_modules(kinds, _checked_tensors(state, "torch module"), "torch module",
                            generator)


def to_torch(net):
    """The net as a torch ``nn.Sequential`` (float32, on the CPU).

    Parameters
    ----------
    net : TNNet

    Returns
    -------
    torch.nn.Sequential
        Its ``state_dict()`` has the keys and values of ``to_state_dict``.
        A net without convolutions takes rows of ``input_size`` values in
        pyneural's flat order; a convolutional net takes NCHW images
        (``images_from_rows``). Outputs agree within float32 rounding
        (torch sums in its own order; pyneural's tanh clamps its input to
        +-10; its softmax of a row of equal values is zeros, torch's is
        uniform; its max-pool floors at -1e6).

    Raises
    ------
    ImportError
        torch is not installed.
    FormatError
        A net with no ``nn.Sequential`` counterpart: a convolution after a
        fully-connected layer, a softmax over a 3-D volume, a max-pool
        with padding or whose clipped border windows torch cannot
        reproduce.
    """
    torch = _import_torch("to_torch")
    modules = []
    for kind, layer, _ in _sequential(net):
        if kind == "linear":
            modules.append(torch.nn.Linear(layer.fan_in, layer.neurons,
                                           bias=not layer.suppress_bias, dtype=torch.float32))
        elif kind == "conv2d":
            modules.append(torch.nn.Conv2d(layer.input_shape[2], layer.neurons,
                                           (layer.feature_size_y, layer.feature_size_x),
                                           stride=layer.stride,
                                           padding=layer.input_padding,
                                           bias=not layer.suppress_bias, dtype=torch.float32))
        elif kind == "maxpool2d":
            sx, sy, _ = layer.input_shape
            where = f"layer {layer.index} ({layer.class_name})"
            ceil = _torch_pool_ceil_mode(layer.pool_size, layer.stride, layer.padding, sx, sy,
                                         where)
            modules.append(torch.nn.MaxPool2d(layer.pool_size, layer.stride, ceil_mode=ceil))
        elif kind == "softmax":
            modules.append(torch.nn.Softmax(dim=-1))
        else:
            modules.append(getattr(torch.nn, _TORCH_MODULES[kind])())
    model = torch.nn.Sequential(*modules)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in to_state_dict(net).items()})
    return model
