# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# cython: language_level=3
"""The `.nn` number text, in C: FloatToStr for whole arrays and a validating
float parser. A 2-million-weight net is 2 million numbers; per-number
Python costs seconds, this costs a fraction of one.

FloatToStr (FPC 3.2.2, Single): 10 significant digits of the exact binary
value, rounded half to even (glibc's printf rounds exactly, as the RTL's
Grisu code does), trailing zeros dropped, plain notation for decimal
exponents -5..9, else ``d.dddE-n``; ``0``, ``Nan``, ``+Inf``, ``-Inf``.
"""
import numpy as np

from libc.math cimport fabs, isinf, isnan
from libc.stdio cimport snprintf
from libc.stdlib cimport free, malloc, strtod
from libc.string cimport memcpy

cdef extern from "<locale.h>" nogil:
    struct lconv:
        char* decimal_point
    lconv* localeconv()

ctypedef float f32


cdef int _format(f32 v, char* out) noexcept nogil:
    """Write FloatToStr(v) to out (at least 32 bytes); return its length."""
    cdef char buf[48]
    cdef char digits[12]
    cdef int nd = 0, e, i, n = 0, neg, neg_e
    if isnan(v):
        out[0], out[1], out[2] = b'N', b'a', b'n'
        return 3
    if isinf(v):
        out[0] = b'+' if v > 0 else b'-'
        out[1], out[2], out[3] = b'I', b'n', b'f'
        return 4
    if v == 0:
        out[0] = b'0'
        return 1
    neg = v < 0
    # "%.9e" writes the locale's decimal point, which may be several bytes:
    # take the ten digits and the exponent by what they are, not by position.
    snprintf(buf, 48, "%.9e", fabs(<double>v))
    digits[0] = buf[0]
    i = 1
    while nd < 9:
        if 48 <= buf[i] <= 57:
            digits[nd + 1] = buf[i]
            nd += 1
        i += 1
    nd = 10
    while nd > 1 and digits[nd - 1] == b'0':
        nd -= 1
    while buf[i] != b'e':
        i += 1
    neg_e = buf[i + 1] == b'-'
    e = 0
    i += 2
    while buf[i] != 0:
        e = e * 10 + (buf[i] - 48)
        i += 1
    if neg_e:
        e = -e
    if neg:
        out[n] = b'-'
        n += 1
    if -5 <= e <= 9:
        if e >= 0:
            for i in range(e + 1):
                out[n] = digits[i] if i < nd else b'0'
                n += 1
            if nd > e + 1:
                out[n] = b'.'
                n += 1
                for i in range(e + 1, nd):
                    out[n] = digits[i]
                    n += 1
        else:
            out[n], out[n + 1] = b'0', b'.'
            n += 2
            for i in range(-e - 1):
                out[n] = b'0'
                n += 1
            for i in range(nd):
                out[n] = digits[i]
                n += 1
    else:
        out[n] = digits[0]
        n += 1
        if nd > 1:
            out[n] = b'.'
            n += 1
            for i in range(1, nd):
                out[n] = digits[i]
                n += 1
        n += snprintf(out + n, 8, "E%d", e)
    return n


cdef char _separator(str sep) except 0:
    # One ASCII character: a byte that no UTF-8 sequence of another
    # character contains, so bytes and characters split the text alike.
    if len(sep) != 1 or not 0 < ord(sep) < 128:
        raise ValueError(f"the separator must be one ASCII character, got {sep!r}")
    return ord(sep)


def join_floats(const f32[::1] values, str sep=";"):
    """``sep.join(FloatToStr(v) for v in values)``."""
    cdef Py_ssize_t i, n = values.shape[0], pos = 0
    cdef char s = _separator(sep)
    cdef char* buf
    if n == 0:
        return ""
    buf = <char*>malloc(n * 33)
    if buf == NULL:
        raise MemoryError()
    try:
        with nogil:
            for i in range(n):
                if i:
                    buf[pos] = s
                    pos += 1
                pos += _format(values[i], buf + pos)
        return buf[:pos].decode("ascii")
    finally:
        free(buf)


def float_text(f32 value):
    """FloatToStr of one float32."""
    cdef char buf[40]
    cdef int n = _format(value, buf)
    return buf[:n].decode("ascii")


cdef int _valid(const unsigned char* t, Py_ssize_t n) noexcept nogil:
    """[+-]?(digits[.digits*] | .digits)([eE][+-]?digits)?, ASCII only."""
    cdef Py_ssize_t i = 0, before = 0, after = 0, ed = 0
    if i < n and (t[i] == b'+' or t[i] == b'-'):
        i += 1
    while i < n and 48 <= t[i] <= 57:
        i += 1
        before += 1
    if i < n and t[i] == b'.':
        i += 1
        while i < n and 48 <= t[i] <= 57:
            i += 1
            after += 1
    if before == 0 and after == 0:
        return 0
    if i < n and (t[i] == b'e' or t[i] == b'E'):
        i += 1
        if i < n and (t[i] == b'+' or t[i] == b'-'):
            i += 1
        while i < n and 48 <= t[i] <= 57:
            i += 1
            ed += 1
        if ed == 0:
            return 0
    return i == n


def split_floats(str text, str sep=";"):
    """Parse ``sep``-separated decimal numbers into float32.

    Returns ``(values, bad)``: ``bad`` is the index of the first token that
    is not a plain decimal number (the caller handles the Nan/Inf spellings
    and the error message), or -1 when all parsed.
    """
    cdef bytes raw = text.encode("utf-8", "surrogatepass")
    cdef const unsigned char* t = raw
    cdef Py_ssize_t n = len(raw), start = 0, i, j, k = 0, count = text.count(sep) + 1
    cdef unsigned char s = _separator(sep)
    cdef char tmp[96]
    values = np.empty(count, np.float32)
    cdef f32[::1] out = values
    cdef Py_ssize_t bad = -1
    # strtod reads the locale's decimal point; the text always has '.', so
    # hand strtod whatever this process's LC_NUMERIC calls a decimal point
    # (all its bytes: U+066B, for one, takes two).
    cdef bytes point_text = localeconv().decimal_point
    cdef const char* point = point_text
    cdef Py_ssize_t m, plen = len(point_text)
    if not 0 < plen <= 16:
        raise ValueError(f"this process's locale has an unusable decimal point {point_text!r}")
    with nogil:
        for i in range(n + 1):
            if i == n or t[i] == s:
                if not _valid(t + start, i - start):
                    bad = k
                    break
                if i - start < 63:
                    m = 0
                    for j in range(i - start):
                        if t[start + j] == b'.':
                            memcpy(tmp + m, point, plen)
                            m += plen
                        else:
                            tmp[m] = t[start + j]
                            m += 1
                    tmp[m] = 0
                    out[k] = <f32>strtod(tmp, NULL)
                else:
                    bad = k
                    break
                k += 1
                start = i + 1
    return values, bad
