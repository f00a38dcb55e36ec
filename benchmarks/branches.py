"""Nets with branches: the residual pairs of ``examples/mnist_resnet.py``
aligned as tied channel groups, measured on held-out images the alignment
never saw; per-sample training speed against torch.

    python -m benchmarks.branches                  # seed pairs (1,2), (3,4), (5,6)
    python -m benchmarks.branches --pairs 1,2      # one pair (writes no results file)
    python -m benchmarks.branches --no-training    # the alignment table only

The nets and the split are the example's (a stem convolution and two
residual blocks of 16 channels, 2x2 max-pooling, 64 hidden, 10 outputs;
3,500 training images, 3 passes; 500 probes for alignment and REPAIR,
1,000 held-out images for every number). Per pair:

- the barrier before alignment;
- the original's report in score modes 0 and 1: pyneural's ``--original``
  path (``ORIGINAL_OPTIONS``), which prints the original's report byte for
  byte on the residual pair of ``tests/fixtures/branches/report``, so these
  are the original's numbers on these nets (it permutes only the dense
  layer);
- a plain yardstick timed in the same run, numpy and scipy only: each
  permutation group of ``symmetry.hidden_layers`` (the same tied groups)
  matched by Hungarian assignment on the correlation of its producers'
  channel activations over samples x positions, summed over the producers;
- pyneural's default report (wall and CPU seconds, load average);
- the default's REPAIR'd path, with REPAIR at each producer before the sum
  (pyneural's) and, measured here for comparison, after each sum;
- ``merge_with(repair=True)`` against the endpoints' mean accuracy.

Then the per-sample training speed of the net (``fit_samples``; samples/s,
wall and CPU seconds, load) against torch on one thread (per-sample SGD
with momentum on the same architecture; left out, and said so, without
torch), and the original's speed, a stated constant.

A full run writes ``benchmarks/results/branches.json`` (the figures the
docs quote, the table of the pairs and the printed output, which
``docs/guide/branches-align.md`` shows).
"""
import argparse
import sys

import numpy as np

from .harness import load_example, machine_summary
from .results import Run, add_results_option, results_path, timed

TARGETS = {"linear": 0.60, "repaired": 0.90, "merge": -0.025, "seconds": 10.0}
# The original's per-sample training speed of this net, a constant: this
# benchmark cannot run the Pascal library.
PASCAL_SAMPLES_PER_S = 271
PASCAL_SOURCE = ("the original's per-sample training rate of this net, 271 samples/s: measured "
                 "on 2026-12-06 on this 2-core Xeon, idle, by pyneural's developers with the "
                 "original built from its source (commit 1c30c9f, FPC 3.2.2 -O2, no AVX "
                 "define), Compute and Backpropagate on the same 500 training images, three "
                 "passes at 289, 271 and 249 samples/s (the median); issue 23 quotes 115 "
                 "samples/s from another build")
TRAIN_SAMPLES = 500
PAIRS = [(1, 2), (3, 4), (5, 6)]


def plain_matching(a, b, X):
    """The yardstick: B permuted so that each of the nets' permutation
    groups matches A's by Hungarian assignment on the correlation of the
    activations of its producers (a channel's over samples x positions),
    summed over the producers; numpy and scipy only."""
    import pyneural as pn
    from pyneural.reports import symmetry
    from scipy.optimize import linear_sum_assignment
    outs_a, outs_b = a.layer_outputs(X), b.layer_outputs(X)
    perms = []
    for group in symmetry.hidden_layers(a):
        S = 0
        for i, units in group.units.items():
            n = a.layers[i].neurons
            A = outs_a[i].reshape(-1, n)[:, units].astype(np.float64)
            B = outs_b[i].reshape(-1, n)[:, units].astype(np.float64)
            A = (A - A.mean(0)) / (A.std(0) + 1e-12)
            B = (B - B.mean(0)) / (B.std(0) + 1e-12)
            S = S + A.T @ B / len(A)
        perms.append(linear_sum_assignment(S, maximize=True)[1])
    return pn.permute(b, perms)


# ------------------------------------------------- REPAIR after the sums --

# The example's net: the stem (1) and each block's second convolution (3,
# 8) write into the sums (4, 9); the first block's convolution (2) also
# reads the stem; 6 is the pooled stream the second sum adds.
STEM, FIRST_SUM_BRANCH, SECOND_BRANCH, FIRST_SUM, SECOND_SUM, POOLED = 1, 3, 8, 4, 9, 6
ALONE = (2, 7, 12)            # producers that write into no sum


def _channel_stats(z, n):
    z = np.asarray(z, np.float64).reshape(-1, n)
    return z.mean(0), z.std(0)


def _sum_statistics(work, snap, X):
    """Per layer of ALONE its pre-activation's, per sum its output's mean
    and std (float64)."""
    from pyneural.reports import forward
    outs = forward.outputs(work, snap, X, [work.layers[i].prev for i in ALONE]
                           + [FIRST_SUM, SECOND_SUM])
    stats = {}
    for i in ALONE:
        layer = work.layers[i]
        z = layer.pre_activation(outs[layer.prev], *layer.split(snap[i].data))
        stats[i] = _channel_stats(z, layer.neurons)
    for i in (FIRST_SUM, SECOND_SUM):
        stats[i] = _channel_stats(outs[i], work.layers[i].output.shape[2])
    return stats


def _scale(layer, params, s, shift):
    w, b = layer.split(params)
    w[:] = (w.astype(np.float64) * s[:, None]).astype(np.float32)
    b[:] = (b.astype(np.float64) * s + shift).astype(np.float32)


def repair_after_sums(work, merged, statistics, weights, X):
    """The merged snapshot with REPAIR resetting the residual stream after
    each sum instead of at each producer before it: the producers that
    write into no sum as REPAIR does; the stem and the first block's second
    convolution scaled alike per channel, the shift on the latter, so that
    the first sum's output has the target mean and spread (the first
    block's first convolution, which also reads the stem, compensating);
    the second block's second convolution alone scaled and shifted so that
    the second sum, it plus the pooled stream, has them (the scale solves
    var(s u + v) = target^2; 1 where there is no positive root).
    Two walks: the first block is folded, then the rest runs on it."""
    from pyneural.reports.forward import walk
    snap = [v.copy() for v in merged]
    target = {i: [sum(w * s[i][j] for w, s in zip(weights, statistics)) for j in (0, 1)]
              for i in statistics[0]}
    seen = {}

    def alone(layer, params, z):
        mu, sd = _channel_stats(z, layer.neurons)
        s = np.where(sd > 1e-6, target[layer.index][1] / np.maximum(sd, 1e-12), 1.0)
        _scale(layer, params, s, target[layer.index][0] - mu * s)

    def first_block(i, h):
        layer, params = work.layers[i], snap[i].data
        z = layer.pre_activation(h, *layer.split(params))
        if i == STEM:
            seen[STEM] = z
            return z
        if i in ALONE:
            alone(layer, params, z)
        else:
            mu, sd = _channel_stats(seen[STEM] + z, layer.neurons)
            s = np.where(sd > 1e-6, target[FIRST_SUM][1] / np.maximum(sd, 1e-12), 1.0)
            _scale(work.layers[STEM], snap[STEM].data, s, 0.0)
            _scale(layer, params, s, target[FIRST_SUM][0] - mu * s)
            reader = work.layers[STEM + 1]
            reader.kernels(reader.split(snap[STEM + 1].data)[0])[:] /= s.astype(np.float32)
        return None

    def rest(i, h):
        layer, params = work.layers[i], snap[i].data
        if i <= FIRST_SUM_BRANCH:
            return None
        if layer.prev == POOLED:
            seen[POOLED] = h
        z = layer.pre_activation(h, *layer.split(params))
        if i in ALONE:
            alone(layer, params, z)
        else:
            u = np.asarray(z, np.float64).reshape(-1, layer.neurons)
            v = np.asarray(seen[POOLED], np.float64).reshape(-1, layer.neurons)
            var_u, var_v = u.var(0), v.var(0)
            cov = ((u - u.mean(0)) * (v - v.mean(0))).mean(0)
            disc = cov ** 2 - var_u * (var_v - target[SECOND_SUM][1] ** 2)
            root = (-cov + np.sqrt(np.maximum(disc, 0))) / np.maximum(var_u, 1e-12)
            s = np.where((disc >= 0) & (root > 0) & (var_u > 1e-12), root, 1.0)
            _scale(layer, params, s, target[SECOND_SUM][0] - s * u.mean(0) - v.mean(0))
        return None
    walk(work, snap, X, until=FIRST_SUM_BRANCH, before=first_block)
    walk(work, snap, X, until=ALONE[-1], before=rest)
    return snap


def repaired_after_sums_sweep(work, snap_a, snap_b, X, EX, EY, linear):
    """The REPAIR'd path of ``repair_after_sums`` (as ``repair.repaired_sweep``)."""
    from pyneural.reports import interpolation as interp
    statistics = [_sum_statistics(work, s, X) for s in (snap_a, snap_b)]
    losses = linear.losses.copy()
    for i in range(1, len(linear.alphas) - 1):
        a = float(linear.alphas[i])
        work.interpolate(snap_a, snap_b, a)
        work.restore(repair_after_sums(work, work.snapshot(), statistics, (1 - a, a), X))
        losses[i] = interp.mean_loss(interp.outputs(work, EX, False), EY)
    return interp.Curve(linear.alphas, losses, linear.accuracies.copy())


# ------------------------------------------------------------- the pairs --

def run_pair(ex, seeds, data, cache):
    """Every number of one seed pair, as a dict."""
    import pyneural as pn
    from pyneural.reports import interpolation as interp
    from pyneural.reports.permutation_align import ORIGINAL_OPTIONS
    a, b = ex.trained_resnets(seeds, data["train"], cache)
    probe, held = data["probe"], data["held_out"]

    def report(**options):
        return a.permutation_align_report(b, probe, eval_samples=held, progress=False,
                                          **{"check_scale": False, **options})
    rows = {}
    for mode in (0, 1):
        r, t = timed(lambda: report(score_mode=mode, **ORIGINAL_OPTIONS))
        rows[f"the original, mode {mode}"] = (r.post_barrier, t.wall)
    pre = r.pre_barrier
    yard, t = timed(lambda: a.mode_connectivity_report(plain_matching(a, b, probe[0]),
                                                       held).barrier)
    rows["plain matching (numpy yardstick)"] = (yard, t.wall)
    default, t = timed(report)
    wall, cpu, load = t.wall, t.cpu, t.load
    rows["default"] = (default.post_barrier, wall)
    fixed = report(repair=True)
    rows["default, REPAIR'd path (before each sum)"] = (fixed.repaired_barrier, None)
    after = repaired_after_sums_sweep(interp.work_copy(a), a.snapshot(),
                                      pn.permute(b, fixed.permutations).snapshot(), probe[0],
                                      held[0], held[1], fixed.post)
    rows["default, REPAIR'd path (after each sum)"] = (after.barrier, None)
    merge, merge_time = timed(lambda: a.merge_with(b, probe, repair=True, eval_samples=held,
                                                    progress=False))
    merge_wall = merge_time.wall
    gap = merge.final.accuracy - merge.mean_endpoint_accuracy
    print(f"seeds {seeds}: held-out accuracy {100 * ex.accuracy(a, held):.1f}% / "
          f"{100 * ex.accuracy(b, held):.1f}%, barrier before alignment {pre:.5f}")
    print(f"   {'alignment':<42} {'barrier':>8} {'removed':>8} {'time':>7}")
    for label, (barrier, seconds) in rows.items():
        took = "" if seconds is None else f"{seconds:6.2f}s"
        print(f"   {label:<42} {barrier:8.5f} {100 * (pre - barrier) / pre:7.1f}% {took:>7}")
    print(f"   default report: {wall:.2f} s wall, {cpu:.2f} s CPU, load average {load:.2f}")
    print(f"   merge_with(repair=True): {100 * merge.final.accuracy:.2f}% vs the endpoints' "
          f"mean {100 * merge.mean_endpoint_accuracy:.2f}% ({100 * gap:+.2f} points), "
          f"{merge_wall:.1f} s\n")
    share = {label: (pre - barrier) / pre for label, (barrier, _) in rows.items()}
    return {"seeds": list(seeds), "pre": pre, "shares": share,
            "linear": share["default"], "yardstick": share["plain matching (numpy yardstick)"],
            "repaired": share["default, REPAIR'd path (before each sum)"],
            "repaired_after_sums": share["default, REPAIR'd path (after each sum)"],
            "merged": merge.final.accuracy, "endpoints": merge.mean_endpoint_accuracy,
            "merge": gap, "seconds": wall, "cpu": cpu, "load": load}


# ------------------------------------------------------------ training --

def torch_training(X, Y):
    """Per-sample SGD with momentum (lr 0.01, momentum 0.9, the loss
    ``0.5 * sum((y - t)^2)``) of the same architecture in torch on one
    thread: ``(samples/s, wall, CPU, load)``, or None without torch."""
    try:
        import torch
        from torch import nn
    except ImportError:
        return None

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 16, 3, padding=1)
            self.convs = nn.ModuleList(nn.Conv2d(16, 16, 3, padding=1) for _ in range(4))
            self.hidden, self.out = nn.Linear(16 * 7 * 7, 64), nn.Linear(64, 10)

        def forward(self, x):
            x = self.stem(x)
            for block in range(2):
                y = self.convs[2 * block + 1](torch.relu(self.convs[2 * block](x)))
                x = nn.functional.max_pool2d(torch.relu(y + x), 2)
            return self.out(torch.relu(self.hidden(x.flatten(1))))

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = ResNet()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        xs = torch.from_numpy(X.reshape(-1, 1, 28, 28).copy())
        ys = torch.from_numpy(Y)

        def train(rows):
            for i in rows:
                opt.zero_grad()
                loss = 0.5 * ((model(xs[i:i + 1]) - ys[i:i + 1]) ** 2).sum()
                loss.backward()
                opt.step()
        train(range(20))                                  # warm-up
        _, t = timed(lambda: train(range(len(X))))
    finally:
        torch.set_num_threads(threads)
    return len(X) / t.wall, t.wall, t.cpu, t.load


def training_speed(ex, data, n=TRAIN_SAMPLES):
    """pyneural's per-sample training of the example's net (``fit_samples``)
    and torch's on one thread, on ``n`` training images."""
    X, Y = (v[:n] for v in data["train"])
    net = ex.build_resnet(1)
    net.fit_samples(X[:20], Y[:20])                       # warm-up
    _, t = timed(lambda: net.fit_samples(X, Y))
    wall, cpu, load = t.wall, t.cpu, t.load
    ours = {"rate": n / wall, "wall": wall, "cpu": cpu, "load": load}
    theirs = torch_training(X, Y)
    print(f"Per-sample training of the net on {n} images:")
    print(f"   pyneural fit_samples       {ours['rate']:8.0f} samples/s  ({wall:.2f} s wall, "
          f"{cpu:.2f} s CPU, load average {load:.2f})")
    if theirs is None:
        print("   torch, one thread          not measured: torch is not installed")
    else:
        print(f"   torch, one thread          {theirs[0]:8.0f} samples/s  ({theirs[1]:.2f} s "
              f"wall, {theirs[2]:.2f} s CPU, load average {theirs[3]:.2f})")
    print(f"   the original (Pascal)      {PASCAL_SAMPLES_PER_S:8d} samples/s  (a constant: "
          f"{PASCAL_SOURCE})")
    ratio = ours["rate"] / PASCAL_SAMPLES_PER_S
    print(f"   pyneural / the original: {ratio:.1f}x (target >= 3x)"
          + ("" if theirs is None else f"; pyneural / torch: {ours['rate'] / theirs[0]:.2f}x "
                                       f"(target >= 1x)") + "\n")
    return {"samples": n, "pyneural": ours,
            "torch": None if theirs is None else dict(zip(("rate", "wall", "cpu", "load"),
                                                          theirs)),
            "pascal_rate": PASCAL_SAMPLES_PER_S}


# ------------------------------------------------------------- summary --

def _share(v):
    return f"{100 * v:.1f}%"


def summarise(run, pairs):
    """Print the mean, the worst pair and how many pairs meet each target;
    record them, and the table of the pairs, in ``run``."""
    print(f"Over {len(pairs)} pair(s) (mean / worst / pairs meeting the target):")
    for key, label, show, target in (
            ("linear", "default linear reduction (target >= 60%, above the yardstick)", _share,
             TARGETS["linear"]),
            ("yardstick", "plain matching yardstick", _share, None),
            ("repaired", "default REPAIR'd reduction (target >= 90%)", _share,
             TARGETS["repaired"]),
            ("repaired_after_sums", "REPAIR'd, reset after each sum instead", _share, None),
            ("merge", "REPAIR'd merge vs endpoints (target within 2.5 points)",
             lambda v: f"{100 * v:+.2f} points", TARGETS["merge"]),
            ("seconds", "default report wall time (target <= 10 s idle)",
             lambda v: f"{v:.2f} s", TARGETS["seconds"])):
        values = [p[key] for p in pairs]
        lower_is_better = key == "seconds"
        worst = max(values) if lower_is_better else min(values)
        met = ""
        if target is not None:
            ok = [v <= target if lower_is_better else v >= target for v in values]
            met = f", {sum(ok)} of {len(values)} meet it"
        mean = float(np.mean(values))
        print(f"   {label}: {show(mean)} / {show(worst)}{met}")
        run.figure(f"{key}_mean", show(mean), mean)
        run.figure(f"{key}_worst", show(worst), float(worst))
    above = sum(p["linear"] > p["yardstick"] for p in pairs)
    print(f"   default above the yardstick on {above} of {len(pairs)} pairs")
    cpus, loads = [p["cpu"] for p in pairs], [p["load"] for p in pairs]
    print(f"   default report CPU seconds {min(cpus):.1f}-{max(cpus):.1f}, load average "
          f"{min(loads):.1f}-{max(loads):.1f}\n")
    run.figure("above_yardstick", f"{above} of {len(pairs)}", above)
    originals = [p["shares"][f"the original, mode {m}"] for p in pairs for m in (0, 1)]
    run.figure("original_range", f"{100 * min(originals):.1f}-{100 * max(originals):.1f}%",
               None)
    run.figure("cpu_range", f"{min(cpus):.1f}-{max(cpus):.1f} s", max(cpus))
    run.figure("load_range", f"{min(loads):.1f}-{max(loads):.1f}", max(loads))
    run.table("pairs", ["seed pair", "before", "the original (mode 0 / 1)",
                        "plain matching (numpy yardstick)", "default",
                        "default's time: wall / CPU / load", "default, REPAIR'd",
                        "merge + REPAIR vs endpoints"],
              [[f"({p['seeds'][0]}, {p['seeds'][1]})", f"{p['pre']:.4f}",
                f"{_share(p['shares']['the original, mode 0'])} / "
                f"{_share(p['shares']['the original, mode 1'])}",
                _share(p["yardstick"]), _share(p["linear"]),
                f"{p['seconds']:.1f} s / {p['cpu']:.1f} s / {p['load']:.1f}",
                _share(p["repaired"]),
                f"{100 * p['merged']:.2f}% vs {100 * p['endpoints']:.2f}%"] for p in pairs])


def _pairs(text):
    seeds = [int(s) for s in text.split(",")]
    if len(seeds) % 2:
        raise argparse.ArgumentTypeError("give seeds in pairs, e.g. 1,2,3,4")
    return [tuple(seeds[i:i + 2]) for i in range(0, len(seeds), 2)]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.branches",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=_pairs, default=PAIRS,
                        help="seed pairs, e.g. 1,2,3,4 (default 1,2,3,4,5,6)")
    parser.add_argument("--no-training", action="store_true",
                        help="leave out the training speed")
    parser.add_argument("--no-cache", action="store_true", help="always train the nets")
    add_results_option(parser)
    args = parser.parse_args(argv)
    partial = args.pairs != PAIRS or args.no_training
    ex = load_example("mnist_resnet")
    with Run("branches", results_path(args, "branches", partial),
             argv if argv is not None else sys.argv[1:]) as run:
        print(machine_summary() + "\n")
        data = ex.load_split()
        cache = None if args.no_cache else ex.DEFAULT_CACHE
        pairs = [run_pair(ex, seeds, data, cache) for seeds in args.pairs]
        summarise(run, pairs)
        if not args.no_training:
            training = training_speed(ex, data)
            ours, theirs = training["pyneural"], training["torch"]
            run.figure("train_rate", f"{ours['rate']:,.0f}", ours["rate"])
            run.figure("train_vs_original", f"{ours['rate'] / PASCAL_SAMPLES_PER_S:.1f}x",
                       ours["rate"] / PASCAL_SAMPLES_PER_S)
            if theirs is not None:
                run.figure("torch_rate", f"{theirs['rate']:,.0f}", theirs["rate"])
                run.figure("train_vs_torch", f"{ours['rate'] / theirs['rate']:.2f}x",
                           ours["rate"] / theirs["rate"])
            run.note("original_speed", PASCAL_SOURCE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
