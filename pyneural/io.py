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

from .layers import (TNNetFullConnect, TNNetFullConnectLinear, TNNetFullConnectReLU,
                     TNNetFullConnectSigmoid, TNNetHyperbolicTangent, TNNetIdentity,
                     TNNetInput, TNNetReLU, TNNetSigmoid, TNNetSoftMax)
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
# Module kind -> torch.nn class name (both directions of the torch conversion).
_TORCH_MODULES = {"linear": "Linear", "relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid",
                  "identity": "Identity", "softmax": "Softmax"}

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

def _sequential(net):
    """``(kind, layer)`` for each module of the net's ``nn.Sequential``, in
    order: ``("linear", fc_layer)`` for a fully-connected layer, then its
    activation as ``(name, None)``; a weightless layer is ``(name, layer)``."""
    modules = []
    for layer in net.layers[1:]:
        if layer.has_weights:
            modules.append(("linear", layer))
            if layer.activation != "identity":
                modules.append((layer.activation, None))
        else:
            modules.append((layer.activation, layer))
    return modules


def _linear_keys(net):
    """``(layer, weight key, bias key or None)`` for each FC layer, keys as
    ``to_state_dict`` names them."""
    return [(layer, f"{i}.weight", None if layer.suppress_bias else f"{i}.bias")
            for i, (kind, layer) in enumerate(_sequential(net)) if kind == "linear"]


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
    kinds = [kind for kind, _ in _sequential(net)]
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
        ``"<i>.weight"`` (out, in) and ``"<i>.bias"`` float32 copies, in
        module order; no bias for a ``suppress_bias`` layer.
    """
    state = {}
    with net.lock:                       # all the weights at once: no torn read
        for layer, weight_key, bias_key in _linear_keys(net):
            # np.array copies: a one-neuron layer's weights view is already
            # "contiguous", so ascontiguousarray would hand out the live view.
            state[weight_key] = np.array(layer.weights, dtype=np.float32, order="C")
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
    """Copy the tensors into the FC layers of a new net: ``layout`` lists
    ``(layer, weight key, bias key or None)``; every tensor must be used.
    A layer without a bias key keeps its zero bias (it is a suppress_bias
    layer, or pyneural's metadata fills the unused bias next)."""
    used = {key for _, w_key, b_key in layout for key in (w_key, b_key) if key}
    for key in arrays:
        if key not in used:
            raise FormatError(f"{source}: unexpected tensor '{key}' (the net's are "
                              f"{', '.join(sorted(used, key=_natural))})")
    for layer, w_key, b_key in layout:
        for key, shape in ((w_key, (layer.neurons, layer.fan_in)), (b_key, (layer.neurons,))):
            if key is not None and key not in arrays:
                raise FormatError(f"{source}: tensor '{key}' is missing")
            if key is not None and arrays[key].shape != shape:
                raise FormatError(f"{source}: '{key}' has shape {arrays[key].shape}, the net's "
                                  f"layer {layer.index} ({layer.class_name}) needs {shape}")
    for layer, w_key, b_key in layout:
        layer.weights[:] = arrays[w_key]
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
            filled.append((net._append(layer, None), w_key, b_key))
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
    layout = _linear_keys(net)
    _fill(net, layout, arrays, source)
    suppressed = {w_key.split(".")[0]: layer for layer, w_key, b_key in layout if b_key is None}
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
                  for layer, w_key, b_key in _linear_keys(net) if b_key is None}
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


def from_torch(module, generator=None):
    """A new TNNet with the weights of a torch ``nn.Sequential``.

    Parameters
    ----------
    module : torch.nn.Sequential
        Of ``Linear``, ``ReLU``, ``Tanh``, ``Sigmoid``, ``Identity``,
        ``Softmax`` (over the last dimension) and ``Flatten`` modules. A
        Linear followed by ReLU / Tanh / Sigmoid becomes one FC layer of
        that activation; other activation modules become weightless layers.
    generator : pyneural.rng.FPCRandom, optional
        As in ``from_state_dict``.

    Returns
    -------
    TNNet

    Raises
    ------
    ImportError
        torch is not installed.
    TypeError
        ``module`` is not an ``nn.Sequential``.
    FormatError
        A module of another kind, a Softmax over another dimension, or
        tensors ``from_state_dict`` would refuse (bfloat16 ones included:
        convert with ``module.float()``).
    """
    torch = _import_torch("from_torch")
    if not isinstance(module, torch.nn.Sequential):
        raise TypeError(f"from_torch() needs an nn.Sequential, got {type(module).__name__}")
    kind_of = {name: kind for kind, name in _TORCH_MODULES.items()}
    kinds = []
    for i, m in enumerate(module):
        name = type(m).__name__
        if type(m) is torch.nn.Flatten:
            continue                     # pyneural's rows are flat already
        # Exact classes only: a subclass may compute something else.
        if name not in kind_of or type(m) is not getattr(torch.nn, name):
            raise FormatError(f"module {i} ({name}) has no pyneural layer: only Linear, ReLU,"
                              " Tanh, Sigmoid, Identity, Softmax and Flatten are supported")
        if name == "Softmax" and m.dim not in (-1, 1):
            raise FormatError(f"module {i}: Softmax(dim={m.dim}); pyneural's softmax is over "
                              "the last dimension (dim=-1)")
        kinds.append(kind_of[name])
    state = {key: t.detach().cpu() for key, t in module.state_dict().items()}
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
        It takes rows of ``input_size`` values in pyneural's flat order;
        outputs agree within float32 rounding (torch sums in its own order;
        pyneural's tanh clamps its input to +-10; its softmax of a row of
        equal values is zeros, torch's is uniform).

    Raises
    ------
    ImportError
        torch is not installed.
    """
    torch = _import_torch("to_torch")
    modules = []
    for kind, layer in _sequential(net):
        if kind == "linear":
            modules.append(torch.nn.Linear(layer.fan_in, layer.neurons,
                                           bias=not layer.suppress_bias, dtype=torch.float32))
        elif kind == "softmax":
            modules.append(torch.nn.Softmax(dim=-1))
        else:
            modules.append(getattr(torch.nn, _TORCH_MODULES[kind])())
    model = torch.nn.Sequential(*modules)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in to_state_dict(net).items()})
    return model
