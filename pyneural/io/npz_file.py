""".npz files: the reader, with its checks against a hostile archive (zip
bombs, members that lie about their size, pickles), and the writer."""
import os

import numpy as np

from .errors import FormatError

META_KEY = "__pyneural__"    # pyneural's metadata JSON, as a uint8 array member
# Float weights hardly compress (~1.1x); beyond this ratio to the file's
# size (plus 1 MiB of slack for zero biases and the like) an archive is a
# zip bomb or a lie.
_MAX_RATIO = 100
_SLACK = 1 << 20


def _npy_size(member):
    """The data bytes an npz member's .npy header declares."""
    version = np.lib.format.read_magic(member)
    if version not in ((1, 0), (2, 0)):
        raise FormatError(f"npy format version {version}")
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    shape, _, dtype = read_header(member)
    return int(np.prod(shape, dtype=object)) * dtype.itemsize, dtype


def read(path):
    """``(tensors, pyneural's metadata text or None, file size)`` of an
    .npz, in the archive's order, with every member's size checked against
    the file's before it is read (pickles are never loaded)."""
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
            if declared > _MAX_RATIO * size + _SLACK:
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
    meta = tensors.pop(META_KEY, None)
    if meta is not None:
        if meta.dtype != np.uint8 or meta.ndim != 1:
            raise FormatError(f"{path}: '{META_KEY}' must be a 1-D uint8 array")
        try:
            meta = meta.tobytes().decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"{path}: '{META_KEY}' is not UTF-8 text") from None
    return tensors, meta, size


def writer(state, meta):
    """A ``write(f)`` for ``write_atomically`` that writes ``state`` with
    pyneural's metadata text ``meta`` as an (uncompressed) .npz."""
    members = {**state, META_KEY: np.frombuffer(meta.encode("utf-8"), np.uint8)}
    return lambda f: np.savez(f, **members)
