# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# cython: language_level=3
"""Per-sample forward / backward / update of a dense TNNet, bit-exact with
the Pascal original (docs/SEMANTICS.md, "Layers: forward pass" and
"Training: backward pass and update").

A `Program` is the net's layer chain compiled to C structs of pointers into
the layers' numpy buffers, so that `compute` and `backpropagate` cost one
call each, whatever the depth. A fully-connected layer's weights live
transposed, `WT[j, n]` = weight j of neuron n, so the forward dot products
run across neurons in contiguous memory while each neuron still sums its
products in the original order j = 0, 1, ... (vectorising across neurons
changes no bits; reassociating within one neuron would).

Speed (see benchmarks/):
* The three O(n_in * n_out) loops of a fully-connected layer (forward
  sums, momentum/weight update, error push) are C functions compiled twice,
  for plain x86-64 (SSE2) and for AVX2, and picked at import by a CPU check
  (`simd_level()`; `set_simd_level("generic")` forces the plain build). No
  -march: the same binary runs everywhere. Both builds do the same binary32
  operations in the same order (vectorised across neurons only, never FMA:
  -ffp-contract=off), so they give the same bits; tests check this.
* `forward_vec` / `backward_vec` take a float32 ndarray through the numpy
  C API (a few pointer checks) instead of a typed memoryview, which costs
  more than the whole forward of a small net.
* The GIL is released only when a pass does enough work to pay for it.
"""

from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy, memset

include "_shared.pxi"
include "_mt.pxi"

cdef extern from *:
    """
    /* The hot loops of a fully-connected layer. Each body is written once
       (always inlined) and instantiated for the baseline target and, on
       x86 with GCC/Clang, for AVX2; pn_select() picks one set at run time.
       WT is (n_in, n_out) row-major: row j holds weight j of every neuron.
       Every accumulator keeps the original's sequential order over j. */
    #include <stddef.h>
    #if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    #  define PN_X86_DISPATCH 1
    #  define PN_AVX2 __attribute__((target("avx2")))
    #else
    #  define PN_X86_DISPATCH 0
    #endif
    #if defined(__GNUC__)
    #  define PN_INLINE static inline __attribute__((always_inline))
    #else
    #  define PN_INLINE static inline
    #endif
    #define PN_R __restrict

    /* acc[n] = sum_j WT[j, n] * x[j], from +0, j = 0, 1, ... */
    PN_INLINE void pn_accum_body(const float* PN_R wt, const float* PN_R x,
                                 float* PN_R acc, Py_ssize_t n_in, Py_ssize_t n_out) {
        Py_ssize_t j, n;
        for (n = 0; n < n_out; n++) acc[n] = 0.0f;
        for (j = 0; j < n_in; j++) {
            const float xj = x[j];
            const float* PN_R row = wt + j * n_out;
            for (n = 0; n < n_out; n++) acc[n] = acc[n] + row[n] * xj;
        }
    }

    /* Online update of every neuron: M = M*mu + x[j]*v[n]; W = W + M. */
    PN_INLINE void pn_update_body(float* PN_R wt, float* PN_R mwt, const float* PN_R x,
                                  const float* PN_R v, float mu,
                                  Py_ssize_t n_in, Py_ssize_t n_out) {
        Py_ssize_t j, n;
        for (j = 0; j < n_in; j++) {
            const float xj = x[j];
            float* PN_R w = wt + j * n_out;
            float* PN_R m = mwt + j * n_out;
            for (n = 0; n < n_out; n++) {
                m[n] = m[n] * mu + xj * v[n];
                w[n] = w[n] + m[n];
            }
        }
    }

    /* prev_err[j] += WT[j, idx[t]] * val[t] for t = 0..k-1, in that order.
       Each j is its own sequential chain; eight chains run side by side so
       the adds do not wait on each other (same order within each chain). */
    PN_INLINE void pn_push_body(const float* PN_R wt, const Py_ssize_t* PN_R idx,
                                const float* PN_R val, Py_ssize_t k,
                                float* PN_R prev_err, Py_ssize_t n_in, Py_ssize_t n_out) {
        Py_ssize_t j = 0, t;
        for (; j + 8 <= n_in; j += 8) {
            const float* PN_R r = wt + j * n_out;
            float a0 = prev_err[j], a1 = prev_err[j + 1], a2 = prev_err[j + 2],
                  a3 = prev_err[j + 3], a4 = prev_err[j + 4], a5 = prev_err[j + 5],
                  a6 = prev_err[j + 6], a7 = prev_err[j + 7];
            for (t = 0; t < k; t++) {
                const float* PN_R c = r + idx[t];
                const float v = val[t];
                a0 = a0 + c[0] * v;
                a1 = a1 + c[n_out] * v;
                a2 = a2 + c[2 * n_out] * v;
                a3 = a3 + c[3 * n_out] * v;
                a4 = a4 + c[4 * n_out] * v;
                a5 = a5 + c[5 * n_out] * v;
                a6 = a6 + c[6 * n_out] * v;
                a7 = a7 + c[7 * n_out] * v;
            }
            prev_err[j] = a0; prev_err[j + 1] = a1; prev_err[j + 2] = a2;
            prev_err[j + 3] = a3; prev_err[j + 4] = a4; prev_err[j + 5] = a5;
            prev_err[j + 6] = a6; prev_err[j + 7] = a7;
        }
        for (; j < n_in; j++) {
            const float* PN_R r = wt + j * n_out;
            float a = prev_err[j];
            for (t = 0; t < k; t++) a = a + r[idx[t]] * val[t];
            prev_err[j] = a;
        }
    }

    #define PN_INSTANCE(SFX, ATTR) \
    ATTR static void pn_accum_##SFX(const float* wt, const float* x, float* acc, \
                                    Py_ssize_t n_in, Py_ssize_t n_out) { \
        pn_accum_body(wt, x, acc, n_in, n_out); } \
    ATTR static void pn_update_##SFX(float* wt, float* mwt, const float* x, \
                                     const float* v, float mu, Py_ssize_t n_in, Py_ssize_t n_out) { \
        pn_update_body(wt, mwt, x, v, mu, n_in, n_out); } \
    ATTR static void pn_push_##SFX(const float* wt, const Py_ssize_t* idx, const float* val, \
                                   Py_ssize_t k, float* prev_err, Py_ssize_t n_in, Py_ssize_t n_out) { \
        pn_push_body(wt, idx, val, k, prev_err, n_in, n_out); }

    PN_INSTANCE(generic, )
    #if PN_X86_DISPATCH
    PN_INSTANCE(avx2, PN_AVX2)
    #include <immintrin.h>
    /* Momentum that decays without new input (a unit whose input stays 0)
       ends up subnormal, and x86 runs binary32 arithmetic on subnormals
       through a microcode assist, ~15x slower. Lanes that are (or whose
       product with mu may be) subnormal are computed in double instead and
       rounded once to binary32: the exact product of two floats fits a
       double, and a float sum rounded to double and then to float is the
       float sum (53 >= 2 * 24 + 2 bits), so the bits are the binary32
       operations' own; double handles these magnitudes at full speed. */
    #define PN_WIDE(NAME, OP) \
    PN_AVX2 static inline __m256 NAME(__m256 a, __m256 b) { \
        const __m256d lo = OP(_mm256_cvtps_pd(_mm256_castps256_ps128(a)), \
                              _mm256_cvtps_pd(_mm256_castps256_ps128(b))); \
        const __m256d hi = OP(_mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)), \
                              _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1))); \
        return _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo)); }
    PN_WIDE(pn_mul_wide, _mm256_mul_pd)
    PN_WIDE(pn_add_wide, _mm256_add_pd)
    /* The magnitude below which m * mu may be subnormal (2^-125 / mu). */
    static inline float pn_tiny_limit(float mu) {
        const float m = mu < 0 ? -mu : mu;
        return m > 0 && m < 1 ? 2.3509887e-38f / m : 2.3509887e-38f;
    }
    /* Nonzero when some lane of m is nonzero and below lim in magnitude. */
    PN_AVX2 static inline int pn_tiny(__m256 m, __m256 lim) {
        const __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), m);
        return _mm256_movemask_ps(_mm256_and_ps(_mm256_cmp_ps(a, lim, _CMP_LT_OQ),
                                                _mm256_cmp_ps(a, _mm256_setzero_ps(),
                                                              _CMP_NEQ_OQ)));
    }
    /* M = M * mu + a * b[n]; W = W + M (pn_update_body's step for a row,
       and the conv update's with b = the step): subnormal lanes in double. */
    PN_AVX2 static inline void pn_inertia_row_avx2(float* w, float* m, __m256 a,
                                                   const float* b, float mu, Py_ssize_t n) {
        const __m256 muv = _mm256_set1_ps(mu), lim = _mm256_set1_ps(pn_tiny_limit(mu));
        const float as = _mm256_cvtss_f32(a);
        Py_ssize_t i = 0;
        for (; i + 8 <= n; i += 8) {
            const __m256 mv = _mm256_loadu_ps(m + i);
            const __m256 q = _mm256_mul_ps(a, _mm256_loadu_ps(b + i));
            const __m256 nm = pn_tiny(mv, lim) ? pn_add_wide(pn_mul_wide(mv, muv), q)
                                               : _mm256_add_ps(_mm256_mul_ps(mv, muv), q);
            _mm256_storeu_ps(m + i, nm);
            _mm256_storeu_ps(w + i, _mm256_add_ps(_mm256_loadu_ps(w + i), nm));
        }
        for (; i < n; i++) {
            m[i] = m[i] * mu + as * b[i];
            w[i] = w[i] + m[i];
        }
    }
    PN_AVX2 static void pn_update_avx2_wide(float* wt, float* mwt, const float* x,
                                            const float* v, float mu, Py_ssize_t n_in,
                                            Py_ssize_t n_out) {
        Py_ssize_t j;
        for (j = 0; j < n_in; j++)
            pn_inertia_row_avx2(wt + j * n_out, mwt + j * n_out, _mm256_set1_ps(x[j]), v, mu,
                                n_out);
    }
    /* A narrow layer (n_out <= 32, e.g. a 10-class output) keeps its sums in
       up to four AVX registers over all j instead of in memory; the last
       register is masked (masked-off lanes are neither read nor written).
       Same products, same sequential order per neuron. */
    PN_AVX2 static void pn_accum_avx2_dispatch(const float* wt, const float* x, float* acc,
                                               Py_ssize_t n_in, Py_ssize_t n_out) {
        if (n_out > 32 || n_out < 1) {
            pn_accum_body(wt, x, acc, n_in, n_out);
            return;
        }
        {
            const int nb = (int)((n_out + 7) / 8), tail = (int)(n_out - 8 * (nb - 1));
            const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail), lane);
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            Py_ssize_t j;
            for (j = 0; j < n_in; j++) {
                const float* row = wt + j * n_out;
                const __m256 xv = _mm256_set1_ps(x[j]);
                switch (nb) {
                case 4:
                    a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(row), xv));
                    a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(row + 8), xv));
                    a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_loadu_ps(row + 16), xv));
                    a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_maskload_ps(row + 24, mask), xv));
                    break;
                case 3:
                    a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(row), xv));
                    a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(row + 8), xv));
                    a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_maskload_ps(row + 16, mask), xv));
                    break;
                case 2:
                    a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(row), xv));
                    a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_maskload_ps(row + 8, mask), xv));
                    break;
                default:
                    a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_maskload_ps(row, mask), xv));
                }
            }
            switch (nb) {
            case 4:
                _mm256_storeu_ps(acc, a0); _mm256_storeu_ps(acc + 8, a1);
                _mm256_storeu_ps(acc + 16, a2); _mm256_maskstore_ps(acc + 24, mask, a3);
                break;
            case 3:
                _mm256_storeu_ps(acc, a0); _mm256_storeu_ps(acc + 8, a1);
                _mm256_maskstore_ps(acc + 16, mask, a2);
                break;
            case 2:
                _mm256_storeu_ps(acc, a0); _mm256_maskstore_ps(acc + 8, mask, a1);
                break;
            default:
                _mm256_maskstore_ps(acc, mask, a0);
            }
        }
    }
    #endif

    typedef void (*pn_accum_fn)(const float*, const float*, float*, Py_ssize_t, Py_ssize_t);
    typedef void (*pn_update_fn)(float*, float*, const float*, const float*, float,
                                 Py_ssize_t, Py_ssize_t);
    typedef void (*pn_push_fn)(const float*, const Py_ssize_t*, const float*, Py_ssize_t,
                               float*, Py_ssize_t, Py_ssize_t);
    static pn_accum_fn pn_accum = pn_accum_generic;
    static pn_update_fn pn_update = pn_update_generic;
    static pn_push_fn pn_push = pn_push_generic;

    static int pn_avx2_available(void) {
    #if PN_X86_DISPATCH
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") ? 1 : 0;
    #else
        return 0;
    #endif
    }

    /* 1: AVX2 (if the CPU has it), 0: baseline. Returns the level in use. */
    static int pn_select(int want_avx2) {
    #if PN_X86_DISPATCH
        if (want_avx2 && pn_avx2_available()) {
            pn_accum = pn_accum_avx2_dispatch; pn_update = pn_update_avx2_wide;
            pn_push = pn_push_avx2;
            return 1;
        }
    #endif
        pn_accum = pn_accum_generic; pn_update = pn_update_generic; pn_push = pn_push_generic;
        return 0;
    }
    """
    int pn_avx2_available() nogil
    int pn_select(int want_avx2) nogil
    void pn_accum(const float* wt, const float* x, float* acc,
                  Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil
    void pn_update(float* wt, float* mwt, const float* x, const float* v, float mu,
                   Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil
    void pn_push(const float* wt, const Py_ssize_t* idx, const float* val, Py_ssize_t k,
                 float* prev_err, Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil

cdef int _simd = pn_select(1)
pn_conv_select(_simd)


def simd_level():
    """The instruction set the dense and conv loops run on: "avx2" or
    "generic" (with "avx2", the convolution's forward sums use AVX-512
    where the CPU has it; every set gives the same bits)."""
    return "avx2" if _simd else "generic"


def set_simd_level(level):
    """Force "generic" (baseline x86-64 / any CPU) or "avx2" (if the CPU has
    it). Both give the same bits; this exists for tests and benchmarks."""
    global _simd
    if level not in ("avx2", "generic"):
        raise ValueError(f"unknown SIMD level {level!r}; use 'avx2' or 'generic'")
    if level == "avx2" and not pn_avx2_available():
        raise ValueError("this CPU (or build) has no AVX2 kernels")
    _simd = pn_select(level == "avx2")
    pn_conv_select(_simd)
    return simd_level()


# Below this many multiply-adds per sample a pass keeps the GIL: releasing
# and re-taking it costs more than a small net's whole forward.
cdef enum:
    _NOGIL_WORK = 4096


cdef inline const f32* _vec_ptr(object a, Py_ssize_t n):
    """Data pointer of a native, aligned, C-contiguous 1-D float32 ndarray
    of n elements; NULL for anything else (the caller takes the slow path)."""
    cdef cnp.ndarray arr
    if not cnp.PyArray_Check(a):
        return NULL
    arr = <cnp.ndarray>a
    if (cnp.PyArray_TYPE(arr) != cnp.NPY_FLOAT32 or cnp.PyArray_NDIM(arr) != 1
            or cnp.PyArray_DIM(arr, 0) != n or not cnp.PyArray_ISCARRAY_RO(arr)
            or not cnp.PyArray_ISNOTSWAPPED(arr)):
        return NULL
    return <const f32*>cnp.PyArray_DATA(arr)

# Layer kinds; pyneural.layers maps each class to one of these.
cdef enum:
    K_INPUT = 0
    K_FC_LINEAR = 1
    K_FC_RELU = 2
    K_FC_TANH = 3
    K_FC_SIGMOID = 4
    K_RELU = 5
    K_SIGMOID = 6
    K_TANH = 7
    K_IDENTITY = 8
    K_SOFTMAX = 9
    K_CONV_LINEAR = 10
    K_CONV_RELU = 11
    K_CONV_TANH = 12
    K_MAXPOOL = 13
    K_SUM = 14
    K_CONCAT = 15
    K_DEEPCONCAT = 16
    K_DROPOUT = 17
    K_LEAKY_RELU = 18
    K_RELU_L = 19
    K_SWISH = 20
    K_SELU = 21
    K_MOVING_STD = 22
    K_CHANNEL_STD = 23
    K_AVGPOOL = 24
    K_MAXCHANNEL = 25
    K_LAST = 25

KINDS = {
    "input": K_INPUT, "fc_linear": K_FC_LINEAR, "fc_relu": K_FC_RELU,
    "fc_tanh": K_FC_TANH, "fc_sigmoid": K_FC_SIGMOID, "relu": K_RELU,
    "sigmoid": K_SIGMOID, "tanh": K_TANH, "identity": K_IDENTITY,
    "softmax": K_SOFTMAX, "conv_linear": K_CONV_LINEAR, "conv_relu": K_CONV_RELU,
    "conv_tanh": K_CONV_TANH, "maxpool": K_MAXPOOL, "sum": K_SUM, "concat": K_CONCAT,
    "deepconcat": K_DEEPCONCAT, "dropout": K_DROPOUT, "leaky_relu": K_LEAKY_RELU,
    "relu_l": K_RELU_L, "swish": K_SWISH, "selu": K_SELU, "moving_std": K_MOVING_STD,
    "channel_std": K_CHANNEL_STD, "avgpool": K_AVGPOOL, "maxchannel": K_MAXCHANNEL,
}

# How many float constants each kind reads (``consts``): leaky ReLU its
# slope; ReLU6 (ReLUL) the low and high limits and the leak; SELU its scale
# and scale * alpha; dropout its integer rate (< 0: none) and the enabled flag.
CONSTS = {K_LEAKY_RELU: 1, K_RELU_L: 3, K_SELU: 2, K_DROPOUT: 2}


cdef inline bint _is_fc(int kind) noexcept nogil:
    return K_FC_LINEAR <= kind <= K_FC_SIGMOID


cdef inline bint _is_conv(int kind) noexcept nogil:
    return K_CONV_LINEAR <= kind <= K_CONV_TANH


cdef inline bint _is_pool(int kind) noexcept nogil:
    # the kinds whose geometry is a pooling window (_conv.pxi's _geometry)
    return kind == K_MAXPOOL or kind == K_AVGPOOL or kind == K_MAXCHANNEL


cdef inline bint _is_merge(int kind) noexcept nogil:
    return K_SUM <= kind <= K_DEEPCONCAT


cdef inline bint _is_elementwise(int kind) noexcept nogil:
    return (K_RELU <= kind <= K_SOFTMAX) or (K_DROPOUT <= kind <= K_CHANNEL_STD)


cdef struct LayerC:
    int kind
    int flag            # FC: suppress bias; softmax: skip backprop derivative
    int push_error      # the previous layer collects error
    Py_ssize_t n_in, n_out
    f32* wt             # params[0 : n_in*n_out], row j = input j
    f32* bias           # params[n_in*n_out :]
    f32* mwt            # momentum, same layout
    f32* mbias
    f32* out
    f32* raw
    f32* err
    f32* deriv          # FC tanh/sigmoid: delta; TNNetReLU: 0/1 mask
    f32* prev_out
    f32* prev_err
    f32* hyper          # [learning rate, inertia]
    f32* d              # scratch: per-neuron step
    Py_ssize_t* idx     # scratch: neurons that push error
    f32* val
    # spatial kinds (conv, max-pool); see _conv.pxi. A convolution's
    # params are [W (features, K) neuron-major | bias], wt/mwt point at them.
    Py_ssize_t sx, sy, sd, ox, oy, fx, fy, pad, stride, nf, k, tile_x, tile_d
    f32* wtt            # conv: W transposed (K, features), for the forward sums
    f32* delta          # conv: the step accumulated over positions [W | bias]
    f32* prep           # conv: im2col of the input (NULL: pointwise)
    f32* lrd            # conv: the step (-lr) * derivative per output
    Py_ssize_t* pidx    # conv: positions with a nonzero step, for one feature
    f32* pval
    f32* padded         # zero-padded input (pool) or previous error (conv)
    int* amx            # pool: the winning input cell per output (padded coordinates)
    int* amy
    # merging kinds (sum, concatenations): the layers they read, in order
    Py_ssize_t nlinks
    f32** lout
    f32** lerr
    Py_ssize_t* lsize
    int* lpush          # that layer keeps a full-size error buffer
    f32* consts         # per-kind constants (CONSTS)
    f32* mask           # dropout: the last mask (1 kept, 0 dropped)
    f32* aux            # channel std normalisation: per-channel scratch
    uint32_t* rng       # dropout: the generator state it draws from


cdef inline f32* _ptr(object a):
    cdef f32[::1] mv
    if a is None:
        return NULL
    mv = a
    if mv.shape[0] == 0:
        return NULL
    return &mv[0]


cdef Py_ssize_t _length(object a, Py_ssize_t layer, str what) except -1:
    """Length of a layer buffer, which must be a contiguous float32 array."""
    cdef const f32[::1] mv
    if a is None:
        raise ValueError(f"layer {layer}: the {what} buffer is missing")
    try:
        mv = a
    except (TypeError, ValueError, BufferError) as exc:
        raise ValueError(f"layer {layer}: the {what} buffer is not a contiguous float32 "
                         f"array ({exc})") from None
    return mv.shape[0]


cdef int _expect(object a, Py_ssize_t n, Py_ssize_t layer, str what) except -1:
    cdef Py_ssize_t got = _length(a, layer, what)
    if got != n:
        raise ValueError(f"layer {layer}: the {what} buffer has {got} values, "
                         f"the layer needs {n}")
    return 0


include "_conv.pxi"
include "_graph.pxi"


cdef class Program:
    """The compiled layer graph of one TNNet.

    Built from one tuple per layer, in the net's order:
    ``(kind, flag, src, n_out, params, momentum, out, raw, err, deriv,
    hyper, geometry, links, consts, mask)``. ``src`` is the index of the
    layer it reads (-1 for the input layer, which must be first); ``links``
    (a tuple of earlier layer indices) is what a merging kind (sum,
    concatenations) reads instead. ``params`` and ``momentum`` are None for
    a layer without weights; ``geometry`` is None for the flat kinds and,
    for a convolution or a pooling, ``(size_x, size_y, depth, out_x, out_y,
    window_x, window_y, padding, stride)``, the window being the kernel or
    the pool (see _conv.pxi); a depth concatenation takes
    ``(size_x, size_y)``. ``consts`` is a float32 array of the constants
    ``CONSTS`` says the kind reads, ``mask`` a dropout's mask buffer.

    ``backward`` lists the layers whose backward step runs, in the order
    it runs (the original's recursion from the last layer: a layer that
    feeds several others runs once all of them have passed their error
    back); ``rng_state`` is the generator state dropout draws from.

    The arrays must stay alive and unmoved while the program exists: it
    keeps references to them. Every size is checked here, once, against the
    graph (a layer's inputs are the outputs of the layers it reads) and
    against each buffer's length, so the passes, which trust them, can
    never read or write out of bounds. Raises ValueError naming the layer
    and the buffer otherwise.

    A program is not re-entrant: its buffers and scratch are shared, so
    the caller serialises calls (``TNNet`` holds a lock per net).
    """
    cdef LayerC* L
    cdef Py_ssize_t count
    cdef Py_ssize_t* order      # the backward steps, in order
    cdef Py_ssize_t norder
    cdef list keep
    cdef bint release_gil   # enough work per sample to drop the GIL

    def __cinit__(self, list specs, backward, rng_state=None):
        cdef Py_ssize_t i, n, n_in, n_out, work = 0, total
        cdef LayerC* c
        cdef uint32_t* rng = NULL
        self.count = 0
        if len(specs) < 2:
            raise ValueError("a program needs an input layer and at least one more layer")
        if rng_state is not None:
            rng = _mt_state(rng_state)
        self.keep = [specs, rng_state]
        self.L = <LayerC*>calloc(len(specs), sizeof(LayerC))
        if self.L == NULL:
            raise MemoryError()
        for i in range(len(specs)):
            try:
                (kind, flag, src, nout, params, mom, out, raw, err, deriv, hyper, geom, links,
                 consts, mask) = specs[i]
            except (TypeError, ValueError):
                raise ValueError(f"layer {i}: a layer spec is a 15-tuple") from None
            n_out = nout
            if not K_INPUT <= kind <= K_LAST or (kind == K_INPUT) != (i == 0):
                raise ValueError(f"layer {i}: kind {kind} cannot stand there "
                                 "(the input kind first, and only first)")
            if (i == 0 and src != -1) or (i > 0 and not 0 <= src < i):
                raise ValueError(f"layer {i}: reads layer {src}, which is not an earlier layer")
            if n_out < 1:
                raise ValueError(f"layer {i}: {n_out} outputs")
            self.count = i + 1
            c = &self.L[i]
            c.kind = kind
            c.flag = flag
            c.n_out = n_out
            if i > 0:
                c.n_in = self.L[src].n_out
                c.prev_out = self.L[src].out
                c.prev_err = self.L[src].err
                c.push_error = _err_size(&self.L[src]) == self.L[src].n_out
            n_in = c.n_in
            if kind == K_DEEPCONCAT:
                c.sd = _channels(geom, n_out, i)
            if _is_merge(kind):
                _links(c, i, links, self.L)
            elif links:
                raise ValueError(f"layer {i}: only a sum or a concatenation reads several layers")
            if _is_elementwise(kind) and n_in != n_out:
                raise ValueError(f"layer {i}: an element-wise layer needs as many outputs as "
                                 f"inputs, got {n_in} -> {n_out}")
            for buf, what in ((out, "output"), (raw, "raw output"), (deriv, "derivative")):
                _expect(buf, n_out, i, what)
            n = _length(err, i, "error")
            if n != n_out and not (kind == K_INPUT and not flag and n == 1):
                raise ValueError(f"layer {i}: the error buffer has {n} values, "
                                 f"the layer needs {n_out}")
            _expect(hyper, 2, i, "learning rate / inertia")
            if _is_fc(kind):
                _expect(params, n_in * n_out + n_out, i, "parameter")
            if kind == K_MOVING_STD:
                _expect(params, 4, i, "parameter")
            if kind == K_CHANNEL_STD:
                _expect(params, 2 * _channels(geom, n_out, i) + 2, i, "parameter")
            if params is not None:
                _expect(mom, _length(params, i, "parameter"), i, "momentum")
            c.out = _ptr(out)
            c.raw = _ptr(raw)
            c.err = _ptr(err)
            c.deriv = _ptr(deriv)
            c.hyper = _ptr(hyper)
            if _is_fc(kind):
                c.wt = _ptr(params)
                c.bias = c.wt + n_in * n_out
                c.mwt = _ptr(mom)
                c.mbias = c.mwt + n_in * n_out
            elif params is not None:
                c.wt = _ptr(params)
                c.mwt = _ptr(mom)
            if kind in CONSTS:
                _expect(consts, CONSTS[kind], i, "constants")
                c.consts = _ptr(consts)
            if kind == K_DROPOUT:
                _expect(mask, n_out, i, "dropout mask")
                c.mask = _ptr(mask)
                if rng == NULL:
                    raise ValueError(f"layer {i}: a dropout layer needs the generator state")
                c.rng = rng
            if kind == K_CHANNEL_STD:
                c.sd = _channels(geom, n_out, i)
                c.aux = <f32*>malloc(c.sd * sizeof(f32))
                c.lrd = <f32*>malloc(c.sd * sizeof(f32))
                if c.aux == NULL or c.lrd == NULL:
                    raise MemoryError()
            if _is_conv(kind) or _is_pool(kind):
                _geometry(c, f"layer {i}", geom,
                          _length(params, i, "parameter") if _is_conv(kind) else 0,
                          _is_pool(kind))
                if kind == K_MAXCHANNEL and not (c.fx >= c.sx and c.fy >= c.sy and c.pad == 0):
                    raise ValueError(f"layer {i}: a channel maximum pools the whole plane")
                _conv_alloc(c, _is_pool(kind), True)
                if _is_conv(kind):
                    work += c.ox * c.oy * c.k * c.nf
            n = max(n_out, 1)
            c.d = <f32*>malloc(n * sizeof(f32))
            c.val = <f32*>malloc(n * sizeof(f32))
            c.idx = <Py_ssize_t*>malloc(n * sizeof(Py_ssize_t))
            if c.d == NULL or c.val == NULL or c.idx == NULL:
                raise MemoryError()
            work += n_in * n_out + n_out
        self.release_gil = work >= _NOGIL_WORK
        total = len(backward)
        self.order = <Py_ssize_t*>malloc(max(total, 1) * sizeof(Py_ssize_t))
        if self.order == NULL:
            raise MemoryError()
        seen = set()
        for n in range(total):
            i = backward[n]
            if not 1 <= i < self.count or i in seen:
                raise ValueError(f"the backward order lists layer {i} twice or out of range")
            seen.add(i)
            self.order[n] = i
        self.norder = total

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self.L != NULL:
            for i in range(self.count):
                free(self.L[i].d)
                free(self.L[i].val)
                free(self.L[i].idx)
                free(self.L[i].lout)
                free(self.L[i].lerr)
                free(self.L[i].lsize)
                free(self.L[i].lpush)
                free(self.L[i].aux)
                _conv_free(&self.L[i])
            free(self.L)
        free(self.order)

    def forward(self, const f32[::1] x):
        """Copy `x` into the input layer and run every layer's forward."""
        if x.shape[0] != self.L[0].n_out:
            raise ValueError(f"input has {x.shape[0]} values, expected {self.L[0].n_out}")
        self._run_forward(&x[0])

    def backward(self, const f32[::1] target):
        """Backpropagate ``output - target`` and update every layer online."""
        if target.shape[0] != self.L[self.count - 1].n_out:
            raise ValueError(f"target has {target.shape[0]} values, "
                             f"expected {self.L[self.count - 1].n_out}")
        self._run_backward(&target[0])

    def forward_vec(self, x):
        """`forward` for a native, aligned, C-contiguous 1-D float32 ndarray
        of the input size, read in place. Returns False, doing nothing, for
        anything else (then the caller converts and calls `forward`)."""
        cdef const f32* p = _vec_ptr(x, self.L[0].n_out)
        if p == NULL:
            return False
        self._run_forward(p)
        return True

    def backward_vec(self, target):
        """`backward` for a float32 ndarray as in `forward_vec`; False, doing
        nothing, for anything else."""
        cdef const f32* p = _vec_ptr(target, self.L[self.count - 1].n_out)
        if p == NULL:
            return False
        self._run_backward(p)
        return True

    cdef void _run_forward(self, const f32* x):
        cdef PyThreadState* ts = NULL
        if self.release_gil:
            ts = PyEval_SaveThread()
        if x != self.L[0].out:
            memcpy(self.L[0].out, x, self.L[0].n_out * sizeof(f32))
        self._forward()
        if ts != NULL:
            PyEval_RestoreThread(ts)

    cdef void _run_backward(self, const f32* target):
        cdef PyThreadState* ts = NULL
        if self.release_gil:
            ts = PyEval_SaveThread()
        self._backward(target)
        if ts != NULL:
            PyEval_RestoreThread(ts)

    def forward_many(self, const f32[:, ::1] X, f32[:, ::1] Y):
        """Row by row: the exact per-sample forward of each row of X into Y."""
        cdef Py_ssize_t r, n_in = self.L[0].n_out, last = self.count - 1
        cdef Py_ssize_t n_out = self.L[last].n_out
        if X.shape[1] != n_in or Y.shape[0] != X.shape[0] or Y.shape[1] != n_out:
            raise ValueError(f"forward_many: inputs {X.shape[0]}x{X.shape[1]} and outputs "
                             f"{Y.shape[0]}x{Y.shape[1]} do not fit a net of {n_in} inputs "
                             f"and {n_out} outputs")
        with nogil:
            for r in range(X.shape[0]):
                memcpy(self.L[0].out, &X[r, 0], n_in * sizeof(f32))
                self._forward()
                memcpy(&Y[r, 0], self.L[last].out, n_out * sizeof(f32))

    def train_many(self, const f32[:, ::1] X, const f32[:, ::1] T):
        """Per row: forward, then backpropagate against the row of T."""
        cdef Py_ssize_t r, n_in = self.L[0].n_out, n_out = self.L[self.count - 1].n_out
        if X.shape[1] != n_in or T.shape[0] != X.shape[0] or T.shape[1] != n_out:
            raise ValueError(f"train_many: inputs {X.shape[0]}x{X.shape[1]} and targets "
                             f"{T.shape[0]}x{T.shape[1]} do not fit a net of {n_in} inputs "
                             f"and {n_out} outputs")
        with nogil:
            for r in range(X.shape[0]):
                memcpy(self.L[0].out, &X[r, 0], n_in * sizeof(f32))
                self._forward()
                self._backward(&T[r, 0])

    cdef void _forward(self) noexcept nogil:
        cdef Py_ssize_t i
        for i in range(1, self.count):
            _layer_forward(&self.L[i])

    cdef void _backward(self, const f32* target) noexcept nogil:
        cdef Py_ssize_t i, k
        cdef LayerC* last = &self.L[self.count - 1]
        for i in range(self.count):
            if self.L[i].err != NULL:
                memset(self.L[i].err, 0, _err_size(&self.L[i]) * sizeof(f32))
        for k in range(last.n_out):
            last.err[k] = last.out[k] - target[k]
        for i in range(self.norder):
            _layer_backward(&self.L[self.order[i]])


cdef int _links(LayerC* c, Py_ssize_t i, object links, LayerC* L) except -1:
    """Point a merging layer at the layers it reads and check its size
    against theirs (the sum: every one the size of the output; the flat
    concatenation: the sizes add up to it; the depth one: see _deep_links)."""
    cdef Py_ssize_t t, j, total = 0
    try:
        idx = [int(v) for v in links]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"layer {i}: links must be layer indices, got {links!r}") from None
    if not idx:
        raise ValueError(f"layer {i}: a sum or a concatenation reads at least one layer")
    c.nlinks = len(idx)
    c.lout = <f32**>calloc(c.nlinks, sizeof(f32*))
    c.lerr = <f32**>calloc(c.nlinks, sizeof(f32*))
    c.lsize = <Py_ssize_t*>calloc(c.nlinks, sizeof(Py_ssize_t))
    c.lpush = <int*>calloc(c.nlinks, sizeof(int))
    if c.lout == NULL or c.lerr == NULL or c.lsize == NULL or c.lpush == NULL:
        raise MemoryError()
    for t in range(c.nlinks):
        j = idx[t]
        if not 0 <= j < i:
            raise ValueError(f"layer {i}: reads layer {j}, which is not an earlier layer")
        c.lout[t] = L[j].out
        c.lerr[t] = L[j].err
        c.lsize[t] = L[j].n_out
        c.lpush[t] = _err_size(&L[j]) == L[j].n_out
        if c.kind == K_SUM and L[j].n_out != c.n_out:
            raise ValueError(f"layer {i}: a sum of {c.n_out} values reads layer {j} of "
                             f"{L[j].n_out}")
        total += L[j].n_out
        if c.kind == K_DEEPCONCAT and L[j].n_out % (c.n_out // c.sd):
            raise ValueError(f"layer {i}: a depth concatenation of {c.n_out // c.sd} cells "
                             f"reads layer {j} of {L[j].n_out} values")
    if c.kind != K_SUM and total != c.n_out:
        raise ValueError(f"layer {i}: the layers it concatenates hold {total} values, "
                         f"the output {c.n_out}")
    return 0


cdef Py_ssize_t _channels(object geom, Py_ssize_t n_out, Py_ssize_t i) except -1:
    """The depth of a per-channel layer (a channel normalisation, a depth
    concatenation), from its geometry ``(size_x, size_y, depth, ...)``,
    checked against its size."""
    try:
        sx, sy, sd = [int(v) for v in geom][:3]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"layer {i}: the geometry must start with size_x, size_y, "
                         f"depth, got {geom!r}") from None
    if min(sx, sy, sd) < 1 or sx * sy * sd != n_out:
        raise ValueError(f"layer {i}: a {sx}x{sy}x{sd} plane does not hold {n_out} values")
    return sd


cdef inline Py_ssize_t _err_size(LayerC* c) noexcept nogil:
    # The input layer's error buffer is full size only when it collects error.
    if c.kind == K_INPUT and not c.flag:
        return 1
    return c.n_out


cdef void _fc_forward(LayerC* c) noexcept nogil:
    cdef Py_ssize_t n, n_out = c.n_out
    cdef f32* acc = c.out if c.kind == K_FC_LINEAR else c.raw
    pn_accum(c.wt, c.prev_out, acc, c.n_in, n_out)
    if not c.flag:
        for n in range(n_out):
            acc[n] = acc[n] + c.bias[n]
    if c.kind == K_FC_RELU:
        for n in range(n_out):
            c.out[n] = acc[n] if acc[n] > 0 else 0
    elif c.kind == K_FC_TANH:
        for n in range(n_out):
            c.out[n] = tanh_p(acc[n])
    elif c.kind == K_FC_SIGMOID:
        for n in range(n_out):
            c.out[n] = sigmoid(acc[n])


cdef void _layer_forward(LayerC* c) noexcept nogil:
    cdef Py_ssize_t i, n = c.n_out
    cdef const f32* x = c.prev_out
    if c.kind <= K_FC_SIGMOID:
        _fc_forward(c)
    elif c.kind >= K_SUM:
        _graph_forward(c)
    elif c.kind == K_MAXPOOL:
        _pool_forward(c)
    elif c.kind >= K_CONV_LINEAR:
        _conv_forward(c)
    elif c.kind == K_RELU:
        for i in range(n):
            if x[i] >= 0:
                c.out[i] = x[i]
                c.deriv[i] = 1
            else:
                c.out[i] = 0
                c.deriv[i] = 0
    elif c.kind == K_SIGMOID:
        for i in range(n):
            c.raw[i] = x[i]
            c.out[i] = sigmoid(x[i])
    elif c.kind == K_TANH:
        for i in range(n):
            c.raw[i] = x[i]
            c.out[i] = tanh_p(x[i])
    elif c.kind == K_IDENTITY:
        memcpy(c.out, x, n * sizeof(f32))
    elif c.kind == K_SOFTMAX:
        memcpy(c.out, x, n * sizeof(f32))
        softmax_inplace(c.out, n)


cdef void _fc_update(LayerC* c, bint all_neurons) noexcept nogil:
    """Momentum step and weight update from the per-neuron steps in c.d.

    With all_neurons false, only neurons whose step is nonzero move (the
    tanh/sigmoid rule when inertia is 0)."""
    cdef Py_ssize_t j, n, n_in = c.n_in, n_out = c.n_out
    cdef f32 mu = c.hyper[1]
    cdef f32 one_minus = (<f32>1) - mu
    cdef f32* v = c.val
    cdef const f32* x = c.prev_out
    for n in range(n_out):
        v[n] = c.d[n] * one_minus
    if all_neurons:
        pn_update(c.wt, c.mwt, x, v, mu, n_in, n_out)
        for n in range(n_out):
            c.mbias[n] = one_minus * c.d[n] + mu * c.mbias[n]
            c.bias[n] = c.bias[n] + c.mbias[n]
    else:
        for n in range(n_out):
            if mu != 0 or c.d[n] != 0:
                for j in range(n_in):
                    c.mwt[j * n_out + n] = c.mwt[j * n_out + n] * mu + x[j] * v[n]
                    c.wt[j * n_out + n] = c.wt[j * n_out + n] + c.mwt[j * n_out + n]
                c.mbias[n] = one_minus * c.d[n] + mu * c.mbias[n]
                c.bias[n] = c.bias[n] + c.mbias[n]


cdef void _fc_push_error(LayerC* c, Py_ssize_t k) noexcept nogil:
    """prev_err[j] += W[n, j] * val for the k listed neurons, in neuron order
    (the updated weights, as the original)."""
    if k == 0:
        return
    pn_push(c.wt, c.idx, c.val, k, c.prev_err, c.n_in, c.n_out)


cdef void _fc_backward(LayerC* c) noexcept nogil:
    cdef Py_ssize_t n, k = 0, n_out = c.n_out
    cdef f32 neg_lr = -c.hyper[0]
    cdef f32 mu = c.hyper[1]
    if c.kind == K_FC_LINEAR or c.kind == K_FC_RELU:
        for n in range(n_out):
            if c.kind == K_FC_RELU and not (c.raw[n] >= 0):
                c.d[n] = 0
            else:
                c.d[n] = neg_lr * c.err[n]
        _fc_update(c, True)
        if c.push_error:
            for n in range(n_out):
                if c.err[n] != 0 and (c.kind == K_FC_LINEAR or c.raw[n] > 0):
                    c.idx[k] = n
                    c.val[k] = c.err[n]
                    k += 1
    else:
        # With a zero learning rate the original neither updates nor
        # recomputes delta, and pushes the stale delta of the last step.
        if c.hyper[0] != 0:
            for n in range(n_out):
                if c.kind == K_FC_TANH:
                    c.deriv[n] = c.err[n] * tanh_derivative(c.raw[n])
                else:
                    c.deriv[n] = c.err[n] * sigmoid_derivative(c.raw[n])
                c.d[n] = neg_lr * c.deriv[n]
            _fc_update(c, mu != 0)
        if c.push_error:
            for n in range(n_out):
                if c.deriv[n] != 0:
                    c.idx[k] = n
                    c.val[k] = c.deriv[n]
                    k += 1
    if c.push_error:
        _fc_push_error(c, k)


cdef void _layer_backward(LayerC* c) noexcept nogil:
    cdef Py_ssize_t i, n = c.n_out
    cdef f32 dot
    if c.kind <= K_FC_SIGMOID:
        _fc_backward(c)
        return
    if c.kind >= K_SUM:
        _graph_backward(c)
        return
    if c.kind == K_MAXPOOL:
        _pool_backward(c)
        return
    if c.kind >= K_CONV_LINEAR:
        _conv_backward(c)
        return
    if c.kind == K_RELU:
        for i in range(n):
            c.err[i] = c.err[i] * c.deriv[i]
    elif c.kind == K_SIGMOID:
        for i in range(n):
            c.err[i] = c.err[i] * sigmoid_derivative(c.raw[i])
    elif c.kind == K_TANH:
        for i in range(n):
            c.err[i] = c.err[i] * tanh_derivative(c.raw[i])
    if not c.push_error:
        return
    if c.kind == K_SOFTMAX and not c.flag:
        dot = 0
        for i in range(n):
            dot = dot + c.out[i] * c.err[i]
        for i in range(n):
            c.prev_err[i] = c.prev_err[i] + c.out[i] * (c.err[i] - dot)
    else:
        for i in range(n):
            c.prev_err[i] = c.prev_err[i] + c.err[i]
