"""Number formatting and '#' bars shared by the printed reports.

The reports reproduce the original's text, so a Pascal user's log parsers
keep working: numbers as FPC's ``Format`` prints them (``%.Nf`` and the
``%e`` style ``1.94E-007``, rounded as FPC rounds: a half away from zero,
``0.813`` for 13/16), and bars of at most 40 '#' computed in binary32.
"""
import math
from decimal import Decimal
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


# FPC's Str computes this many significant digits of an Extended (the
# type Format's arguments arrive in) before it rounds to the requested width.
_EXTENDED_DIGITS = 21
# The original's epsilon (its cEps): a bar over a range at most this is
# empty, and no ratio to (or reduction of) a number at most this is printed.
ORIGINAL_EPS = 1e-12


def _special(value):
    return "Nan" if value != value else ("+Inf" if value > 0 else "-Inf")


def _round_digits(digits, keep, half_even):
    """FPC's ``round_digits``: ``digits`` (a list of 0-9) cut to ``keep``,
    as ``(digits, carry)``; ``carry`` is 1 when the rounding added a digit
    in front (9.99 -> 10.0). ``half_even=False`` is Format's rounding: a
    half goes away from zero, and so does a 4 followed by 9s up to the
    last two digits when the second last is 8 or 9 (FPC's
    GRISU1_F2A_AGRESSIVE_ROUNDUP: such a 4 is taken for a 5 that Grisu's
    digits came short of)."""
    n = len(digits)
    if keep >= n:
        return digits, 0
    d = digits[keep]
    if (not half_even and d == 4 and keep < n - 3 and digits[n - 2] >= 8
            and all(x == 9 for x in digits[keep + 1:n - 2])):
        d = 9
    if d < 5 or (d == 5 and half_even and (keep == 0 or digits[keep - 1] % 2 == 0)
                 and not any(digits[keep + 1:])):
        return digits[:keep], 0
    out = digits[:keep]
    for i in range(keep - 1, -1, -1):
        out[i] += 1
        if out[i] < 10:
            return out[:i + 1], 0
    return [1], 1


def _decimal_digits(value):
    """``(digits, point)`` with ``|value| = 0.d1 d2 ... x 10**point``: the
    exact binary value's decimal digits, rounded half-even to the 21 that
    FPC's Str computes for an Extended (``[]`` for zero)."""
    _, digits, exponent = Decimal(abs(float(value))).as_tuple()
    digits = list(digits)
    if not any(digits):
        return [], 0
    point = len(digits) + exponent
    digits, carry = _round_digits(digits, _EXTENDED_DIGITS, half_even=True)
    return digits, point + carry


def _signed(value, text):
    """``text`` with a '-' for a negative ``value``, except when every
    digit printed is 0 (FPC's Format drops the sign of "-0.00")."""
    negative = math.copysign(1.0, float(value)) < 0
    return "-" + text if negative and any(c in "123456789" for c in text) else text


def fpc_exp(value, precision=3):
    """FPC ``Format('%.Ne', [value])``: ``precision`` significant digits (at
    least 2: ``%.0e`` of 1e-4 is ``1.0E-004``), three exponent digits
    (``1.94E-007``, ``0.00E+000``), a half rounded away from zero."""
    if not math.isfinite(value):
        return _special(value)
    n = max(2, min(precision, 17))
    digits, point = _decimal_digits(value)
    if digits:
        digits, carry = _round_digits(digits, n, half_even=False)
        point += carry
    mantissa = "".join(map(str, digits)).ljust(n, "0")
    exponent = point - 1 if digits else 0
    return _signed(value, f"{mantissa[0]}.{mantissa[1:]}E{'-' if exponent < 0 else '+'}"
                          f"{abs(exponent):03d}")


def fixed(value, decimals):
    """FPC ``Format('%.Nf', [value])``: the exact binary value rounded to
    ``decimals`` places with a half away from zero (``fixed(13 / 16, 3)`` is
    ``0.813``, where Python's format gives ``0.812``), non-finite values
    spelled as the original spells them."""
    if not math.isfinite(value):
        return _special(value)
    digits, point = _decimal_digits(value)
    cut = point + decimals
    if cut < 0:
        digits = []
    elif cut < len(digits):
        digits, carry = _round_digits(digits, cut, half_even=False)
        point += carry
    text = "".join(map(str, digits))
    if point <= 0 or not digits:
        whole = "0"
    else:
        whole = text[:point].ljust(point, "0")
    if decimals > 0:
        fraction = "0" * max(0, -point) + text[max(point, 0):] if digits else ""
        whole += "." + fraction.ljust(decimals, "0")[:decimals]
    return _signed(value, whole)


def f32(value):
    """``value`` rounded to binary32, as a Python float (the original holds
    its report numbers in Singles)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.float32(value))


def bar(value, low, high, width=BAR_WIDTH):
    """The original's bar: ``Round(((value - low) / (high - low)) * width)``
    '#', every step in binary32 and rounded half to even; none when the
    range is at most ``ORIGINAL_EPS`` or a number is not finite."""
    span = f32(f32(high) - f32(low))
    if not (span > ORIGINAL_EPS) or not math.isfinite(value) or not math.isfinite(span):
        return ""
    with np.errstate(all="ignore"):
        share = np.float32(np.float32(np.float32(value) - np.float32(low)) / np.float32(span))
        n = np.float32(share * np.float32(width))
    if not np.isfinite(n):
        return ""
    return "#" * max(0, min(width, round(float(n))))


def percent(value, decimals=2):
    """A fraction as a percentage: ``percent(0.05)`` is ``"5.00%"``."""
    return fixed(100.0 * value, decimals) + "%"
