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
    /* acc[p][n] = sum_k WT[k][n] * x[p][k] for two positions at once, each
       sum from +0 in k order: the pn_accum_body chains, sharing the loads of WT. */
    PN_INLINE void pn_accum2_body(const float* PN_R wt, const float* PN_R x0,
                                  const float* PN_R x1, float* PN_R acc0, float* PN_R acc1,
                                  Py_ssize_t n_in, Py_ssize_t n_out) {
        Py_ssize_t j, n;
        for (n = 0; n < n_out; n++) { acc0[n] = 0.0f; acc1[n] = 0.0f; }
        for (j = 0; j < n_in; j++) {
            const float a = x0[j], b = x1[j];
            const float* PN_R row = wt + j * n_out;
            for (n = 0; n < n_out; n++) {
                acc0[n] = acc0[n] + row[n] * a;
                acc1[n] = acc1[n] + row[n] * b;
            }
        }
    }

    #define PN_CONV_INSTANCE(SFX, ATTR) \
    ATTR static void pn_axpy_##SFX(float* a, const float* b, float c, Py_ssize_t n) { \
        pn_axpy_body(a, b, c, n); } \
    ATTR static void pn_inertia_##SFX(float* w, float* m, float* dl, float mu, float om, \
                                      Py_ssize_t n) { \
        pn_inertia_body(w, m, dl, mu, om, n); } \
    ATTR static void pn_accum2_##SFX(const float* wt, const float* x0, const float* x1, \
                                     float* acc0, float* acc1, Py_ssize_t n_in, \
                                     Py_ssize_t n_out) { \
        pn_accum2_body(wt, x0, x1, acc0, acc1, n_in, n_out); }

    PN_CONV_INSTANCE(generic, )
    #if PN_X86_DISPATCH
    PN_CONV_INSTANCE(avx2, PN_AVX2)
    #endif

    typedef void (*pn_axpy_fn)(float*, const float*, float, Py_ssize_t);
    typedef void (*pn_inertia_fn)(float*, float*, float*, float, float, Py_ssize_t);
    typedef void (*pn_accum2_fn)(const float*, const float*, const float*, float*, float*,
                                 Py_ssize_t, Py_ssize_t);
    static pn_axpy_fn pn_axpy = pn_axpy_generic;
    static pn_inertia_fn pn_inertia = pn_inertia_generic;
    static pn_accum2_fn pn_accum2 = pn_accum2_generic;

    static void pn_conv_select(int avx2) {
    #if PN_X86_DISPATCH
        if (avx2) {
            pn_axpy = pn_axpy_avx2; pn_inertia = pn_inertia_avx2; pn_accum2 = pn_accum2_avx2;
            return;
        }
    #endif
        pn_axpy = pn_axpy_generic; pn_inertia = pn_inertia_generic;
        pn_accum2 = pn_accum2_generic;
    }
    """
    void pn_conv_select(int avx2) nogil
    void pn_axpy(float* a, const float* b, float c, Py_ssize_t n) noexcept nogil
    void pn_inertia(float* w, float* m, float* dl, float mu, float one_minus,
                    Py_ssize_t n) noexcept nogil
    void pn_accum2(const float* wt, const float* x0, const float* x1, float* acc0,
                   float* acc1, Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil


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


cdef int _conv_setup(LayerC* c, Py_ssize_t i, object geom, Py_ssize_t params_len,
                     bint pool) except -1:
    """Check a spatial layer's geometry against its flat sizes and allocate
    its scratch. Every index the passes compute stays inside the buffers
    whose lengths are checked here and in Program.__cinit__."""
    cdef Py_ssize_t sx, sy, sd, ox, oy, fs, pad, stride, n, k, psx, psy
    try:
        sx, sy, sd, ox, oy, fs, pad, stride = geom
    except (TypeError, ValueError):
        raise ValueError(f"layer {i}: a spatial layer needs 8 geometry integers, "
                         f"got {geom!r}") from None
    if min(sx, sy, sd, ox, oy, fs, stride) < 1 or pad < 0:
        raise ValueError(f"layer {i}: geometry {geom!r} has a size below 1 or a "
                         "negative padding")
    psx, psy = sx + 2 * pad, sy + 2 * pad
    if c.n_in != sx * sy * sd:
        raise ValueError(f"layer {i}: the input is {c.n_in} values, not {sx}x{sy}x{sd}")
    if pool:
        if ox != (psx + stride - 1) // stride or oy != (psy + stride - 1) // stride \
                or c.n_out != ox * oy * sd:
            raise ValueError(f"layer {i}: a max-pool of {fs} stride {stride} padding {pad} "
                             f"on {sx}x{sy}x{sd} cannot output {ox}x{oy} ({c.n_out} values)")
        n = sd
        k = 0
    else:
        if fs > psx or fs > psy or ox != (psx - fs) // stride + 1 \
                or oy != (psy - fs) // stride + 1 or c.n_out % (ox * oy) != 0:
            raise ValueError(f"layer {i}: a {fs}x{fs} convolution stride {stride} padding "
                             f"{pad} on {sx}x{sy}x{sd} cannot output {ox}x{oy} "
                             f"({c.n_out} values)")
        n = c.n_out // (ox * oy)
        k = fs * fs * sd
        if params_len != n * k + n:
            raise ValueError(f"layer {i}: the parameter buffer has {params_len} values, "
                             f"{n} features of {fs}x{fs}x{sd} need {n * k + n}")
    c.sx, c.sy, c.sd, c.ox, c.oy = sx, sy, sd, ox, oy
    c.fs, c.pad, c.stride, c.nf, c.k = fs, pad, stride, n, k
    c.tile_x, c.tile_d = _tile(ox), _tile(n)
    if pad:
        c.padded = <f32*>calloc(psx * psy * sd, sizeof(f32))
        if c.padded == NULL:
            raise MemoryError()
    if pool:
        c.amx = <Py_ssize_t*>calloc(c.n_out, sizeof(Py_ssize_t))
        c.amy = <Py_ssize_t*>calloc(c.n_out, sizeof(Py_ssize_t))
        if c.amx == NULL or c.amy == NULL:
            raise MemoryError()
        return 0
    c.wtt = <f32*>malloc(k * n * sizeof(f32))
    c.delta = <f32*>calloc(n * k + n, sizeof(f32))
    if fs == 1 and pad == 0 and stride == 1:
        c.prep = NULL          # pointwise: the input itself is the column matrix
    else:
        c.prep = <f32*>malloc(ox * oy * k * sizeof(f32))
        if c.prep == NULL:
            raise MemoryError()
    if c.wtt == NULL or c.delta == NULL:
        raise MemoryError()
    return 0


cdef void _conv_free(LayerC* c) noexcept nogil:
    free(c.padded)
    free(c.amx)
    free(c.amy)
    free(c.wtt)
    free(c.delta)
    free(c.prep)


cdef const f32* _conv_columns(LayerC* c) noexcept nogil:
    """The im2col matrix of the current input, (positions, K): row p holds
    the window of output position p in the kernel's raw order (ky, kx, d),
    zeros where the window lies in the padding."""
    cdef Py_ssize_t ox, oy, ky, x0, y, lo, hi, row = c.fs * c.sd
    cdef const f32* src = c.prev_out
    cdef f32* dst
    if c.prep == NULL:
        return src
    for oy in range(c.oy):
        for ox in range(c.ox):
            dst = c.prep + (oy * c.ox + ox) * c.k
            x0 = ox * c.stride - c.pad
            # the columns kx with 0 <= x0 + kx < sx are [lo, hi)
            lo = -x0 if x0 < 0 else 0
            hi = c.sx - x0 if x0 + c.fs > c.sx else c.fs
            for ky in range(c.fs):
                y = oy * c.stride + ky - c.pad
                if y < 0 or y >= c.sy or hi <= lo:
                    memset(dst, 0, row * sizeof(f32))
                else:
                    if lo > 0:
                        memset(dst, 0, lo * c.sd * sizeof(f32))
                    memcpy(dst + lo * c.sd, src + (y * c.sx + x0 + lo) * c.sd,
                           (hi - lo) * c.sd * sizeof(f32))
                    if hi < c.fs:
                        memset(dst + hi * c.sd, 0, (c.fs - hi) * c.sd * sizeof(f32))
                dst += row
    return c.prep


cdef void _conv_forward(LayerC* c) noexcept nogil:
    cdef Py_ssize_t p, n, k, nf = c.nf, kk = c.k, positions = c.ox * c.oy
    cdef const f32* cols = _conv_columns(c)
    cdef const f32* w = c.wt
    cdef const f32* bias = c.wt + nf * kk
    cdef f32* raw = c.raw
    # The forward sums run across features (WT rows are contiguous over n);
    # the transpose is rebuilt each pass so it never lags the live weights.
    for n in range(nf):
        for k in range(kk):
            c.wtt[k * nf + n] = w[n * kk + k]
    p = 0
    while p + 2 <= positions:
        pn_accum2(c.wtt, cols + p * kk, cols + (p + 1) * kk, raw + p * nf, raw + (p + 1) * nf,
                  kk, nf)
        p += 2
    if p < positions:
        pn_accum(c.wtt, cols + p * kk, raw + p * nf, kk, nf)
    if not c.flag:
        for p in range(positions):
            for n in range(nf):
                raw[p * nf + n] = raw[p * nf + n] + bias[n]
    if c.kind == K_CONV_RELU:
        for p in range(c.n_out):
            c.out[p] = raw[p] if raw[p] > 0 else 0
    elif c.kind == K_CONV_TANH:
        for p in range(c.n_out):
            c.out[p] = tanh_p(raw[p])
    else:
        memcpy(c.out, raw, c.n_out * sizeof(f32))


cdef void _conv_backward(LayerC* c) noexcept nogil:
    cdef Py_ssize_t i, n, ox, oy, tx, td, ky, px, py, pos
    cdef Py_ssize_t nf = c.nf, kk = c.k, row = c.fs * c.sd
    cdef Py_ssize_t psx = c.sx + 2 * c.pad, psy = c.sy + 2 * c.pad
    cdef f32 biggest, a, deriv, lrd, neg_lr = -c.hyper[0], mu = c.hyper[1], one_minus
    cdef f32* err = c.err
    cdef f32* target
    cdef f32* dst
    cdef f32* w = c.wt
    cdef f32* bias = c.wt + nf * kk
    cdef f32* m = c.mwt
    cdef f32* mbias = c.mwt + nf * kk
    cdef f32* bdelta = c.delta + nf * kk
    cdef const f32* cols
    cdef bint push = c.push_error, reach
    # Error clipping (largest magnitude first, strict '>' from element 0).
    biggest = err[0] if err[0] >= 0 else -err[0]
    for i in range(1, c.n_out):
        a = err[i] if err[i] >= 0 else -err[i]
        if a > biggest:
            biggest = a
    if biggest > _CONV_MAX_ERROR:
        a = _CONV_MAX_ERROR / biggest
        for i in range(c.n_out):
            err[i] = err[i] * a
    if not (biggest > 0):
        return                          # no step at all, not even the inertia one
    cols = c.prep if c.prep != NULL else c.prev_out
    if c.pad and push:
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
                    reach = px < 1 + psx - c.fs and py < 1 + psy - c.fs
                    pos = oy * c.ox + ox
                    for n in range(td * c.tile_d, (td + 1) * c.tile_d):
                        i = pos * nf + n
                        if c.kind == K_CONV_RELU:
                            deriv = err[i] if c.raw[i] >= 0 else 0
                        elif c.kind == K_CONV_TANH:
                            deriv = err[i] * tanh_derivative(c.raw[i])
                        else:
                            deriv = err[i]
                        c.deriv[i] = deriv
                        lrd = neg_lr * deriv
                        if lrd != 0:
                            pn_axpy(c.delta + n * kk, cols + pos * kk, lrd, kk)
                            bdelta[n] = bdelta[n] + lrd
                            if push and reach:
                                dst = target + (py * psx + px) * c.sd
                                for ky in range(c.fs):
                                    pn_axpy(dst + ky * psx * c.sd, w + n * kk + ky * row,
                                            deriv, row)
    if c.pad and push:
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


cdef inline void _pool_take(LayerC* c, const f32* src, Py_ssize_t o, Py_ssize_t x,
                            Py_ssize_t y) noexcept nogil:
    """Fold input cell (x, y) (all channels) into output cell o: a channel
    takes the value, and remembers the cell, only when strictly larger."""
    cdef Py_ssize_t d
    cdef const f32* v = src + (y * (c.sx + 2 * c.pad) + x) * c.sd
    for d in range(c.sd):
        if v[d] > c.out[o + d]:
            c.out[o + d] = v[d]
            c.amx[o + d] = x
            c.amy[o + d] = y


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
    if c.stride == c.fs and c.pad == 0:
        # The original's default path visits the input row by row.
        for y in range(c.sy):
            for x in range(c.sx):
                _pool_take(c, src, ((y // c.fs) * c.ox + x // c.fs) * c.sd, x, y)
    else:
        # The strided path visits each window column by column.
        for oy in range(c.oy):
            y1 = min(oy * c.stride + c.fs, psy)
            for ox in range(c.ox):
                x1 = min(ox * c.stride + c.fs, psx)
                for x in range(ox * c.stride, x1):
                    for y in range(oy * c.stride, y1):
                        _pool_take(c, src, (oy * c.ox + ox) * c.sd, x, y)


cdef void _pool_backward(LayerC* c) noexcept nogil:
    cdef Py_ssize_t d, o, ox, oy, x, y
    if not c.push_error:
        return
    if c.stride == c.fs and c.pad == 0:
        for o in range(c.n_out):
            c.prev_err[(c.amy[o] * c.sx + c.amx[o]) * c.sd + o % c.sd] += c.err[o]
        return
    for ox in range(c.ox):
        for oy in range(c.oy):
            o = (oy * c.ox + ox) * c.sd
            for d in range(c.sd):
                x = c.amx[o + d] - c.pad
                y = c.amy[o + d] - c.pad
                if 0 <= x < c.sx and 0 <= y < c.sy:
                    c.prev_err[(y * c.sx + x) * c.sd + d] += c.err[o + d]
