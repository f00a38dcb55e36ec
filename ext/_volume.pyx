# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# cython: language_level=3
"""float32 element-wise kernels behind TNNetVolume.

Every operation is one binary32 operation per element, rounded right away,
exactly as the Pascal loops (no FMA: the build passes -ffp-contract=off).
Callers (pyneural.volume) have already checked sizes and dtypes; these
kernels trust their inputs and release the GIL.
"""

include "_activations.pxi"


def fill(f32[::1] s, f32 c):
    cdef Py_ssize_t i, n = s.shape[0]
    with nogil:
        for i in range(n):
            s[i] = c


def add(f32[::1] s, const f32[::1] v):
    cdef Py_ssize_t i, n = s.shape[0]
    with nogil:
        for i in range(n):
            s[i] = s[i] + v[i]


def sub(f32[::1] s, const f32[::1] v):
    cdef Py_ssize_t i, n = s.shape[0]
    with nogil:
        for i in range(n):
            s[i] = s[i] - v[i]


def mul(f32[::1] s, const f32[::1] v):
    cdef Py_ssize_t i, n = s.shape[0]
    with nogil:
        for i in range(n):
            s[i] = s[i] * v[i]


def add_scalar(f32[::1] s, f32 c):
    cdef Py_ssize_t i, n = s.shape[0]
    with nogil:
        for i in range(n):
            s[i] = s[i] + c


def sub_scalar(f32[::1] s, f32 c):
    cdef Py_ssize_t i, n = s.shape[0]
    with nogil:
        for i in range(n):
            s[i] = s[i] - c


def mul_scalar(f32[::1] s, f32 c):
    cdef Py_ssize_t i, n = s.shape[0]
    with nogil:
        for i in range(n):
            s[i] = s[i] * c


def divi_scalar(f32[::1] s, f32 c):
    # A true division, as Pascal's Divi: multiplying by 1/c rounds differently.
    cdef Py_ssize_t i, n = s.shape[0]
    with nogil:
        for i in range(n):
            s[i] = s[i] / c


def mul_add_scalar(f32[::1] s, f32 c, const f32[::1] v):
    """s = s + v*c"""
    cdef Py_ssize_t i, n = s.shape[0]
    with nogil:
        for i in range(n):
            s[i] = s[i] + v[i] * c


def mul_add(f32[::1] s, const f32[::1] v1, const f32[::1] v2):
    """s = s + v1*v2"""
    cdef Py_ssize_t i, n = s.shape[0]
    with nogil:
        for i in range(n):
            s[i] = s[i] + v1[i] * v2[i]


def mul_mul_add(f32[::1] s, f32 c1, f32 c2, const f32[::1] v):
    """s = s*c1 + v*c2"""
    cdef Py_ssize_t i, n = s.shape[0]
    with nogil:
        for i in range(n):
            s[i] = s[i] * c1 + v[i] * c2


def dot_product(const f32[::1] s, const f32[::1] v):
    """Strictly sequential binary32 sum from +0 (the order is part of the result)."""
    cdef Py_ssize_t i, n = s.shape[0]
    cdef f32 acc = 0
    with nogil:
        for i in range(n):
            acc = acc + s[i] * v[i]
    return acc


def softmax(f32[::1] s):
    cdef f32 total
    with nogil:
        total = softmax_inplace(&s[0], s.shape[0]) if s.shape[0] > 0 else 0
    return total
