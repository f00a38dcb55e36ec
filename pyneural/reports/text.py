"""Number formatting and '#' bars shared by the printed reports.

The reports reproduce the original's text, so a Pascal user's log parsers
keep working: FPC's ``%e`` style (``1.94E-007``), fixed decimals, and bars
of at most 40 '#'.
"""
import math
from enum import Enum

import numpy as np

BAR_WIDTH = 40


def json_number(value):
    """``value`` as a float, or None when it is NaN or infinite (JSON has
    neither; a result's ``to_dict`` must load with ``allow_nan=False``)."""
    return float(value) if math.isfinite(value) else None


def jsonable(value):
    """``value`` with numpy scalars and arrays turned into Python numbers and
    lists, tuples into lists, enums into their values, and non-finite
    floats (NaN, +-Inf) into None (JSON null): what every result's
    ``to_dict`` returns, so that it loads with ``json.dumps(...,
    allow_nan=False)``. TypeError for a value JSON cannot hold."""
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return json_number(float(value))
    if isinstance(value, str):
        return str(value)
    if value is None:
        return None
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def fpc_exp(value, decimals=2):
    """FPC ``Format('%.Ne')``: ``1.94E-007``, ``0.00E+000`` (3-digit exponent)."""
    if not math.isfinite(value):
        return "Nan" if value != value else ("+Inf" if value > 0 else "-Inf")
    mantissa, exp = f"{value:.{decimals}E}".split("E")
    return f"{mantissa}E{exp[0]}{int(exp[1:]):03d}"


def fixed(value, decimals):
    """``%.Nf``, with the original's spelling of non-finite values."""
    if not math.isfinite(value):
        return "Nan" if value != value else ("+Inf" if value > 0 else "-Inf")
    return f"{value:.{decimals}f}"


def bar(value, low, high, width=BAR_WIDTH):
    """``round(width * (value - low) / (high - low))`` '#' (none when the range is empty)."""
    span = high - low
    if not (span > 0) or not math.isfinite(value):
        return ""
    return "#" * max(0, min(width, round(width * (value - low) / span)))


def percent(value, decimals=2):
    """A fraction as a percentage: ``percent(0.05)`` is ``"5.00%"``."""
    return fixed(100.0 * value, decimals) + "%"
