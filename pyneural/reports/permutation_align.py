"""PermutationAlignReport: Git Re-Basin alignment of B's hidden units to A's.

Hidden layers are aligned front to back: score every (A unit, B unit) pair,
solve the assignment, permute B's units (rows and biases of the layer, input
columns of the next trainable layer) and go on to the next layer, whose B
rows already carry the previous permutation. The barrier of the straight
path A -> B is measured before and after (one shared sweep,
``interpolation.sweep``), then three checks and a verdict, in the original's
words.
"""
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from . import interpolation as interp
from .interpolation import BARRIER_FLOOR, DEFAULT_K, BeforeAfter
from . import symmetry
from .alignment import (DEFAULT_REFINE, DEFAULT_SOLVER, check_budget, default_refine_budget,
                        find_alignment, match_norms, non_negative_int, resolve_score_mode)
from .matching import check_solver
from .refinement import RefinementStats
from .repair import repaired_sweep
from .samples import as_arrays
from .text import ORIGINAL_EPS, bar, f32, fixed, fpc_exp, jsonable

INVARIANCE_TOLERANCE = 1e-4
# The original's report: greedy matching of weight rows (0) or activations
# (1), no refinement, no check 4. A result made so prints the original's
# text, byte for byte (``PermutationAlignResult.original``).
ORIGINAL_OPTIONS = dict(solver="greedy", refine=False, check_scale=False, permute_channels=False)
ORIGINAL_SCORE_MODES = ("weight", "activation")

# Verdict thresholds: the post-alignment barrier as a share of the pre-alignment one.
COLLAPSE_SHARE = 0.25
REDUCE_SHARE = 0.90


class Alignment(str, Enum):
    """The verdict of a permutation-alignment report; the value is its printed text."""
    NO_BARRIER = "NO PRE-ALIGNMENT BARRIER"
    COLLAPSED = "BARRIER COLLAPSED"
    PARTIAL = "PARTIALLY REDUCED"
    UNCHANGED = "UNCHANGED"
    NON_FINITE = "NON-FINITE"
    NOT_RUN = "NOT RUN"


def alignment_verdict(pre, post):
    """The original's thresholds on the pre/post barriers."""
    if not (np.isfinite(pre) and np.isfinite(post)):
        return Alignment.NON_FINITE
    if pre <= BARRIER_FLOOR:
        return Alignment.NO_BARRIER
    if post <= COLLAPSE_SHARE * pre + BARRIER_FLOOR:
        return Alignment.COLLAPSED
    if post <= REDUCE_SHARE * pre:
        return Alignment.PARTIAL
    return Alignment.UNCHANGED


@dataclass
class Check:
    """One check of the report: ``status`` is PASS, FAIL or SKIPPED."""
    number: int
    name: str
    status: str
    value: float = None
    detail: str = ""

    def line(self):
        """The check's line in the printed report."""
        return f"Check {self.number} {self.name}: {self.status} ({self.detail})."

    def to_dict(self):
        """The check as a dict of its fields."""
        return {"number": self.number, "name": self.name, "status": self.status,
                "value": self.value, "detail": self.detail}


@dataclass
class PermutationAlignResult(BeforeAfter):
    """The numbers of a permutation-alignment report; ``str()`` prints it.

    ``pre`` and ``post`` are the interpolation curves before and after
    alignment; ``layers`` holds each hidden layer's permutation (``perm[i]``
    = the B unit placed at A's position i), churn and matched score.
    """
    n_samples: int
    k: int
    score_mode: str
    solver: str
    n_trainable: int
    layers: list = field(default_factory=list)
    pre: interp.Curve = None
    post: interp.Curve = None
    checks: list = field(default_factory=list)
    verdict: Alignment = Alignment.NOT_RUN
    self_mode: bool = False
    exact: bool = True
    message: str = None
    non_finite: str = ""
    eval_set: str = ""                 # "" when the barriers come from the samples
    n_eval: int = 0
    matching_info: str = ""            # weight matching: passes and why it stopped
    refinement: RefinementStats = None
    scaled: interp.Curve = None        # scale_align: the third variant
    repaired: interp.Curve = None      # repair: the REPAIR'd path after alignment
    conv_channels: bool = False        # channels the original cannot permute were aligned

    @property
    def permutations(self):
        """One permutation per permutation group, in the order of
        ``symmetry.hidden_layers`` (``perm[i]`` = B's unit at A's position i)."""
        return [l.permutation for l in self.layers]

    @property
    def churn(self):
        """Per hidden layer, the fraction of units moved."""
        return [l.churn for l in self.layers]

    @property
    def original(self):
        """True when the report ran the original's algorithm (score mode 0 or
        1, ``ORIGINAL_OPTIONS``, none of pyneural's extras): ``str()`` then
        prints the original's text, its words and its rounding."""
        return (self.score_mode in ORIGINAL_SCORE_MODES and self.solver == "greedy"
                and self.refinement is None and not self.matching_info and not self.eval_set
                and self.scaled is None and self.repaired is None and not self.conv_channels
                and all(c.number <= 3 for c in self.checks))

    def check(self, number):
        """The Check with this number, or None when it did not run."""
        return next((c for c in self.checks if c.number == number), None)

    def to_dict(self):
        """The result as plain values (verdict as its text) for JSON."""
        return jsonable({"report": "permutation_align", "n_samples": self.n_samples, "k": self.k,
                "score_mode": self.score_mode, "solver": self.solver,
                "n_trainable": self.n_trainable, "self_mode": self.self_mode,
                "layers": [l.to_dict() for l in self.layers],
                "pre_barrier": self.pre_barrier, "post_barrier": self.post_barrier,
                "reduction": self.reduction,
                "pre": self.pre.to_dict() if self.pre else None,
                "post": self.post.to_dict() if self.post else None,
                "checks": [c.to_dict() for c in self.checks],
                "verdict": self.verdict.value, "exact": self.exact, "message": self.message,
                "non_finite": self.non_finite, "eval_set": self.eval_set or "samples",
                "n_eval": self.n_eval or self.n_samples, "matching_info": self.matching_info,
                "refinement": self.refinement.to_dict() if self.refinement else None,
                "scaled_barrier": self.scaled_barrier,
                "scaled": self.scaled.to_dict() if self.scaled else None,
                "repaired_barrier": self.repaired_barrier,
                "repaired": self.repaired.to_dict() if self.repaired else None})

    @property
    def scaled_barrier(self):
        """The barrier after scale alignment (None without ``scale_align``)."""
        return self.scaled.barrier if self.scaled else None

    @property
    def repaired_barrier(self):
        """The barrier of the REPAIR'd path after alignment (None without ``repair``)."""
        return self.repaired.barrier if self.repaired else None

    def plot(self, path=None, ax=None):
        """Draw the loss curves before and after alignment (needs matplotlib)."""
        from .plotting import plot_permutation_align
        return plot_permutation_align(self, path=path, ax=ax)

    def _repr_html_(self):
        """Jupyter's view: the numbers as tables, the curves inline."""
        from .html import number, result_html, share, table
        where = f"held-out ({self.n_eval})" if self.eval_set else f"the samples ({self.n_samples})"
        rows = [("score / solver", f"{self.score_mode} / {self.solver}"),
                ("probe samples", self.n_samples), ("barriers on", where)]
        tables = []
        if self.pre is not None:
            rows += [("barrier before", number(self.pre_barrier)),
                     ("barrier after", number(self.post_barrier)),
                     ("reduction", share(self.reduction))]
            if self.repaired is not None:
                rows.append(("REPAIR'd barrier", number(self.repaired_barrier)))
            if self.scaled is not None:
                rows.append(("scale-aligned barrier", number(self.scaled_barrier)))
        if self.message:
            rows.append(("message", self.message))
        tables.append(table(rows))
        if self.layers:
            tables.append(table([(l.index, l.width, f"{l.churn:.3f}") for l in self.layers],
                                header=("net layer", "width", "churn")))
        if self.checks:
            tables.append(table([(c.number, c.name, c.status) for c in self.checks],
                                header=("check", "", "status")))
        return result_html("PermutationAlignReport", self.verdict.value, tables,
                           self.plot if self.pre is not None else None)

    def __str__(self):
        return "\n".join(_render(self)) + "\n"


# ------------------------------------------------------------- rendering --

def _render(r):
    title = "PermutationAlignReport (Git Re-Basin neuron-permutation alignment)"
    yield title
    yield "=" * (len(title) + 2)
    if r.message:
        yield r.message
        return
    yield (f"Probe samples: {r.n_samples}   interpolation points: {r.k + 1} (K={r.k})"
           f"   score: {r.score_mode}")
    yield f"Trainable layers: {r.n_trainable}   hidden permutable layers: {len(r.layers)}"
    yield from _render_options(r)
    if r.self_mode:
        yield ("Mode: ALIGN-TO-SELF (SnapshotB == A) \u2014 expect identity permutations "
               "and a flat zero barrier.")
    yield ""
    yield "Per-hidden-layer permutation churn (fraction of units moved):"
    for i, l in enumerate(r.layers):
        yield (f"  layer[{i}] ({l.name}, width {l.width}): churn = "
               f"{fixed(f32(l.churn), 3)}")
    yield ""
    pre, post = r.pre_barrier, r.post_barrier
    top = max(pre, post) if np.isfinite(pre) and np.isfinite(post) else 0.0
    yield "Loss barrier (linear-interpolation height, max L - max(L0,L1)):"
    yield f"  before align  {fixed(pre, 6)} |{bar(pre, 0.0, top)}"
    yield f"  after  align  {fixed(post, 6)} |{bar(post, 0.0, top)}"
    if r.scaled is not None:
        yield f"  after  scale  {fixed(r.scaled_barrier, 6)} |{bar(r.scaled_barrier, 0.0, top)}"
    if r.repaired is not None:
        yield f"  after  REPAIR {fixed(r.repaired_barrier, 6)} |{bar(r.repaired_barrier, 0.0, top)}"
    yield ""
    yield (f"Pre-alignment  barrier = {fixed(pre, 6)}  (endpoint-loss max "
           f"{fixed(r.pre.endpoint_max, 6)})")
    yield (f"Post-alignment barrier = {fixed(post, 6)}  (endpoint-loss max "
           f"{fixed(r.post.endpoint_max, 6)})")
    if r.scaled is not None:
        yield (f"Scale-aligned  barrier = {fixed(r.scaled_barrier, 6)}  (ReLU units rescaled to "
               f"A's norms: {_scale_effect(r)})")
    original = _original_words(r)
    # The original prints the reduction above its epsilon; pyneural's own
    # report only above the floor where a barrier counts as one.
    if np.isfinite(post) and pre > (ORIGINAL_EPS if original else BARRIER_FLOOR):
        yield (f"Barrier reduction      = {fixed(reduction_percent(pre, post), 2)}% of the "
               f"pre-alignment barrier")
    if r.repaired is not None:
        yield from _render_repaired(r)
    yield ""
    for c in r.checks:
        yield _original_check_line(r, c) if original else c.line()
    yield ""
    yield "Verdict: " + (_original_verdict(r) if original else _verdict_text(r))


def _original_words(r):
    """True when the text is the original's: its algorithm, finite numbers
    (on NaN weights the original stops with a floating-point exception, so
    there is no text of its to reproduce)."""
    return r.original and r.verdict is not Alignment.NON_FINITE


def reduction_percent(pre, post):
    """``(1 - post / pre) * 100`` in binary32, the original's "Barrier
    reduction" (the percentage of the pre-alignment barrier removed)."""
    return f32(f32(f32(1.0) - f32(f32(post) / f32(pre))) * f32(100.0))


def _share_percent(pre, post):
    """``(post / pre) * 100`` in binary32, as the verdicts print it."""
    return f32(f32(f32(post) / f32(pre)) * f32(100.0))


def _original_check_line(r, c):
    """Checks 1-3 in the original's words (its FAIL lines are terser)."""
    if c.status != "FAIL":
        return c.line()
    if c.number == 1:
        return (f"Check 1 permutation invariance: FAIL (max output drift {fpc_exp(c.value)} >= "
                f"{fpc_exp(INVARIANCE_TOLERANCE, 0)}).")
    if c.number == 2:
        identity = all(symmetry.is_identity(l.permutation) for l in r.layers)
        return (f"Check 2 align-to-self: FAIL (identity={identity}, post barrier "
                f"{fpc_exp(r.post_barrier)}).")
    return (f"Check 3 monotonicity: FAIL (post {fixed(r.post_barrier, 6)} > pre "
            f"{fixed(r.pre_barrier, 6)}).")


def _original_verdict(r):
    """The verdict in the original's words; for NO PRE-ALIGNMENT BARRIER and
    PARTIALLY REDUCED pyneural's own words are the original's."""
    pre, post = fixed(r.pre_barrier, 6), fixed(r.post_barrier, 6)
    v = r.verdict
    if v is Alignment.NO_BARRIER:
        return _verdict_text(r)
    if v is Alignment.COLLAPSED:
        return (f"BARRIER COLLAPSED (post {post} <= {fixed(COLLAPSE_SHARE * 100, 0)}% of pre "
                f"{pre}): most of the barrier was a neuron-labelling illusion \u2014 once the "
                f"permutation symmetry is quotiented out the nets share a basin.")
    if v is Alignment.PARTIAL:
        return _verdict_text(r)
    return (f"UNCHANGED (post {post} ~ pre {pre}): permutation alignment did not reduce the "
            f"barrier here.")


def _render_options(r):
    """Lines for what the original does not have; none in its own mode."""
    if r.solver != "greedy":
        yield f"Solver: {r.solver} (optimal assignment)"
    if r.matching_info:
        yield f"Matching: {r.matching_info}"
    if r.refinement is not None:
        yield f"Refinement: {r.refinement.summary()}"
    if r.eval_set:
        yield (f"Barriers measured on {r.eval_set} ({r.n_eval} samples); alignment"
               f"{' and refinement' if r.refinement is not None else ''} used only the "
               f"{r.n_samples} probe samples")


def _render_repaired(r):
    yield (f"REPAIR'd barrier       = {fixed(r.repaired_barrier, 6)}  (aligned path; at each alpha "
           f"every hidden unit's pre-activation mean/std reset to the endpoints' blend on the "
           f"{r.n_samples} probe samples)")
    if r.pre_barrier > BARRIER_FLOOR and np.isfinite(r.repaired_barrier):
        share = (r.pre_barrier - r.repaired_barrier) / r.pre_barrier
        yield f"REPAIR'd reduction     = {fixed(100 * share, 2)}% of the pre-alignment barrier"


def _scale_effect(r):
    d = r.scaled_barrier - r.post_barrier
    if abs(d) <= BARRIER_FLOOR:
        return "no change"
    return f"{'lower' if d < 0 else 'HIGHER'} by {fixed(abs(d), 6)} than permutation alone"


def _verdict_text(r):
    pre, post = fixed(r.pre_barrier, 6), fixed(r.post_barrier, 6)
    v = r.verdict
    if v is Alignment.NO_BARRIER:
        return (f"NO PRE-ALIGNMENT BARRIER ({pre} <= floor): the two solutions were already "
                f"linearly connected; nothing to collapse.")
    if v is Alignment.NON_FINITE:
        why = r.non_finite or "a loss on a path is NaN or infinite"
        return f"NON-FINITE (pre {pre}, post {post}): {why}; no verdict is possible."
    share = fixed(_share_percent(r.pre_barrier, r.post_barrier), 1)
    head = f"{v.value} (post {post}, {share}% of pre {pre}): "
    if v is Alignment.COLLAPSED:
        return head + ("alignment removed most of the barrier: the solutions are linearly "
                       "connected modulo permutation.")
    if v is Alignment.PARTIAL:
        return head + "alignment shrank the barrier but a real bump remains."
    return head + "alignment did not shrink the barrier."


# ---------------------------------------------------------------- checks --

def _check_invariance(drift):
    ok = drift < INVARIANCE_TOLERANCE
    return Check(1, "permutation invariance", "PASS" if ok else "FAIL", drift,
                 f"max output drift {fpc_exp(drift)} {'<' if ok else '>='} "
                 f"{fpc_exp(INVARIANCE_TOLERANCE, 0)} \u2014 permute+compensate "
                 + ("preserves B's function" if ok else "CHANGED B's function"))


def _check_self(self_mode, layers, post):
    if not self_mode:
        return Check(2, "align-to-self", "SKIPPED", None,
                     "SnapshotB != A; pass SnapshotB:=A to exercise it")
    identity = all(symmetry.is_identity(l.permutation) for l in layers)
    ok = identity and abs(post) <= BARRIER_FLOOR
    detail = ("all permutations identity and post-alignment barrier ~0" if ok else
              f"{'non-identity permutations' if not identity else 'identity permutations'}"
              f", post-alignment barrier {fixed(post, 6)}")
    return Check(2, "align-to-self", "PASS" if ok else "FAIL", post, detail)


def _check_monotone(pre, post):
    if not (np.isfinite(pre) and np.isfinite(post)):
        return Check(3, "monotonicity", "FAIL", float("nan"),
                     f"barriers are not finite: pre {fixed(pre, 6)}, post {fixed(post, 6)}")
    ok = bool(post <= pre + BARRIER_FLOOR)
    detail = ("post-alignment barrier <= pre-alignment barrier \u2014 alignment can only "
              "help or tie") if ok else \
        "post-alignment barrier > pre-alignment barrier \u2014 alignment made the path worse"
    return Check(3, "monotonicity", "PASS" if ok else "FAIL", post - pre, detail)


def _check_scale(net, snap_b, ref_b, hidden_list, X, exact, seed):
    g = np.random.default_rng(seed)
    factors, skipped = [], []
    for h in hidden_list:
        f = np.ones(h.width, np.float32)
        if h.positive_scale:
            f = np.exp(g.uniform(-np.log(2), np.log(2), h.width)).astype(np.float32)
        if h.sign_flip:
            f *= g.choice(np.array([-1, 1], np.float32), h.width)
        if not (h.positive_scale or h.sign_flip):
            skipped.append(f"{h.describe()} ({'/'.join(h.activations)})")
        factors.append(f)
    if len(skipped) == len(hidden_list):
        return Check(4, "scale invariance", "SKIPPED", None,
                     "no hidden layer has a scale symmetry: " + ", ".join(skipped)
                     + " (sigmoid and softmax are neither homogeneous nor odd)")
    scaled = snap_b
    for h, f in zip(hidden_list, factors):
        scaled = symmetry.scale(net, scaled, h, f)
    drift = interp.output_drift(net, ref_b, scaled, X, exact)
    tol = INVARIANCE_TOLERANCE * max(1.0, float(np.max(np.abs(ref_b))) if ref_b.size else 1.0)
    ok = drift < tol
    note = f"; skipped {', '.join(skipped)}" if skipped else ""
    return Check(4, "scale invariance", "PASS" if ok else "FAIL", drift,
                 f"random positive scales (and sign flips where odd) with compensation: max "
                 f"output drift {fpc_exp(drift)} {'<' if ok else '>='} {fpc_exp(tol, 0)}{note}")


def _check_recovery(work, mode, snap_a, hidden_list, X, Y, alignment):
    """Check 5: A shuffled by a known permutation, then aligned back by the
    very pipeline the report used (mode, solver, refinement and budget)."""
    g = np.random.default_rng(alignment["seed"] + 1)
    planted = symmetry.random_permutations(hidden_list, g)
    shuffled = symmetry.permute_all(work, snap_a, hidden_list, planted)
    found, _, _, _ = find_alignment(work, snap_a, shuffled, X, Y, mode, progress=False,
                                    **alignment)
    fractions = [float(np.mean(l.permutation == symmetry.inverse(p)))
                 for l, p in zip(found, planted)]
    ok = all(f == 1.0 for f in fractions)
    per = ", ".join(f"{100 * f:.1f}%" for f in fractions)
    how = f"{mode}, {alignment['solver']}" + (
        f", refined (budget {alignment['refine_budget']})" if alignment["refine"] else "")
    return Check(5, "planted-permutation recovery", "PASS" if ok else "FAIL",
                 float(np.mean(fractions)),
                 f"A shuffled by a known random permutation and aligned back by the report's "
                 f"own pipeline ({how}): units recovered exactly per layer {per}")


# ------------------------------------------------------------- alignment --

def _same_text(snap_1, snap_2):
    """B == A as the original tests it, by comparing the two nets' data
    strings: equal values (0 and -0 print alike), NaN equal to NaN."""
    return all(np.array_equal(a.data, b.data, equal_nan=True) for a, b in zip(snap_1, snap_2))


@interp.quiet
def permutation_align_report(net, snapshot_b, samples, score_mode=None, k=DEFAULT_K, *,
                             solver=DEFAULT_SOLVER, refine=DEFAULT_REFINE,
                             refine_budget=None, eval_samples=None,
                             scale_align=False, repair=False, check_scale=True,
                             check_recovery=False, seed=0,
                             exact="auto", progress=None, permute_channels=True):
    """Align B's hidden units to the live net's (A) and measure the barrier
    before and after.

    Parameters
    ----------
    net : TNNet
        Endpoint A; never written to (the report works on a private copy).
    snapshot_b : str, TNNet or snapshot
        Endpoint B (``save_data_to_string()`` text, as in Pascal); never modified.
    samples : TNNetVolumePairList, sequence of pairs, or (X, Y)
        Probes: activations are scored, refinement searches and (without
        ``eval_samples``) barriers are measured on them.
    score_mode : int or str, optional
        0 / "weight": cosine of incoming weight rows (the original's mode 0);
        1 / "activation": cosine of the layer's outputs over the probes (mode 1);
        2 / "weight_matching": Git Re-Basin weight matching, coordinate descent;
        3 / "weight_matching_cosine": the same on unit-normalised rows;
        4 / "auto" (default): activation, weight-matching-cosine and weight
        starts, each refined, the lowest barrier on the samples kept; above
        ``alignment.AUTO_SCALE_WORK`` weights x probes, activation matching
        whose near-ties the weights break, then gradient-guided assignment
        steps (no steps with ``repair=True``).
    k : int
        Intervals of the interpolation (K+1 points); ``k < 1`` becomes 1;
        above ``interpolation.MAX_K`` (10,000) a ValueError.
    solver : "hungarian" (default, optimal) or "greedy" (the original's).
    refine : bool
        Barrier-aware swap refinement after matching (default True).
    refine_budget : int, optional
        Most loss evaluations the refinement may spend (per start in "auto";
        default: ``alignment.default_refine_budget`` of the hidden widths,
        ten passes over each layer's candidate swaps, at least 2000).
    eval_samples : samples, optional
        Measure every barrier here instead (held-out data); alignment and
        refinement only ever see ``samples``.
    scale_align : bool
        Also report the barrier after rescaling B's ReLU units to A's norms.
    repair : bool
        Also measure the REPAIR'd path after alignment (``result.repaired``,
        ``repaired_barrier``): at each alpha, every hidden unit's
        pre-activation mean and std reset to the endpoints' blend, with
        statistics from ``samples`` and losses on the eval set.
    check_scale : bool
        Run check 4: random scale (and sign) symmetries of B, compensated.
    check_recovery : bool
        Run check 5: shuffle A by a known permutation and align it back.
    seed : int
        Seeds weight matching's layer order and checks 4 and 5.
    exact : bool or "auto"
        Bit-exact per-sample forward passes ("auto": when cheap).
    progress : bool, optional
        Progress line for the refinement on stderr (default: when a TTY).
    permute_channels : bool
        Align convolutions' output channels too (default). False: permute
        only the layers the original can (a trainable layer whose next
        trainable layer has one weight per unit), as its report does.

    ``score_mode=0 or 1, solver="greedy", refine=False, check_scale=False``
    is the original's report, number for number.

    Returns
    -------
    PermutationAlignResult
        With None or empty samples (or empty ``eval_samples``), or a net
        without a hidden layer, nothing is measured and ``message`` says why.

    Raises
    ------
    ArchitectureError
        ``snapshot_b`` has another architecture (names the layer and shapes).
    NNFormatError
        ``snapshot_b`` is malformed text.
    ValueError
        Unknown score mode or solver; samples that do not fit the net; ``k``
        above ``MAX_K``; a ``seed`` that is not an integer >= 0;
        ``scale_align``, ``repair``, ``check_scale`` or ``check_recovery``
        other than True or False.
    TypeError
        Samples (or ``eval_samples``) in a form the report does not take;
        ``k`` not an integer.
    """
    mode = resolve_score_mode(score_mode)
    check_solver(solver)
    k = interp.intervals(k)
    scale_align, repair, check_scale, check_recovery = (
        interp.check_flag(v, name) for v, name in ((scale_align, "scale_align"),
                                                   (repair, "repair"),
                                                   (check_scale, "check_scale"),
                                                   (check_recovery, "check_recovery")))
    seed = non_negative_int(seed, "seed")
    # One state of A for the whole report: every pass below works on this
    # copy (and writes weights only into it), even if A is reloaded meanwhile.
    work = interp.work_copy(net)
    hidden_list = symmetry.hidden_layers(
        work, interp.check_flag(permute_channels, "permute_channels"))
    result = PermutationAlignResult(0, k, mode, solver, len(work.trainable_layers()))
    result.conv_channels = hidden_list != symmetry.hidden_layers(work, channels=False)
    snap_b = interp.endpoint_snapshot(work, snapshot_b)
    X, Y = as_arrays(samples, work.input_size, work.output_size)
    EX, EY = as_arrays(eval_samples, work.input_size, work.output_size, "eval_samples")
    if X is None:
        result.message = "PermutationAlignReport: Samples is nil or empty."
        return result
    result.n_samples = len(X)
    if eval_samples is not None and EX is None:
        result.message = "PermutationAlignReport: eval_samples is nil or empty."
        return result
    if not hidden_list:
        result.message = ("PermutationAlignReport: the net has no hidden trainable layer "
                          "(a trainable layer followed by another); nothing to permute.")
        return result
    if EX is None:
        EX, EY = X, Y
    else:
        result.eval_set, result.n_eval = "held-out eval_samples", len(EX)
    result.exact = ex = interp.use_exact(work, max(len(X), len(EX)), exact)
    snap_a = work.snapshot()
    result.self_mode = _same_text(snap_a, snap_b)
    budget = check_budget(refine_budget) or default_refine_budget(hidden_list)
    alignment = dict(solver=solver, refine=refine, refine_budget=budget, k=k, seed=seed,
                     exact=ex, channels=permute_channels)
    result.pre = interp.sweep(work, snap_a, snap_b, EX, EY, k, ex)
    result.layers, aligned, result.matching_info, result.refinement = find_alignment(
        work, snap_a, snap_b, X, Y, mode, progress=progress, for_repair=repair, **alignment)
    result.post = interp.sweep(work, snap_a, aligned, EX, EY, k, ex)
    if scale_align:
        result.scaled = interp.sweep(work, snap_a, match_norms(work, snap_a, aligned, hidden_list),
                                     EX, EY, k, ex)
    if repair:
        result.repaired = repaired_sweep(work, snap_a, aligned, X, EX, EY, k, ex, result.post)
    work.restore(snap_b)
    ref_b = interp.outputs(work, X, ex)
    drift = interp.output_drift(work, ref_b, aligned, X, ex)
    checks = [_check_invariance(drift), _check_self(result.self_mode, result.layers,
                                                    result.post_barrier),
              _check_monotone(result.pre_barrier, result.post_barrier)]
    if check_scale:
        checks.append(_check_scale(work, snap_b, ref_b, hidden_list, X, ex, seed))
    if check_recovery:
        checks.append(_check_recovery(work, mode, snap_a, hidden_list, X, Y, alignment))
    pre, post = result.pre_barrier, result.post_barrier
    result.non_finite = interp.describe_non_finite(snap_a, snap_b)
    finite = result.pre.finite and result.post.finite and not result.non_finite
    result.checks = checks
    if not finite:
        # A measure under its threshold proves nothing on non-finite weights
        # (a ReLU turns NaN into 0): the check fails, and says why instead
        # of printing a passing comparison.
        why = result.non_finite or "a loss is NaN or infinite"
        for c in result.checks:
            if c.status == "PASS":
                c.status, c.detail = "FAIL", f"{why}, so it cannot pass"
    result.verdict = alignment_verdict(pre, post) if finite else Alignment.NON_FINITE
    return result
