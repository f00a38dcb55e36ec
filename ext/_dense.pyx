# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# cython: language_level=3
"""Per-sample forward / backward / update of a dense TNNet, bit-exact with
the Pascal original (SEMANTICS.md sections 3 and 3e).

A `Program` is the net's layer chain compiled to C structs of pointers into
the layers' numpy buffers, so that `compute` and `backpropagate` cost one
call each, whatever the depth. A fully-connected layer's weights live
transposed, `WT[j, n]` = weight j of neuron n, so the forward dot products
run across neurons in contiguous memory while each neuron still sums its
products in the original order j = 0, 1, ... (vectorising across neurons
changes no bits; reassociating within one neuron would).
"""

from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy, memset

include "_activations.pxi"

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

KINDS = {
    "input": K_INPUT, "fc_linear": K_FC_LINEAR, "fc_relu": K_FC_RELU,
    "fc_tanh": K_FC_TANH, "fc_sigmoid": K_FC_SIGMOID, "relu": K_RELU,
    "sigmoid": K_SIGMOID, "tanh": K_TANH, "identity": K_IDENTITY,
    "softmax": K_SOFTMAX,
}


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


cdef inline f32* _ptr(object a):
    cdef f32[::1] mv
    if a is None:
        return NULL
    mv = a
    if mv.shape[0] == 0:
        return NULL
    return &mv[0]


cdef class Program:
    """The compiled layer chain of one TNNet.

    Built from one tuple per layer:
    ``(kind, flag, push_error, n_in, n_out, params, momentum, out, raw, err,
    deriv, hyper)``; absent buffers are None. The arrays must stay alive and
    unmoved while the program exists: it keeps references to them.
    """
    cdef LayerC* L
    cdef Py_ssize_t count
    cdef list keep

    def __cinit__(self, list specs):
        cdef Py_ssize_t i, n, n_in, n_out
        cdef LayerC* c
        self.count = len(specs)
        self.keep = specs
        self.L = <LayerC*>calloc(max(self.count, 1), sizeof(LayerC))
        if self.L == NULL:
            raise MemoryError()
        for i in range(self.count):
            kind, flag, push, nin, nout, params, mom, out, raw, err, deriv, hyper = specs[i]
            n_in, n_out = nin, nout
            c = &self.L[i]
            c.kind = kind
            c.flag = flag
            c.push_error = push
            c.n_in = n_in
            c.n_out = n_out
            c.out = _ptr(out)
            c.raw = _ptr(raw)
            c.err = _ptr(err)
            c.deriv = _ptr(deriv)
            c.hyper = _ptr(hyper)
            if params is not None:
                c.wt = _ptr(params)
                c.bias = c.wt + n_in * n_out
                c.mwt = _ptr(mom)
                c.mbias = c.mwt + n_in * n_out
            if i > 0:
                c.prev_out = self.L[i - 1].out
                c.prev_err = self.L[i - 1].err
            n = max(n_out, 1)
            c.d = <f32*>malloc(n * sizeof(f32))
            c.val = <f32*>malloc(n * sizeof(f32))
            c.idx = <Py_ssize_t*>malloc(n * sizeof(Py_ssize_t))
            if c.d == NULL or c.val == NULL or c.idx == NULL:
                raise MemoryError()

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self.L != NULL:
            for i in range(self.count):
                free(self.L[i].d)
                free(self.L[i].val)
                free(self.L[i].idx)
            free(self.L)

    def forward(self, const f32[::1] x):
        """Copy `x` into the input layer and run every layer's forward."""
        with nogil:
            memcpy(self.L[0].out, &x[0], self.L[0].n_out * sizeof(f32))
            self._forward()

    def backward(self, const f32[::1] target):
        """Backpropagate ``output - target`` and update every layer online."""
        with nogil:
            self._backward(&target[0])

    def forward_many(self, const f32[:, ::1] X, f32[:, ::1] Y):
        """Row by row: the exact per-sample forward of each row of X into Y."""
        cdef Py_ssize_t r, n_in = self.L[0].n_out, last = self.count - 1
        cdef Py_ssize_t n_out = self.L[last].n_out
        with nogil:
            for r in range(X.shape[0]):
                memcpy(self.L[0].out, &X[r, 0], n_in * sizeof(f32))
                self._forward()
                memcpy(&Y[r, 0], self.L[last].out, n_out * sizeof(f32))

    def train_many(self, const f32[:, ::1] X, const f32[:, ::1] T):
        """Per row: forward, then backpropagate against the row of T."""
        cdef Py_ssize_t r, n_in = self.L[0].n_out
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
        i = self.count - 1
        while i >= 1:
            _layer_backward(&self.L[i])
            i -= 1


cdef inline Py_ssize_t _err_size(LayerC* c) noexcept nogil:
    # The input layer's error buffer is full size only when it collects error.
    if c.kind == K_INPUT and not c.flag:
        return 1
    return c.n_out


cdef void _fc_forward(LayerC* c) noexcept nogil:
    cdef Py_ssize_t j, n, n_in = c.n_in, n_out = c.n_out
    cdef f32* acc = c.out if c.kind == K_FC_LINEAR else c.raw
    cdef const f32* row
    cdef const f32* x = c.prev_out
    cdef f32 xj
    for n in range(n_out):
        acc[n] = 0
    for j in range(n_in):
        xj = x[j]
        row = c.wt + j * n_out
        for n in range(n_out):
            acc[n] = acc[n] + row[n] * xj
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
    cdef f32* w
    cdef f32* m
    cdef f32 xj
    for n in range(n_out):
        v[n] = c.d[n] * one_minus
    if all_neurons:
        for j in range(n_in):
            xj = x[j]
            w = c.wt + j * n_out
            m = c.mwt + j * n_out
            for n in range(n_out):
                m[n] = m[n] * mu + xj * v[n]
                w[n] = w[n] + m[n]
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
    cdef Py_ssize_t j, t, n_out = c.n_out
    cdef f32 acc
    cdef const f32* row
    if k == 0:
        return
    for j in range(c.n_in):
        acc = c.prev_err[j]
        row = c.wt + j * n_out
        for t in range(k):
            acc = acc + row[c.idx[t]] * c.val[t]
        c.prev_err[j] = acc


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
