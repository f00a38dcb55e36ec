"""Rows 1-3 of the speed table: the per-sample kernels and the batched forward.

Every row checks, outside the timed part, that what it timed computes the
right thing (bits for the exact paths, 1e-5 for the BLAS path), so a fast
but wrong path cannot show up as a good figure.
"""

import numpy as np

import pyneural as pn
from pyneural import rng, toy

from .harness import Result


def dense_net(sizes, seed=1, hidden=pn.TNNetFullConnectReLU, last=pn.TNNetFullConnectLinear):
    """Input(sizes[0]) -> hidden(sizes[1]) ... -> last(sizes[-1]), weights
    drawn after ``rng.set_seed(seed)`` as in the Pascal examples."""
    rng.set_seed(seed)
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(sizes[0], 1, 1))
    for width in sizes[1:-1]:
        net.add_layer(hidden(width))
    net.add_layer(last(sizes[-1]))
    return net


def numpy_weights(net):
    """Plain float32 copies ``[(W^T, b), ...]`` for the numpy references."""
    return [(np.ascontiguousarray(l.weights.T).copy(), l.bias.copy())
            for l in net.trainable_layers()]


def _params_bits(net):
    return b"".join(l.params.data.tobytes() + l.momentum.data.tobytes()
                    for l in net.trainable_layers())


# ------------------------------------------------------------------ row 1 --
def per_sample_training(ctx):
    """``net.compute(x); net.backpropagate(y)`` from Python, one sample at a
    time, on the examples' 2-12-12-3 net (toy.build_net), volumes as input."""
    n = 6000 if ctx.quick else 30000
    rng.set_seed(11)
    X, Y = toy.make_samples(np.tile(np.arange(3), n // 3))
    pairs = toy.to_pair_list(X, Y)
    rng.set_seed(101)
    net = toy.build_net()

    def epoch():
        for pair in pairs:
            net.compute(pair.i)
            net.backpropagate(pair.o)

    t = ctx.median_time(epoch)
    res = Result(len(pairs) / t.wall, timing=t)

    # Bit-exactness of the timed path: a fresh net trained by the same
    # per-sample calls equals fit_samples (one kernel call) bit for bit.
    m = 3000
    rng.set_seed(101)
    a = toy.build_net()
    for pair in pairs[:m]:
        a.compute(pair.i)
        a.backpropagate(pair.o)
    rng.set_seed(101)
    b = toy.build_net()
    b.fit_samples(X[:m], Y[:m])
    same = _params_bits(a) == _params_bits(b)
    res.notes.append(f"{len(pairs)} samples per repetition (TNNetVolume pairs); per-sample calls "
                     f"{'==' if same else '!='} fit_samples bit for bit")
    if not same:
        res.status = "WRONG BITS"
    return res


# ------------------------------------------------------------------ row 2 --
def per_sample_forward(ctx):
    """``net.compute(x)`` per sample on 2-512-512-10 (ReLU, ReLU, Linear)
    against a plain numpy matvec loop over the same float32 weights."""
    n = 800 if ctx.quick else 2000
    net = dense_net((2, 512, 512, 10))
    X = np.random.default_rng(0).standard_normal((n, 2)).astype(np.float32)
    xs = list(X)                        # contiguous float32 rows: the no-copy path
    (W1, b1), (W2, b2), (W3, b3) = numpy_weights(net)

    def ours():
        compute = net.compute
        for x in xs:
            compute(x)

    def numpy_loop():
        for x in xs:
            h = np.maximum(x @ W1 + b1, 0)
            h = np.maximum(h @ W2 + b2, 0)
            h @ W3 + b3

    t_ours, t_np = ctx.median_times_interleaved([ours, numpy_loop])
    res = Result(n / t_ours.wall, reference=n / t_np.wall, reference_label="numpy matvec loop",
                 timing=t_ours)

    exact = net.compute_batch(X[:200], exact=True)
    got = np.stack([net.compute(x).data.copy() for x in xs[:200]])
    ref = np.maximum(np.maximum(X[:200] @ W1 + b1, 0) @ W2 + b2, 0) @ W3 + b3
    same = got.view(np.uint32).tobytes() == exact.view(np.uint32).tobytes()
    res.notes.append(f"{n} inputs per repetition; compute == compute_batch(exact=True) bit for "
                     f"bit: {'yes' if same else 'NO'}; max |compute - numpy| = "
                     f"{np.abs(got - ref).max():.1e}")
    res.notes.append(f"CPU time {1e6 * t_ours.cpu / n:.1f} us per compute "
                     f"({n / t_ours.cpu:,.0f} /s counting only time on a core; the table's "
                     "figure is wall time)")
    if not same:
        res.status = "WRONG BITS"
    return res


# ------------------------------------------------------------------ row 3 --
def batched_forward(ctx):
    """``net.compute_batch(X)`` for 100k inputs on 2-512-512-10 against the
    plain numpy float32 GEMM chain ``np.maximum(X @ W1 + b1, 0) ...``."""
    n = 20000 if ctx.quick else 100000
    net = dense_net((2, 512, 512, 10))
    X = np.random.default_rng(1).standard_normal((n, 2)).astype(np.float32)
    (W1, b1), (W2, b2), (W3, b3) = numpy_weights(net)

    def numpy_chain(X):
        return np.maximum(np.maximum(X @ W1 + b1, 0) @ W2 + b2, 0) @ W3 + b3

    t_ours, t_np = ctx.median_times_interleaved(
        [lambda: net.compute_batch(X), lambda: numpy_chain(X)], reps=3 if ctx.quick else 5)
    res = Result(n / t_ours.wall, reference=n / t_np.wall, reference_label="numpy GEMM chain",
                 timing=t_ours)
    diff = float(np.abs(net.compute_batch(X[:5000]) - numpy_chain(X[:5000])).max())
    exact = net.compute_batch(X[:500], exact=True)
    diff_exact = float(np.abs(net.compute_batch(X[:500]) - exact).max())
    res.notes.append(f"{n:,} inputs per call; max |compute_batch - numpy| = {diff:.1e}, "
                     f"max |compute_batch - exact per-sample| = {diff_exact:.1e}")
    if diff_exact > 1e-5:
        res.status = "WRONG VALUES"
    return res
