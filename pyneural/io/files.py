"""Net files by suffix: `.nn` (the original's text), and `.safetensors` /
`.npz` (PyTorch's state-dict layout plus pyneural's metadata), read by
``load`` and written by ``save``, the one reader and the one writer.

pyneural's own `.safetensors` / `.npz` files keep the unused bias of
``suppress_bias`` layers, and the whole structure string, in their
metadata, so they reload to the same bits without ``activations``; a file
from elsewhere needs ``activations``, one name per Linear layer.

Files are never unpickled, and whatever a file holds is checked before a
net is built (dtype, rank, shapes that chain, finite values, sizes bounded
by the file's): a bad file is a ``FormatError`` (a ValueError) naming the
file and the tensor, and no net is half-loaded.
"""
import json
import os

import numpy as np

from ..net import TNNet, _plan_layers
from ..nnformat import parse_structure
from . import npz_file, safetensors_file
from .atomic import write_atomically
from .errors import FormatError
from .state_dict import (_check_activations, _fill, _from_arrays, _weighted_keys,
                         to_state_dict)
from .tensors import _checked_tensors, _require_finite

_FORMATS = {".nn": "nn", ".safetensors": "safetensors", ".npz": "npz"}
# The suffixes that name a net file, for reading and writing alike.
NET_SUFFIXES = tuple(_FORMATS)
# The module that reads and writes each format of tensor files.
_TENSOR_FILES = {"safetensors": safetensors_file, "npz": npz_file}


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
        net._build(*layers, draw=False)       # the file holds every weight
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
        tensors, meta, size = _TENSOR_FILES[fmt].read(path)
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
    write_atomically(path, _TENSOR_FILES[fmt].writer(state, meta))
