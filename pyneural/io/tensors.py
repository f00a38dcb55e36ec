"""Tensors from any source (a file, a state dict, a torch module) checked
before a net is built from them: float dtypes only, finite values, float32
out."""
import re
import warnings

import numpy as np

from .errors import FormatError


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
