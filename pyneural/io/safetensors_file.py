"""`.safetensors` files: the reader, with its checks against a hostile file,
and the writer's deterministic bytes. Needs the safetensors package (only
when called)."""
import json
import os

import numpy as np

from .errors import FormatError
from .tensors import _natural

META_KEY = "pyneural"              # the metadata entry of pyneural's own files (JSON text)


def _import_safetensors():
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError(".safetensors files need the safetensors package: "
                          "pip install safetensors (or pip install 'pyneural[safetensors]')"
                          ) from None
    return safetensors


def read(path):
    """``(tensors, pyneural's metadata text or None, file size)`` of a
    safetensors file, the tensors in the natural order of their names (the
    format keeps no order), every size checked against the file's before
    anything is read."""
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
    return tensors, metadata.get(META_KEY), size


def writer(state, meta):
    """A ``write(f)`` for ``write_atomically`` that writes ``state`` with
    pyneural's metadata text ``meta``. The bytes are made now (a missing
    package or a bad tensor fails before any file is opened), with the
    header's JSON in one fixed key order: the library's own header order
    varies from call to call, and the same net must give the same bytes."""
    safetensors = _import_safetensors()
    data = safetensors.numpy.save(state, metadata={"format": "pt", META_KEY: meta})
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    # The format pads the header with spaces so the tensor data is 8-byte aligned.
    text += b" " * (-len(text) % 8)
    data = len(text).to_bytes(8, "little") + text + data[8 + length:]
    return lambda f: f.write(data)
