"""Barrier-aware refinement: swap pairs of units to lower the barrier itself.

Matching scores are proxies; the barrier is the goal. Starting from any
permutations, this local search tries swapping two positions of one hidden
layer of the aligned B and keeps the swap when the interpolated loss peak on
the samples drops (or, at an equal peak, when the whole curve drops). It is
deterministic (candidates in a fixed order) and bounded by an evaluation
budget.

What keeps it fast:
- B's endpoint is the same function under any permutation, so only the
  interior alphas are evaluated;
- a candidate that does not lower the loss at the current peak alpha cannot
  lower the barrier, so most candidates cost one evaluation, not K-1;
- an evaluation is incremental. Swapping units i and j of layer l changes
  two columns of that layer's output and is a rank-2 update of the next
  layer's pre-activation; only the layers after that are recomputed, from
  per-alpha caches of the interpolated weights and activations.
"""
import os
import sys
from dataclasses import dataclass

import numpy as np

from .._blocks import map_row_blocks
from ..volume import blend
from . import forward
from . import interpolation as interp
from . import symmetry
from .matching import cosine_scores
from .text import fixed

# Per layer and pass, the number of candidate swaps tried (the most
# plausible first); every pair when the layer is narrow enough.
MAX_CANDIDATES = 400
MAX_PASSES = 6
# A swap must lower the peak (or the curve's sum) by more than this: less is
# rounding noise of the batched forward pass, not an improvement.
MARGIN = 1e-9
# Channel swaps (a convolution's channels, a tied group, any group the
# swap search on the dense tail cannot reach): a swap changes every layer
# from the group's first producer on, so one evaluation is a forward pass
# of that part of the net. They run on CHANNEL_PROBES of the samples,
# evenly spread: at most CHANNEL_CANDIDATES per group (the most plausible
# first), in one pass, each kept when it lowers the loss where the path
# peaked; the swaps are kept when the barrier on those samples is lower.
# Measured on the residual and LeNet pairs of benchmarks.branches and
# benchmarks.conv_align (docs/benchmarks.md).
CHANNEL_PROBES = 48
CHANNEL_CANDIDATES = 90
_F32 = np.float32
_POOLING = ("maxpool", "avgpool", "maxchannel")


@dataclass
class RefinementStats:
    """What the search did: swaps ``accepted`` out of ``tried``, loss
    ``evaluations``, ``passes``, the barrier on the samples before and
    after, and why it stopped."""
    accepted: int = 0
    tried: int = 0
    evaluations: int = 0
    passes: int = 0
    barrier_before: float = float("nan")
    barrier_after: float = float("nan")
    reason: str = ""
    moves: str = "swaps"      # what ``accepted`` and ``tried`` count
    channel_accepted: int = 0     # channel swaps, on channel_probes of the samples
    channel_tried: int = 0
    channel_probes: int = 0
    channel_before: float = float("nan")     # the barrier on those samples
    channel_after: float = float("nan")

    def to_dict(self):
        """The fields as a dict."""
        return dict(self.__dict__)

    def summary(self):
        """One line: what was accepted and tried, the cost, why it stopped,
        the barrier on the samples before and after."""
        channels = (f"{self.channel_accepted} channel swaps accepted of {self.channel_tried} "
                    f"tried (barrier on {self.channel_probes} of the samples "
                    f"{fixed(self.channel_before, 6)} -> {fixed(self.channel_after, 6)}), "
                    if self.channel_probes else "")
        return (f"{channels}{self.accepted} {self.moves} accepted of {self.tried} tried, "
                f"{self.evaluations} loss evaluations, {self.passes} passes; {self.reason}; "
                f"barrier on samples {fixed(self.barrier_before, 6)} -> "
                f"{fixed(self.barrier_after, 6)}")


def _act(layers):
    """What a trainable layer's pre-activation goes through before the next
    trainable layer: its own activation, then the weightless layers
    (activations, pooling)."""
    def apply(h):
        """``h`` through each in turn (``h`` is not changed)."""
        h = layers[0].activate(h)
        for layer in layers[1:]:
            h = layer.forward_batch(h)
        return h
    return apply


class _Path:
    """Per-alpha caches of the interpolated net A(1-a) + B'a and its
    activations on X, with incremental evaluation of unit swaps in B'.

    Swaps change the layers from ``first`` (a net-layer index, default the
    first weighted layer) on, which must form a chain of unit layers and
    weightless layers, each reading the one before (``chain_from``); the
    *tail*. What comes before it (a conv net's convolutions, a residual
    net's blocks) is computed once per alpha. Layer numbers ``t`` below
    count the tail's weighted layers from 0."""

    def __init__(self, net, snap_a, snap_b, X, Y, k, first=None):
        self.net, self.X, self.Y = net, X, Y
        if first is None:
            first = next(i for i, l in enumerate(net.layers) if l.has_weights)
        self.trainable = [i for i in range(first, len(net.layers)) if net.layers[i].has_weights]
        self.layers = [net.layers[i] for i in self.trainable]
        bounds = self.trainable + [len(net.layers)]
        self.act = [_act(net.layers[i:j]) for i, j in zip(bounds, bounds[1:])]
        # A layer's tail is elementwise unless a softmax or a pooling sits in it.
        self.elementwise = [all(l.activation != "softmax" and l.kind not in _POOLING
                                for l in net.layers[i:j])
                            for i, j in zip(bounds, bounds[1:])]
        self.A = [self._wb(snap_a, i) for i in self.trainable]
        self.B = [self._wb(snap_b, i) for i in self.trainable]
        self.alphas = interp.alphas(k)[1:-1]
        self.evaluations = 0
        self.first = first
        self._reads = net.layers[first].prev         # the tail's input is this layer's output
        self._ends = [v.data for v in snap_a], [v.data for v in snap_b]
        self._heads = {}                             # the tail's input at alpha 0 and 1
        self.Z = self.H = None
        self.rebuild()

    def _wb(self, snap, index):
        """(W (neurons x fan_in), b) copies of one layer of a snapshot."""
        return (np.ascontiguousarray(symmetry.rows(self.net, snap, index)),
                symmetry.bias(self.net, snap, index).copy())

    def _mix(self, t, a):
        (wa, ba), (wb, bb) = self.A[t], self.B[t]
        return blend(wa, wb, a), blend(ba, bb, a)

    def rebuild(self):
        """Recompute every cache of the tail (also clears rounding drift)."""
        cached = self.H is not None
        W, Z, H, losses = [], [], [], []
        for idx, a in enumerate(self.alphas):
            Ws = [self._mix(t, a) for t in range(len(self.trainable))]
            head = self.H[idx][0] if cached else self._prefix(a)
            z, h = self._forward(Ws, [head], 0)
            W.append(Ws)
            Z.append(z)
            H.append(h)
            losses.append(interp.mean_loss(h[-1], self.Y))
        self.W, self.Z, self.H, self.losses = W, Z, H, np.array(losses)

    def _prefix(self, alpha):
        """The tail's input at ``alpha``: the layers before it (their
        weights blended as ``TNNet.interpolate`` does) as ``compute_batch``
        runs them."""
        if not self._reads:
            return self.X
        params = [blend(pa, pb, alpha) for pa, pb in zip(*self._ends)]
        return forward.by_rows(self.net, lambda rows: forward.walk(self.net, params, rows,
                                                                   self._reads), self.X)

    def _head(self, i):
        """The tail's input at alpha number ``i`` of the whole path (0..K)."""
        if 0 < i <= len(self.alphas):
            return self.H[i - 1][0]
        if i not in self._heads:
            self._heads[i] = self._prefix(_F32(1 if i else 0))
        return self._heads[i]

    def sweep(self, snap):
        """The curve of the path from A to ``snap`` on (X, Y), the same bits
        as ``interpolation.sweep``: ``snap`` is B' with other permutations
        of the tail's groups (the layers before the tail are the path's)."""
        ends = self._ends[0], [v.data for v in snap]
        al = interp.alphas(len(self.alphas) + 1)
        losses, accs = np.empty(len(al)), np.empty(len(al))
        for i, a in enumerate(al):
            params = [blend(pa, pb, a) if n >= self.first else None
                      for n, (pa, pb) in enumerate(zip(*ends))]
            out = forward.walk(self.net, params, {self._reads: self._head(i)}, start=self.first)
            losses[i], accs[i] = interp.mean_loss(out, self.Y), interp.accuracy(out, self.Y)
        return interp.Curve(al, losses, accs)

    def _forward(self, Ws, H, start, Z=None):
        """Forward from tail layer ``start`` given inputs H[start]."""
        Z = list(Z[:start]) if Z is not None else []
        H = list(H[: start + 1])
        for t in range(start, len(Ws)):
            Z.append(self.layers[t].pre_activation(H[t], *Ws[t]))
            H.append(np.ascontiguousarray(self.act[t](Z[t]), dtype=_F32))
        return Z, H

    def _swapped(self, l, i, j, a):
        """Interpolated rows (and biases) of layer l and columns of layer
        l + 1 for units i, j after swapping B' units i and j."""
        (wa, ba), (wb, bb) = self.A[l], self.B[l]
        wn_a, wn_b = self.A[l + 1][0], self.B[l + 1][0]
        return (blend(wa[[i, j]], wb[[j, i]], a), blend(ba[[i, j]], bb[[j, i]], a),
                blend(wn_a[:, [i, j]], wn_b[:, [j, i]], a))

    def _evaluate(self, idx, l, i, j):
        """The loss at alpha number ``idx`` with units i, j of layer l
        swapped, and what ``commit`` needs to make the swap permanent."""
        self.evaluations += 1
        Ws, Z, H = self.W[idx], self.Z[idx], self.H[idx]
        rows, bias, cols = self._swapped(l, i, j, self.alphas[idx])
        if not self.elementwise[l]:
            Ws = list(Ws)
            w, b = Ws[l][0].copy(), Ws[l][1].copy()
            w[[i, j]], b[[i, j]] = rows, bias
            wn = Ws[l + 1][0].copy()
            wn[:, [i, j]] = cols
            Ws[l], Ws[l + 1] = (w, b), (wn, Ws[l + 1][1])
            Z2, H2 = self._forward(Ws, H, l, Z)
            return interp.mean_loss(H2[-1], self.Y), ("full", Ws, Z2, H2)
        z_cols = self.layers[l].pre_activation(H[l], rows, bias)
        h_cols = self.act[l](z_cols)
        # The next layer loses the old columns' contribution and gains the
        # new one: a single rank-4 update.
        z_n = Z[l + 1] + np.hstack([h_cols, H[l + 1][:, [i, j]]]) @ \
            np.vstack([cols.T, -Ws[l + 1][0][:, [i, j]].T])
        h_n = np.ascontiguousarray(self.act[l + 1](z_n), dtype=_F32)
        tail_Z, tail_H = self._forward(Ws, list(H[: l + 2]) + [h_n], l + 2, list(Z[: l + 2]))
        return (interp.mean_loss(tail_H[-1], self.Y),
                ("cols", rows, bias, cols, z_cols, h_cols, z_n, tail_Z[l + 2:], tail_H[l + 2:]))

    def try_swap(self, l, i, j):
        """Per alpha (loss, update) if the swap is kept, or None when it
        cannot lower the peak (checked at the peak alpha first)."""
        peak = int(np.argmax(self.losses))
        first = self._evaluate(peak, l, i, j)
        if first[0] > self.losses[peak]:
            return None
        return [first if idx == peak else self._evaluate(idx, l, i, j)
                for idx in range(len(self.alphas))]

    def commit(self, l, i, j, results):
        """Make the swap permanent in B' and in every alpha's caches."""
        (w, b), (wn, _) = self.B[l], self.B[l + 1]
        w[[i, j]], b[[i, j]] = w[[j, i]], b[[j, i]]
        wn[:, [i, j]] = wn[:, [j, i]]
        for idx, (loss, update) in enumerate(results):
            self.losses[idx] = loss
            if update[0] == "full":
                self.W[idx], self.Z[idx], self.H[idx] = update[1:]
                continue
            rows, bias, cols, z_cols, h_cols, z_n, tail_Z, tail_H = update[1:]
            Ws, Z, H = self.W[idx], self.Z[idx], self.H[idx]
            Ws[l][0][[i, j]], Ws[l][1][[i, j]] = rows, bias
            Ws[l + 1][0][:, [i, j]] = cols
            Z[l][:, [i, j]], H[l + 1][:, [i, j]] = z_cols, h_cols
            Z[l + 1], H[l + 2] = z_n, tail_H[0]
            Z[l + 2:], H[l + 3:] = tail_Z, tail_H[1:]

    def end_activations(self, b=False):
        """Each tail layer's activations on X for endpoint weights (A's, or
        with ``b`` B' as the swaps have left it)."""
        return self._forward(self.B if b else self.A, [self._head(len(self.alphas) + 1 if b
                                                                  else 0)], 0)[1][1:]


def chain_from(net, candidates):
    """The first of ``candidates`` (net-layer indices) from which on the net
    is a chain the swap search can run on: every later layer reads the one
    before it, merges nothing and is a unit layer or weightless (no
    normalisation); None when there is none."""
    ok = len(net.layers)
    for i in range(len(net.layers) - 1, 0, -1):
        layer = net.layers[i]
        if (layer.input_indices() != (i - 1,) or layer.merges
                or (layer.has_weights and not symmetry.is_unit_layer(layer))):
            break
        ok = i
    return next((c for c in sorted(candidates) if c >= ok - 1), None)


def _candidate_swaps(path, acts_a, t, limit):
    """Position pairs (i, j) of hidden layer t, the most plausible swaps
    first: those that cost the least activation-cosine agreement between A
    and the current B' at the path's ends."""
    return _swap_order(cosine_scores(acts_a[t].T, path.end_activations(b=True)[t].T), limit)


def _swap_order(C, limit):
    """Position pairs (i, j), i < j, by the agreement a swap would cost
    (``C``: the cosines of A's units and B''s), the cheapest first."""
    C = np.asarray(C, np.float64)
    d = np.diag(C)
    cost = (d[:, None] + d[None, :]) - (C + C.T)
    i, j = np.triu_indices(C.shape[0], 1)
    order = np.lexsort((j, i, cost[i, j]))[:limit]
    return list(zip(i[order].tolist(), j[order].tolist()))


def _channel_swaps(net, snap_a, start, groups, perms, targets, X, Y, k, stats):
    """One pass of channel swaps over the groups ``targets`` (see
    CHANNEL_PROBES). Returns ``(B', perms)``: the start's when the swaps did
    not lower the barrier on the samples they ran on."""
    rows = np.unique(np.linspace(0, len(X) - 1, min(len(X), CHANNEL_PROBES)).round().astype(int))
    Xs, Ys = X[rows], Y[rows]
    stats.channel_probes = len(rows)
    curve = interp.sweep(net, snap_a, start, Xs, Ys, k, exact=False)
    stats.channel_before = stats.channel_after = curve.barrier
    if curve.barrier <= interp.BARRIER_FLOOR:
        return start, perms
    alpha, at = curve.alphas[curve.peak_index], curve.peak
    cur, new = start, [p.copy() for p in perms]
    ends = [v.data for v in snap_a]
    params = [blend(a, b.data, alpha) for a, b in zip(ends, cur)]
    producers = sorted({i for t in targets for i in groups[t].producers})
    acts_a = forward.outputs(net, snap_a, Xs, producers)
    acts_b = forward.outputs(net, cur, Xs, producers)
    for t in targets:
        g = groups[t]
        begin = min(g.producers)
        given = forward.walk(net, params, Xs, begin - 1, keep=forward.read_before(net, begin))
        C = cosine_scores(*(np.vstack([_unit_values(acts, net, i, u) for i, u in g.units.items()])
                            .T for acts in (acts_a, acts_b)))
        touched = set(g.units) | set(g.columns)
        for i, j in _swap_order(C, CHANNEL_CANDIDATES):
            swap = np.arange(g.width)
            swap[[i, j]] = j, i
            cand = symmetry.permute(net, cur, g, swap)
            trial = [blend(a, b.data, alpha) if n in touched else p
                     for n, (a, b, p) in enumerate(zip(ends, cand, params))]
            loss = interp.mean_loss(_walk_rows(net, trial, given, begin, len(Xs)), Ys)
            stats.channel_tried += 1
            if loss < at - MARGIN:
                cur, params, at = cand, trial, loss
                new[t] = new[t][swap]
                stats.channel_accepted += 1
    if stats.channel_accepted:
        after = interp.sweep(net, snap_a, cur, Xs, Ys, k, exact=False).barrier
        if after < curve.barrier:
            stats.channel_after = after
            return cur, new
    return start, perms


def _walk_rows(net, params, given, start, n):
    """``forward.walk`` from layer ``start`` over ``n`` rows whose earlier
    outputs are ``given``, the rows split over the cores (a few hundred
    rows are one block of ``compute_batch``, and one thread)."""
    block = -(-n // (os.cpu_count() or 1))
    return map_row_blocks(lambda rows: forward.walk(
        net, params, {j: h[rows[0]:rows[-1] + 1] for j, h in given.items()}, start=start),
        np.arange(n), block)


def _unit_values(acts, net, index, units):
    """Producer ``index``'s outputs as (observations, the group's units)."""
    return symmetry.unit_activations(acts[index], net.layers[index].neurons)[:, units]


def _better(new, old):
    """A lower peak; or the same peak and a lower curve overall (which moves
    the search across plateaus without ever raising the barrier)."""
    hi_new, hi_old = max(new), float(old.max())
    return hi_new < hi_old - MARGIN or (hi_new <= hi_old and sum(new) < float(old.sum()) - MARGIN)


def refine_permutations(net, snap_a, snap_b, hidden_list, perms, X, Y, k, *, budget,
                        progress=None):
    """Improve ``perms`` by pairwise swaps that lower the barrier on (X, Y).

    Fully-connected groups where the rest of the net is a chain (a dense
    net, a conv net's or a residual net's dense head) get the swap search
    with incremental evaluation; every other group (a convolution's
    channels, a residual stream) first gets one pass of channel swaps on
    ``CHANNEL_PROBES`` of the samples.

    Parameters
    ----------
    net : TNNet
        Only its structure is used, and its weights for the endpoint losses
        (overwritten: a work copy, never the user's net).
    snap_a, snap_b : snapshots of A and of the unaligned B.
    hidden_list, perms : the permutation groups and their starting permutations.
    X, Y : the samples the barrier is lowered on.
    k : interpolation intervals, as in the reports.
    budget : int
        Most loss evaluations of the swap search (each one forward pass,
        mostly incremental).
    progress : bool or None
        A carriage-return progress line on stderr (None: when it is a TTY).

    Returns
    -------
    (perms, RefinementStats). The swap search never raises the barrier on
    (X, Y) from where it starts (after the channel swaps, which are kept
    only when they lower it on the samples they ran on): if rounding ever
    made it, that start is returned.
    """
    return refine(net, snap_a, snap_b, hidden_list, perms, X, Y, k, budget=budget,
                  progress=progress)[:2]


def refine(net, snap_a, snap_b, hidden_list, perms, X, Y, k, *, budget, progress=None):
    """``refine_permutations``, and a function ``measure(snap, groups)``
    that gives the curve of the path from A to ``snap`` on (X, Y): a B'
    that differs from the result only in the groups numbered ``groups``
    (the swap search's caches serve when those are all in the dense tail)."""
    if progress is None:
        progress = sys.stderr.isatty()
    perms = [np.array(p) for p in perms]
    stats = RefinementStats(reason="converged: a whole pass found no swap that lowers the barrier")
    start = symmetry.permute_all(net, snap_b, hidden_list, perms)
    first = chain_from(net, [h.index for h in hidden_list if h.dense]) if k >= 2 else None
    tail = [t for t, h in enumerate(hidden_list) if first is not None and h.dense
            and h.index >= first]
    others = [t for t in range(len(hidden_list)) if t not in tail]
    if others and k >= 2:
        start, perms = _channel_swaps(net, snap_a, start, hidden_list, perms, others, X, Y, k,
                                      stats)
    path = _Path(net, snap_a, start, X, Y, k, first) if tail else None

    def measure(snap, groups):
        if path is not None and set(groups) <= set(tail):
            return path.sweep(snap)
        return interp.sweep(net, snap_a, snap, X, Y, k, exact=False)
    curve = measure(start, ())
    before, floor = curve.barrier, curve.endpoint_max
    stats.barrier_before = stats.barrier_after = before
    if before <= interp.BARRIER_FLOOR or k < 2:
        stats.reason = "nothing to refine: " + (
            "no interior alphas (K=1)" if k < 2 else "the barrier is already at the floor")
        return perms, stats, measure
    if path is None:
        stats.reason = ("channel swaps only: no fully-connected hidden layer in a chain to the "
                        "output" if others else "nothing to refine: no hidden layer")
        return perms, stats, measure
    start_perms = [p.copy() for p in perms]
    refined = [(t, path.trainable.index(hidden_list[t].index)) for t in tail]
    acts_a = path.end_activations()
    for stats.passes in range(1, MAX_PASSES + 1):
        accepted = 0
        for t, layer in refined:
            for i, j in _candidate_swaps(path, acts_a, layer, MAX_CANDIDATES):
                if path.evaluations >= budget:
                    break
                stats.tried += 1
                results = path.try_swap(layer, i, j)
                if results is None or not _better([r[0] for r in results], path.losses):
                    continue
                path.commit(layer, i, j, results)
                perms[t][[i, j]] = perms[t][[j, i]]
                stats.accepted += 1
                accepted += 1
                if progress:
                    print(f"\rrefining: pass {stats.passes}, {stats.accepted} swaps accepted, "
                          f"barrier {max(0.0, path.losses.max() - floor):.6f}, "
                          f"{path.evaluations}/{budget} evaluations", end="", file=sys.stderr)
        path.rebuild()
        if path.evaluations >= budget:
            stats.reason = f"evaluation budget ({budget}) spent"
            break
        if not accepted:
            break
    else:
        stats.reason = f"pass limit ({MAX_PASSES}) reached"
    if progress:
        print(file=sys.stderr)
    stats.evaluations = path.evaluations
    if stats.accepted:
        stats.barrier_after = path.sweep(symmetry.permute_all(net, snap_b, hidden_list,
                                                              perms)).barrier
    if stats.barrier_after > before:
        stats.reason += "; rounding made the result worse, so the start is kept"
        stats.barrier_after = before
        perms = start_perms
    return perms, stats, measure
