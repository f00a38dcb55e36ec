# Shared by the numpy-facing kernels (textually included): the numpy C
# API, the GIL release calls, and the scalar activation functions, each of
# which follows the Pascal operation order exactly (docs/SEMANTICS.md, "Activation functions").

cimport numpy as cnp
from libc.math cimport exp

ctypedef float f32

cnp.import_array()

cdef extern from "Python.h":
    ctypedef struct PyThreadState
    PyThreadState* PyEval_SaveThread()
    void PyEval_RestoreThread(PyThreadState*)


cdef inline f32 expf_cr(f32 x) noexcept nogil:
    # Correctly rounded binary32 exp: rounding the double result once gives
    # the same bits as the original's pcr_expf and x87 System.Exp.
    return <f32>exp(<double>x)


cdef inline f32 sigmoid(f32 x) noexcept nogil:
    cdef f32 s
    if x > 0:
        return (<f32>1) / ((<f32>1) + expf_cr(-x))
    s = expf_cr(x)
    return s / ((<f32>1) + s)


cdef inline f32 sigmoid_derivative(f32 raw) noexcept nogil:
    cdef f32 s = sigmoid(raw)
    return ((<f32>1) - s) * s


cdef inline f32 tanh_p(f32 x) noexcept nogil:
    cdef f32 a, e
    if x > 10:
        x = 10
    elif x < -10:
        x = -10
    a = (<f32>-2) * x
    e = expf_cr(a)
    return ((<f32>1) - e) / ((<f32>1) + e)


cdef inline f32 tanh_derivative(f32 raw) noexcept nogil:
    cdef f32 t = tanh_p(raw)
    return (<f32>1) - t * t


cdef f32 softmax_inplace(f32* s, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef f32 m, mn, total = 0, c, x
    if n == 0:
        return 0
    m = s[0]
    for i in range(1, n):
        if s[i] > m:
            m = s[i]
    if m != 0:
        for i in range(n):
            s[i] = s[i] - m
    mn = s[0]
    for i in range(1, n):
        if s[i] < mn:
            mn = s[i]
    # Pascal skips the exponentials when the minimum is 0 (all elements equal
    # after the shift) and so leaves zeros: a quirk kept on purpose.
    if mn != 0:
        if mn < -1000:
            c = (<f32>-1000.0) / mn
            for i in range(n):
                s[i] = s[i] * c
        for i in range(n):
            x = s[i]
            if x > 4000:
                x = 4000
            elif x < -4000:
                x = -4000
            s[i] = expf_cr(x)
            total = total + s[i]
        if total > 0:
            for i in range(n):
                s[i] = s[i] / total
    return total
