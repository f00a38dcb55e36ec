"""ModeConnectivityReport: the loss along the straight line between two nets.

The live net is endpoint A, B a snapshot of the same architecture. The
report evaluates L(alpha) at K+1 points, the barrier and the verdict, and
checks that the path reproduces both endpoints.
"""
from dataclasses import dataclass
from enum import Enum

import numpy as np

from . import interpolation as interp
from .interpolation import DEFAULT_K
from .repair import repaired_sweep
from .samples import as_arrays
from .text import ORIGINAL_EPS, bar, f32, fixed, fpc_exp, jsonable, percent

FAITHFUL_TOLERANCE = 1e-5


class Connectivity(str, Enum):
    """The verdict of a mode-connectivity report; the value is its printed text."""
    CONNECTED = "CONNECTED"
    WEAK_BARRIER = "WEAK BARRIER"
    SEPARATED = "SEPARATED"
    NON_FINITE = "NON-FINITE"
    NO_SAMPLES = "NO SAMPLES"


def connectivity_verdict(barrier, endpoint_max):
    """CONNECTED if barrier <= 5% of E (+1e-6), WEAK BARRIER if <= 20%, else SEPARATED."""
    if not (np.isfinite(barrier) and np.isfinite(endpoint_max)):
        return Connectivity.NON_FINITE
    if barrier <= 0.05 * endpoint_max + 1e-6:
        return Connectivity.CONNECTED
    if barrier <= 0.20 * endpoint_max + 1e-6:
        return Connectivity.WEAK_BARRIER
    return Connectivity.SEPARATED


@dataclass
class ModeConnectivityResult:
    """The numbers of a mode-connectivity report; ``str()`` is the printed report.

    Attributes
    ----------
    n_samples, k, n_trainable : int
    curve : Curve or None
        alphas, losses and accuracies along the path.
    endpoint_mismatch : float
        Largest ``|output|`` difference between the path's ends and A / B.
    verdict : Connectivity
    exact : bool
        True when losses came from the bit-exact per-sample forward pass.
    message : str or None
        Why the report could not run (e.g. no samples).
    """
    n_samples: int
    k: int
    n_trainable: int
    curve: interp.Curve = None
    endpoint_mismatch: float = float("nan")
    verdict: Connectivity = Connectivity.NO_SAMPLES
    exact: bool = True
    message: str = None
    non_finite: str = ""
    repaired: interp.Curve = None      # repair: the REPAIR'd path

    @property
    def barrier(self):
        """max L - max(L(0), L(1)) on the path (nan when the report did not run)."""
        return self.curve.barrier if self.curve else float("nan")

    @property
    def repaired_barrier(self):
        """The barrier of the REPAIR'd path (None without ``repair``)."""
        return self.repaired.barrier if self.repaired else None

    @property
    def endpoint_losses(self):
        """``(L(0), L(1))``, or None when the report did not run."""
        return (float(self.curve.losses[0]), float(self.curve.losses[-1])) if self.curve else None

    @property
    def faithful(self):
        """True when ``endpoint_mismatch`` is below ``FAITHFUL_TOLERANCE`` (1e-5)."""
        return bool(self.endpoint_mismatch < FAITHFUL_TOLERANCE)

    @property
    def relative_barrier(self):
        """The barrier divided by max(L(0), L(1)), in binary32 as the original
        divides (0 or inf when that is not positive; nan when the report did
        not run)."""
        if self.curve is None:
            return float("nan")
        e = self.curve.endpoint_max
        if not e > 0:
            return 0.0 if self.barrier == 0 else float("inf")
        return f32(f32(self.barrier) / f32(e))

    def to_dict(self):
        """The result as plain values (the verdict as its text) for JSON."""
        return jsonable({"report": "mode_connectivity", "n_samples": self.n_samples, "k": self.k,
                "n_trainable": self.n_trainable, "barrier": self.barrier,
                "endpoint_losses": self.endpoint_losses,
                "relative_barrier": self.relative_barrier if self.curve else None,
                "endpoint_mismatch": self.endpoint_mismatch, "faithful": self.faithful,
                "verdict": self.verdict.value, "exact": self.exact, "message": self.message,
                "non_finite": self.non_finite,
                "curve": self.curve.to_dict() if self.curve else None,
                "repaired_barrier": self.repaired_barrier,
                "repaired": self.repaired.to_dict() if self.repaired else None})

    def plot(self, path=None, ax=None):
        """Draw the loss curve (see pyneural.reports.plotting)."""
        from .plotting import plot_mode_connectivity
        return plot_mode_connectivity(self, path=path, ax=ax)

    def _repr_html_(self):
        """Jupyter's view: the numbers as a table, the curve inline."""
        from .html import number, result_html, table
        rows = [("samples", self.n_samples), ("points", f"{self.k + 1} (K={self.k})")]
        if self.curve is not None:
            l0, l1 = self.endpoint_losses
            rows += [("endpoint losses", f"{number(l0)} / {number(l1)}"),
                     ("peak loss", f"{number(self.curve.peak)} at alpha "
                                   f"{self.curve.alphas[self.curve.peak_index]:.3f}"),
                     ("barrier", number(self.barrier)),
                     ("relative barrier", number(self.relative_barrier, 4)),
                     ("faithful", f"{self.faithful} (mismatch {self.endpoint_mismatch:.2e})")]
            if self.repaired is not None:
                rows.append(("REPAIR'd barrier", number(self.repaired_barrier)))
        else:
            rows.append(("message", self.message))
        return result_html("ModeConnectivityReport", self.verdict.value, [table(rows)],
                           self.plot if self.curve is not None else None)

    def __str__(self):
        return "\n".join(_render(self)) + "\n"


def _render(r):
    title = "ModeConnectivityReport (linear mode connectivity / loss barrier)"
    yield title
    yield "=" * len(title)
    if r.message:
        yield r.message
        return
    yield f"Probe samples: {r.n_samples}   interpolation points: {r.k + 1} (K={r.k})"
    yield f"Trainable layers blended: {r.n_trainable}"
    yield ""
    c = r.curve
    yield "Loss along theta(alpha) = (1-alpha)*A + alpha*B:"
    yield "  alpha   loss         acc        L(alpha)"
    yield "  " + "-" * 60
    lo, hi = float(np.nanmin(c.losses)), float(np.nanmax(c.losses))
    for i, (a, loss, acc) in enumerate(zip(c.alphas, c.losses, c.accuracies)):
        marks = (" <- peak" if i == c.peak_index else "") + \
                (" (endpoint)" if i in (0, len(c.alphas) - 1) else "")
        yield f"{_row(a, loss, acc)} |{bar(loss, lo, hi)}{marks}"
    yield ""
    l0, l1 = r.endpoint_losses
    yield f"Endpoint loss L(0) = {fixed(l0, 6)}   L(1) = {fixed(l1, 6)}"
    yield (f"Max loss on path  = {fixed(c.peak, 6)} at alpha = "
           f"{fixed(c.alphas[c.peak_index], 3)}")
    yield f"Barrier height    = max L - max(L(0),L(1)) = {fixed(r.barrier, 6)}"
    # As in the original: no ratio to an endpoint loss that is (about) zero.
    if c.endpoint_max > ORIGINAL_EPS:
        yield f"Relative barrier  = {fixed(r.relative_barrier, 4)} (barrier / endpoint loss)"
    yield ""
    if r.repaired is not None:
        yield from _render_repaired(r)
    if r.faithful:
        yield (f"Faithfulness check: endpoint mismatch = {fpc_exp(r.endpoint_mismatch)} < 1e-5 "
               f"-> OK (interpolation reproduces A and B).")
    else:
        yield (f"Faithfulness check: endpoint mismatch = {fpc_exp(r.endpoint_mismatch)} >= 1e-5 "
               f"-> WARN: the interpolation path does NOT reproduce the endpoints; the snapshot "
               f"arithmetic is suspect.")
    yield ""
    yield "Verdict: " + _verdict_text(r)


def _row(alpha, loss, acc):
    """A row of the loss table, the original's ``'  %-7.3f %-12.6f %-9.4f'``
    (its accuracy is a binary32 fraction)."""
    return f"  {fixed(alpha, 3):<7} {fixed(loss, 6):<12} {fixed(f32(acc), 4):<9}"


def _render_repaired(r):
    c = r.repaired
    yield (f"REPAIR'd path (at each alpha every hidden unit's pre-activation mean/std reset to "
           f"the endpoints' blend on the {r.n_samples} probe samples):")
    yield "  alpha   loss         acc"
    for a, loss, acc in zip(c.alphas, c.losses, c.accuracies):
        yield _row(a, loss, acc).rstrip()
    yield f"REPAIR'd barrier  = {fixed(r.repaired_barrier, 6)} (linear {fixed(r.barrier, 6)})"
    yield ""


def _verdict_text(r):
    b = fixed(r.barrier, 6)
    v = r.verdict
    if v is Connectivity.CONNECTED:
        return (f"CONNECTED (barrier {b} <= {percent(0.05)} of endpoint loss): the two "
                f"solutions sit in the same loss basin / are linearly connected.")
    if v is Connectivity.WEAK_BARRIER:
        return (f"WEAK BARRIER (barrier {b}, {percent(0.05)}-{percent(0.20)} of endpoint loss): "
                f"a shallow bump separates the solutions.")
    if v is Connectivity.SEPARATED:
        return (f"SEPARATED (barrier {b} > {percent(0.20)} of endpoint loss): the two "
                f"solutions sit in DIFFERENT basins.")
    why = r.non_finite or "a loss on the path is NaN or infinite"
    return f"NON-FINITE (barrier {b}): {why}; no verdict is possible."


@interp.quiet
def mode_connectivity_report(net, snapshot_b, samples, k=DEFAULT_K, *, repair=False, exact="auto"):
    """Loss along the straight line from the live net (A) to ``snapshot_b`` (B).

    Parameters
    ----------
    net : TNNet
        Endpoint A; never written to (the report works on a private copy).
    snapshot_b : str, TNNet or snapshot
        Endpoint B: ``save_data_to_string()`` text as in Pascal, a net, or
        a snapshot list (``TNNet.mode_connectivity_report`` also takes a
        path or a whole `.nn` text).
    samples : TNNetVolumePairList, sequence of pairs, or (X, Y)
        The probes. None or empty: nothing is measured and the result's
        ``message`` says why.
    k : int
        Number of intervals; K+1 alphas. ``k < 1`` is bumped to 1; above
        ``interpolation.MAX_K`` (10,000) a ValueError.
    repair : bool
        Also measure the REPAIR'd path (``result.repaired``,
        ``repaired_barrier``): at each alpha every hidden unit's
        pre-activation mean and std over ``samples`` reset to the
        endpoints' blend, at the same alphas.
    exact : bool or "auto"
        Use the bit-exact per-sample forward pass ("auto": when cheap).

    Returns
    -------
    ModeConnectivityResult

    Raises
    ------
    ArchitectureError
        ``snapshot_b`` belongs to another architecture.
    NNFormatError
        ``snapshot_b`` is malformed text.
    ValueError, TypeError
        Samples that do not fit the net, a ``k`` above ``MAX_K`` or not an
        integer, a ``repair`` other than True or False.
    """
    k = interp.intervals(k)
    repair = interp.check_flag(repair, "repair")
    work = interp.work_copy(net)    # one state of A; passes write weights into this copy only
    n_trainable = len(work.trainable_layers())
    snap_b = interp.endpoint_snapshot(work, snapshot_b)
    X, Y = as_arrays(samples, work.input_size, work.output_size)
    if X is None:
        return ModeConnectivityResult(0, k, n_trainable,
                                      message="ModeConnectivityReport: Samples is nil or empty.")
    snap_a = work.snapshot()
    ex = interp.use_exact(work, len(X), exact)
    ref_a = interp.outputs(work, X, ex)
    work.restore(snap_b)
    ref_b = interp.outputs(work, X, ex)
    curve, out0, out1 = interp.sweep(work, snap_a, snap_b, X, Y, k, ex, endpoint_outputs=True)
    repaired = repaired_sweep(work, snap_a, snap_b, X, X, Y, k, ex, curve) if repair else None
    with np.errstate(invalid="ignore"):
        # np.max, not max(): a NaN on either side must survive.
        mismatch = float(np.max([np.max(np.abs(out0 - ref_a)), np.max(np.abs(out1 - ref_b))]))
    if not np.isfinite(mismatch):
        mismatch = float("nan")
    bad = interp.describe_non_finite(snap_a, snap_b)
    verdict = connectivity_verdict(curve.barrier, curve.endpoint_max) \
        if curve.finite and not bad else Connectivity.NON_FINITE
    if bad:
        mismatch = float("nan")
    return ModeConnectivityResult(len(X), k, n_trainable, curve, mismatch, verdict, ex,
                                  non_finite=bad, repaired=repaired)

