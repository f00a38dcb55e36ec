"""A net given by name or by text: the one rule that tells a file path from
`.nn` text, and the one way such an item becomes a net. The public entry
points (the ``TNNet`` report methods, ``pyneural.merge_many``,
``pyneural.repair``, ``pyneural.barrier_matrix``) call it; the reports
themselves take nets, snapshots and data-only texts, never paths."""
import os

from ..net import TNNet
from ..nnformat import NNFormatError
from ..rng import FPCRandom
from .files import load

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
    if is_path(item):
        if not os.path.isfile(item):
            raise NNFormatError(f"{what} is neither .nn text nor the path of an existing file",
                                token=os.fsdecode(item))
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
