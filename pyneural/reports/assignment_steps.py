"""Gradient-guided assignment steps: re-solve a hidden layer's whole
assignment on the barrier's first-order change.

Swap refinement (``refinement``) tries one pair of units at a time; at
paper scale (784-512x3-10) one evaluation costs tens of milliseconds and a
pass has hundreds of candidates, so it cannot pay. A step here moves many
units at once:

1. take the interpolated net at the alpha where the loss on the samples
   peaks, and back-propagate that loss to its weights;
2. for one hidden layer, ``C[i, j]`` is the first-order change of that loss
   when B's unit j takes A's position i (its incoming row and bias in the
   layer, its column in the next layer, the neighbours' permutations as
   they are);
3. solve the assignment that minimises ``C`` minus a bonus on the current
   pairs (a proximity term: a larger bonus, a smaller move), and keep the
   new permutation if it lowers the loss at that alpha (one forward pass).

A step does this for every hidden layer in turn, then measures the whole
curve: a step that did not lower the barrier on the samples is undone and
ends the search, as does one that gains less than ``MIN_GAIN`` of the
starting barrier, or ``STEP_LIMIT`` steps. A layer's move is judged at the
peak alone and the curve measured once per step: that takes half the
forward passes of checking every alpha for every move. Only for stacks of
fully-connected ReLU / linear layers (the gradient is written for them).
"""
import numpy as np

from . import interpolation as interp
from . import symmetry
from .matching import hungarian
from .refinement import MARGIN, RefinementStats

STEP_LIMIT = 8
# Proximity bonuses tried in turn, in standard deviations of C: a large
# bonus keeps the move small (too large and no unit moves), a smaller one
# lets more units move when the first finds nothing (values measured in
# docs/notes/2026-11-30-paper-scale-default.md).
BONUSES = (3.0, 1.0)
# Stop after a step that lowers the barrier by less than this share of the
# barrier the steps started from.
MIN_GAIN = 0.02


def supported(net):
    """True when every layer after the input is a fully-connected ReLU or
    linear layer (what the gradient below is written for)."""
    return all(l.has_weights and not symmetry.is_conv(l) and l.activation in ("relu", "identity")
               for l in net.layers[1:])


def _gradients(net, X, Y):
    """Gradients of the live net's mean loss on (X, Y) with respect to each
    trainable layer's (rows, bias), in net-layer order."""
    layers = net.layers[1:]
    hs, zs = [X], []
    for layer in layers:
        zs.append(layer.pre_activation(hs[-1]))
        hs.append(layer.activate(zs[-1]))
    dz = (hs[-1] - Y) / np.float32(Y.shape[1] * len(X))
    grads = [None] * len(layers)
    for t in range(len(layers) - 1, -1, -1):
        if layers[t].activation == "relu":
            dz = dz * (zs[t] > 0)
        # A suppressed bias takes no part in the forward pass: no gradient.
        gb = np.zeros(layers[t].neurons, dz.dtype) if layers[t].suppress_bias else dz.sum(axis=0)
        grads[t] = (dz.T @ hs[t], gb)
        if t:
            dz = dz @ layers[t].weights
    return grads


class _Barrier:
    """Interior losses of the path from A to a candidate B' on the samples."""

    def __init__(self, net, snap_a, X, Y, k, endpoint_max):
        self.net, self.snap_a, self.X, self.Y = net, snap_a, X, Y
        self.alphas = interp.alphas(k)[1:-1]
        self.floor = endpoint_max
        self.evaluations = 0

    def loss(self, snap, alpha):
        self.evaluations += 1
        self.net.interpolate(self.snap_a, snap, alpha)
        return interp.mean_loss(self.net.compute_batch(self.X), self.Y)

    def losses(self, snap):
        return np.array([self.loss(snap, a) for a in self.alphas])


def assignment_steps(net, snap_a, snap_b, hidden_list, perms, X, Y, k, *, steps=STEP_LIMIT):
    """Improve ``perms`` by gradient-guided assignment steps on (X, Y).

    Parameters
    ----------
    net : TNNet
        A work net of the architecture (its weights are overwritten).
    snap_a, snap_b : snapshots of A and of the unaligned B.
    hidden_list, perms : the hidden layers and their starting permutations.
    X, Y : the samples the barrier is lowered on.
    k : interpolation intervals, as in the reports.
    steps : int
        Most steps (one step tries every hidden layer once).

    Returns
    -------
    (perms, RefinementStats) with ``moves="assignment steps"``: ``accepted``
    and ``tried`` count layer re-assignments, ``passes`` steps. The barrier
    on (X, Y) never increases.
    """
    perms = [np.array(p) for p in perms]
    cur = symmetry.permute_all(net, snap_b, hidden_list, perms)
    curve = interp.sweep(net, snap_a, cur, X, Y, k, exact=False)
    stats = RefinementStats(barrier_before=curve.barrier, barrier_after=curve.barrier,
                            moves="assignment steps",
                            reason=f"step limit ({steps}) reached")
    if curve.barrier <= interp.BARRIER_FLOOR or k < 2:
        stats.reason = "nothing to refine: " + (
            "no interior alphas (K=1)" if k < 2 else "the barrier is already at the floor")
        return perms, stats
    path = _Barrier(net, snap_a, X, Y, k, curve.endpoint_max)
    losses = curve.losses[1:-1].copy()
    start = curve.barrier
    for stats.passes in range(1, steps + 1):
        before, undo = losses, (cur, [p.copy() for p in perms], stats.accepted)
        peak = int(np.argmax(losses))
        alpha, at_peak = path.alphas[peak], losses[peak]
        for t, h in enumerate(hidden_list):
            net.interpolate(snap_a, cur, alpha)
            g = _gradients(net, X, Y)
            (gw, gb), (gn, _) = g[h.index - 1], g[h.next_index - 1]
            rows, bias = symmetry.rows(net, cur, h.index), symmetry.bias(net, cur, h.index)
            nxt = symmetry.rows(net, cur, h.next_index)
            C = alpha * (gw @ rows.T + np.outer(gb, bias) + gn.T @ nxt)
            for bonus in BONUSES:
                q = hungarian(-C + bonus * float(np.std(C)) * np.eye(h.width))
                if symmetry.is_identity(q):
                    continue
                stats.tried += 1
                cand = symmetry.permute(net, cur, h, q)
                loss = path.loss(cand, alpha)
                if loss < at_peak - MARGIN:
                    cur, at_peak, perms[t] = cand, loss, perms[t][q]
                    stats.accepted += 1
                    break
        losses = path.losses(cur)
        if not losses.max() < before.max() - MARGIN:
            cur, perms, stats.accepted = undo
            losses = before
            stats.reason = "a step did not lower the barrier (undone)"
            break
        if before.max() - losses.max() < MIN_GAIN * start:
            stats.reason = (f"a step lowered the barrier by less than {MIN_GAIN:.0%} of the "
                            "start's")
            break
    stats.evaluations = path.evaluations
    stats.barrier_after = max(0.0, float(np.float32(losses.max()) - np.float32(path.floor)))
    return perms, stats
