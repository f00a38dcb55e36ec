"""Model merging: align, average, and (optionally) REPAIR.

Two nets trained from different seeds compute similar functions with their
hidden units in different orders, so their plain weight average is usually
a poor net. ``merge_with`` permutes B's hidden units to match A's (the
alignment of the permutation-alignment report, ``find_alignment``: optimal
matching, then barrier-aware swap refinement), averages
``(1 - alpha) * A + alpha * aligned B`` in float32 exactly as
``TNNet.interpolate``, and can REPAIR the average (``repair.py``). It
returns a new net and the numbers that say whether the merge worked: loss
and accuracy of the endpoints, the naive average, the aligned merge and the
repaired merges, and the barrier before and after alignment.

``merge_many`` merges several nets: each is aligned to the first (the
reference), then, for a few rounds, each is re-aligned to the average of
the others (Git Re-Basin's MergeMany), keeping a round only when it lowers
the merged loss on the probes.

Alignment, refinement and REPAIR only ever see ``samples``; every reported
loss and accuracy is measured on ``eval_samples`` when given.
"""
import time
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from . import interpolation as interp
from ..volume import TNNetVolume, blend
from . import symmetry
from .matching import check_solver
from .alignment import (DEFAULT_REFINE, DEFAULT_SCORE_MODE, DEFAULT_SOLVER, check_budget,
                        find_alignment, non_negative_int, resolve_score_mode)
from .interpolation import BARRIER_FLOOR, DEFAULT_K, BeforeAfter
from .permutation_align import INVARIANCE_TOLERANCE
from .repair import STATS_TOLERANCE, mix_weights, new_net_like, repair_snapshot
from .samples import probe_arrays
from .text import bar, f32, fixed, fpc_exp, jsonable, percent

# The merge aligns as the report does (its score mode, solver and refinement
# defaults), with a higher floor under the refinement budget: a merged net
# is kept and used, so a better alignment is worth the time (python -m
# benchmarks.merging measures it; docs/notes/2026-11-30-refinement-budgets.md).
MERGE_REFINE_BUDGET = 6000
DEFAULT_ROUNDS = 1
# Verdict: the merged net is MERGED when its accuracy is at most this far
# below the endpoints' mean (or, for a single-output net, its loss at most
# LOSS_TOLERANCE above theirs, relatively).
ACCURACY_TOLERANCE = 0.02
LOSS_TOLERANCE = 0.25


class MergeVerdict(str, Enum):
    """The verdict of a merge (see ``merge_verdict``); the value is its printed text."""
    MERGED = "MERGED"
    DEGRADED = "DEGRADED"
    NO_GAIN = "NO BETTER THAN NAIVE"
    NON_FINITE = "NON-FINITE"


@dataclass
class ModelScore:
    """Loss and accuracy of one model on the evaluation samples."""
    name: str
    loss: float
    accuracy: float

    @property
    def finite(self):
        """True when the loss is finite."""
        return bool(np.isfinite(self.loss))

    def to_dict(self):
        """The fields as a dict."""
        return jsonable({"name": self.name, "loss": self.loss, "accuracy": self.accuracy})


@dataclass
class MergeResult(BeforeAfter):
    """A merge: the merged net and the numbers around it; ``str()`` prints
    the report.

    ``net`` is the merged net (a new TNNet: the repaired aligned merge with
    ``repair=True``, else the aligned merge). ``permutations[i]`` holds net
    i's permutation per permutation group (``perm[j]`` = net i's unit placed at
    position j; identity for the reference unless MergeMany rounds moved
    it). ``endpoints``, ``naive``, ``aligned``, ``naive_repaired`` and
    ``repaired`` are ModelScores on the evaluation samples; ``pre`` and
    ``post`` (two nets only) the loss curves of the straight path before
    and after alignment.
    """
    net: object
    n_nets: int
    n_samples: int
    weights: tuple
    score_mode: str
    solver: str
    refine: bool
    refine_budget: int
    k: int
    endpoints: list = field(default_factory=list)
    naive: ModelScore = None
    aligned: ModelScore = None
    naive_repaired: ModelScore = None
    repaired: ModelScore = None
    permutations: list = field(default_factory=list, repr=False)
    hidden: list = field(default_factory=list)  # ("net layer i" or "net layers i, j", width) per group
    matching_info: list = field(default_factory=list)
    refinement: list = field(default_factory=list, repr=False)
    repair_layers: list = field(default=None, repr=False)
    naive_repair_layers: list = field(default=None, repr=False)
    pre: interp.Curve = field(default=None, repr=False)
    post: interp.Curve = field(default=None, repr=False)
    drift: float = 0.0
    eval_set: str = ""
    n_eval: int = 0
    rounds: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    exact: bool = True
    naive_snapshot: list = field(default=None, repr=False)
    aligned_snapshot: list = field(default=None, repr=False)
    repaired_snapshot: list = field(default=None, repr=False)
    verdict: MergeVerdict = MergeVerdict.MERGED
    non_finite: str = ""               # which endpoints hold NaN/Inf weights, if any

    # ---------------------------------------------------------- numbers --
    @property
    def alpha(self):
        """B's weight (two nets)."""
        return float(self.weights[-1])

    @property
    def final(self):
        """The score of ``net``: the repaired merge when REPAIR ran."""
        return self.repaired if self.repaired is not None else self.aligned

    @property
    def mean_endpoint_accuracy(self):
        """The endpoints' mean accuracy on the evaluation samples."""
        return float(np.mean([e.accuracy for e in self.endpoints]))

    @property
    def mean_endpoint_loss(self):
        """The endpoints' mean loss on the evaluation samples."""
        return float(np.mean([e.loss for e in self.endpoints]))

    @property
    def churn(self):
        """Per net, the fraction of units moved in each hidden layer."""
        return [[symmetry.churn(p) for p in perms] for perms in self.permutations]

    @property
    def repair_error(self):
        """Largest mismatch of a repaired unit's mean or std with its target."""
        errs = [max(l.mean_error, l.std_error) for l in (self.repair_layers or [])]
        return max(errs, default=0.0)

    def to_dict(self):
        """The result as plain values for JSON (without the net and the snapshots)."""
        def score(s):
            """``s.to_dict()``, or None for a score that was not measured."""
            return s.to_dict() if s is not None else None
        return jsonable({
            "report": "merge", "n_nets": self.n_nets, "n_samples": self.n_samples,
            "weights": list(self.weights), "score_mode": self.score_mode,
            "solver": self.solver, "refine": self.refine,
            "refine_budget": self.refine_budget, "k": self.k,
            "eval_set": self.eval_set or "samples", "n_eval": self.n_eval or self.n_samples,
            "endpoints": [e.to_dict() for e in self.endpoints],
            "naive": score(self.naive), "aligned": score(self.aligned),
            "naive_repaired": score(self.naive_repaired), "repaired": score(self.repaired),
            "mean_endpoint_accuracy": self.mean_endpoint_accuracy,
            "mean_endpoint_loss": self.mean_endpoint_loss,
            "pre_barrier": self.pre_barrier, "post_barrier": self.post_barrier,
            "reduction": self.reduction,
            "pre": self.pre.to_dict() if self.pre else None,
            "post": self.post.to_dict() if self.post else None,
            "permutations": [[p.tolist() for p in perms] for perms in self.permutations],
            "churn": self.churn, "matching_info": self.matching_info,
            "refinement": [s.to_dict() if s is not None else None for s in self.refinement],
            "repair": [l.to_dict() for l in self.repair_layers]
            if self.repair_layers is not None else None,
            "repair_error": self.repair_error if self.repair_layers is not None else None,
            "drift": self.drift, "rounds": self.rounds, "seconds": self.seconds,
            "exact": self.exact, "verdict": self.verdict})

    def plot(self, path=None, ax=None):
        """Draw the loss and accuracy along the paths, the merged models
        marked (two nets), or the models' accuracies (more; needs matplotlib)."""
        from .plotting import plot_merge
        return plot_merge(self, path=path, ax=ax)

    def _repr_html_(self):
        """Jupyter's view: the models' loss and accuracy, the barriers, the
        plot inline."""
        from .html import number, result_html, share, table
        where = f"held-out ({self.n_eval})" if self.eval_set else f"the samples ({self.n_samples})"
        rows = [("nets", self.n_nets), ("weights", ", ".join(f"{w:.3f}" for w in self.weights)),
                ("score / solver", f"{self.score_mode} / {self.solver}"),
                ("measured on", where)]
        if self.pre is not None:
            rows += [("barrier before / after", f"{number(self.pre_barrier)} / "
                                                f"{number(self.post_barrier)}"),
                     ("reduction", share(self.reduction))]
        models = [*self.endpoints, self.naive, self.aligned, self.naive_repaired, self.repaired]
        scores = table([(m.name, number(m.loss), share(m.accuracy)) for m in models
                        if m is not None], header=("model", "loss", "accuracy"))
        return result_html("MergeReport", self.verdict.value, [table(rows), scores], self.plot)

    def __str__(self):
        return "\n".join(_render(self)) + "\n"


# ------------------------------------------------------------- rendering --

def _render(r):
    title = "MergeReport (weight averaging after Git Re-Basin permutation alignment)"
    yield title
    yield "=" * len(title)
    yield (f"Probe samples: {r.n_samples}   nets merged: {r.n_nets}   "
           + (f"alpha: {r.alpha:.3f} (merged = {1 - r.alpha:.3f}*A + {r.alpha:.3f}*B)"
              if r.n_nets == 2 else
              "weights: " + " ".join(f"{w:.3f}" for w in r.weights)))
    yield f"Score: {r.score_mode}   solver: {r.solver}   refinement: {_refinement(r)}"
    for i, info in enumerate(r.matching_info):
        if info:
            yield f"Matching{'' if r.n_nets == 2 else f' net {i}'}: {info}"
    for i, st in enumerate(r.refinement):
        if st is not None:
            who = "" if r.n_nets == 2 else f" net {i}"
            yield f"Refinement{who}: {st.summary()}"
    if r.rounds:
        yield "MergeMany rounds (each net re-aligned to the average of the others):"
        for h in r.rounds:
            yield (f"  {h['round']:<10} probe loss {fixed(h['probe_loss'], 6)}   "
                   f"nets re-permuted {h['changed']}   {'kept' if h['kept'] else 'discarded'}")
    yield f"Hidden permutable layers: {len(r.hidden)}"
    for i, churn in enumerate(r.churn):
        if (i == 0 and r.n_nets == 2) or not r.hidden:
            continue
        name = "B" if r.n_nets == 2 else f"net {i}"
        yield (f"  churn of {name}: " + ", ".join(
            f"{name} {fixed(f32(c), 3)}" for (name, _), c in zip(r.hidden, churn)))
    if r.repair_layers is not None:
        units = sum(l.repaired for l in r.repair_layers)
        alone = sum(int(np.sum(l.left_alone)) for l in r.repair_layers)
        yield (f"REPAIR: pre-activation mean/std of {units} hidden units reset to the "
               f"endpoints' on the {r.n_samples} probe samples"
               + (f" ({alone} left alone)" if alone else ""))
    if r.eval_set:
        yield (f"Measured on {r.eval_set} ({r.n_eval} samples); alignment, refinement and "
               f"REPAIR used only the {r.n_samples} probe samples")
    yield ""
    where = f"{r.eval_set} ({r.n_eval} samples)" if r.eval_set else f"the {r.n_samples} samples"
    yield f"Loss and accuracy on {where}:"
    yield "  model                   loss        acc       loss"
    yield "  " + "-" * 66
    rows = _rows(r)
    top = max((s.loss for _, s in rows if s.finite), default=0.0)
    for label, s in rows:
        yield (f"  {label:<22}  {fixed(s.loss, 6):<10}  {percent(s.accuracy):>7}   "
               f"|{bar(s.loss, 0.0, top)}")
    yield ""
    if r.pre is not None:
        pre, post = r.pre_barrier, r.post_barrier
        # At least the floor: two barriers of rounding noise draw no bars.
        top = max(pre, post, BARRIER_FLOOR) if np.isfinite(pre) and np.isfinite(post) else 0.0
        yield "Loss barrier (linear-interpolation height, max L - max(L0,L1)):"
        yield f"  before align  {fixed(pre, 6)} |{bar(pre, 0.0, top)}"
        yield f"  after  align  {fixed(post, 6)} |{bar(post, 0.0, top)}"
        if np.isfinite(r.reduction):
            yield (f"Barrier reduction      = {fixed(100 * r.reduction, 2)}% of the "
                   "pre-alignment barrier")
        yield ""
    for line in _checks(r):
        yield line
    yield ""
    yield "Verdict: " + _verdict_text(r)
    if r.seconds:
        yield ("Time: " + ", ".join(f"{k} {v:.2f} s" for k, v in r.seconds.items()))


def _rows(r):
    rows = [(f"{e.name} (endpoint)", e) for e in r.endpoints]
    rows.append(("naive average", r.naive))
    if r.naive_repaired is not None:
        rows.append(("naive + REPAIR", r.naive_repaired))
    rows.append(("aligned merge", r.aligned))
    if r.repaired is not None:
        rows.append(("aligned + REPAIR", r.repaired))
    return rows


def _checks(r):
    ok = r.drift < INVARIANCE_TOLERANCE
    yield (f"Check 1 permutation invariance: {'PASS' if ok else 'FAIL'} (max output drift "
           f"{fpc_exp(r.drift)} {'<' if ok else '>='} {fpc_exp(INVARIANCE_TOLERANCE, 0)} "
           f"\u2014 every permuted net computes its original's function).")
    if r.repair_layers is None:
        yield "Check 2 REPAIR statistics: SKIPPED (repair=False)."
    else:
        err = r.repair_error
        ok = err < STATS_TOLERANCE
        yield (f"Check 2 REPAIR statistics: {'PASS' if ok else 'FAIL'} (repaired units' "
               f"pre-activation mean/std match their targets on the probes: max error "
               f"{fpc_exp(err)} {'<' if ok else '>='} {fpc_exp(STATS_TOLERANCE, 0)}).")


def _refinement(r):
    """What the refinement did: swaps within a budget, or (at paper scale)
    assignment steps, or nothing (aligning for the REPAIR'd merge)."""
    if not r.refine:
        return "off"
    moves = sorted({s.moves for s in r.refinement if s is not None})
    if moves == ["swaps"]:
        return f"on (budget {r.refine_budget} evaluations per alignment)"
    return f"on ({', '.join(moves)})" if moves else "on, none ran (see Matching)"


def merge_verdict(final, endpoints, naive, n_outputs):
    """MERGED when the merged net is as good as the endpoints (accuracy at
    most ACCURACY_TOLERANCE below their mean; for one output, loss at most
    LOSS_TOLERANCE above), DEGRADED when worse but better than the naive
    average, NO BETTER THAN NAIVE otherwise."""
    if not (final.finite and all(e.finite for e in endpoints)):
        return MergeVerdict.NON_FINITE
    if n_outputs > 1:
        if final.accuracy >= np.mean([e.accuracy for e in endpoints]) - ACCURACY_TOLERANCE:
            return MergeVerdict.MERGED
        better = final.accuracy > naive.accuracy or (final.accuracy == naive.accuracy
                                                     and final.loss < naive.loss)
    else:
        if final.loss <= (1 + LOSS_TOLERANCE) * np.mean([e.loss for e in endpoints]) + 1e-12:
            return MergeVerdict.MERGED
        better = final.loss < naive.loss
    return MergeVerdict.DEGRADED if better else MergeVerdict.NO_GAIN


def _verdict_text(r):
    f = r.final
    what = "aligned + REPAIR" if r.repaired is not None else "aligned merge"
    v = r.verdict
    if v is MergeVerdict.NON_FINITE:
        why = r.non_finite or "a loss is NaN or infinite"
        return f"NON-FINITE ({what} loss {fixed(f.loss, 6)}): {why}; no verdict is possible."
    gap = 100 * (r.mean_endpoint_accuracy - f.accuracy)
    head = (f"{v.value} ({what} accuracy {percent(f.accuracy)}, "
            f"{fixed(abs(gap), 2)} points {'below' if gap >= 0 else 'above'} the endpoints' "
            f"mean {percent(r.mean_endpoint_accuracy)}; naive average "
            f"{percent(r.naive.accuracy)}): ")
    if v is MergeVerdict.MERGED:
        return head + "the merged net is as good as the nets it came from."
    if v is MergeVerdict.DEGRADED:
        return head + ("the merge beats the naive average but loses to the endpoints"
                       + ("." if r.repaired is not None else "; try repair=True."))
    return head + "alignment did not make the average better."


# ------------------------------------------------------------------ merge --

def average(snaps, weights):
    """The weighted average of snapshots in float32. Two: ``blend``, the
    path's interpolation (the original's MulMulAdd, B's weight = alpha);
    more: ``sum_i w_i * s_i`` accumulated in order."""
    if len(snaps) == 1:
        return [v.copy() for v in snaps[0]]
    if len(snaps) == 2:
        return [TNNetVolume.wrap(blend(a, b, float(weights[1])), *a.shape)
                for a, b in zip(*snaps)]
    out = []
    for vols in zip(*snaps):
        v = vols[0].copy()
        if v.size:
            acc = np.float32(weights[0]) * vols[0].data
            for w, vol in zip(weights[1:], vols[1:]):
                acc = acc + np.float32(w) * vol.data
            v.data[:] = acc
        out.append(v)
    return out


def _score(work, snap, X, Y, exact, name):
    work.restore(snap)
    out = interp.outputs(work, X, exact)
    return ModelScore(name, interp.mean_loss(out, Y), interp.accuracy(out, Y))


def _drift(work, snap_1, snap_2, X, exact):
    """Largest output difference between two snapshots' nets on X."""
    work.restore(snap_1)
    return interp.output_drift(work, interp.outputs(work, X, exact), snap_2, X, exact)


@dataclass
class _Options:
    mode: str
    solver: str
    refine: bool
    budget: int
    k: int
    seed: int
    progress: object
    for_repair: bool = False      # align for the REPAIR'd merge (find_alignment)
    channels: bool = True         # align conv channels (False: the original's layers)


def _align(work, ref, snap, hidden, X, Y, exact, o):
    """(perms, aligned snapshot, matching info, refinement stats)."""
    if not hidden:
        return [], [v.copy() for v in snap], "", None
    layers, aligned, info, stats = find_alignment(
        work, ref, snap, X, Y, o.mode, solver=o.solver, refine=o.refine, refine_budget=o.budget,
        k=o.k, seed=o.seed, exact=exact, progress=o.progress, for_repair=o.for_repair,
        channels=o.channels)
    return [np.asarray(l.permutation) for l in layers], aligned, info, stats


def _options(score_mode, solver, refine, refine_budget, k, seed, progress, repair,
             channels):
    check_solver(solver)
    mode = resolve_score_mode(DEFAULT_SCORE_MODE if score_mode is None else score_mode)
    return _Options(mode, solver, DEFAULT_REFINE if refine is None else bool(refine),
                    check_budget(refine_budget) or MERGE_REFINE_BUDGET, interp.intervals(k),
                    non_negative_int(seed, "seed"), progress,
                    interp.check_flag(repair, "repair"),
                    interp.check_flag(channels, "permute_channels"))


def _run(work, like, snaps, names, weights, X, Y, EX, EY, o, *, repair, exact, rounds, curves):
    """The merge engine shared by merge_with and merge_many: ``work`` (dropout
    off) computes, the merged net is a copy of ``like``."""
    start = time.perf_counter()
    eval_set, n_eval = "", 0
    if EX is None:
        EX, EY = X, Y
    else:
        eval_set, n_eval = "held-out eval_samples", len(EX)
    ex = interp.use_exact(work, max(len(X), len(EX)), exact)
    hidden = symmetry.hidden_layers(work, o.channels)
    n = len(snaps)
    result = MergeResult(None, n, len(X), tuple(float(w) for w in weights), o.mode, o.solver,
                         o.refine, o.budget, o.k, hidden=[(h.describe(), h.width) for h in hidden],
                         eval_set=eval_set, n_eval=n_eval, exact=ex)
    perms = [[np.arange(h.width) for h in hidden]]
    aligned, infos, stats = [snaps[0]], [""], [None]
    for snap in snaps[1:]:
        p, al, info, st = _align(work, snaps[0], snap, hidden, X, Y, ex, o)
        perms.append(p)
        aligned.append(al)
        infos.append(info)
        stats.append(st)
    merged = average(aligned, weights)
    if rounds and n > 2 and hidden:
        best = _score(work, merged, X, Y, ex, "").loss
        result.rounds.append({"round": "reference", "probe_loss": best, "changed": n - 1,
                              "kept": True})
        for r in range(1, int(rounds) + 1):
            new_perms, new_aligned = list(perms), list(aligned)
            new_infos, new_stats = list(infos), list(stats)
            for i in range(n):
                others = [j for j in range(n) if j != i]
                ref = average([new_aligned[j] for j in others],
                              mix_weights([weights[j] for j in others], n - 1))
                new_perms[i], new_aligned[i], new_infos[i], new_stats[i] = _align(
                    work, ref, snaps[i], hidden, X, Y, ex, o)
            changed = sum(any(not np.array_equal(p, q) for p, q in zip(new_perms[i], perms[i]))
                          for i in range(n))
            candidate = average(new_aligned, weights)
            loss = _score(work, candidate, X, Y, ex, "").loss
            kept = bool(loss < best)
            result.rounds.append({"round": f"round {r}", "probe_loss": loss,
                                  "changed": changed, "kept": kept})
            if not kept:
                break
            perms, aligned, infos, stats = new_perms, new_aligned, new_infos, new_stats
            merged, best = candidate, loss
            if not changed:
                break
    result.seconds["alignment"] = time.perf_counter() - start
    result.permutations, result.matching_info, result.refinement = perms, infos, stats
    result.drift = max(_drift(work, s, a, X, ex) for s, a in zip(snaps, aligned))
    if curves and n == 2:
        result.pre = interp.sweep(work, snaps[0], snaps[1], EX, EY, o.k, ex)
        result.post = interp.sweep(work, snaps[0], aligned[1], EX, EY, o.k, ex)
    result.endpoints = [_score(work, s, EX, EY, ex, name) for s, name in zip(snaps, names)]
    naive = average(snaps, weights)
    result.naive = _score(work, naive, EX, EY, ex, "naive average")
    result.aligned = _score(work, merged, EX, EY, ex, "aligned merge")
    result.naive_snapshot, result.aligned_snapshot = naive, merged
    final = merged
    if repair:
        t = time.perf_counter()
        fixed_naive, result.naive_repair_layers = repair_snapshot(work, naive, snaps, weights, X)
        final, result.repair_layers = repair_snapshot(work, merged, aligned, weights, X)
        result.seconds["REPAIR"] = time.perf_counter() - t
        result.naive_repaired = _score(work, fixed_naive, EX, EY, ex, "naive + REPAIR")
        result.repaired = _score(work, final, EX, EY, ex, "aligned + REPAIR")
        result.repaired_snapshot = final
    result.net = new_net_like(like, final)
    # A ReLU maps NaN to 0, so NaN weights can hide from every loss: check them too.
    result.non_finite = interp.describe_non_finite(*snaps, names=names)
    result.verdict = merge_verdict(result.final, result.endpoints, result.naive,
                                   work.output_size)
    if result.non_finite:
        result.verdict = MergeVerdict.NON_FINITE
    result.seconds["total"] = time.perf_counter() - start
    return result


@interp.quiet
def merge_with(net, snapshot_b, samples, alpha=0.5, *, score_mode=None, solver=DEFAULT_SOLVER,
               refine=None, refine_budget=None, repair=False,
               eval_samples=None, k=DEFAULT_K, seed=0, exact="auto",
               progress=None, permute_channels=True):
    """Merge the live net (A) with ``snapshot_b`` (B): align B's hidden units
    to A's, average ``(1 - alpha) * A + alpha * aligned B``, optionally
    REPAIR, and measure everything.

    Parameters
    ----------
    net : TNNet
        Endpoint A; never modified (the work happens on a copy).
    snapshot_b : str, TNNet or snapshot
        Endpoint B (``save_data_to_string()`` text, a net or a snapshot) of
        A's architecture; never modified (``TNNet.merge_with`` also takes a
        path or a whole `.nn` text).
    samples : TNNetVolumePairList, sequence of pairs, or (X, Y)
        Probes: alignment, refinement and REPAIR statistics use them.
    alpha : float in [0, 1]
        B's weight in the average (0.5: the midpoint).
    score_mode : int or str, optional
        As in ``permutation_align_report`` (default "auto": three matching
        starts, each refined, the best kept).
    solver : "hungarian" (default) or "greedy".
    refine : bool, optional
        Barrier-aware swap refinement after matching (default True).
    refine_budget : int, optional
        Most loss evaluations the refinement may spend per start (at least
        1; default ``MERGE_REFINE_BUDGET``, 6000: unlike the report's, it
        does not grow with the widths, which made ``merge_many`` of the
        digits nets worse).
    repair : bool
        Also REPAIR the naive and the aligned merge (``net`` is then the
        repaired aligned merge).
    eval_samples : samples, optional
        Measure every loss, accuracy and barrier here (held-out data).
    k : int
        Interpolation intervals of the barrier curves and the refinement.
    seed : int
        Seeds weight matching's layer order.
    exact : bool or "auto"
        Bit-exact per-sample forward passes for the measurements.
    progress : bool, optional
        Refinement progress line on stderr (default: when a TTY).
    permute_channels : bool
        Align convolutions' output channels too (default); False: only the
        layers the original's report permutes.

    Returns
    -------
    MergeResult (``.net`` is the merged TNNet).

    Raises
    ------
    ArchitectureError
        B has another architecture.
    NNFormatError
        B is malformed text.
    ValueError
        Empty samples or ``eval_samples``, samples that do not fit the net,
        alpha outside [0, 1] (or NaN), unknown score mode or solver, a
        ``seed`` that is not an integer >= 0, a ``repair`` other than True
        or False.
    TypeError
        Samples in a form the merge does not take, an alpha that
        ``float()`` refuses, ``k`` not an integer.
    """
    a = float(alpha)
    if not (0.0 <= a <= 1.0):
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    o = _options(score_mode, solver, refine, refine_budget, k, seed, progress, repair,
                 permute_channels)
    like = new_net_like(net)                # one state of A, read once
    work = interp.work_copy(like)
    snap_b = interp.endpoint_snapshot(work, snapshot_b)
    X, Y, EX, EY = probe_arrays(work, samples, eval_samples, "merge",
                                 " (alignment needs probe samples)")
    return _run(work, like, [work.snapshot(), snap_b], ("A", "B"), np.array([1.0 - a, a]),
                X, Y, EX, EY, o, repair=repair, exact=exact, rounds=0, curves=True)


@interp.quiet
def merge_many(nets_or_snapshots, samples, weights=None, *, reference=0, rounds=DEFAULT_ROUNDS,
               score_mode=None, solver=DEFAULT_SOLVER, refine=None,
               refine_budget=None, repair=False, eval_samples=None, k=DEFAULT_K,
               seed=0, exact="auto", progress=None, permute_channels=True):
    """Merge several nets of one architecture into one.

    Each net is aligned to the reference (``nets_or_snapshots[reference]``);
    then, for up to ``rounds`` rounds, each net is re-aligned to the
    average of the others (Git Re-Basin's MergeMany). A round is kept only
    when it lowers the merged loss on the probes; the rounds stop early when
    one changes nothing. Then the aligned nets are averaged with
    ``weights`` (default uniform) and, with ``repair=True``, REPAIRed.

    Parameters
    ----------
    nets_or_snapshots : sequence
        TNNets, snapshots or data-only ``.nn`` texts of one architecture;
        at least one must be a TNNet (it gives the architecture). None of
        them is modified. (``pyneural.merge_many`` also takes paths and
        whole `.nn` texts.)
    samples, score_mode, solver, refine, refine_budget, repair,
    eval_samples, k, seed, exact, progress, permute_channels :
        As in ``merge_with``.
    weights : sequence of float, optional
        Each net's weight in the average (normalised; default uniform).
    reference : int
        The net the others are first aligned to (reported first).
    rounds : int
        MergeMany rounds after the reference alignment (0: none). Rounds
        run only with three or more nets.

    Returns
    -------
    MergeResult (``.net`` is the merged TNNet). ``endpoints``,
    ``permutations`` and ``weights`` list the reference first, then the
    others in the order given; the endpoints are named by their position
    in ``nets_or_snapshots`` ("net 0", "net 1", ...).

    Raises
    ------
    ArchitectureError
        An item of another architecture than the first TNNet among them.
    NNFormatError
        An item is malformed text.
    ValueError
        Fewer than two nets (or a str), ``reference`` out of range,
        ``rounds`` or ``seed`` not an integer >= 0, bad weights (wrong
        count, negative, not finite, zero sum), unknown score mode or
        solver, empty samples or ``eval_samples``, samples that do not fit
        the nets, a ``repair`` other than True or False.
    TypeError
        No TNNet among the items, samples in a form the merge does not
        take, ``k`` not an integer.
    """
    items = list(nets_or_snapshots) if not isinstance(nets_or_snapshots, (str, bytes)) else []
    if len(items) < 2:
        raise ValueError(f"merge_many needs a sequence of at least two nets or snapshots, "
                         f"got {len(items)}")
    first = interp.first_net(items, "merge_many")
    like = new_net_like(first)              # one state of the first net, read once
    work = interp.work_copy(like)
    snaps = [work.snapshot() if item is first else interp.endpoint_snapshot(work, item)
             for item in items]
    n = len(snaps)
    if not 0 <= int(reference) < n:
        raise ValueError(f"reference {reference} is not one of the {n} nets")
    rounds = non_negative_int(rounds, "rounds")
    w = mix_weights(weights, n)
    o = _options(score_mode, solver, refine, refine_budget, k, seed, progress, repair,
                 permute_channels)
    X, Y, EX, EY = probe_arrays(work, samples, eval_samples, "merge",
                                 " (alignment needs probe samples)")
    order = [int(reference)] + [i for i in range(n) if i != int(reference)]
    result = _run(work, like, [snaps[i] for i in order], [f"net {i}" for i in order], w[order],
                  X, Y, EX, EY, o, repair=repair, exact=exact, rounds=rounds, curves=False)
    return result
