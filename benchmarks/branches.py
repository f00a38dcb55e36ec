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

A full run writes ``benchmarks/results/branches.json``: the date, the
machine, the load average at the start and the end, the wall and CPU
seconds of the run, the figures and the printed output; and the printed
output alone as ``branches.txt``, which ``docs/guide/branches.md``
includes.
"""
import argparse
import datetime
import io
import json
import os
import pathlib
import sys
import time

import numpy as np

from .harness import load_example, machine_summary

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "branches.json"
TARGETS = {"linear": 0.60, "repaired": 0.90, "merge": -0.025, "seconds": 10.0}
# The original's per-sample training speed of this net: measured by the
# author of issue 23 on this machine class (not re-measured here).
PASCAL_SAMPLES_PER_S = 115
TRAIN_SAMPLES = 500


def timed(call):
    """``(call(), wall seconds, CPU seconds of this process, 1-minute load
    average at the end)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = call()
    return out, time.perf_counter() - wall, time.process_time() - cpu, os.getloadavg()[0]


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
        r, wall, _, _ = timed(lambda: report(score_mode=mode, **ORIGINAL_OPTIONS))
        rows[f"the original, mode {mode}"] = (r.post_barrier, wall)
    pre = r.pre_barrier
    yard, wall, _, _ = timed(lambda: a.mode_connectivity_report(plain_matching(a, b, probe[0]),
                                                                held).barrier)
    rows["plain matching (numpy yardstick)"] = (yard, wall)
    default, wall, cpu, load = timed(report)
    rows["default"] = (default.post_barrier, wall)
    fixed = report(repair=True)
    rows["default, REPAIR'd path (before each sum)"] = (fixed.repaired_barrier, None)
    after = repaired_after_sums_sweep(interp.work_copy(a), a.snapshot(),
                                      pn.permute(b, fixed.permutations).snapshot(), probe[0],
                                      held[0], held[1], fixed.post)
    rows["default, REPAIR'd path (after each sum)"] = (after.barrier, None)
    merge, merge_wall, _, _ = timed(lambda: a.merge_with(b, probe, repair=True,
                                                         eval_samples=held, progress=False))
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
        _, wall, cpu, load = timed(lambda: train(range(len(X))))
    finally:
        torch.set_num_threads(threads)
    return len(X) / wall, wall, cpu, load


def training_speed(ex, data, n=TRAIN_SAMPLES):
    """pyneural's per-sample training of the example's net (``fit_samples``)
    and torch's on one thread, on ``n`` training images."""
    X, Y = (v[:n] for v in data["train"])
    net = ex.build_resnet(1)
    net.fit_samples(X[:20], Y[:20])                       # warm-up
    _, wall, cpu, load = timed(lambda: net.fit_samples(X, Y))
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
          f"measured by the author of issue 23 on this machine class, not here)")
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


def summarise(pairs):
    """The mean, the worst pair and how many pairs meet each target;
    returns the figures as a dict key -> (text, value)."""
    figures = {}
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
        figures[f"{key}_mean"] = (show(mean), mean)
        figures[f"{key}_worst"] = (show(worst), float(worst))
    above = sum(p["linear"] > p["yardstick"] for p in pairs)
    print(f"   default above the yardstick on {above} of {len(pairs)} pairs")
    cpus, loads = [p["cpu"] for p in pairs], [p["load"] for p in pairs]
    print(f"   default report CPU seconds {min(cpus):.1f}-{max(cpus):.1f}, load average "
          f"{min(loads):.1f}-{max(loads):.1f} (2 cores shared with other jobs)\n")
    figures["above_yardstick"] = (f"{above} of {len(pairs)}", above)
    return figures


def write_results(path, argv, started, figures, pairs, training, output):
    """``benchmarks/results/branches.json``: what ran, when, on what, how
    long, the figures and the printed output."""
    wall0, cpu0, load0, date = started
    record = {"benchmark": "branches",
              "command": " ".join(["python -m benchmarks.branches", *argv]),
              "date": date, "machine": machine_summary(),
              "load_average": {"start": load0, "end": list(os.getloadavg())},
              "wall_seconds": round(time.perf_counter() - wall0, 2),
              "cpu_seconds": round(time.process_time() - cpu0, 2),
              "figures": {k: {"text": t, "value": v} for k, (t, v) in figures.items()},
              "pairs": pairs, "training": training, "output": output}
    path.parent.mkdir(parents=True, exist_ok=True)
    for where, text in ((path, json.dumps(record, indent=1, default=float) + "\n"),
                        (path.with_suffix(".txt"), output)):
        tmp = where.with_name(where.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, where)
    print(f"(results written to {path.relative_to(RESULTS.parents[2])} and its .txt)")


class _Tee(io.StringIO):
    """stdout that also keeps what was printed."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream

    def write(self, text):
        self.stream.write(text)
        return super().write(text)


def _pairs(text):
    seeds = [int(s) for s in text.split(",")]
    if len(seeds) % 2:
        raise argparse.ArgumentTypeError("give seeds in pairs, e.g. 1,2,3,4")
    return [tuple(seeds[i:i + 2]) for i in range(0, len(seeds), 2)]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.branches",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=_pairs, default=[(1, 2), (3, 4), (5, 6)],
                        help="seed pairs, e.g. 1,2,3,4 (default 1,2,3,4,5,6)")
    parser.add_argument("--no-training", action="store_true",
                        help="leave out the training speed")
    parser.add_argument("--no-cache", action="store_true", help="always train the nets")
    args = parser.parse_args(argv)
    full = args.pairs == [(1, 2), (3, 4), (5, 6)] and not args.no_training
    started = (time.perf_counter(), time.process_time(), list(os.getloadavg()),
               datetime.datetime.now().astimezone().isoformat(timespec="seconds"))
    tee = _Tee(sys.stdout)
    stdout, sys.stdout = sys.stdout, tee
    try:
        print(machine_summary() + "\n")
        ex = load_example("mnist_resnet")
        data = ex.load_split()
        cache = None if args.no_cache else ex.DEFAULT_CACHE
        pairs = [run_pair(ex, seeds, data, cache) for seeds in args.pairs]
        figures = summarise(pairs)
        training = None if args.no_training else training_speed(ex, data)
        if training:
            figures["train_rate"] = (f"{training['pyneural']['rate']:.0f}",
                                     training["pyneural"]["rate"])
            if training["torch"]:
                figures["torch_rate"] = (f"{training['torch']['rate']:.0f}",
                                         training["torch"]["rate"])
    finally:
        sys.stdout = stdout
    if full:
        write_results(RESULTS, argv, started, figures, pairs, training, tee.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
