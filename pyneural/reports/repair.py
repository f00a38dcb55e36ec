"""REPAIR: reset a merged net's hidden-unit statistics to the endpoints'.

Averaging two nets (even aligned ones) shrinks the spread of each hidden
unit's pre-activation: the two units being averaged are not perfectly
correlated, so the average varies less than either ("variance collapse",
Jordan et al. 2022, "REPAIR: REnormalizing Permuted Activations for
Interpolation Repair"). REPAIR measures, over the probe data, the mean and
standard deviation of every hidden unit's pre-activation in the endpoints and
in the merged net, and applies to each merged unit the affine correction

    z' = (z - mu_m) * (sd_t / sd_m) + mu_t

where ``mu_t`` and ``sd_t`` are the endpoint statistics mixed with the merge
weights (``(1 - alpha) * A + alpha * B``). The correction is folded into the
unit's incoming weights and bias (``W' = W * s``, ``b' = (b - mu_m) * s +
mu_t``, ``s = sd_t / sd_m``), so the result is a plain net of the same
architecture that the Pascal library loads. Layers are repaired front to
back: a layer's merged statistics are measured after the layers before it
were corrected.

``repaired_sweep`` applies it at every point of a path, with the endpoint
statistics measured once (the reports' ``repair=True``).

A merged unit that is constant over the probes (``sd_m`` below
``CONSTANT_STD``, e.g. a dead ReLU) is left alone, as is every unit of a
layer without a bias (``suppress_bias``: the shift cannot be folded). The
output layer is not touched.
"""
from dataclasses import dataclass, field

import numpy as np

from . import interpolation as interp
from . import symmetry
from .forward import walk
from .samples import as_arrays
from .text import fixed, fpc_exp, jsonable

# A merged unit whose pre-activation varies less than this over the probes
# is left alone (the scale sd_t / sd_m would be meaningless or infinite).
CONSTANT_STD = 1e-6
# Check: the repaired units' statistics match their targets to this.
STATS_TOLERANCE = 1e-4


@dataclass
class LayerRepair:
    """What REPAIR did to one hidden layer (arrays have one entry per unit).

    ``before_*`` are the merged net's statistics before the correction (with
    the earlier layers already corrected), ``after_*`` after it, ``target_*``
    the mixed endpoint statistics; ``left_alone`` marks the units not
    corrected (constant over the probes, or the layer has no bias).
    """
    index: int
    width: int
    target_mean: np.ndarray
    target_std: np.ndarray
    before_mean: np.ndarray
    before_std: np.ndarray
    after_mean: np.ndarray
    after_std: np.ndarray
    left_alone: np.ndarray
    note: str = ""

    @property
    def repaired(self):
        """Number of units corrected."""
        return int(np.sum(~self.left_alone))

    @property
    def non_finite(self):
        """Units whose statistics (target or merged) are NaN or infinite:
        NaN or Inf weights or inputs upstream. They are left alone."""
        return _non_finite(self.target_mean, self.target_std, self.before_mean, self.before_std)

    def _error(self, after, target):
        ok = ~self.left_alone
        if not ok.any():
            return 0.0
        return float(np.max(np.abs(after[ok] - target[ok]) / np.maximum(1.0, np.abs(target[ok]))))

    @property
    def mean_error(self):
        """Largest ``|after - target|`` of the corrected units' means (relative above 1)."""
        return self._error(self.after_mean, self.target_mean)

    @property
    def std_error(self):
        """Largest ``|after - target|`` of the corrected units' standard deviations."""
        return self._error(self.after_std, self.target_std)

    @property
    def collapse(self):
        """Mean of ``before_std / target_std`` over the units with a target
        spread: below 1 when averaging shrank the units' spread."""
        ok = self.target_std > CONSTANT_STD
        return float(np.mean(self.before_std[ok] / self.target_std[ok])) if ok.any() else 1.0

    def to_dict(self):
        """The fields and derived numbers as plain values (arrays as lists)."""
        return jsonable({
            "net_layer": self.index, "width": self.width, "repaired": self.repaired,
            "left_alone": int(np.sum(self.left_alone)),
            "non_finite": int(np.sum(self.non_finite)), "note": self.note,
            "collapse": self.collapse, "mean_error": self.mean_error, "std_error": self.std_error,
            "target_mean": self.target_mean, "target_std": self.target_std,
            "before_mean": self.before_mean, "before_std": self.before_std,
            "after_mean": self.after_mean, "after_std": self.after_std})


@dataclass
class RepairResult:
    """The repaired net and, per hidden layer, the statistics REPAIR set.

    ``net`` is a new TNNet (or the merged net itself with ``in_place=True``),
    ``snapshot`` its parameters; ``str()`` prints a summary.
    """
    net: object
    snapshot: list
    layers: list = field(default_factory=list)
    n_samples: int = 0
    weights: tuple = ()

    @property
    def repaired(self):
        """Number of units corrected, over all layers."""
        return sum(l.repaired for l in self.layers)

    @property
    def left_alone(self):
        """Number of units not corrected, over all layers."""
        return sum(int(np.sum(l.left_alone)) for l in self.layers)

    @property
    def mean_error(self):
        """The largest ``LayerRepair.mean_error`` (0.0 without layers)."""
        return max((l.mean_error for l in self.layers), default=0.0)

    @property
    def std_error(self):
        """The largest ``LayerRepair.std_error`` (0.0 without layers)."""
        return max((l.std_error for l in self.layers), default=0.0)

    @property
    def non_finite(self):
        """Number of units with NaN or infinite statistics, over all layers."""
        return sum(int(np.sum(l.non_finite)) for l in self.layers)

    @property
    def matched(self):
        """No unit's statistics are NaN or infinite, and the corrected
        units' match their targets (STATS_TOLERANCE)."""
        return (not self.non_finite and self.mean_error < STATS_TOLERANCE
                and self.std_error < STATS_TOLERANCE)

    def summary(self):
        """One line: how many units were reset, on how many samples."""
        alone = self.left_alone
        return (f"pre-activation mean/std of {self.repaired} hidden units in {len(self.layers)} "
                f"layer{'s' if len(self.layers) != 1 else ''} reset to the endpoints' on "
                f"{self.n_samples} probe samples"
                + (f" ({alone} unit{'s' if alone != 1 else ''} left alone)" if alone else ""))

    def to_dict(self):
        """The result as plain values for JSON (without the net and the snapshot)."""
        return jsonable({"n_samples": self.n_samples, "weights": self.weights,
                         "repaired": self.repaired, "left_alone": self.left_alone,
                         "mean_error": self.mean_error, "std_error": self.std_error,
                         "non_finite": self.non_finite, "matched": self.matched,
                         "layers": [l.to_dict() for l in self.layers]})

    def _repr_html_(self):
        """Jupyter's view: the summary and one row per layer (no plot)."""
        from .html import result_html, table
        layers = table([(l.index, l.width, l.repaired, f"{100 * l.collapse:.1f}%",
                         f"{l.mean_error:.2e}", f"{l.std_error:.2e}") for l in self.layers],
                       header=("net layer", "width", "units reset", "spread before",
                               "mean error", "std error"))
        verdict = "statistics match" if self.matched else "statistics do NOT match"
        return result_html("REPAIR", verdict, [table([("summary", self.summary())]), layers])

    def __str__(self):
        title = "REPAIR (reset merged units' pre-activation statistics)"
        lines = [title, "=" * len(title), self.summary()[0].upper() + self.summary()[1:] + "."]
        for l in self.layers:
            line = (f"  net layer {l.index} (width {l.width}): {l.repaired} units reset, spread "
                    f"before {fixed(100 * l.collapse, 1)}% of target; max error mean "
                    f"{fpc_exp(l.mean_error)}, std {fpc_exp(l.std_error)}")
            lines.append(line + (f" ({l.note})" if l.note else ""))
        if self.non_finite:
            n = self.non_finite
            lines.append(f"Statistics check: FAIL ({n} unit{'s' if n != 1 else ''} with NaN or "
                         "infinite statistics: the nets or the probes hold NaN or Inf).")
        else:
            ok = self.matched
            lines.append(f"Statistics check: {'PASS' if ok else 'FAIL'} (max error "
                         f"{fpc_exp(max(self.mean_error, self.std_error))} "
                         f"{'<' if ok else '>='} {fpc_exp(STATS_TOLERANCE, 0)}).")
        return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- stats --

def pre_activations(net, X, upto=None):
    """The pre-activation ``z = h W^T + b`` of every unit layer of the live
    net on the rows of X (the layers' batched float32 forward), as a dict
    net-layer index -> (samples, neurons) array; stops after layer
    ``upto``."""
    out = {}

    def keep(i, h):
        out[i] = net.layers[i].pre_activation(h)
        return out[i]
    walk(net, net.param_volumes(), X, upto, keep)
    return out


def repaired_layers(net):
    """The unit layers REPAIR resets, in layer order: every producer of a
    permutation group (``symmetry.hidden_layers``), so on a residual net
    each layer that writes into a sum, before the sum."""
    return sorted({i for g in symmetry.hidden_layers(net) for i in g.producers})


def _non_finite(*statistics):
    """Per unit, True where any of the statistics is NaN or infinite."""
    return ~np.logical_and.reduce([np.isfinite(s) for s in statistics])


def _stats(z, units):
    """Per unit, the mean and std (float64) of pre-activations ``z``
    (samples x layer size): a convolution's unit is a channel, measured
    over the samples and every position."""
    z = np.asarray(z, np.float64).reshape(-1, units)
    return z.mean(axis=0), z.std(axis=0)


def new_net_like(net, snapshot=None):
    """A copy of ``net`` (``net.clone()``: its layers and learning rates)
    holding ``snapshot`` (default: ``net``'s weights), with zero momentum:
    what a merge or a REPAIR hands back. Neither ``net`` nor the global
    random stream is touched."""
    new = net.clone()
    if snapshot is not None:
        new.restore(snapshot)
    new.clear_momentum()
    return new


def mix_weights(weights, n):
    """Normalised float64 mixing weights (default uniform)."""
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, np.float64).reshape(-1)
    if len(w) != n:
        raise ValueError(f"{len(w)} weights for {n} endpoints")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise ValueError(f"weights must be non-negative and finite with a positive sum, "
                         f"got {w.tolist()}")
    w = w / w.max()             # first, so that the sum cannot overflow (1e308, 1e308)
    return w / w.sum()


def endpoint_statistics(work, endpoints, X):
    """Per endpoint, the mean and standard deviation (float64) over X of
    every repaired unit's pre-activation: a list (one per endpoint) of dicts
    net-layer index -> (mean, std)."""
    targets = repaired_layers(work)
    stats = []
    for snap in endpoints:
        found = {}

        def measure(i, h, snap=snap, found=found):
            layer = work.layers[i]
            z = layer.pre_activation(h, *layer.split(snap[i].data))
            if i in targets:
                found[i] = _stats(z, layer.neurons)
            return z
        if targets:
            walk(work, snap, X, targets[-1], measure)
        stats.append(found)
    return stats


def repair_snapshot(work, merged, endpoints, weights, X, statistics=None):
    """REPAIR on snapshots: ``merged`` corrected towards ``endpoints`` (whose
    units are aligned to it) mixed with ``weights``, statistics over X.

    Parameters
    ----------
    work : TNNet
        Any net of the architecture (gives the layers; its weights are
        not read).
    merged : snapshot
        The net to correct (not modified).
    endpoints : list of snapshots
        The endpoints (not read when ``statistics`` is given).
    weights : sequence of float
        Mixing weights of the endpoints' statistics.
    X : ndarray
        The inputs the statistics are measured on.
    statistics : list, optional
        ``endpoint_statistics(work, endpoints, X)``, when the caller repairs
        several merges of the same endpoints (a path).

    Returns
    -------
    ``(snapshot, [LayerRepair, ...])``.
    """
    targets = repaired_layers(work)
    weights = mix_weights(weights, len(endpoints))
    if statistics is None:
        statistics = endpoint_statistics(work, endpoints, X)
    snap = [v.copy() for v in merged]
    layers = []

    # One forward walk: each layer's statistics are measured on the output
    # of the layers before it, already corrected.
    def correct(i, h):
        layer = work.layers[i]
        w, b = layer.split(snap[i].data)
        if i not in targets:
            return layer.pre_activation(h, w, b)
        mu_t = sum(c * s[i][0] for c, s in zip(weights, statistics))
        sd_t = sum(c * s[i][1] for c, s in zip(weights, statistics))
        repaired, z = _repair_layer(layer, i, h, w, b, mu_t, sd_t)
        layers.append(repaired)
        return z
    if targets:
        walk(work, snap, X, targets[-1], correct)
    return snap, layers


def _repair_layer(layer, index, h, rows, b, mu_t, sd_t):
    """Fold the correction of one layer (inputs ``h``) into its weights
    ``rows`` and bias ``b`` (in place); returns its LayerRepair and its
    corrected pre-activation."""
    width = layer.neurons
    mu_m, sd_m = _stats(layer.pre_activation(h, rows, b), width)
    note = ""
    if layer.suppress_bias:
        alone = np.ones(width, bool)
        note = "no bias (suppress_bias): the shift cannot be folded in; layer left alone"
    else:
        bad = _non_finite(mu_t, sd_t, mu_m, sd_m)
        constant = ~bad & ~(sd_m > CONSTANT_STD)
        alone = bad | constant
        s = np.where(alone, 1.0, sd_t / np.where(alone, 1.0, sd_m))
        shift = np.where(alone, 0.0, mu_t - mu_m * s)
        rows[~alone] = (rows[~alone].astype(np.float64) * s[~alone, None]).astype(np.float32)
        b[~alone] = (b[~alone].astype(np.float64) * s[~alone]
                     + shift[~alone]).astype(np.float32)
        parts = [f"{int(n.sum())} {what}" for n, what in
                 ((constant, "constant over the probes"),
                  (bad, "with NaN or infinite statistics")) if n.any()]
        if parts:
            note = ", ".join(parts) + ", left alone"
    z = layer.pre_activation(h, rows, b)
    mu_a, sd_a = _stats(z, width)
    return LayerRepair(index, width, mu_t, sd_t, mu_m, sd_m, mu_a, sd_a, alone, note), z


def repaired_sweep(work, snap_a, snap_b, X, EX, EY, k, exact, linear):
    """The REPAIR'd path: at each alpha of ``linear`` (the plain sweep of
    the same path on EX, EY), the blend ``(1 - alpha) A + alpha B`` with
    every hidden unit's pre-activation mean and std over X reset to the
    ``(1 - alpha, alpha)`` mix of the endpoints', measured on (EX, EY).

    At alpha 0 and 1 the targets are that endpoint's own statistics, so the
    correction is the identity (scale exactly 1, shift 0): the ends are the
    linear curve's. Overwrites ``work``'s weights (the caller restores them).

    Returns
    -------
    Curve
    """
    ends = [snap_a, snap_b]
    statistics = endpoint_statistics(work, ends, X)
    losses, accs = linear.losses.copy(), linear.accuracies.copy()
    for i in range(1, len(linear.alphas) - 1):
        a = linear.alphas[i]
        work.interpolate(snap_a, snap_b, a)
        snap, _ = repair_snapshot(work, work.snapshot(), ends, (1.0 - float(a), float(a)), X,
                                  statistics)
        work.restore(snap)
        out = interp.outputs(work, EX, exact)
        losses[i], accs[i] = interp.mean_loss(out, EY), interp.accuracy(out, EY)
    return interp.Curve(linear.alphas, losses, accs)


def _endpoint_snapshots(work, endpoints):
    if isinstance(endpoints, (str, bytes)) or not hasattr(endpoints, "__len__"):
        raise TypeError("endpoints must be a sequence of nets or snapshots")
    snaps = [interp.endpoint_snapshot(work, e, ("the merged net", f"endpoint {i}"))
             for i, e in enumerate(endpoints)]
    if not snaps:
        raise ValueError("REPAIR needs at least one endpoint")
    return snaps


def _inputs(samples, net):
    """The probe inputs: samples as the reports take them, or a bare input matrix."""
    if isinstance(samples, np.ndarray):
        X = np.ascontiguousarray(samples, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != net.input_size:
            raise ValueError(f"samples: an input matrix must have shape (samples, "
                             f"{net.input_size}), got {X.shape}")
        return X if len(X) else None
    return as_arrays(samples, net.input_size, net.output_size)[0]


def repair(merged, endpoints, samples, weights=None, *, in_place=False):
    """REPAIR a merged net: reset each hidden unit's pre-activation mean and
    standard deviation over ``samples`` to the endpoints' (mixed with
    ``weights``), folding the correction into weights and biases.

    Works on any fully-connected stack (ReLU, tanh, sigmoid, or linear
    layers followed by activation layers); the output layer is not changed.

    Parameters
    ----------
    merged : TNNet
        The merged net (not modified unless ``in_place``).
    endpoints : sequence of TNNet, snapshot or data-only ``.nn`` text
        The nets that were averaged, of ``merged``'s architecture, with
        their hidden units already aligned to it (for an aligned merge, A
        and the aligned B).
    samples : TNNetVolumePairList, sequence of pairs, (X, Y), or an input matrix X
        The probe data the statistics are measured on (only inputs are used).
    weights : sequence of float, optional
        The merge weights of the endpoints (default uniform; for
        ``(1 - alpha) * A + alpha * B`` pass ``(1 - alpha, alpha)``).
    in_place : bool
        Correct ``merged`` itself instead of a new net.

    Returns
    -------
    RepairResult: ``.net`` (the repaired net), ``.snapshot``, ``.layers``
    (per hidden layer the target, before and after statistics).

    Raises
    ------
    ArchitectureError
        An endpoint of another architecture.
    NNFormatError
        An endpoint is malformed text.
    ValueError
        Empty samples or no endpoints, samples that do not fit, bad
        weights (wrong count, negative, not finite, zero sum).
    TypeError
        ``endpoints`` is not a sequence (a str is not one), or samples in a
        form REPAIR does not take.
    """
    out = new_net_like(merged)              # one state of merged, read once
    work = interp.work_copy(out)
    snaps = _endpoint_snapshots(work, endpoints)
    X = _inputs(samples, work)
    if X is None:
        raise ValueError("repair: samples is nil or empty")
    w = mix_weights(weights, len(snaps))
    snap, layers = repair_snapshot(work, work.snapshot(), snaps, w, X)
    out.restore(snap)
    if in_place:
        merged.restore(snap)
        out = merged
    return RepairResult(out, snap, layers, len(X), tuple(float(v) for v in w))
