# Per-sample forward and backward of the kinds a net with branches adds:
# the merging layers (sum, flat and depth concatenation), dropout, the
# activations beyond the first ones (leaky ReLU, ReLU6, swish, SELU), the
# two normalisations, average pooling and the channel maximum. Textually
# included by _dense.pyx (steps of the same Program), bit-exact with the
# original's plain-Pascal path (docs/SEMANTICS.md, "Nets with branches").
#
# Every expression below is the original's, one binary32 operation at a
# time in its order: element-wise loops are independent chains, and the
# reductions (sums over a plane) run in the original's visiting order.

from libc.math cimport sqrt

cdef extern from *:
    """
    /* FPC evaluates `-LearningRate * 0.01 / ChannelSize` in x87 extended
       precision (the literal 0.01 is an Extended constant), then rounds the
       result once to Single when it is passed on. */
    static float pn_std_step(float lr, float size) {
        return (float)(((-(long double)lr) * 0.01L) / (long double)size);
    }
    """
    float pn_std_step(float lr, float size) nogil


cdef inline f32 _sqrtf(f32 x) noexcept nogil:
    # The square root of a binary32 rounded once from double is the
    # correctly rounded binary32 square root (53 >= 2 * 24 + 2).
    return <f32>sqrt(<double>x)


cdef inline void _push(LayerC* c) noexcept nogil:
    """The identity layers' last step: the error into the previous layer's
    (only when it keeps a full-size error buffer)."""
    cdef Py_ssize_t i
    if c.push_error:
        for i in range(c.n_out):
            c.prev_err[i] = c.prev_err[i] + c.err[i]


cdef void _neuron_update(f32* w, f32* m, f32* b, f32* mb, const f32* delta, f32 mu,
                         Py_ssize_t n) noexcept nogil:
    """A TNNetNeuron's UpdateWeights(mu) with a zero bias step: the bias
    keeps its inertia going, the weights take ``M = M * mu + D * (1 - mu)``
    (``W = W + D`` when mu <= 0)."""
    cdef Py_ssize_t i
    cdef f32 one_minus = (<f32>1) - mu
    if mu > 0:
        mb[0] = mb[0] * mu
        mb[0] = mb[0] + (<f32>0) * one_minus
        b[0] = b[0] + mb[0]
        for i in range(n):
            m[i] = m[i] * mu + delta[i] * one_minus
            w[i] = w[i] + m[i]
    else:
        for i in range(n):
            w[i] = w[i] + delta[i]
        b[0] = b[0] + <f32>0


cdef void _graph_forward(LayerC* c) noexcept nogil:
    cdef Py_ssize_t i, t, p, d, off, dl, x, y, positions
    cdef const f32* src = c.prev_out
    cdef f32 v, s, e, lo, hi, scale
    cdef uint32_t rate
    if c.kind == K_SUM:
        memcpy(c.out, c.lout[0], c.n_out * sizeof(f32))
        for t in range(1, c.nlinks):
            for i in range(c.n_out):
                c.out[i] = c.out[i] + c.lout[t][i]
    elif c.kind == K_CONCAT:
        off = 0
        for t in range(c.nlinks):
            memcpy(c.out + off, c.lout[t], c.lsize[t] * sizeof(f32))
            off += c.lsize[t]
    elif c.kind == K_DEEPCONCAT:
        positions = c.n_out // c.sd
        off = 0
        for t in range(c.nlinks):
            dl = c.lsize[t] // positions
            for p in range(positions):
                memcpy(c.out + p * c.sd + off, c.lout[t] + p * dl, dl * sizeof(f32))
            off += dl
    elif c.kind == K_DROPOUT:
        memcpy(c.out, src, c.n_out * sizeof(f32))
        if c.consts[1] != 0 and c.consts[0] > 0:
            rate = <uint32_t>c.consts[0]
            for i in range(c.n_out):
                c.mask[i] = 1
            for i in range(c.n_out):
                if _mt_below(c.rng, rate) == 0:
                    c.out[i] = 0
                    c.mask[i] = 0
    elif c.kind == K_LEAKY_RELU:
        for i in range(c.n_out):
            if src[i] > 0:
                c.out[i] = src[i]
                c.deriv[i] = 1
            else:
                c.out[i] = src[i] * c.consts[0]
                c.deriv[i] = c.consts[0]
    elif c.kind == K_RELU_L:
        lo, hi, scale = c.consts[0], c.consts[1], c.consts[2]
        for i in range(c.n_out):
            v = src[i]
            if v > hi:
                c.out[i] = hi + (v - hi) * scale
                c.deriv[i] = scale
            elif v > lo:
                c.out[i] = v
                c.deriv[i] = 1
            else:
                c.out[i] = lo + (v - lo) * scale
                c.deriv[i] = scale
    elif c.kind == K_SWISH:
        for i in range(c.n_out):
            s = (<f32>1) / ((<f32>1) + expf_cr(-src[i]))
            v = src[i] * s
            c.out[i] = v
            c.deriv[i] = v + s * ((<f32>1) - v)
    elif c.kind == K_SELU:
        for i in range(c.n_out):
            if src[i] >= 0:
                c.out[i] = c.consts[0] * src[i]
                c.deriv[i] = c.consts[0]
            else:
                e = c.consts[1] * expf_cr(src[i])
                c.out[i] = e - c.consts[1]
                c.deriv[i] = e
    elif c.kind == K_MOVING_STD:
        # weights [mean, standard deviation, count | bias]
        for i in range(c.n_out):
            c.out[i] = src[i] - c.wt[0]
        s = c.wt[1]
        if s > 0 and s != 1:
            for i in range(c.n_out):
                c.out[i] = c.out[i] / s
    elif c.kind == K_CHANNEL_STD:
        # weights [shift per channel | scale per channel | two biases]
        for p in range(c.n_out // c.sd):
            for d in range(c.sd):
                c.out[p * c.sd + d] = (src[p * c.sd + d] + c.wt[d]) * c.wt[c.sd + d]
    elif c.kind == K_AVGPOOL:
        _avgpool_forward(c)
    elif c.kind == K_MAXCHANNEL:
        for d in range(c.sd):
            c.out[d] = -1000000
        for y in range(c.sy):
            for x in range(c.sx):
                for d in range(c.sd):
                    v = src[(y * c.sx + x) * c.sd + d]
                    if v > c.out[d]:
                        c.out[d] = v
                        if c.amx != NULL:
                            c.amx[d] = <int>x
                            c.amy[d] = <int>y


cdef void _avgpool_forward(LayerC* c) noexcept nogil:
    """The original visits the input column by column (x outer, y inner),
    adding each cell into the window it falls in, from +0; then divides by
    the full window's cell count, also for a window clipped at the border."""
    cdef Py_ssize_t i, d, x, y, o
    cdef f32 cells = <f32>(c.fx * c.fy)
    for i in range(c.n_out):
        c.out[i] = 0
    for x in range(c.sx):
        for y in range(c.sy):
            o = ((y // c.fy) * c.ox + x // c.fx) * c.sd
            for d in range(c.sd):
                c.out[o + d] = c.out[o + d] + c.prev_out[(y * c.sx + x) * c.sd + d]
    for i in range(c.n_out):
        c.out[i] = c.out[i] / cells


cdef void _graph_backward(LayerC* c) noexcept nogil:
    cdef Py_ssize_t i, t, p, d, off, dl, x, y, o, positions
    cdef f32 biggest, a, s
    cdef f32* err = c.err
    if c.kind == K_SUM:
        # (ForceMaxOutputError, as a convolution's)
        biggest = pn_maxabs(err, c.n_out)
        if biggest > _CONV_MAX_ERROR:
            a = _CONV_MAX_ERROR / biggest
            for i in range(c.n_out):
                err[i] = err[i] * a
        if biggest > 0:
            for t in range(c.nlinks):
                if c.lpush[t]:
                    for i in range(c.n_out):
                        c.lerr[t][i] = c.lerr[t][i] + err[i]
    elif c.kind == K_CONCAT:
        # The original splits its error into the layers it reads by copying
        # (not adding): what another branch passed them first is lost.
        off = 0
        for t in range(c.nlinks):
            if c.lpush[t]:
                memcpy(c.lerr[t], err + off, c.lsize[t] * sizeof(f32))
            off += c.lsize[t]
    elif c.kind == K_DEEPCONCAT:
        positions = c.n_out // c.sd
        off = 0
        for t in range(c.nlinks):
            dl = c.lsize[t] // positions
            if c.lpush[t]:
                for p in range(positions):
                    for d in range(dl):
                        c.lerr[t][p * dl + d] = c.lerr[t][p * dl + d] + err[p * c.sd + off + d]
            off += dl
    elif c.kind == K_DROPOUT:
        if c.consts[1] != 0:
            for i in range(c.n_out):
                err[i] = err[i] * c.mask[i]
        _push(c)
    elif K_LEAKY_RELU <= c.kind <= K_SELU:
        for i in range(c.n_out):
            err[i] = err[i] * c.deriv[i]
        _push(c)
    elif c.kind == K_MOVING_STD:
        _moving_std_backward(c)
    elif c.kind == K_CHANNEL_STD:
        _channel_std_backward(c)
    elif c.kind == K_AVGPOOL:
        if not c.push_error:
            return
        s = <f32>(c.fx * c.fy)
        for i in range(c.n_out):
            err[i] = err[i] / s
        for x in range(c.sx):
            for y in range(c.sy):
                o = ((y // c.fy) * c.ox + x // c.fx) * c.sd
                for d in range(c.sd):
                    c.prev_err[(y * c.sx + x) * c.sd + d] = (
                        c.prev_err[(y * c.sx + x) * c.sd + d] + err[o + d])
    elif c.kind == K_MAXCHANNEL:
        if c.push_error:
            for d in range(c.sd):
                i = (c.amy[d] * c.sx + c.amx[d]) * c.sd + d
                c.prev_err[i] = c.prev_err[i] + err[d]


cdef void _moving_std_backward(LayerC* c) noexcept nogil:
    """Learns the input's mean and standard deviation as moving averages
    (the one neuron's UpdateWeights(0.99)), then scales the error down by
    the standard deviation it had before, when above 1."""
    cdef Py_ssize_t i, n = c.n_out
    cdef const f32* x = c.prev_out
    cdef f32 size = <f32>n, total, sqr, std = c.wt[1]
    cdef f32 delta[3]
    sqr = x[0] * x[0]
    for i in range(1, n):
        sqr = sqr + x[i] * x[i]
    total = x[0]
    for i in range(1, n):
        total = total + x[i]
    delta[2] = (<f32>0) + (<f32>1)
    delta[0] = (<f32>0) + total / size
    delta[1] = (<f32>0) + _sqrtf(sqr / size)
    _neuron_update(c.wt, c.mwt, c.wt + 3, c.mwt + 3, delta, <f32>0.99, 3)
    if std > 1:
        for i in range(n):
            c.err[i] = c.err[i] / std
    _push(c)


cdef void _channel_std_backward(LayerC* c) noexcept nogil:
    """The scale neuron learns towards unit standard deviation per channel
    (100 times slower than the shift), the error is scaled by the new scale
    capped at 1, then the shift neuron learns towards zero mean."""
    cdef Py_ssize_t p, d, D = c.sd, positions = c.n_out // c.sd
    cdef f32 size = <f32>positions, lr = c.hyper[0], mu = c.hyper[1], step
    cdef f32* aux = c.aux
    cdef f32* delta = c.lrd
    cdef f32* shift = c.wt
    cdef f32* scale = c.wt + D
    for d in range(D):
        aux[d] = 0
    for p in range(positions):
        for d in range(D):
            aux[d] = aux[d] + c.out[p * D + d] * c.out[p * D + d]
    step = pn_std_step(lr, size)
    for d in range(D):
        aux[d] = aux[d] / size
        aux[d] = _sqrtf(aux[d])
        aux[d] = aux[d] + (<f32>-1)
        delta[d] = (<f32>0) + aux[d] * step
    _neuron_update(scale, c.mwt + D, c.wt + 2 * D + 1, c.mwt + 2 * D + 1, delta, mu, D)
    if c.push_error:
        for d in range(D):
            aux[d] = scale[d] if scale[d] < 1 else <f32>1
        for p in range(positions):
            for d in range(D):
                c.err[p * D + d] = c.err[p * D + d] * aux[d]
    for d in range(D):
        aux[d] = 0
    for p in range(positions):
        for d in range(D):
            aux[d] = aux[d] + c.out[p * D + d]
    step = (-lr) / size
    for d in range(D):
        delta[d] = (<f32>0) + aux[d] * step
    _neuron_update(shift, c.mwt, c.wt + 2 * D, c.mwt + 2 * D, delta, mu, D)
    _push(c)


# ------------------------------------------------------- batched (rows) --

def graph_rows(int kind, const f32[:, ::1] X, f32[:, ::1] Y, geometry=None, consts=None,
               params=None):
    """``Y[r]`` = the per-sample forward of a single-input kind of this file
    (an activation, a normalisation, a pooling; not dropout, which draws)
    on row ``X[r]``: the same bits as ``compute``. ``geometry``, ``consts``
    and ``params`` as the Program takes them. ValueError when a size does
    not fit."""
    cdef LayerC c
    cdef Py_ssize_t r
    cdef f32* scratch = NULL
    memset(&c, 0, sizeof(LayerC))
    if not (K_LEAKY_RELU <= kind <= K_MAXCHANNEL):
        raise ValueError(f"graph_rows: kind {kind} is not a single-input kind of _graph.pxi")
    c.kind, c.n_in, c.n_out = kind, X.shape[1], Y.shape[1]
    if Y.shape[0] != X.shape[0] or c.n_out < 1:
        raise ValueError(f"graph_rows: {X.shape[0]} inputs but {Y.shape[0]} outputs of "
                         f"{c.n_out} values")
    if _is_elementwise(kind) and c.n_in != c.n_out:
        raise ValueError(f"graph_rows: an element-wise kind maps {c.n_in} values to {c.n_in}")
    if kind in CONSTS:
        _expect(consts, CONSTS[kind], 0, "constants")
        c.consts = _ptr(consts)
    if kind == K_MOVING_STD:
        _expect(params, 4, 0, "parameter")
        c.wt = _ptr(params)
    if kind == K_CHANNEL_STD:
        c.sd = _channels(geometry, c.n_out, 0)
        _expect(params, 2 * c.sd + 2, 0, "parameter")
        c.wt = _ptr(params)
    if _is_pool(kind):
        _geometry(&c, "graph_rows", geometry, 0, True)
    if X.shape[0] == 0:
        return
    scratch = <f32*>malloc(c.n_out * sizeof(f32))
    if scratch == NULL:
        raise MemoryError()
    c.deriv = c.raw = scratch
    with nogil:
        for r in range(X.shape[0]):
            c.prev_out = &X[r, 0]
            c.out = &Y[r, 0]
            _graph_forward(&c)
    free(scratch)
