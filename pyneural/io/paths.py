"""A net given by name or by text: the one rule that tells a file path from
`.nn` text, and the one way such an item becomes a net. The public entry
points (the ``TNNet`` report methods, ``pyneural.merge_many``,
``pyneural.repair``, ``pyneural.barrier_matrix``) call it; the reports
themselves take nets, snapshots and data-only texts, never paths."""
import os

from ..net import TNNet
from ..nnformat import NNFormatError
from ..rng import FPCRandom
from .files import NET_SUFFIXES, load


def is_path(item):
    """The one rule for a net given by name: is ``item`` a file path (True)
    or something else, `.nn` text among it (False)?

    - A path-like object (``pathlib.Path``...) or bytes is a path.
    - A str that names an existing file is a path, whatever characters the
      name holds: ``runs/run[1]/A.nn``, ``a!b/B.nn`` and ``x>y/C.nn`` are
      files, not text.
    - A str that names no file is text when it holds a line break (a
      two-line ``save_to_file`` text), or when it holds one of the
      characters every one-line `.nn` text has (``>`` between structure and
      data, ``]`` and ``!`` in the data) and does not end with a net
      file's suffix (``.nn``, ``.safetensors``, ``.npz``: no text does).
      Any other str is a path (of a missing file, which ``as_net`` says).

    Parameters
    ----------
    item : object

    Returns
    -------
    bool
    """
    if isinstance(item, (os.PathLike, bytes)):
        return True
    if not isinstance(item, str):
        return False
    if os.path.isfile(item):
        return True
    if "\n" in item:
        return False
    return (item.lower().endswith(NET_SUFFIXES)
            or not any(mark in item for mark in (">", "]", "!")))


def as_net(item, what="net"):
    """The one way in for a net given by path or by whole `.nn` text: a path
    (``is_path``) is read by ``pyneural.load``, a ``save_to_string()`` /
    ``save_to_file`` text by ``TNNet.from_string``, each with a private
    generator (loading draws initial weights, and reading a net must not
    move the global RandSeed stream). Anything else (a TNNet, a data-only
    text, a snapshot) is returned as it is, for the caller's architecture
    check.

    Parameters
    ----------
    item : object
    what : str
        What the messages call the item.

    Returns
    -------
    TNNet or ``item``

    Raises
    ------
    NNFormatError
        A path that names no file (naming ``what`` and the path); a bad
        `.nn` file or text.
    FormatError, OSError, ImportError
        As ``load`` raises them.
    """
    if is_path(item):
        if not os.path.isfile(item):
            # The whole path: a token would be cut to its first 60 characters.
            raise NNFormatError(f"{what} is neither .nn text nor the path of an existing file "
                                f"{os.fsdecode(item)!r}")
        return load(item, generator=FPCRandom())
    if isinstance(item, str) and (">" in item or "\n" in item.strip()):
        return TNNet.from_string(item, generator=FPCRandom())
    return item


def as_nets(items, what="net"):
    """``as_net`` of each of ``items``, named ``"{what} {i}"``, as a list.
    A str, bytes or path-like alone, or anything that is not iterable, is
    returned as it is: the caller refuses it as not a sequence of nets.

    Parameters
    ----------
    items : iterable
    what : str

    Returns
    -------
    list or ``items``

    Raises
    ------
    NNFormatError, FormatError, OSError, ImportError
        As ``as_net``.
    """
    if isinstance(items, (str, bytes, os.PathLike)) or not hasattr(items, "__iter__"):
        return items
    return [as_net(item, f"{what} {i}") for i, item in enumerate(items)]
