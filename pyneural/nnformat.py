"""The original's text formats: FloatToStr, volumes and `.nn` nets.

A `.nn` string is ``structure ">" data``::

    structure := layer ("#" layer)*
    layer     := prev ")" ClassName ":" i0;..;i7 ":" links ":" f0;..;f7
    data      := block ("!" block)*        one block per layer
    block     := "" | neuron ("[" neuron)*
    neuron    := bias "]" volume
    volume    := "1;" sx ";" sy ";" depth (";" value)*

This module knows text only: it turns strings into plain Python/numpy
values and back, and says precisely what is wrong with a bad string. It
knows nothing about layers or training.
"""
import os
import re
from dataclasses import dataclass

import numpy as np

from ._kernels import text as _text

__all__ = [
    "NNFormatError", "float_to_str", "floats_to_str", "parse_float",
    "format_volume", "parse_volume", "LayerSpec", "format_structure",
    "parse_structure", "split_net", "format_data_block", "parse_data", "parse_int",
]


class NNFormatError(ValueError):
    """A string that is not valid `.nn` / volume text.

    ``layer`` is the index of the layer the problem is in (None when it is
    not about one layer) and ``token`` the offending piece of text.
    """

    def __init__(self, message, layer=None, token=None):
        where = f"layer {layer}: " if layer is not None else ""
        tok = f" (token {_shorten(token)!r})" if token is not None else ""
        super().__init__(f"{where}{message}{tok}")
        self.layer = layer
        self.token = token


def read_text(path):
    """The text of a `.nn` file (UTF-8); NNFormatError naming the file when
    it is not text (a binary file, another encoding)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as exc:
        raise NNFormatError(f"{os.fsdecode(path)}: not UTF-8 text (byte {exc.start}); a .nn "
                            "file is text") from None


def _shorten(text, limit=60):
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."


def require_str(text, what="text"):
    """TypeError unless ``text`` is a str (bytes, None, numbers... are not text)."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}")
    return text


# --------------------------------------------------------------- floats ---

def float_to_str(value):
    """FPC 3.2.2 ``FloatToStr`` of a Single.

    Ten significant digits of the exact binary32 value (round half to even),
    trailing zeros dropped; plain notation for decimal exponents -5..9, else
    ``d.dddE-n``; ``0``, ``Nan``, ``+Inf``, ``-Inf``. Runs in the compiled
    text kernel (C printf rounds exactly from the binary value, as the
    RTL's Grisu code does).
    """
    return _text.float_text(np.float32(value))


def floats_to_str(values, sep=";"):
    """FloatToStr of every element, joined by ``sep``."""
    return _text.join_floats(np.ascontiguousarray(values, dtype=np.float32).ravel(), sep)


# ASCII digits only (as the original's StrToFloat / StrToInt): Python's
# float() and int() would also take other scripts' digits.
_FLOAT_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_INT_RE = re.compile(r"-?\d+", re.ASCII)
_SPECIALS = {"Nan": np.nan, "+Inf": np.inf, "Inf": np.inf, "-Inf": -np.inf}

INT_MIN, INT_MAX = -2 ** 31, 2 ** 31 - 1     # the original's Integer


def parse_float(token, layer=None):
    """One float32 from its text (FloatToStr output reads back bit-exactly).

    Magnitudes beyond float32 become +-Inf (and tiny ones 0), as a float32
    conversion does.
    """
    if token in _SPECIALS:
        return np.float32(_SPECIALS[token])
    if not token:
        raise NNFormatError("an empty number (two ';' in a row, or a text cut short)", layer,
                            token)
    if not _FLOAT_RE.fullmatch(token):
        raise NNFormatError("not a number", layer, token)
    with np.errstate(over="ignore"):
        return np.float32(float(token))


def _parse_floats(text, layer):
    """The ';'-separated numbers of ``text`` as float32."""
    values, bad = _text.split_floats(text)
    if bad < 0:
        return values
    # Nan/Inf spellings, or an error that must name the token: the slow path.
    return np.array([parse_float(t, layer) for t in text.split(";")], dtype=np.float32)


def parse_int(token, layer, what):
    """A decimal integer in the original's Integer range (32-bit signed)."""
    if not _INT_RE.fullmatch(token):
        raise NNFormatError(f"{what} is not an integer", layer, token)
    # Bound the digit count before int(): Python refuses (ValueError) to
    # convert more than 4300 digits, and nothing here needs more than 10.
    if len(token.lstrip("-").lstrip("0")) > 10 or not INT_MIN <= int(token) <= INT_MAX:
        raise NNFormatError(f"{what} is out of the 32-bit integer range", layer, token)
    return int(token)


# -------------------------------------------------------------- volumes ---

def format_volume(sizes, values):
    """``1;sx;sy;d;v0;v1;...`` (the leading 1 is the format version)."""
    head = "1;%d;%d;%d" % tuple(sizes)
    return head + (";" + floats_to_str(values) if np.size(values) else "")


def parse_volume(text, layer=None):
    """Parse volume text into ``((sx, sy, d), float32 array)``.

    Raises NNFormatError when a token is not a number, a size is negative,
    or the value count is not ``sx*sy*d``.
    """
    require_str(text, "volume text")
    tokens = text.split(";", 4)
    if len(tokens) < 4:
        raise NNFormatError("volume needs version;sx;sy;depth", layer, text)
    parse_int(tokens[0], layer, "volume version")
    sizes = tuple(parse_int(t, layer, "volume size") for t in tokens[1:4])
    if min(sizes) < 0:
        raise NNFormatError("negative volume size", layer, ";".join(tokens[1:4]))
    values = _parse_floats(tokens[4], layer) if len(tokens) > 4 else np.zeros(0, np.float32)
    expected = sizes[0] * sizes[1] * sizes[2]
    if values.size != expected:
        raise NNFormatError(
            f"volume {sizes[0]}x{sizes[1]}x{sizes[2]} needs {expected} values, found {values.size}",
            layer, _shorten(text))
    return sizes, values


# ------------------------------------------------------------ structure ---

@dataclass
class LayerSpec:
    """One layer of a structure string: what the loader needs to rebuild it."""
    prev: int
    class_name: str
    ints: tuple
    links: str = ""
    floats: tuple = (0.0,) * 8


def format_structure(specs):
    """The structure part of a `.nn` string."""
    parts = []
    for s in specs:
        ints = ";".join(str(int(i)) for i in s.ints)
        floats = ";".join(float_to_str(f) for f in s.floats)
        parts.append(f"{s.prev}){s.class_name}:{ints}:{s.links}:{floats}")
    return "#".join(parts)


_LAYER_RE = re.compile(r"(-?\d+)\)([A-Za-z_][A-Za-z0-9_]*)", re.ASCII)


def parse_structure(text):
    """Parse a structure string into a list of LayerSpec (classes unchecked)."""
    require_str(text, "structure text")
    if not text:
        raise NNFormatError("empty structure", token=text)
    specs = []
    for index, part in enumerate(text.split("#")):
        fields = part.split(":")
        if len(fields) != 4:
            raise NNFormatError("layer must be prev)Class:ints:links:floats", index, part)
        m = _LAYER_RE.fullmatch(fields[0])
        if not m:
            raise NNFormatError("layer header must be prev)ClassName", index, fields[0])
        ints = tuple(parse_int(t, index, "structure integer") for t in fields[1].split(";"))
        floats = tuple(float(parse_float(t, index)) for t in fields[3].split(";"))
        if len(ints) != 8 or len(floats) != 8:
            raise NNFormatError("a layer needs 8 integers and 8 floats", index, part)
        prev = parse_int(m.group(1), index, "previous-layer index")
        specs.append(LayerSpec(prev, m.group(2), ints, fields[2], floats))
    return specs


def split_net(text):
    """Split a whole-net string (one line, or SaveToFile's two) at '>'."""
    require_str(text, "net text")
    text = text.strip()
    if "\n" in text and ">" not in text:
        structure, _, data = text.partition("\n")
    else:
        structure, sep, data = text.partition(">")
        if not sep:
            raise NNFormatError("a net string needs structure '>' data", token=_shorten(text))
    return structure.strip(), data.strip()


# ----------------------------------------------------------------- data ---

def format_data_block(biases, weights, sizes=None):
    """One layer's data block: neurons joined by '[' (weights: neurons x
    fan_in; each neuron's volume written as ``sizes``, default
    ``(fan_in, 1, 1)``)."""
    return "[".join(
        float_to_str(b) + "]" + format_volume(sizes or (w.size, 1, 1), w)
        for b, w in zip(biases, weights))


def parse_data(text):
    """Split data text into per-layer lists of ``(bias, sizes, weights)``."""
    require_str(text, "data text")
    layers = []
    for index, block in enumerate(text.split("!")):
        neurons = []
        if block:
            for neuron in block.split("["):
                bias, sep, volume = neuron.partition("]")
                if not sep:
                    raise NNFormatError("a neuron must be bias]volume", index, neuron)
                sizes, values = parse_volume(volume, index)
                neurons.append((parse_float(bias, index), sizes, values))
        layers.append(neurons)
    return layers
