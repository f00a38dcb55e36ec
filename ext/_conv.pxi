# Per-sample convolution and max-pooling, bit-exact with the original
# (docs/SEMANTICS.md, "Convolutional layers"). Textually included by
# _dense.pyx: the kinds below are steps of the same Program as the dense
# layers, so a conv net is still one kernel call per compute/backpropagate.
#
# Exactness: every output value, weight step and error element is its own
# chain of binary32 operations in the original's order. The loops below
# vectorise across independent chains only (output channels in the forward
# sums, vector elements in the updates and in the error push), never within
# one chain.

cdef extern from *:
    """
    /* a[i] = a[i] + b[i] * c, elementwise (the original's MulAdd(ptr, ptr, c)). */
    PN_INLINE void pn_axpy_body(float* PN_R a, const float* PN_R b, float c, Py_ssize_t n) {
        Py_ssize_t i;
        for (i = 0; i < n; i++) a[i] = a[i] + b[i] * c;
    }
    /* The original's UpdateWeights with inertia: M = M*mu + D*(1-mu); W = W + M; D = 0. */
    PN_INLINE void pn_inertia_body(float* PN_R w, float* PN_R m, float* PN_R dl, float mu,
                                   float one_minus, Py_ssize_t n) {
        Py_ssize_t i;
        for (i = 0; i < n; i++) {
            m[i] = m[i] * mu + dl[i] * one_minus;
            w[i] = w[i] + m[i];
            dl[i] = 0.0f;
        }
    }
    /* dst[i] = dst[i] + src[idx[t] * stride + i] * val[t] for t = 0..cnt-1 in
       that order, for every i < len: one sequential chain per i. */
    PN_INLINE void pn_gaxpy_body(float* PN_R dst, const float* PN_R src, Py_ssize_t stride,
                                 const Py_ssize_t* PN_R idx, const float* PN_R val,
                                 Py_ssize_t cnt, Py_ssize_t len) {
        Py_ssize_t i, t;
        for (i = 0; i < len; i++) {
            float a = dst[i];
            for (t = 0; t < cnt; t++) a = a + src[idx[t] * stride + i] * val[t];
            dst[i] = a;
        }
    }
    /* The original's GetMaxAbs: |e[0]|, then each |e[i]| that is strictly
       larger. The maximum does not depend on the order (NaN never wins; a
       NaN first is kept), so independent running maxima may share it. */
    PN_INLINE float pn_maxabs_body(const float* PN_R e, Py_ssize_t n) {
        float best = e[0] >= 0.0f ? e[0] : -e[0], m[8];
        Py_ssize_t i = 1, q;
        if (best != best) return best;
        for (q = 0; q < 8; q++) m[q] = best;
        for (; i + 8 <= n; i += 8)
            for (q = 0; q < 8; q++) {
                const float a = e[i + q] >= 0.0f ? e[i + q] : -e[i + q];
                m[q] = a > m[q] ? a : m[q];
            }
        for (; i < n; i++) {
            const float a = e[i] >= 0.0f ? e[i] : -e[i];
            best = a > best ? a : best;
        }
        for (q = 0; q < 8; q++) best = m[q] > best ? m[q] : best;
        return best;
    }
    /* ReLU's derivative applied: d[i] = e[i] where raw[i] >= 0, else +0. */
    PN_INLINE void pn_relu_deriv_body(float* PN_R d, const float* PN_R e,
                                      const float* PN_R raw, Py_ssize_t n) {
        Py_ssize_t i;
        for (i = 0; i < n; i++) d[i] = raw[i] >= 0.0f ? e[i] : 0.0f;
    }
    /* One input cell folded into a max-pool output cell, channel by channel:
       a channel takes the value, and remembers the cell, only when the value
       is strictly larger (unconditional stores, so it vectorises). */
    PN_INLINE void pn_pool_take_body(const float* PN_R v, float* PN_R out, int* PN_R ax,
                                     int* PN_R ay, int x, int y, Py_ssize_t n) {
        Py_ssize_t i;
        for (i = 0; i < n; i++) {
            const int take = v[i] > out[i];
            ax[i] = take ? x : ax[i];
            ay[i] = take ? y : ay[i];
            out[i] = take ? v[i] : out[i];
        }
    }
    /* pn_pool_take_body without remembering the cell (the batched pass). */
    PN_INLINE void pn_pool_max_body(const float* PN_R v, float* PN_R out, Py_ssize_t n) {
        Py_ssize_t i;
        for (i = 0; i < n; i++) out[i] = v[i] > out[i] ? v[i] : out[i];
    }
    /* out[p * n_out + n] = sum_k wt[k * n_out + n] * x[p * n_in + k], each sum
       from +0 in k order (the original's DotProduct of kernel n and window p). */
    PN_INLINE void pn_convfwd_body(const float* PN_R wt, const float* PN_R x, float* PN_R out,
                                   Py_ssize_t positions, Py_ssize_t n_in, Py_ssize_t n_out) {
        Py_ssize_t p;
        for (p = 0; p < positions; p++)
            pn_accum_body(wt, x + p * n_in, out + p * n_out, n_in, n_out);
    }

    #define PN_CONV_INSTANCE(SFX, ATTR) \
    ATTR static void pn_axpy_##SFX(float* a, const float* b, float c, Py_ssize_t n) { \
        pn_axpy_body(a, b, c, n); } \
    ATTR static void pn_inertia_##SFX(float* w, float* m, float* dl, float mu, float om, \
                                      Py_ssize_t n) { \
        pn_inertia_body(w, m, dl, mu, om, n); } \
    ATTR static void pn_gaxpy_##SFX(float* dst, const float* src, Py_ssize_t stride, \
                                    const Py_ssize_t* idx, const float* val, Py_ssize_t cnt, \
                                    Py_ssize_t len) { \
        pn_gaxpy_body(dst, src, stride, idx, val, cnt, len); } \
    ATTR static void pn_convfwd_##SFX(const float* wt, const float* x, float* out, \
                                      Py_ssize_t positions, Py_ssize_t n_in, Py_ssize_t n_out) { \
        pn_convfwd_body(wt, x, out, positions, n_in, n_out); } \
    ATTR static float pn_maxabs_##SFX(const float* e, Py_ssize_t n) { \
        return pn_maxabs_body(e, n); } \
    ATTR static void pn_relu_deriv_##SFX(float* d, const float* e, const float* raw, \
                                         Py_ssize_t n) { \
        pn_relu_deriv_body(d, e, raw, n); } \
    ATTR static void pn_pool_take_##SFX(const float* v, float* out, int* ax, int* ay, int x, \
                                        int y, Py_ssize_t n) { \
        pn_pool_take_body(v, out, ax, ay, x, y, n); } \
    ATTR static void pn_pool_max_##SFX(const float* v, float* out, Py_ssize_t n) { \
        pn_pool_max_body(v, out, n); }

    PN_CONV_INSTANCE(generic, )
    #if PN_X86_DISPATCH
    PN_CONV_INSTANCE(avx2_plain, PN_AVX2)
    /* A mask of the first n lanes (none for n <= 0, all for n >= 8). */
    PN_AVX2 static inline __m256i pn_lanes(Py_ssize_t n) {
        return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 0 ? 0 : n < 8 ? n : 8)),
                                  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    /* pn_gaxpy_body with 64 chains (eight registers) held across t, so the
       adds of different chains overlap; the tail runs four or eight masked
       registers (masked-off lanes are neither read nor written). */
    #define PN_G_STEP(q) a##q = _mm256_add_ps(a##q, _mm256_mul_ps(_mm256_loadu_ps(s + 8 * q), v))
    #define PN_G_MSTEP(q) a##q = _mm256_add_ps(a##q, _mm256_mul_ps( \
                                     _mm256_maskload_ps(s + 8 * q, m##q), v))
    PN_AVX2 static void pn_gaxpy_avx2(float* dst, const float* src, Py_ssize_t stride,
                                      const Py_ssize_t* idx, const float* val, Py_ssize_t cnt,
                                      Py_ssize_t len) {
        Py_ssize_t i = 0, t;
        for (; i + 64 <= len; i += 64) {
            __m256 a0 = _mm256_loadu_ps(dst + i), a1 = _mm256_loadu_ps(dst + i + 8),
                   a2 = _mm256_loadu_ps(dst + i + 16), a3 = _mm256_loadu_ps(dst + i + 24),
                   a4 = _mm256_loadu_ps(dst + i + 32), a5 = _mm256_loadu_ps(dst + i + 40),
                   a6 = _mm256_loadu_ps(dst + i + 48), a7 = _mm256_loadu_ps(dst + i + 56);
            for (t = 0; t < cnt; t++) {
                const float* s = src + idx[t] * stride + i;
                const __m256 v = _mm256_set1_ps(val[t]);
                PN_G_STEP(0); PN_G_STEP(1); PN_G_STEP(2); PN_G_STEP(3);
                PN_G_STEP(4); PN_G_STEP(5); PN_G_STEP(6); PN_G_STEP(7);
            }
            _mm256_storeu_ps(dst + i, a0); _mm256_storeu_ps(dst + i + 8, a1);
            _mm256_storeu_ps(dst + i + 16, a2); _mm256_storeu_ps(dst + i + 24, a3);
            _mm256_storeu_ps(dst + i + 32, a4); _mm256_storeu_ps(dst + i + 40, a5);
            _mm256_storeu_ps(dst + i + 48, a6); _mm256_storeu_ps(dst + i + 56, a7);
        }
        if (i < len) {
            const Py_ssize_t r = len - i;
            float* d = dst + i;
            const __m256i m0 = pn_lanes(r), m1 = pn_lanes(r - 8), m2 = pn_lanes(r - 16),
                          m3 = pn_lanes(r - 24);
            __m256 a0 = _mm256_maskload_ps(d, m0), a1 = _mm256_maskload_ps(d + 8, m1),
                   a2 = _mm256_maskload_ps(d + 16, m2), a3 = _mm256_maskload_ps(d + 24, m3);
            if (r <= 32) {
                for (t = 0; t < cnt; t++) {
                    const float* s = src + idx[t] * stride + i;
                    const __m256 v = _mm256_set1_ps(val[t]);
                    PN_G_MSTEP(0); PN_G_MSTEP(1); PN_G_MSTEP(2); PN_G_MSTEP(3);
                }
            } else {
                const __m256i m4 = pn_lanes(r - 32), m5 = pn_lanes(r - 40),
                              m6 = pn_lanes(r - 48), m7 = pn_lanes(r - 56);
                __m256 a4 = _mm256_maskload_ps(d + 32, m4), a5 = _mm256_maskload_ps(d + 40, m5),
                       a6 = _mm256_maskload_ps(d + 48, m6), a7 = _mm256_maskload_ps(d + 56, m7);
                for (t = 0; t < cnt; t++) {
                    const float* s = src + idx[t] * stride + i;
                    const __m256 v = _mm256_set1_ps(val[t]);
                    PN_G_MSTEP(0); PN_G_MSTEP(1); PN_G_MSTEP(2); PN_G_MSTEP(3);
                    PN_G_MSTEP(4); PN_G_MSTEP(5); PN_G_MSTEP(6); PN_G_MSTEP(7);
                }
                _mm256_maskstore_ps(d + 32, m4, a4); _mm256_maskstore_ps(d + 40, m5, a5);
                _mm256_maskstore_ps(d + 48, m6, a6); _mm256_maskstore_ps(d + 56, m7, a7);
            }
            _mm256_maskstore_ps(d, m0, a0); _mm256_maskstore_ps(d + 8, m1, a1);
            _mm256_maskstore_ps(d + 16, m2, a2); _mm256_maskstore_ps(d + 24, m3, a3);
        }
    }
    /* pn_convfwd_body, register-blocked: 8 features x 8 positions, or 16
       features x 4 positions, per pass over k (the chains are independent;
       each still sums in k order). Features beyond n_out are masked. */
    PN_AVX2 static void pn_convfwd_avx2(const float* wt, const float* x, float* out,
                                        Py_ssize_t positions, Py_ssize_t n_in,
                                        Py_ssize_t n_out) {
        Py_ssize_t nb, p, k, q;
        for (nb = 0; nb < n_out; nb += 16) {
            const Py_ssize_t nv = n_out - nb < 16 ? n_out - nb : 16;
            const __m256i m0 = pn_lanes(nv), m1 = pn_lanes(nv - 8);
            p = 0;
            if (nv > 8) {
                for (; p + 4 <= positions; p += 4) {
                    __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0,
                           b2 = a0, a3 = a0, b3 = a0;
                    const float* x0 = x + p * n_in;
                    for (k = 0; k < n_in; k++) {
                        const __m256 w0 = _mm256_maskload_ps(wt + k * n_out + nb, m0);
                        const __m256 w1 = _mm256_maskload_ps(wt + k * n_out + nb + 8, m1);
                        __m256 v = _mm256_set1_ps(x0[k]);
                        a0 = _mm256_add_ps(a0, _mm256_mul_ps(w0, v));
                        b0 = _mm256_add_ps(b0, _mm256_mul_ps(w1, v));
                        v = _mm256_set1_ps(x0[n_in + k]);
                        a1 = _mm256_add_ps(a1, _mm256_mul_ps(w0, v));
                        b1 = _mm256_add_ps(b1, _mm256_mul_ps(w1, v));
                        v = _mm256_set1_ps(x0[2 * n_in + k]);
                        a2 = _mm256_add_ps(a2, _mm256_mul_ps(w0, v));
                        b2 = _mm256_add_ps(b2, _mm256_mul_ps(w1, v));
                        v = _mm256_set1_ps(x0[3 * n_in + k]);
                        a3 = _mm256_add_ps(a3, _mm256_mul_ps(w0, v));
                        b3 = _mm256_add_ps(b3, _mm256_mul_ps(w1, v));
                    }
                    float* o = out + p * n_out + nb;
                    _mm256_maskstore_ps(o, m0, a0); _mm256_maskstore_ps(o + 8, m1, b0);
                    o += n_out;
                    _mm256_maskstore_ps(o, m0, a1); _mm256_maskstore_ps(o + 8, m1, b1);
                    o += n_out;
                    _mm256_maskstore_ps(o, m0, a2); _mm256_maskstore_ps(o + 8, m1, b2);
                    o += n_out;
                    _mm256_maskstore_ps(o, m0, a3); _mm256_maskstore_ps(o + 8, m1, b3);
                }
            } else {
                for (; p + 8 <= positions; p += 8) {
                    __m256 a[8];
                    for (q = 0; q < 8; q++) a[q] = _mm256_setzero_ps();
                    const float* x0 = x + p * n_in;
                    for (k = 0; k < n_in; k++) {
                        const __m256 w0 = _mm256_maskload_ps(wt + k * n_out + nb, m0);
                        for (q = 0; q < 8; q++)
                            a[q] = _mm256_add_ps(a[q], _mm256_mul_ps(
                                w0, _mm256_set1_ps(x0[q * n_in + k])));
                    }
                    for (q = 0; q < 8; q++)
                        _mm256_maskstore_ps(out + (p + q) * n_out + nb, m0, a[q]);
                }
            }
            for (; p < positions; p++) {
                __m256 a0 = _mm256_setzero_ps(), b0 = a0;
                const float* x0 = x + p * n_in;
                for (k = 0; k < n_in; k++) {
                    const __m256 v = _mm256_set1_ps(x0[k]);
                    a0 = _mm256_add_ps(a0, _mm256_mul_ps(
                        _mm256_maskload_ps(wt + k * n_out + nb, m0), v));
                    b0 = _mm256_add_ps(b0, _mm256_mul_ps(
                        _mm256_maskload_ps(wt + k * n_out + nb + 8, m1), v));
                }
                _mm256_maskstore_ps(out + p * n_out + nb, m0, a0);
                _mm256_maskstore_ps(out + p * n_out + nb + 8, m1, b0);
            }
        }
    }
    /* pn_inertia_body with subnormal lanes in double (pn_inertia_row_avx2). */
    PN_AVX2 static void pn_inertia_avx2(float* w, float* m, float* dl, float mu, float om,
                                        Py_ssize_t n) {
        Py_ssize_t i;
        pn_inertia_row_avx2(w, m, _mm256_set1_ps(om), dl, mu, n);
        for (i = 0; i < n; i++) dl[i] = 0.0f;
    }
    /* pn_convfwd_body on AVX-512 (used with the AVX2 set when the CPU has
       it): 16 features per register, 32 features x 4 positions or 16 x 8
       per pass over k; masked lanes are neither read nor written. Still a
       separate multiply and add per term, in k order. */
    #define PN_AVX512 __attribute__((target("avx512f")))
    #define PN_Z_STEP(a, w, q) a = _mm512_add_ps(a, _mm512_mul_ps(w, _mm512_set1_ps(x0[(q) * n_in + k])))
    PN_AVX512 static void pn_convfwd_avx512(const float* wt, const float* x, float* out,
                                            Py_ssize_t positions, Py_ssize_t n_in,
                                            Py_ssize_t n_out) {
        Py_ssize_t nb, p, k;
        for (nb = 0; nb < n_out; nb += 32) {
            const Py_ssize_t nv = n_out - nb < 32 ? n_out - nb : 32;
            const __mmask16 m0 = nv >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nv) - 1u);
            const __mmask16 m1 = nv >= 32 ? (__mmask16)0xFFFF
                               : nv > 16 ? (__mmask16)((1u << (nv - 16)) - 1u) : (__mmask16)0;
            p = 0;
            if (nv > 16) {
                for (; p + 4 <= positions; p += 4) {
                    __m512 a0 = _mm512_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0,
                           a3 = a0, b3 = a0;
                    const float* x0 = x + p * n_in;
                    for (k = 0; k < n_in; k++) {
                        const __m512 w0 = _mm512_maskz_loadu_ps(m0, wt + k * n_out + nb);
                        const __m512 w1 = _mm512_maskz_loadu_ps(m1, wt + k * n_out + nb + 16);
                        PN_Z_STEP(a0, w0, 0); PN_Z_STEP(b0, w1, 0);
                        PN_Z_STEP(a1, w0, 1); PN_Z_STEP(b1, w1, 1);
                        PN_Z_STEP(a2, w0, 2); PN_Z_STEP(b2, w1, 2);
                        PN_Z_STEP(a3, w0, 3); PN_Z_STEP(b3, w1, 3);
                    }
                    float* o = out + p * n_out + nb;
                    _mm512_mask_storeu_ps(o, m0, a0); _mm512_mask_storeu_ps(o + 16, m1, b0);
                    o += n_out;
                    _mm512_mask_storeu_ps(o, m0, a1); _mm512_mask_storeu_ps(o + 16, m1, b1);
                    o += n_out;
                    _mm512_mask_storeu_ps(o, m0, a2); _mm512_mask_storeu_ps(o + 16, m1, b2);
                    o += n_out;
                    _mm512_mask_storeu_ps(o, m0, a3); _mm512_mask_storeu_ps(o + 16, m1, b3);
                }
            } else {
                for (; p + 8 <= positions; p += 8) {
                    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0,
                           a6 = a0, a7 = a0;
                    const float* x0 = x + p * n_in;
                    for (k = 0; k < n_in; k++) {
                        const __m512 w0 = _mm512_maskz_loadu_ps(m0, wt + k * n_out + nb);
                        PN_Z_STEP(a0, w0, 0); PN_Z_STEP(a1, w0, 1); PN_Z_STEP(a2, w0, 2);
                        PN_Z_STEP(a3, w0, 3); PN_Z_STEP(a4, w0, 4); PN_Z_STEP(a5, w0, 5);
                        PN_Z_STEP(a6, w0, 6); PN_Z_STEP(a7, w0, 7);
                    }
                    float* o = out + p * n_out + nb;
                    _mm512_mask_storeu_ps(o, m0, a0); _mm512_mask_storeu_ps(o + n_out, m0, a1);
                    _mm512_mask_storeu_ps(o + 2 * n_out, m0, a2);
                    _mm512_mask_storeu_ps(o + 3 * n_out, m0, a3);
                    _mm512_mask_storeu_ps(o + 4 * n_out, m0, a4);
                    _mm512_mask_storeu_ps(o + 5 * n_out, m0, a5);
                    _mm512_mask_storeu_ps(o + 6 * n_out, m0, a6);
                    _mm512_mask_storeu_ps(o + 7 * n_out, m0, a7);
                }
            }
            for (; p < positions; p++) {
                __m512 a0 = _mm512_setzero_ps(), b0 = a0;
                const float* x0 = x + p * n_in;
                for (k = 0; k < n_in; k++) {
                    PN_Z_STEP(a0, _mm512_maskz_loadu_ps(m0, wt + k * n_out + nb), 0);
                    PN_Z_STEP(b0, _mm512_maskz_loadu_ps(m1, wt + k * n_out + nb + 16), 0);
                }
                _mm512_mask_storeu_ps(out + p * n_out + nb, m0, a0);
                _mm512_mask_storeu_ps(out + p * n_out + nb + 16, m1, b0);
            }
        }
    }
    static int pn_avx512_available(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    #endif

    typedef void (*pn_axpy_fn)(float*, const float*, float, Py_ssize_t);
    typedef void (*pn_inertia_fn)(float*, float*, float*, float, float, Py_ssize_t);
    typedef void (*pn_gaxpy_fn)(float*, const float*, Py_ssize_t, const Py_ssize_t*,
                                const float*, Py_ssize_t, Py_ssize_t);
    typedef void (*pn_convfwd_fn)(const float*, const float*, float*, Py_ssize_t, Py_ssize_t,
                                  Py_ssize_t);
    typedef float (*pn_maxabs_fn)(const float*, Py_ssize_t);
    typedef void (*pn_relu_deriv_fn)(float*, const float*, const float*, Py_ssize_t);
    typedef void (*pn_pool_take_fn)(const float*, float*, int*, int*, int, int, Py_ssize_t);
    typedef void (*pn_pool_max_fn)(const float*, float*, Py_ssize_t);
    static pn_pool_max_fn pn_pool_max = pn_pool_max_generic;
    static pn_maxabs_fn pn_maxabs = pn_maxabs_generic;
    static pn_relu_deriv_fn pn_relu_deriv = pn_relu_deriv_generic;
    static pn_pool_take_fn pn_pool_take = pn_pool_take_generic;
    static pn_axpy_fn pn_axpy = pn_axpy_generic;
    static pn_inertia_fn pn_inertia = pn_inertia_generic;
    static pn_gaxpy_fn pn_gaxpy = pn_gaxpy_generic;
    static pn_convfwd_fn pn_convfwd = pn_convfwd_generic;

    static void pn_conv_select(int avx2) {
    #if PN_X86_DISPATCH
        if (avx2) {
            pn_axpy = pn_axpy_avx2_plain; pn_inertia = pn_inertia_avx2;
            pn_gaxpy = pn_gaxpy_avx2;
            pn_convfwd = pn_avx512_available() ? pn_convfwd_avx512 : pn_convfwd_avx2;
            pn_maxabs = pn_maxabs_avx2_plain; pn_relu_deriv = pn_relu_deriv_avx2_plain;
            pn_pool_take = pn_pool_take_avx2_plain; pn_pool_max = pn_pool_max_avx2_plain;
            return;
        }
    #endif
        pn_axpy = pn_axpy_generic; pn_inertia = pn_inertia_generic;
        pn_gaxpy = pn_gaxpy_generic; pn_convfwd = pn_convfwd_generic;
        pn_maxabs = pn_maxabs_generic; pn_relu_deriv = pn_relu_deriv_generic;
        pn_pool_take = pn_pool_take_generic; pn_pool_max = pn_pool_max_generic;
    }
    """
    void pn_conv_select(int avx2) nogil
    void pn_axpy(float* a, const float* b, float c, Py_ssize_t n) noexcept nogil
    void pn_inertia(float* w, float* m, float* dl, float mu, float one_minus,
                    Py_ssize_t n) noexcept nogil
    void pn_gaxpy(float* dst, const float* src, Py_ssize_t stride, const Py_ssize_t* idx,
                  const float* val, Py_ssize_t cnt, Py_ssize_t len) noexcept nogil
    void pn_convfwd(const float* wt, const float* x, float* out, Py_ssize_t positions,
                    Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil
    float pn_maxabs(const float* e, Py_ssize_t n) noexcept nogil
    void pn_relu_deriv(float* d, const float* e, const float* raw, Py_ssize_t n) noexcept nogil
    void pn_pool_take(const float* v, float* out, int* ax, int* ay, int x, int y,
                      Py_ssize_t n) noexcept nogil
    void pn_pool_max(const float* v, float* out, Py_ssize_t n) noexcept nogil


# The original clips a convolution's incoming error to this largest
# magnitude before its backward step (ForceMaxOutputError).
cdef f32 _CONV_MAX_ERROR = 100


cdef Py_ssize_t _max_divisor(Py_ssize_t x, Py_ssize_t limit) noexcept nogil:
    """The original's GetMaxDivisor: x itself when x <= limit, else the
    largest divisor of x not above limit (1 at worst)."""
    cdef Py_ssize_t r = limit
    if x <= limit:
        return x
    while r > 1:
        if x % r == 0:
            break
        r -= 1
    return r


cdef Py_ssize_t _tile(Py_ssize_t x) noexcept nogil:
    cdef Py_ssize_t t = _max_divisor(x, 16)
    if t == 1:
        t = _max_divisor(x, 128)
    return t


cdef int _geometry(LayerC* c, str where, object geom, Py_ssize_t params_len,
                   bint pool) except -1:
    """Check a spatial layer's geometry against its flat sizes (c.n_in,
    c.n_out, and for a convolution the parameter count) and fill it in.
    The arithmetic is on Python integers, so no size can overflow; every
    index the passes compute then stays inside the checked buffers."""
    try:
        g = [int(v) for v in geom]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{where}: the geometry must be 9 integers, got {geom!r}") from None
    if len(g) != 9:
        raise ValueError(f"{where}: the geometry must be 9 integers, got {geom!r}")
    sx, sy, sd, ox, oy, fx, fy, pad, stride = g
    if min(sx, sy, sd, ox, oy, fx, fy, stride) < 1 or pad < 0 or max(g) > 2 ** 31 - 1:
        raise ValueError(f"{where}: geometry {tuple(g)} has a size below 1, a negative "
                         "padding or a size beyond 2**31 - 1")
    psx, psy = sx + 2 * pad, sy + 2 * pad
    if c.n_in != sx * sy * sd:
        raise ValueError(f"{where}: the input is {c.n_in} values, not {sx}x{sy}x{sd}")
    if pool:
        if ox != (psx + stride - 1) // stride or oy != (psy + stride - 1) // stride \
                or c.n_out != ox * oy * sd:
            raise ValueError(f"{where}: a {fx}x{fy} max-pool stride {stride} padding {pad} "
                             f"on {sx}x{sy}x{sd} cannot output {ox}x{oy} ({c.n_out} values)")
        n, k = sd, 0
    else:
        if fx > psx or fy > psy or ox != (psx - fx) // stride + 1 \
                or oy != (psy - fy) // stride + 1 or c.n_out % (ox * oy) != 0:
            raise ValueError(f"{where}: a {fx}x{fy} convolution stride {stride} padding "
                             f"{pad} on {sx}x{sy}x{sd} cannot output {ox}x{oy} "
                             f"({c.n_out} values)")
        n, k = c.n_out // (ox * oy), fx * fy * sd
        if params_len != n * k + n:
            raise ValueError(f"{where}: the parameters are {params_len} values, "
                             f"{n} features of {fx}x{fy}x{sd} need {n * k + n}")
    if psx > 2 ** 31 - 1 or psy > 2 ** 31 - 1 or psx * psy * sd > 2 ** 40 \
            or ox * oy * k > 2 ** 40:
        raise ValueError(f"{where}: geometry {tuple(g)} needs more scratch than allowed")
    c.sx, c.sy, c.sd, c.ox, c.oy = sx, sy, sd, ox, oy
    c.fx, c.fy, c.pad, c.stride, c.nf, c.k = fx, fy, pad, stride, n, k
    c.tile_x, c.tile_d = _tile(c.ox), _tile(c.nf)
    return 0


cdef int _conv_alloc(LayerC* c, bint pool, bint training) except -1:
    """The scratch of a spatial layer with its geometry filled in (freed by
    _conv_free; a partial allocation is freed there too)."""
    cdef Py_ssize_t positions = c.ox * c.oy
    # (a convolution pads only its error: its forward reads the window
    # matrix, which holds the padding's zeros)
    if c.pad and (pool or training):
        c.padded = <f32*>calloc((c.sx + 2 * c.pad) * (c.sy + 2 * c.pad) * c.sd, sizeof(f32))
        if c.padded == NULL:
            raise MemoryError()
    if pool:
        if training:
            c.amx = <int*>calloc(c.n_out, sizeof(int))
            c.amy = <int*>calloc(c.n_out, sizeof(int))
            if c.amx == NULL or c.amy == NULL:
                raise MemoryError()
        return 0
    c.wtt = <f32*>malloc(c.k * c.nf * sizeof(f32))
    if c.wtt == NULL:
        raise MemoryError()
    if not (c.fx == 1 and c.fy == 1 and c.pad == 0 and c.stride == 1):
        # (pointwise, the input itself is the column matrix: prep stays NULL)
        c.prep = <f32*>malloc(positions * c.k * sizeof(f32))
        if c.prep == NULL:
            raise MemoryError()
    if training:
        c.delta = <f32*>calloc(c.nf * c.k + c.nf, sizeof(f32))
        c.lrd = <f32*>malloc(c.n_out * sizeof(f32))
        c.pidx = <Py_ssize_t*>malloc(positions * sizeof(Py_ssize_t))
        c.pval = <f32*>malloc(positions * sizeof(f32))
        if c.delta == NULL or c.lrd == NULL or c.pidx == NULL or c.pval == NULL:
            raise MemoryError()
    return 0


cdef void _conv_free(LayerC* c) noexcept nogil:
    free(c.padded)
    free(c.amx)
    free(c.amy)
    free(c.wtt)
    free(c.delta)
    free(c.prep)
    free(c.lrd)
    free(c.pidx)
    free(c.pval)


cdef const f32* _conv_columns(LayerC* c) noexcept nogil:
    """The im2col matrix of the current input, (positions, K): row p holds
    the window of output position p in the kernel's raw order (ky, kx, d),
    zeros where the window lies in the padding. (Rows are short, a few
    floats for a small kernel: plain loops beat library calls.)"""
    cdef Py_ssize_t ox, oy, ky, x0, y, lo, hi, j, n, row = c.fx * c.sd
    cdef const f32* src = c.prev_out
    cdef const f32* s
    cdef f32* dst
    if c.prep == NULL:
        return src
    for oy in range(c.oy):
        for ox in range(c.ox):
            dst = c.prep + (oy * c.ox + ox) * c.k
            x0 = ox * c.stride - c.pad
            # the columns kx with 0 <= x0 + kx < sx are [lo, hi)
            lo = -x0 if x0 < 0 else 0
            hi = c.sx - x0 if x0 + c.fx > c.sx else c.fx
            for ky in range(c.fy):
                y = oy * c.stride + ky - c.pad
                if y < 0 or y >= c.sy or hi <= lo:
                    for j in range(row):
                        dst[j] = 0
                else:
                    for j in range(lo * c.sd):
                        dst[j] = 0
                    s = src + (y * c.sx + x0) * c.sd
                    for j in range(lo * c.sd, hi * c.sd):
                        dst[j] = s[j]
                    for j in range(hi * c.sd, row):
                        dst[j] = 0
                dst += row
    return c.prep


cdef void _conv_transpose(LayerC* c, const f32* w) noexcept nogil:
    """wtt = W transposed, (K, features): the forward sums run across
    features, whose weights are then contiguous."""
    cdef Py_ssize_t n, k
    for n in range(c.nf):
        for k in range(c.k):
            c.wtt[k * c.nf + n] = w[n * c.k + k]


cdef void _conv_sums(LayerC* c, const f32* bias) noexcept nogil:
    """raw = every window's dot product with every kernel (wtt), plus the
    bias unless suppressed (c.flag)."""
    cdef Py_ssize_t p, n, nf = c.nf, positions = c.ox * c.oy
    cdef f32* raw = c.raw
    pn_convfwd(c.wtt, _conv_columns(c), raw, positions, c.k, nf)
    if not c.flag:
        for p in range(positions):
            for n in range(nf):
                raw[p * nf + n] = raw[p * nf + n] + bias[n]


cdef void _conv_forward(LayerC* c) noexcept nogil:
    cdef Py_ssize_t p
    cdef f32* raw = c.raw
    # The transpose is rebuilt each pass, so it never lags the live weights.
    _conv_transpose(c, c.wt)
    _conv_sums(c, c.wt + c.nf * c.k)
    if c.kind == K_CONV_RELU:
        for p in range(c.n_out):
            c.out[p] = raw[p] if raw[p] > 0 else 0
    elif c.kind == K_CONV_TANH:
        for p in range(c.n_out):
            c.out[p] = tanh_p(raw[p])
    else:
        memcpy(c.out, raw, c.n_out * sizeof(f32))


cdef void _conv_backward(LayerC* c) noexcept nogil:
    """The original's BackpropagateFastTiledCPU: clip the error, then per
    (position, feature) the derivative, its weight and bias steps and its
    error for the previous layer (with the weights before this update),
    then the update of every feature. Skipped whole when the error is 0."""
    cdef Py_ssize_t i, n, p, ox, oy, tx, td, ky, px, py, cnt
    cdef Py_ssize_t nf = c.nf, kk = c.k, row = c.fx * c.sd, positions = c.ox * c.oy
    cdef Py_ssize_t psx = c.sx + 2 * c.pad, psy = c.sy + 2 * c.pad
    cdef f32 biggest, a, neg_lr = -c.hyper[0], mu = c.hyper[1], one_minus
    cdef f32* err = c.err
    cdef f32* lrd = c.lrd
    cdef f32* target
    cdef f32* w = c.wt
    cdef f32* bias = c.wt + nf * kk
    cdef f32* m = c.mwt
    cdef f32* mbias = c.mwt + nf * kk
    cdef f32* bdelta = c.delta + nf * kk
    cdef const f32* cols
    biggest = pn_maxabs(err, c.n_out)
    if biggest > _CONV_MAX_ERROR:
        a = _CONV_MAX_ERROR / biggest
        for i in range(c.n_out):
            err[i] = err[i] * a
    if not (biggest > 0):
        return                          # no step at all, not even the inertia one
    # (one loop per kind, so that each vectorises)
    if c.kind == K_CONV_RELU:
        pn_relu_deriv(c.deriv, err, c.raw, c.n_out)
    elif c.kind == K_CONV_TANH:
        for i in range(c.n_out):
            c.deriv[i] = err[i] * tanh_derivative(c.raw[i])
    else:
        memcpy(c.deriv, err, c.n_out * sizeof(f32))
    for i in range(c.n_out):
        lrd[i] = neg_lr * c.deriv[i]
    # Weight and bias steps: feature n's chain runs over the positions in
    # order, and only positions with a nonzero step take part.
    cols = c.prep if c.prep != NULL else c.prev_out
    for n in range(nf):
        # (compacted without branches: every slot is written, the count
        # moves only past nonzero steps)
        cnt = 0
        for p in range(positions):
            c.pidx[cnt] = p
            c.pval[cnt] = lrd[p * nf + n]
            cnt += lrd[p * nf + n] != 0
        for i in range(cnt):
            bdelta[n] = bdelta[n] + c.pval[i]
        pn_gaxpy(c.delta + n * kk, cols, kk, c.pidx, c.pval, cnt, kk)
    if c.push_error:
        # Error for the previous layer, in the original's tiled order: rows,
        # column tiles, feature tiles, columns, features.
        if c.pad:
            memset(c.padded, 0, psx * psy * c.sd * sizeof(f32))
            target = c.padded
        else:
            target = c.prev_err
            psx, psy = c.sx, c.sy
        for oy in range(c.oy):
            py = oy * c.stride
            for tx in range(c.ox // c.tile_x):
                for td in range(nf // c.tile_d):
                    for ox in range(tx * c.tile_x, (tx + 1) * c.tile_x):
                        px = ox * c.stride
                        if not (px < 1 + psx - c.fx and py < 1 + psy - c.fy):
                            continue
                        p = oy * c.ox + ox
                        cnt = 0
                        for n in range(td * c.tile_d, (td + 1) * c.tile_d):
                            c.idx[cnt] = n
                            c.val[cnt] = c.deriv[p * nf + n]
                            cnt += lrd[p * nf + n] != 0
                        if cnt:
                            for ky in range(c.fy):
                                pn_gaxpy(target + ((py + ky) * psx + px) * c.sd, w + ky * row,
                                         kk, c.idx, c.val, cnt, row)
        if c.pad:
            for py in range(c.sy):
                pn_axpy(c.prev_err + py * c.sx * c.sd,
                        c.padded + ((py + c.pad) * (c.sx + 2 * c.pad) + c.pad) * c.sd,
                        1, c.sx * c.sd)
    if mu > 0:
        one_minus = (<f32>1) - mu
        for n in range(nf):
            bdelta[n] = bdelta[n] * one_minus
            mbias[n] = mbias[n] * mu
            mbias[n] = mbias[n] + bdelta[n]
            bias[n] = bias[n] + mbias[n]
            bdelta[n] = 0
        pn_inertia(w, m, c.delta, mu, one_minus, nf * kk)
    else:
        for n in range(nf):
            bias[n] = bias[n] + bdelta[n]
            bdelta[n] = 0
        for i in range(nf * kk):
            w[i] = w[i] + c.delta[i]
            c.delta[i] = 0


cdef inline void _pool_cell(LayerC* c, const f32* src, Py_ssize_t o, Py_ssize_t x,
                            Py_ssize_t y) noexcept nogil:
    """Fold input cell (x, y) (all channels) into output cell o: a channel
    takes the value, and remembers the cell, only when strictly larger."""
    cdef const f32* v = src + (y * (c.sx + 2 * c.pad) + x) * c.sd
    if c.amx != NULL:
        pn_pool_take(v, c.out + o, c.amx + o, c.amy + o, <int>x, <int>y, c.sd)
    else:
        # the batched pass keeps no winners: it has no backward
        pn_pool_max(v, c.out + o, c.sd)


cdef void _pool_forward(LayerC* c) noexcept nogil:
    cdef Py_ssize_t i, x, y, ox, oy, x1, y1, psx = c.sx + 2 * c.pad, psy = c.sy + 2 * c.pad
    cdef const f32* src = c.prev_out
    for i in range(c.n_out):
        c.out[i] = -1000000
    if c.pad:
        memset(c.padded, 0, psx * psy * c.sd * sizeof(f32))
        for y in range(c.sy):
            memcpy(c.padded + ((y + c.pad) * psx + c.pad) * c.sd, src + y * c.sx * c.sd,
                   c.sx * c.sd * sizeof(f32))
        src = c.padded
    if c.stride == c.fx and c.stride == c.fy and c.pad == 0:
        # The original's default path visits the input row by row.
        for y in range(c.sy):
            for x in range(c.sx):
                _pool_cell(c, src, ((y // c.fy) * c.ox + x // c.fx) * c.sd, x, y)
    else:
        # The strided path visits each window column by column.
        for oy in range(c.oy):
            y1 = min(oy * c.stride + c.fy, psy)
            for ox in range(c.ox):
                x1 = min(ox * c.stride + c.fx, psx)
                for x in range(ox * c.stride, x1):
                    for y in range(oy * c.stride, y1):
                        _pool_cell(c, src, (oy * c.ox + ox) * c.sd, x, y)


cdef void _pool_backward(LayerC* c) noexcept nogil:
    cdef Py_ssize_t d, o, ox, oy, x, y, cell
    if not c.push_error:
        return
    if c.stride == c.fx and c.stride == c.fy and c.pad == 0:
        for cell in range(c.n_out // c.sd):
            o = cell * c.sd
            for d in range(c.sd):
                c.prev_err[(c.amy[o + d] * c.sx + c.amx[o + d]) * c.sd + d] += c.err[o + d]
        return
    for ox in range(c.ox):
        for oy in range(c.oy):
            o = (oy * c.ox + ox) * c.sd
            for d in range(c.sd):
                x = c.amx[o + d] - c.pad
                y = c.amy[o + d] - c.pad
                if 0 <= x < c.sx and 0 <= y < c.sy:
                    c.prev_err[(y * c.sx + x) * c.sd + d] += c.err[o + d]


# ------------------------------------------------------- batched (rows) --

def conv_rows(const f32[:, ::1] X, const f32[:, ::1] W, const f32[::1] bias, geometry,
              bint suppress_bias, f32[:, ::1] Z):
    """``Z[r]`` = the convolution (pre-activation) of the raw-order volume
    ``X[r]`` with the kernels ``W`` (features, K) and ``bias``, for every
    row: the per-sample kernel's arithmetic, so the same bits as
    ``compute``. ``geometry`` as in Program. ValueError when any size does
    not fit."""
    cdef LayerC c
    cdef Py_ssize_t r
    memset(&c, 0, sizeof(LayerC))
    c.n_in, c.n_out, c.flag = X.shape[1], Z.shape[1], suppress_bias
    _geometry(&c, "conv_rows", geometry, W.shape[0] * W.shape[1] + bias.shape[0], False)
    if W.shape[0] != c.nf or W.shape[1] != c.k or bias.shape[0] != c.nf \
            or Z.shape[0] != X.shape[0]:
        raise ValueError(f"conv_rows: kernels {W.shape[0]}x{W.shape[1]}, bias {bias.shape[0]}, "
                         f"{X.shape[0]} inputs and {Z.shape[0]} outputs do not fit {c.nf} "
                         f"features of {c.k} weights")
    if X.shape[0] == 0:
        return
    try:
        _conv_alloc(&c, False, False)
        with nogil:
            _conv_transpose(&c, &W[0, 0])
            for r in range(X.shape[0]):
                c.prev_out = &X[r, 0]
                c.raw = &Z[r, 0]
                _conv_sums(&c, &bias[0])
    finally:
        _conv_free(&c)


def maxpool_rows(const f32[:, ::1] X, geometry, f32[:, ::1] Y):
    """``Y[r]`` = the max-pooling of the raw-order volume ``X[r]``, as the
    per-sample kernel computes it. ``geometry`` as in Program."""
    cdef LayerC c
    cdef Py_ssize_t r
    memset(&c, 0, sizeof(LayerC))
    c.n_in, c.n_out = X.shape[1], Y.shape[1]
    _geometry(&c, "maxpool_rows", geometry, 0, True)
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"maxpool_rows: {X.shape[0]} inputs but {Y.shape[0]} outputs")
    if X.shape[0] == 0:
        return
    try:
        _conv_alloc(&c, True, False)
        with nogil:
            for r in range(X.shape[0]):
                c.prev_out = &X[r, 0]
                c.out = &Y[r, 0]
                _pool_forward(&c)
    finally:
        _conv_free(&c)
