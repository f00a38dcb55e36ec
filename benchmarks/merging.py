"""Model merging on real data: the targets, measured.

    python -m benchmarks.merging            # four seed pairs + merge_many of 4 nets (~1.5 min)
    python -m benchmarks.merging --quick    # two pairs, no MergeMany rounds (a smoke run)

scikit-learn digits with the split and training of examples/digits_merge.py
(1200 train / 300 probe / 297 test; 64-128-128-10 ReLU, per-sample SGD, 20
epochs). Alignment, refinement and REPAIR see only the 300 probes; every
number here is on the 297 test images. Each pair is merged at alpha 0.5 with
five score modes, each with and without REPAIR; then the four A nets are
merged into one with ``merge_many``. The targets are printed
with the measured numbers and PASS or MISS. Every time is printed as wall
seconds, CPU seconds of the process and the load average. A full run
writes ``benchmarks/results/merging.json``.
"""
import argparse
import sys

import numpy as np

import pyneural as pn

from .harness import load_example, machine_summary
from .results import Run, add_results_option, results_path, slug, timed

PAIRS = [(1, 2), (3, 4), (5, 6), (7, 8)]
DEFAULT = "default (auto + refinement)"


def _example():
    return load_example("digits_merge")


def _status(ok):
    return "PASS" if ok else "MISS"


def pair_rows(ex, data, pairs):
    """Merge every pair with every mode; prints a table per pair."""
    per_pair = []
    for seed_a, seed_b in pairs:
        a = ex.trained_net(data, seed_a)
        b = ex.trained_net(data, seed_b)
        results, times = {}, {}
        for label, mode, solver, refine in ex.MODES:
            results[label], times[label] = timed(lambda: a.merge_with(
                b, data["probe"], score_mode=mode, solver=solver, refine=refine, repair=True,
                eval_samples=data["test"], progress=False))
        r0 = results[DEFAULT]
        print(f"Pair seeds {seed_a}/{seed_b}: endpoints {100 * r0.endpoints[0].accuracy:.2f}% / "
              f"{100 * r0.endpoints[1].accuracy:.2f}%, naive average "
              f"{100 * r0.naive.accuracy:.2f}% (loss {r0.naive.loss:.4f}), naive + REPAIR "
              f"{100 * r0.naive_repaired.accuracy:.2f}% (loss {r0.naive_repaired.loss:.4f})")
        print(f"  {'score mode':28s} {'barrier':>8s} {'after':>8s} {'reduction':>9s}  "
              f"{'merged':>7s} {'loss':>7s}  {'+REPAIR':>7s} {'loss':>7s}  time")
        for label, r in results.items():
            print(f"  {label:28s} {r.pre_barrier:8.5f} {r.post_barrier:8.5f} "
                  f"{100 * r.reduction:8.1f}%  {100 * r.aligned.accuracy:6.2f}% "
                  f"{r.aligned.loss:7.4f}  {100 * r.repaired.accuracy:6.2f}% "
                  f"{r.repaired.loss:7.4f}  {times[label]}")
        print()
        per_pair.append(((seed_a, seed_b), results))
    return per_pair


def _points(values):
    lo, hi = min(values), max(values)
    return f"{lo:+.2f}" if f"{lo:+.2f}" == f"{hi:+.2f}" else f"{lo:+.2f} to {hi:+.2f}"


def targets(run, per_pair, many):
    """Print each target with its measurement and PASS or MISS; record
    the figures and the targets' table."""
    print("Targets (test split):")
    d = [res[DEFAULT] for _, res in per_pair]
    for (seeds, res) in per_pair:
        key = "p{}_{}.".format(*seeds)
        run.figure(key + "endpoints", f"{100 * res[DEFAULT].mean_endpoint_accuracy:.2f}%",
                   res[DEFAULT].mean_endpoint_accuracy)
        for label, *_ in _example().MODES:
            r = res[label]
            run.figure(key + slug(label) + ".merged", f"{100 * r.aligned.accuracy:.2f}%",
                       r.aligned.accuracy)
            run.figure(key + slug(label) + ".repaired", f"{100 * r.repaired.accuracy:.2f}%",
                       r.repaired.accuracy)
    rows = []
    red = np.array([100 * r.reduction for r in d])
    ok = red.mean() >= 88 and red.min() >= 85
    print(f"  1. default mode barrier reduction >= 88% mean, >= 85% every pair: mean "
          f"{red.mean():.1f}%, min {red.min():.1f}% ({', '.join(f'{v:.1f}%' for v in red)})"
          f"  {_status(ok)}")
    rows.append(["default mode barrier reduction >= 88% mean, >= 85% every pair",
                 f"mean {red.mean():.1f}%, min {red.min():.1f}% "
                 f"({', '.join(f'{v:.1f}' for v in red)})", _status(ok)])
    run.figure("reduction_mean", f"{red.mean():.1f}%", red.mean() / 100)

    gaps = [100 * (r.mean_endpoint_accuracy - r.aligned.accuracy) for r in d]
    ok = all(g <= 2 for g in gaps)
    print(f"  2. aligned merge accuracy within 2 points of the mean endpoint, every pair:  "
          f"{_status(ok)}")
    naive = [100 * r.naive.accuracy for r in d]
    rows.append(["aligned merge within 2 points of the mean endpoint accuracy, every pair",
                 f"{_points([-g for g in gaps])} points (naive average "
                 f"{min(naive):.0f}-{max(naive):.0f}%)", _status(ok)])
    for (seeds, _), r, g in zip(per_pair, d, gaps):
        print(f"       pair {seeds[0]}/{seeds[1]}: endpoints mean "
              f"{100 * r.mean_endpoint_accuracy:.2f}%, aligned merge "
              f"{100 * r.aligned.accuracy:.2f}% ({-g:+.2f} points; +REPAIR "
              f"{100 * r.repaired.accuracy:.2f}%), naive average {100 * r.naive.accuracy:.2f}%")

    cuts = [100 * (1 - r.naive_repaired.loss / r.naive.loss) for r in d]
    ok = all(c >= 20 for c in cuts)
    print(f"  3. REPAIR lowers the naive merge's test loss by >= 20%, every pair: "
          f"{', '.join(f'{c:.1f}%' for c in cuts)}  {_status(ok)}")
    rows.append(["REPAIR lowers the naive merge's test loss by >= 20%, every pair",
                 ", ".join(f"{c:.1f}%" for c in cuts), _status(ok)])
    print("     REPAIR on the aligned merges (loss change, accuracy change), for the record:")
    for label in per_pair[0][1]:
        parts = []
        for _, res in per_pair:
            r = res[label]
            parts.append(f"{100 * (r.repaired.loss / r.aligned.loss - 1):+.0f}% / "
                         f"{100 * (r.repaired.accuracy - r.aligned.accuracy):+.1f}")
        print(f"       {label:28s} " + "   ".join(parts))

    r, took = many
    gap = 100 * (r.mean_endpoint_accuracy - r.aligned.accuracy)
    gap_rep = 100 * (r.mean_endpoint_accuracy - r.repaired.accuracy)
    ok = gap <= 3
    rounds = ", ".join(f"{h['round']} {h['probe_loss']:.5f}"
                       + ("" if h["kept"] else " (discarded)") for h in r.rounds) or "none"
    print(f"  4. merge_many of {r.n_nets} nets within 3 points of the mean endpoint: "
          f"endpoints mean {100 * r.mean_endpoint_accuracy:.2f}%, merged "
          f"{100 * r.aligned.accuracy:.2f}% ({-gap:+.2f} points), +REPAIR "
          f"{100 * r.repaired.accuracy:.2f}% ({-gap_rep:+.2f}); naive average "
          f"{100 * r.naive.accuracy:.2f}%  {_status(ok)}")
    print(f"       probe loss per MergeMany round: {rounds}; {took}")
    rows.append([f"merge_many of {r.n_nets} nets within 3 points of the mean endpoint",
                 f"{100 * r.aligned.accuracy:.2f}% vs {100 * r.mean_endpoint_accuracy:.2f}% "
                 f"({-gap:+.2f}; with REPAIR {100 * r.repaired.accuracy:.2f}%, naive "
                 f"{100 * r.naive.accuracy:.2f}%; {took.wall:.1f} s wall, {took.cpu:.1f} s CPU)",
                 _status(ok)])
    run.figure("many.merged", f"{100 * r.aligned.accuracy:.2f}%", r.aligned.accuracy)
    run.figure("many.endpoints", f"{100 * r.mean_endpoint_accuracy:.2f}%",
               r.mean_endpoint_accuracy)
    run.table("targets", ["target", "measured", ""], rows)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.merging",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="two pairs, merge_many without rounds (a smoke run, not figures)")
    add_results_option(parser)
    args = parser.parse_args(argv)
    ex = _example()
    with Run("merging", results_path(args, "merging", args.quick),
             argv if argv is not None else sys.argv[1:]) as run:
        print(f"pyneural merging benchmark - {machine_summary()}")
        data = ex.load_split()
        pairs = PAIRS[:2] if args.quick else PAIRS
        print(f"Merging on scikit-learn digits: {len(pairs)} seed pairs, {ex.N_TRAIN} train / "
              f"{ex.N_PROBE} probe / {len(data['test'][0])} test, {ex.EPOCHS} epochs per net")
        print()
        per_pair = pair_rows(ex, data, pairs)
        nets = [ex.trained_net(data, a) for a, _ in PAIRS]
        options = {"rounds": 0} if args.quick else {}          # else merge_many's default
        many, took = timed(lambda: pn.merge_many(nets, data["probe"], repair=True,
                                                 eval_samples=data["test"], progress=False,
                                                 **options))
        print(f"merge_many of the {len(nets)} A nets (seeds "
              f"{', '.join(str(a) for a, _ in PAIRS)}):")
        print(many)
        targets(run, per_pair, (many, took))


if __name__ == "__main__":
    main()
