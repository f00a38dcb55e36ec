"""The compiled kernels, imported once with a clear message when missing.

There is no pure-Python fallback: a pyneural without its kernels would be
slow and, worse, quietly different, so it refuses to import.
"""
try:
    from . import _dense as dense
    from . import _text as text
    from . import _volume as volume
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "pyneural's compiled kernels (pyneural._volume, pyneural._dense, pyneural._text) are "
        "missing or fail to load. Build them with `pip install .` (or "
        "`pip install -e .`) from the source tree; a C compiler is needed. "
        f"Original error: {exc}") from exc

__all__ = ["dense", "text", "volume"]
