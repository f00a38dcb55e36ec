# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# cython: language_level=3
"""float32 element-wise kernels behind TNNetVolume.

Every operation is one binary32 operation per element, rounded right away,
exactly as the Pascal loops (no FMA: the build passes -ffp-contract=off).
Callers (pyneural.volume) have already checked sizes and dtypes with clear
messages; still, every operand's length is compared with the destination's
here (one comparison), because the module is importable and a wrong call
must raise, never read or write past an array.

A plain float32 ndarray (native byte order, aligned, C-contiguous, 1-D;
writable for the destination) is read through the numpy C API, which costs
far less than a typed memoryview; anything else goes through a typed
memoryview as before, with the same errors. The GIL is released only for
arrays long enough to pay for it.
"""

include "_shared.pxi"

cdef enum:
    _NOGIL_SIZE = 16384     # elements; below this the GIL is kept


cdef inline bint _plain(object a, bint writable):
    cdef cnp.ndarray arr
    if not cnp.PyArray_Check(a):
        return False
    arr = <cnp.ndarray>a
    return (cnp.PyArray_TYPE(arr) == cnp.NPY_FLOAT32 and cnp.PyArray_NDIM(arr) == 1
            and cnp.PyArray_ISCARRAY_RO(arr) and cnp.PyArray_ISNOTSWAPPED(arr)
            and (not writable or cnp.PyArray_ISWRITEABLE(arr)))


cdef object _dst(object a, f32** p, Py_ssize_t* n):
    """Pointer and length of the destination array ``a``. Returns what keeps
    the buffer acquired (None for a plain ndarray, else a memoryview)."""
    cdef f32[::1] mv
    if _plain(a, True):
        p[0] = <f32*>cnp.PyArray_DATA(<cnp.ndarray>a)
        n[0] = cnp.PyArray_DIM(<cnp.ndarray>a, 0)
        return None
    mv = a
    n[0] = mv.shape[0]
    p[0] = &mv[0] if n[0] > 0 else NULL
    return mv


cdef object _src(object a, const f32** p, Py_ssize_t n):
    """Pointer of a read-only operand of ``n`` elements (see `_dst`);
    ValueError for another length."""
    cdef const f32[::1] mv
    cdef Py_ssize_t got
    if _plain(a, False):
        got = cnp.PyArray_DIM(<cnp.ndarray>a, 0)
        p[0] = <const f32*>cnp.PyArray_DATA(<cnp.ndarray>a)
        keep = None
    else:
        mv = a
        got = mv.shape[0]
        p[0] = &mv[0] if got > 0 else NULL
        keep = mv
    if got != n:
        raise ValueError(f"operand has {got} elements, the destination {n}")
    return keep


# -- the GIL ------------------------------------------------------------------
# Between _release and _restore the code touches no Python object.
cdef inline PyThreadState* _release(Py_ssize_t n) noexcept:
    return PyEval_SaveThread() if n >= _NOGIL_SIZE else NULL


cdef inline void _restore(PyThreadState* ts) noexcept:
    if ts != NULL:
        PyEval_RestoreThread(ts)


# -- the API -------------------------------------------------------------------
def fill(s, f32 c):
    cdef f32* ps
    cdef Py_ssize_t i, n
    keep_s = _dst(s, &ps, &n)
    cdef PyThreadState* ts = _release(n)
    for i in range(n):
        ps[i] = c
    _restore(ts)


def add(s, v):
    cdef f32* ps
    cdef const f32* pv
    cdef Py_ssize_t i, n
    keep_s = _dst(s, &ps, &n)
    keep_v = _src(v, &pv, n)
    cdef PyThreadState* ts = _release(n)
    for i in range(n):
        ps[i] = ps[i] + pv[i]
    _restore(ts)


def sub(s, v):
    cdef f32* ps
    cdef const f32* pv
    cdef Py_ssize_t i, n
    keep_s = _dst(s, &ps, &n)
    keep_v = _src(v, &pv, n)
    cdef PyThreadState* ts = _release(n)
    for i in range(n):
        ps[i] = ps[i] - pv[i]
    _restore(ts)


def mul(s, v):
    cdef f32* ps
    cdef const f32* pv
    cdef Py_ssize_t i, n
    keep_s = _dst(s, &ps, &n)
    keep_v = _src(v, &pv, n)
    cdef PyThreadState* ts = _release(n)
    for i in range(n):
        ps[i] = ps[i] * pv[i]
    _restore(ts)


def add_scalar(s, f32 c):
    cdef f32* ps
    cdef Py_ssize_t i, n
    keep_s = _dst(s, &ps, &n)
    cdef PyThreadState* ts = _release(n)
    for i in range(n):
        ps[i] = ps[i] + c
    _restore(ts)


def sub_scalar(s, f32 c):
    cdef f32* ps
    cdef Py_ssize_t i, n
    keep_s = _dst(s, &ps, &n)
    cdef PyThreadState* ts = _release(n)
    for i in range(n):
        ps[i] = ps[i] - c
    _restore(ts)


def mul_scalar(s, f32 c):
    cdef f32* ps
    cdef Py_ssize_t i, n
    keep_s = _dst(s, &ps, &n)
    cdef PyThreadState* ts = _release(n)
    for i in range(n):
        ps[i] = ps[i] * c
    _restore(ts)


def divi_scalar(s, f32 c):
    # A true division, as Pascal's Divi: multiplying by 1/c rounds differently.
    cdef f32* ps
    cdef Py_ssize_t i, n
    keep_s = _dst(s, &ps, &n)
    cdef PyThreadState* ts = _release(n)
    for i in range(n):
        ps[i] = ps[i] / c
    _restore(ts)


def mul_add_scalar(s, f32 c, v):
    """s = s + v*c"""
    cdef f32* ps
    cdef const f32* pv
    cdef Py_ssize_t i, n
    keep_s = _dst(s, &ps, &n)
    keep_v = _src(v, &pv, n)
    cdef PyThreadState* ts = _release(n)
    for i in range(n):
        ps[i] = ps[i] + pv[i] * c
    _restore(ts)


def mul_add(s, v1, v2):
    """s = s + v1*v2"""
    cdef f32* ps
    cdef const f32* p1
    cdef const f32* p2
    cdef Py_ssize_t i, n
    keep_s = _dst(s, &ps, &n)
    keep_1 = _src(v1, &p1, n)
    keep_2 = _src(v2, &p2, n)
    cdef PyThreadState* ts = _release(n)
    for i in range(n):
        ps[i] = ps[i] + p1[i] * p2[i]
    _restore(ts)


def mul_mul_add(s, f32 c1, f32 c2, v):
    """s = s*c1 + v*c2"""
    cdef f32* ps
    cdef const f32* pv
    cdef Py_ssize_t i, n
    keep_s = _dst(s, &ps, &n)
    keep_v = _src(v, &pv, n)
    cdef PyThreadState* ts = _release(n)
    for i in range(n):
        ps[i] = ps[i] * c1 + pv[i] * c2
    _restore(ts)


def dot_product(s, v):
    """Strictly sequential binary32 sum from +0 (the order is part of the result)."""
    cdef const f32* ps
    cdef const f32* pv
    cdef Py_ssize_t i, n
    cdef f32 acc = 0
    cdef const f32[::1] ms
    if _plain(s, False):
        ps = <const f32*>cnp.PyArray_DATA(<cnp.ndarray>s)
        n = cnp.PyArray_DIM(<cnp.ndarray>s, 0)
    else:
        ms = s
        n = ms.shape[0]
        ps = &ms[0] if n > 0 else NULL
    keep_v = _src(v, &pv, n)
    cdef PyThreadState* ts = _release(n)
    for i in range(n):
        acc = acc + ps[i] * pv[i]
    _restore(ts)
    return acc


def softmax(s):
    cdef f32* ps
    cdef Py_ssize_t n
    cdef f32 total = 0
    keep_s = _dst(s, &ps, &n)
    cdef PyThreadState* ts = _release(n)
    if n > 0:
        total = softmax_inplace(ps, n)
    _restore(ts)
    return total
