"""Nets as files and state dicts: `.nn`, `.safetensors` and `.npz` files,
PyTorch's ``nn.Sequential`` layout, and torch modules.

One job a module:

- ``files``: ``load`` and ``save``, the one reader and the one writer of
  net files, by suffix (``file_format``, ``NET_SUFFIXES``);
- ``safetensors_file`` / ``npz_file``: those formats' readers, with their
  checks against a hostile file, and writers;
- ``tensors``: tensors of any source checked (float, finite) before a net
  is built from them;
- ``atomic``: ``write_atomically``, under every file pyneural writes;
- ``state_dict``: PyTorch's ``nn.Sequential`` layout of a net, in numpy
  (``to_state_dict``, ``from_state_dict``, ``activations_of``);
- ``torch_modules``: ``from_torch`` and ``to_torch`` (torch is imported
  there only, and only when they are called);
- ``paths``: ``is_path``, the one rule that tells a file path from `.nn`
  text, and ``as_net``, the one way such an item becomes a net.

Every name below is importable from ``pyneural.io``.
"""
from .atomic import write_atomically
from .errors import FormatError
from .files import NET_SUFFIXES, file_format, load, save
from .paths import as_net, as_nets, is_path
from .state_dict import (ACTIVATIONS, activations_of, from_state_dict, parse_activations,
                         to_state_dict)
from .torch_modules import from_torch, to_torch

__all__ = ["FormatError", "ACTIVATIONS", "NET_SUFFIXES", "load", "save", "from_state_dict",
           "to_state_dict", "activations_of", "parse_activations", "from_torch", "to_torch",
           "file_format", "write_atomically", "is_path", "as_net", "as_nets"]
