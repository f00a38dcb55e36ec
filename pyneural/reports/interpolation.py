"""The whole-net linear path theta(alpha) = (1 - alpha) * A + alpha * B.

One implementation serves every report: the loss and accuracy at K+1
evenly spaced alphas, and the barrier ``max L(alpha) - max(L(0), L(1))``
(Frankle et al. 2020). Numbers follow the original: alphas ``i / K`` in
float32 (first and last exactly 0 and 1), weights blended in float32 by the
volume kernel, per-sample loss ``0.5 * sum((out - t)^2) / n_outputs`` summed
in order in float32, accuracy = argmax agreement.
"""
import functools
import numbers
from dataclasses import dataclass

import numpy as np

from ..volume import TNNetVolume

# Below this many multiply-adds per pass the exact per-sample kernel is
# cheap; above it the numpy GEMM chain (equal to ~1e-6) keeps big reports fast.
EXACT_WORK_LIMIT = 4e7

_F32 = np.float32
# A barrier at or below this is no barrier (float32 noise of the losses).
BARRIER_FLOOR = 1e-6
# The reports' K (intervals of the path, K+1 points), as in the original.
DEFAULT_K = 10


def use_exact(net, n_samples, exact="auto"):
    """Resolve ``exact="auto"`` for a net and a sample count. ValueError for
    anything but True, False or "auto" (``exact="no"`` must not mean True)."""
    if isinstance(exact, str) and exact == "auto":
        return net.count_weights() * n_samples <= EXACT_WORK_LIMIT
    if isinstance(exact, (bool, np.bool_)):
        return bool(exact)
    raise ValueError(f"exact must be True, False or 'auto', got {exact!r}")


def check_flag(value, name):
    """``value`` as a bool: True or False (numpy's too) only. ValueError
    naming ``name`` for anything else, as ``use_exact`` for ``exact``:
    ``repair="no"`` must not mean True."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def outputs(net, X, exact):
    """The net's outputs on every row of X (exact per-sample, or batched)."""
    return net.compute_batch(X, exact=exact)


def loss_per_sample(out, Y):
    """``0.5 * sum_j (out_j - y_j)^2 / n_outputs`` per row, in float32,
    summing the outputs of a sample in order."""
    d = (out - Y).astype(_F32)
    sq = d * d
    s = np.zeros(len(Y), _F32)
    for j in range(Y.shape[1]):
        s += sq[:, j]
    return _F32(0.5) * s / _F32(Y.shape[1])


def mean_loss(out, Y):
    """The average of ``loss_per_sample``, summed over samples in order."""
    per = loss_per_sample(out, Y)
    return float(np.cumsum(per, dtype=_F32)[-1] / _F32(len(per)))


def accuracy(out, Y):
    """Fraction of rows whose largest output is the largest target (first max)."""
    return float(np.mean(np.argmax(out, axis=1) == np.argmax(Y, axis=1)))


# The most intervals a curve may have: each point is a forward pass over the
# samples and a printed line, so a K in the millions is a typo that would run
# for hours (or exhaust memory), not a finer curve.
MAX_K = 10_000


def intervals(k):
    """The number of intervals K of a report's path from the user's ``k``:
    an integer, below 1 raised to 1 as the original does. TypeError for
    anything else (a float, a string, a bool), ValueError above ``MAX_K``."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k (interpolation intervals) must be an integer, got {k!r}")
    k = max(1, int(k))
    if k > MAX_K:
        raise ValueError(f"k = {k} interpolation intervals is more than the {MAX_K} a path "
                         f"may have")
    return k


def alphas(k):
    """``i / K`` in float32 for i = 0..K, the last exactly 1."""
    a = np.arange(k + 1, dtype=_F32) / _F32(k)
    a[0], a[-1] = 0, 1
    return a


@dataclass
class Curve:
    """Loss and accuracy along the path. ``losses[i]`` is L(alphas[i])."""
    alphas: np.ndarray
    losses: np.ndarray
    accuracies: np.ndarray

    @property
    def finite(self):
        """True when every loss on the path is finite."""
        return bool(np.all(np.isfinite(self.losses)))

    @property
    def endpoint_max(self):
        """max(L(0), L(1))."""
        return float(max(self.losses[0], self.losses[-1]))

    @property
    def peak_index(self):
        """Index of the first largest loss."""
        return int(np.argmax(self.losses))

    @property
    def peak(self):
        """The largest loss on the path."""
        return float(self.losses[self.peak_index])

    @property
    def barrier(self):
        """max L - max(L(0), L(1)), in float32 like the original."""
        return float(_F32(self.losses.max()) - _F32(self.endpoint_max))

    def to_dict(self):
        """The curve as plain lists and floats, with its barrier and endpoint max."""
        return {"alphas": self.alphas.tolist(), "losses": self.losses.tolist(),
                "accuracies": self.accuracies.tolist(), "barrier": self.barrier,
                "endpoint_max": self.endpoint_max}


class BeforeAfter:
    """For results with ``pre`` and ``post`` Curves (before / after
    alignment): their barriers and the fraction removed."""

    @property
    def pre_barrier(self):
        """The barrier before alignment (nan without a ``pre`` curve)."""
        return self.pre.barrier if self.pre else float("nan")

    @property
    def post_barrier(self):
        """The barrier after alignment (nan without a ``post`` curve)."""
        return self.post.barrier if self.post else float("nan")

    @property
    def reduction(self):
        """Fraction of the pre-alignment barrier removed (nan without one)."""
        pre = self.pre_barrier
        return (pre - self.post_barrier) / pre if pre > BARRIER_FLOOR else float("nan")


def sweep(net, snap_a, snap_b, X, Y, k, exact=True, endpoint_outputs=False):
    """Evaluate the path from ``snap_a`` to ``snap_b`` on (X, Y) at K+1 alphas.

    ``net``'s weights are overwritten: pass a work copy (``clone()``), never
    the user's net.

    Returns
    -------
    Curve, or (Curve, out0, out1) with the outputs at alpha 0 and 1 when
    ``endpoint_outputs``.
    """
    al = alphas(k)
    losses = np.empty(len(al), np.float64)
    accs = np.empty(len(al), np.float64)
    ends = {}
    for i, a in enumerate(al):
        net.interpolate(snap_a, snap_b, a)
        out = outputs(net, X, exact)
        losses[i], accs[i] = mean_loss(out, Y), accuracy(out, Y)
        if i in (0, len(al) - 1):
            ends[i] = out
    curve = Curve(al, losses, accs)
    if endpoint_outputs:
        return curve, ends[0], ends[len(al) - 1]
    return curve



def work_copy(net):
    """A private copy of ``net`` for a report to compute on: its layers and
    weights (``net.clone()``), with every dropout layer disabled. The
    reports measure the function a net computes: a loaded net's dropout is
    on (as the original's loader leaves it), and each pass would drop
    other values (random numbers, drawn from the net's generator, which
    would move). ``net`` itself is not changed."""
    copy = net.clone()
    copy.enable_dropouts(False)
    return copy


def is_net(item):
    """True for a TNNet (anything with layers and snapshots), without
    importing the net module."""
    return hasattr(item, "snapshot") and hasattr(item, "layers")


def first_net(items, who):
    """The first TNNet among ``items``: it gives the architecture of a
    computation on several nets. TypeError naming ``who`` when there is none."""
    for item in items:
        if is_net(item):
            return item
    raise TypeError(f"{who} needs at least one TNNet among the nets (it gives the "
                    "architecture); the others may be snapshots or data-only .nn texts")


def endpoint_snapshot(net, b, names=("A", "B")):
    """Endpoint B as a snapshot of ``net``'s architecture.

    ``b`` may be another TNNet, ``save_data_to_string()`` text (as in
    Pascal: weights only) or a snapshot list; a path or a whole `.nn` text
    is made a net before a report is called (``pyneural.io.as_net``, at the
    public entry points). Raises ArchitectureError (a ValueError) naming
    the first layer that differs (``names``: what it calls ``net`` and
    ``b``): a whole net must match in every layer, activations included.
    """
    if is_net(b):
        with b.lock:                     # the layers checked are the ones copied
            net.check_same_architecture(b, names)
            return b.snapshot()
    if isinstance(b, str):
        return net.snapshot_from_string(b.strip())
    if not isinstance(b, (list, tuple)):
        raise TypeError(f"endpoint B must be a TNNet, data-only .nn text or a snapshot (a "
                        f"list of arrays), got {type(b).__name__}")
    snap = [v if isinstance(v, TNNetVolume) else TNNetVolume(v) for v in b]
    net._check_snapshot(snap)
    return snap


def output_drift(net, reference, snap, X, exact):
    """Largest ``|output|`` difference between ``reference`` outputs and the
    net with ``snap``'s weights on X (inf when anything is not finite).
    Overwrites ``net``'s weights: pass a work copy."""
    net.restore(snap)
    with np.errstate(invalid="ignore"):
        out = outputs(net, X, exact)
        d = float(np.max(np.abs(out - reference))) if out.size else 0.0
    return d if np.isfinite(d) else float("inf")


def non_finite_layers(snap):
    """Indices of the layers whose parameters hold NaN or infinity."""
    return [i for i, v in enumerate(snap) if v.size and not np.all(np.isfinite(v.data))]


def quiet(function):
    """``function`` run with numpy's floating-point warnings off. NaN or Inf
    weights or samples reach every report on purpose: a NON-FINITE verdict
    naming the net, failed checks; numpy's RuntimeWarnings on the way (a
    NaN row normalised, an Inf times 0 in a product) would only repeat it
    from inside numpy, as the command line already keeps them quiet."""
    @functools.wraps(function)
    def run(*args, **kwargs):
        with np.errstate(all="ignore"):
            return function(*args, **kwargs)
    return run


def describe_non_finite(snap_a, snap_b, *more, names=("A", "B")):
    """'A has NaN/Inf weights in layer 2; ...' or '' when all are finite;
    ``names`` labels the snapshots (A and B, or one per snapshot given)."""
    parts = [f"{name} has NaN/Inf weights in layer{'s' if len(bad) > 1 else ''} "
             + ", ".join(map(str, bad))
             for name, bad in ((name, non_finite_layers(s))
                               for name, s in zip(names, (snap_a, snap_b) + more))
             if bad]
    return "; ".join(parts)
