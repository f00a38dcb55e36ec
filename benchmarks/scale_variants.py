"""Paper scale, what we tried against the open targets: REPAIR variants,
matching variants and the assignment steps from other starts, measured on
held-out images.

    python -m benchmarks.scale_variants                 # pairs (1, 2) and (3, 4), ~7 min
    python -m benchmarks.scale_variants --pairs 5,6 7,8 --no-steps
    python -m benchmarks.scale_variants --data-limit --pairs 1,2 3,4 5,6 7,8   # ~8 min

The nets and the split are ``examples/mnist_rebasin.py``'s (784-512x3-10,
500 probes, 1,000 held-out images; a pair whose nets are not cached is
trained first, ~1 min a net). Alignment and REPAIR statistics see only the
probes unless a row says otherwise; every number is on the held-out images,
as in ``benchmarks.scale``. The REPAIR variants are plain numpy (the
library's REPAIR is the ``pre-activation mean and std`` row: on plain
activation matching's permutations it reproduces the library's 93.3% on
pairs (1, 2) and (3, 4)); the step rows call the library's
``assignment_steps``. Columns: held-out reduction of the linear barrier,
of the REPAIR'd barrier (K=10) and, for the matching rows, with REPAIR also
on the output layer; merged (alpha 0.5, REPAIR'd) accuracy minus the
endpoints' mean.

``--data-limit`` asks how far the probes' number limits the three
quality targets: the library's defaults (report, report with
``repair=True``, ``merge_with(..., repair=True)``) given the 500 probes and
given the 3,500 training images as probes (7x the data, which the report
never has), every number on the held-out images.
"""
import argparse
import sys

import numpy as np
from scipy.optimize import linear_sum_assignment

from .harness import load_example, machine_summary
from .results import Run, add_results_option, results_path, timed
from .scale import _barrier, _forward, _layers, _permute

K = 10


def _pre_activations(layers, X):
    """Every layer's pre-activation (the last is the output)."""
    zs, h = [], X
    for t, (w, b) in enumerate(layers):
        zs.append(h @ w.T + b)
        h = zs[-1] if t == len(layers) - 1 else np.maximum(zs[-1], 0)
    return zs


def _mix(la, lb, a):
    return [(wa * (1 - a) + wb * a, ba * (1 - a) + bb * a) for (wa, ba), (wb, bb) in zip(la, lb)]


def _stats(z):
    z = np.asarray(z, np.float64)
    return z.mean(0), z.std(0)


def repaired(merged, stats_a, stats_b, a, X, *, correct="both", shrink=1.0, output=False):
    """REPAIR of ``merged`` (layers) towards the (1 - a, a) mix of the
    endpoints' pre-activation statistics, front to back, folded into the
    weights.

    Parameters
    ----------
    merged : list of (W, b)
    stats_a, stats_b : per layer (mean, std) of the endpoints on X.
    a : float, B's weight.
    X : the inputs the merged net's statistics are measured on.
    correct : "both" (the library's REPAIR), "std" (keep the merged mean)
        or "mean" (keep the merged spread).
    shrink : the scale is ``1 + shrink * (sd_t / sd_m - 1)``.
    output : also correct the output layer's pre-activations.

    Returns
    -------
    list of (W, b)
    """
    out, h = [], X
    last = len(merged) - 1
    for t, (w, b) in enumerate(merged):
        if t < last or output:
            mu_m, sd_m = _stats(h @ w.T + b)
            mu_t = (1 - a) * stats_a[t][0] + a * stats_b[t][0]
            sd_t = (1 - a) * stats_a[t][1] + a * stats_b[t][1]
            ok = sd_m > 1e-6
            s = 1 + shrink * (np.where(ok, sd_t / np.where(ok, sd_m, 1), 1.0) - 1)
            if correct == "mean":
                s = np.ones_like(s)
            shift = np.where(ok, (mu_m if correct == "std" else mu_t) - mu_m * s, 0.0)
            w = (w.astype(np.float64) * s[:, None]).astype(np.float32)
            b = (b.astype(np.float64) * s + shift).astype(np.float32)
        out.append((w, b))
        z = h @ w.T + b
        h = z if t == last else np.maximum(z, 0)
    return out


def _loss_acc(layers, X, Y):
    out = _forward(layers, X)[-1]
    return (float(np.mean(0.5 * np.sum((out - Y) ** 2, axis=1) / Y.shape[1])),
            float(np.mean(out.argmax(1) == Y.argmax(1))))


def repaired_curve(la, lb, X, EX, EY, **kw):
    """Held-out (losses, accuracies) of the REPAIR'd path, statistics on X."""
    za, zb = _pre_activations(la, X), _pre_activations(lb, X)
    sa, sb = [_stats(z) for z in za], [_stats(z) for z in zb]
    losses, accs = [], []
    for a in np.arange(K + 1) / K:
        net = _mix(la, lb, a)
        if 0 < a < 1:
            net = repaired(net, sa, sb, a, X, **kw)
        loss, acc = _loss_acc(net, EX, EY)
        losses.append(loss)
        accs.append(acc)
    return losses, accs


def _cosine(a, b, axis):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    na = a / (np.linalg.norm(a, axis=axis, keepdims=True) + 1e-12)
    nb = b / (np.linalg.norm(b, axis=axis, keepdims=True) + 1e-12)
    return na.T @ nb if axis == 0 else na @ nb.T


def activation_matching(la, lb, X, weight_bonus=0.0, passes=2):
    """Hungarian on the cosine of the hidden outputs over X (the report's
    activation matching); with ``weight_bonus`` > 0, then ``passes`` passes
    of coordinate descent that add ``weight_bonus`` x the mean of the
    incoming-row and outgoing-column cosines (neighbours' permutations as
    they are): weights break the near-ties that 500 probes leave.

    Returns
    -------
    list of permutations (B unit at A's position i).
    """
    ha, hb = _forward(la, X)[:-1], _forward(lb, X)[:-1]
    S = [_cosine(a, b, 0) for a, b in zip(ha, hb)]
    perms = [linear_sum_assignment(s, maximize=True)[1] for s in S]
    for _ in range(passes if weight_bonus else 0):
        for t in range(len(perms)):
            w_in = lb[t][0] if t == 0 else lb[t][0][:, perms[t - 1]]
            rows_a = np.column_stack(la[t])
            rows_b = np.column_stack([w_in, lb[t][1]])
            w_out = lb[t + 1][0] if t + 1 == len(perms) else lb[t + 1][0][perms[t + 1]]
            W = (_cosine(rows_a, rows_b, 1) + _cosine(la[t + 1][0].T, w_out.T, 1)) / 2
            perms[t] = linear_sum_assignment(S[t] + weight_bonus * W, maximize=True)[1]
    return perms


def augmented(X, kind, rng, copies=4):
    """The probes plus ``copies`` cheap variants of them: "noise" (Gaussian,
    half each pixel's spread), "mixup" (convex combinations with a random
    partner), "shift" (one-pixel shifts of the 28x28 images, MNIST only)."""
    if kind == "noise":
        sd = X.std(0, keepdims=True)
        extra = [X + 0.5 * sd * rng.standard_normal(X.shape).astype(np.float32)
                 for _ in range(copies)]
    elif kind == "mixup":
        extra = []
        for _ in range(copies):
            lam = rng.uniform(0, 1, (len(X), 1)).astype(np.float32)
            extra.append(lam * X + (1 - lam) * X[rng.permutation(len(X))])
    else:
        im = X.reshape(-1, 28, 28)
        extra = [np.roll(im, d, axis).reshape(len(X), -1) for d in (1, -1) for axis in (1, 2)]
    return np.concatenate([X] + extra)


def _pct(x):
    return f"{100 * x:.2f}%"


def run_pair(ex, data, seeds, steps=True):
    """Print the rows of one pair."""
    from pyneural.reports import assignment_steps as steps_mod, symmetry
    from pyneural.reports import interpolation as interp

    (PX, PY), (HX, HY), (TX, _) = data["probe"], data["held_out"], data["train"]
    net_a, net_b = ex.trained_nets(seeds, data["train"])
    la, lb = _layers(net_a), _layers(net_b)
    ends = (_loss_acc(la, HX, HY)[1] + _loss_acc(lb, HX, HY)[1]) / 2
    pre = _barrier(la, lb, HX, HY, K)
    red = lambda losses: 1 - (max(losses) - max(losses[0], losses[-1])) / pre  # noqa: E731
    print(f"\npair {seeds}: endpoints' held-out accuracy {100 * ends:.2f}%, "
          f"pre-alignment barrier {pre:.5f}", flush=True)
    base = activation_matching(la, lb, PX)
    lbp = _permute(lb, base)
    rng = np.random.default_rng(0)
    print("REPAIR variants on activation matching (Hungarian, cosine of outputs, probes):")
    variants = [("pre-activation mean and std (the library's)", PX, {}),
                ("std only", PX, {"correct": "std"}),
                ("mean only", PX, {"correct": "mean"}),
                ("scale shrunk 20% toward 1", PX, {"shrink": 0.8}),
                ("also the output layer", PX, {"output": True}),
                ("statistics on probes + 4 noisy copies", augmented(PX, "noise", rng), {}),
                ("statistics on probes + 4 mixup copies", augmented(PX, "mixup", rng), {}),
                ("statistics on probes + 4 one-pixel shifts", augmented(PX, "shift", rng), {}),
                ("statistics on the 3,500 training images", TX, {})]
    for label, X, kw in variants:
        losses, accs = repaired_curve(la, lbp, X, HX, HY, **kw)
        print(f"  {label:<46} REPAIR'd {_pct(red(losses))}  merged {100 * accs[K // 2]:.2f}% "
              f"({100 * (accs[K // 2] - ends):+.2f})", flush=True)
    print("Matching variants (REPAIR statistics on the probes):")
    starts = [("activation matching (the report's)", base),
              ("same on probes + 4 noisy copies", activation_matching(
                  la, lb, augmented(PX, "noise", rng))),
              ("same on the 3,500 training images", activation_matching(la, lb, TX)),
              *((f"+ weight tie-break {w}", activation_matching(la, lb, PX, w))
                for w in (0.15, 0.3, 0.5, 1.0))]
    work = net_a.clone()
    sa, sb = net_a.snapshot(), net_b.snapshot()
    hidden = symmetry.hidden_layers(work)
    for label, perms in starts:
        lbp = _permute(lb, perms)
        linear = red([_loss_acc(_mix(la, lbp, a), HX, HY)[0] for a in np.arange(K + 1) / K])
        losses, accs = repaired_curve(la, lbp, PX, HX, HY)
        out_losses, _ = repaired_curve(la, lbp, PX, HX, HY, output=True)
        line = (f"  {label:<36} linear {_pct(linear)}  REPAIR'd {_pct(red(losses))} "
                f"(+ output layer {_pct(red(out_losses))})  merged {100 * accs[K // 2]:.2f}% "
                f"({100 * (accs[K // 2] - ends):+.2f})")
        if perms is not base:
            line += ("\n      units paired otherwise than by the report's matching, per layer: "
                     + ", ".join(str(int(np.sum(p != q))) for p, q in zip(perms, base)))
        if steps and "training" not in label:
            for min_gain in (steps_mod.MIN_GAIN, 0.0):
                saved, steps_mod.MIN_GAIN = steps_mod.MIN_GAIN, min_gain
                try:
                    p, st = steps_mod.assignment_steps(work, sa, sb, hidden, perms, PX, PY, K)
                finally:
                    steps_mod.MIN_GAIN = saved
                h = interp.sweep(work, sa, symmetry.permute_all(work, sb, hidden, p), HX, HY, K,
                                 exact=False).barrier
                fit = 1 - st.barrier_after / st.barrier_before
                line += (f"\n      then the steps (MIN_GAIN {min_gain}): {st.passes} steps, "
                         f"linear {_pct(1 - h / pre)} (probe barrier {_pct(fit)} below the "
                         f"start's)")
        print(line, flush=True)


def data_limit_rows(ex, data, pairs):
    """Print, per pair, the library's defaults given the 500 probes and
    given the 3,500 training images as probes (7x the data, which the
    report never has): held-out linear reduction of the default report,
    REPAIR'd reduction with ``repair=True``, and ``merge_with(...,
    repair=True)``'s accuracy minus the endpoints' mean; then the means,
    the worst and the pairs meeting the targets."""
    held = data["held_out"]
    sources = (("500 probes", data["probe"]), ("3,500 training images", data["train"]))
    print("the library's defaults with the probes / with the training images as probes; "
          "held-out: linear reduction, REPAIR'd reduction, merge minus the endpoints")
    rows = []
    for seeds in pairs:
        net_a, net_b = ex.trained_nets(seeds, data["train"])
        ends = (ex.accuracy(net_a, held) + ex.accuracy(net_b, held)) / 2
        row, line = [], f"  pair {seeds}:"
        for label, probes in sources:
            def three(probes=probes):
                lin = net_a.permutation_align_report(net_b, probes, eval_samples=held,
                                                     check_scale=False, progress=False)
                rep = net_a.permutation_align_report(net_b, probes, eval_samples=held,
                                                     repair=True, check_scale=False,
                                                     progress=False)
                merged = net_a.merge_with(net_b, probes, repair=True, eval_samples=held,
                                          progress=False).repaired.accuracy
                return lin, rep, merged
            (lin, rep, merged), took = timed(three)
            row += [lin.reduction, 1 - rep.repaired_barrier / rep.pre_barrier, merged - ends]
            line += (f"  {label}: {_pct(row[-3])} / {_pct(row[-2])} / "
                     f"{100 * row[-1]:+.2f} ({took})")
        rows.append(row)
        print(line, flush=True)
    rows = np.array(rows)
    for i, (label, _) in enumerate(sources):
        lin, rep, gap = rows[:, 3 * i], rows[:, 3 * i + 1], rows[:, 3 * i + 2]
        print(f"  {label}, mean / worst over {len(rows)} pairs: linear {_pct(lin.mean())} / "
              f"{_pct(lin.min())} ({int(np.sum(lin >= 0.88))} at 88% or more), REPAIR'd "
              f"{_pct(rep.mean())} / {_pct(rep.min())} ({int(np.sum(rep >= 0.95))} at 95% or "
              f"more), merge {100 * gap.mean():+.2f} / {100 * gap.min():+.2f} points "
              f"({int(np.sum(gap >= -0.01))} within 1 point)")


def main(argv=None):
    """Run the rows for every pair; returns 0."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale_variants",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="+", default=["1,2", "3,4"], help="seed pairs, 'a,b'")
    parser.add_argument("--no-steps", action="store_true", help="skip the assignment-step rows")
    parser.add_argument("--data-limit", action="store_true",
                        help="only the library's defaults with the probes against with the "
                             "training images as probes")
    add_results_option(parser)
    args = parser.parse_args(argv)
    ex = load_example("mnist_rebasin")
    pairs = [tuple(int(s) for s in pair.split(",")) for pair in args.pairs]
    partial = args.data_limit or args.no_steps or pairs != [(1, 2), (3, 4)]
    with Run("scale_variants", results_path(args, "scale_variants", partial),
             argv if argv is not None else sys.argv[1:]):
        print(f"pyneural paper-scale variants - {machine_summary()}")
        data = ex.load_split()
        if args.data_limit:
            data_limit_rows(ex, data, pairs)
        else:
            for seeds in pairs:
                run_pair(ex, data, seeds, steps=not args.no_steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
