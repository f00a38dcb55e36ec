"""Alignment quality: how far each score mode / solver / refinement brings
the barrier down, measured on held-out data the alignment never saw.

    python -m benchmarks.alignment            # full run (~1-2 minutes on 2 cores)
    python -m benchmarks.alignment --quick    # fewer pairs

1. The fixtures' example nets (A.nn, B.nn; 36 probes from seed 777 for
   alignment, 400 fresh samples per class from seed 4242 for every barrier).
2. Ten more pairs trained with the examples' recipe (per-sample SGD, 60
   epochs, lr 0.05, inertia 0.9) from other seeds, widths 12-64 and 2-3
   hidden layers: mean and worst held-out barrier reduction per mode, and
   whether each mode is ever worse than the original's greedy result.
3. Timing of the default report: the example nets, and a 2-256-256-3 pair
   with 256 probes.

Every time is printed as wall seconds, CPU seconds of the process and the
load average. A full run writes ``benchmarks/results/alignment.json``.
"""
import argparse
import pathlib
import sys

import numpy as np

import pyneural as pn
from pyneural import rng, toy

from .harness import machine_summary
from .results import Run, add_results_option, median_timing, results_path, slug, timed

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "example"

# (label, score_mode, solver, refine); the first two are the original's report.
CONFIGS = [
    ("greedy weight (original)", "weight", "greedy", False),
    ("greedy activation (original)", "activation", "greedy", False),
    ("hungarian weight", "weight", "hungarian", False),
    ("hungarian activation", "activation", "hungarian", False),
    ("weight matching", "weight_matching", "hungarian", False),
    ("weight matching cosine", "weight_matching_cosine", "hungarian", False),
    ("hungarian weight + refine", "weight", "hungarian", True),
    ("hungarian activation + refine", "activation", "hungarian", True),
    ("weight matching + refine", "weight_matching", "hungarian", True),
    ("weight matching cosine + refine", "weight_matching_cosine", "hungarian", True),
    ("auto + refine (default)", "auto", "hungarian", True),
]

PAIRS = [  # (hidden widths, seed offset)
    ((12, 12), 1), ((16, 16), 2), ((24, 24), 3), ((32, 32), 4), ((64, 64), 5),
    ((12, 12, 12), 6), ((16, 24, 16), 7), ((32, 32, 32), 8), ((48, 48, 48), 9), ((64, 32, 64), 10),
]


def trained_pair(hidden, offset):
    return (toy.trained_net(1000 + offset, 3000 + offset, hidden=hidden),
            toy.trained_net(2000 + offset, 4000 + offset, hidden=hidden))


def run_configs(a, b, probes, held_out):
    rows = []
    for label, mode, solver, refine in CONFIGS:
        r, took = timed(lambda: a.permutation_align_report(
            b.save_data_to_string(), probes, mode, 10, solver=solver, refine=refine,
            eval_samples=held_out, progress=False))
        rows.append((label, r, took))
    return rows


def example_table(run):
    a = pn.TNNet.from_file(FIXTURES / "A.nn")
    b = pn.TNNet.from_file(FIXTURES / "B.nn")
    probes = toy.build_probes()
    held_out = toy.build_probes(seed=4242, per_class=400)
    print("1. Example nets (fixtures A.nn / B.nn): 36 alignment probes, barriers on 1200 "
          "held-out samples (seed 4242)")
    print(f"   {'mode':32s} {'pre':>9s} {'post':>9s} {'reduction':>9s}  {'verdict':20s} time")
    for label, r, took in run_configs(a, b, probes, held_out):
        print(f"   {label:32s} {r.pre_barrier:9.6f} {r.post_barrier:9.6f} "
              f"{100 * r.reduction:8.2f}%  {r.verdict.value:20s} {took}")
        key = "example." + slug(label)
        run.figure(key, f"{r.post_barrier:.6f} ({100 * r.reduction:.2f}%)", r.post_barrier)
        run.figure(key + ".reduction", f"{100 * r.reduction:.1f}%", r.reduction)
    run.figure("example.pre", f"{r.pre_barrier:.6f}", r.pre_barrier)
    r = a.permutation_align_report(b, probes, eval_samples=held_out, scale_align=True,
                                   check_recovery=True, progress=False)
    print(f"   default + scale_align: scaled barrier {r.scaled_barrier:.6f} vs permuted "
          f"{r.post_barrier:.6f}; check 5 (weight modes below):")
    for mode in ("weight", "weight_matching", "weight_matching_cosine", "activation"):
        c = a.permutation_align_report(b, probes, mode, refine=False, check_recovery=True).check(5)
        print(f"     recovery with {mode:24s} {c.status}: {c.detail.split('per layer ')[-1]}")
    print()


def generalisation_table(run, pairs):
    print(f"2. Generalisation: {len(pairs)} pairs trained from other seeds, barriers on 1200 "
          "held-out samples per pair")
    probes = toy.build_probes()
    reductions = {label: [] for label, *_ in CONFIGS}
    worse_than_greedy = {label: 0 for label, *_ in CONFIGS}
    for hidden, offset in pairs:
        a, b = trained_pair(hidden, offset)
        held_out = toy.build_probes(seed=5000 + offset, per_class=400)
        rows = run_configs(a, b, probes, held_out)
        greedy_best = min(r.post_barrier for _, r, _ in rows[:2])
        line = []
        for label, r, _ in rows:
            reductions[label].append(r.reduction)
            worse_than_greedy[label] += int(r.post_barrier > greedy_best + 1e-6)
            line.append(f"{100 * r.reduction:5.1f}")
        print(f"   2-{'-'.join(map(str, hidden))}-3 pre {rows[0][1].pre_barrier:.4f}: "
              + " ".join(line))
    print(f"   {'mode':32s} {'mean':>7s} {'worst':>7s}  worse than the original's best greedy")
    for label, *_ in CONFIGS:
        red = np.array(reductions[label]) * 100
        print(f"   {label:32s} {red.mean():6.1f}% {red.min():6.1f}%  "
              f"{worse_than_greedy[label]} of {len(pairs)} pairs")
        key = "pairs." + slug(label)
        run.figure(key + ".mean", f"{red.mean():.1f}%", red.mean() / 100)
        run.figure(key + ".worst", f"{red.min():.1f}%", red.min() / 100)
        run.figure(key + ".worse", f"{worse_than_greedy[label]} of {len(pairs)}",
                   worse_than_greedy[label])
    print()


def timing_table(run):
    print("3. Time of the default report (auto: three Hungarian starts, each refined)")
    a = pn.TNNet.from_file(FIXTURES / "A.nn")
    b = pn.TNNet.from_file(FIXTURES / "B.nn")
    probes = toy.build_probes()
    a.permutation_align_report(b, probes, progress=False)           # warm-up
    took = median_timing([timed(lambda: a.permutation_align_report(b, probes, progress=False))[1]
                          for _ in range(5)])
    print(f"   example nets, 36 probes:       {took} (medians of 5; target < 0.5 s wall)")
    run.figure("time.example", f"{took.wall:.2f} s", took.wall)
    run.figure("time.example_cpu", f"{took.cpu:.2f} s", took.cpu)
    a, b = trained_pair((256, 256), 11)
    g = np.random.default_rng(0)
    classes = g.integers(0, 3, 256)
    X, Y = toy.make_samples(classes, rng.FPCRandom(99))
    r, took = timed(lambda: a.permutation_align_report(b, (X, Y), progress=False))
    print(f"   2-256-256-3 pair, 256 probes:  {took} (target < 5 s wall); barrier "
          f"{r.pre_barrier:.4f} -> {r.post_barrier:.4f}, {r.refinement.accepted} swaps, "
          f"{r.refinement.evaluations} evaluations")
    run.figure("time.wide", f"{took.wall:.2f} s", took.wall)
    run.figure("time.wide_cpu", f"{took.cpu:.2f} s", took.cpu)
    run.figure("time.wide_load", f"{took.load:.1f}", took.load)
    run.figure("time.wide_evaluations", f"{r.refinement.evaluations}", r.refinement.evaluations)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.alignment",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 pairs instead of 10")
    add_results_option(parser)
    args = parser.parse_args(argv)
    with Run("alignment", results_path(args, "alignment", args.quick),
             argv if argv is not None else sys.argv[1:]) as run:
        print(f"pyneural alignment benchmark - {machine_summary()}")
        example_table(run)
        pairs = PAIRS[:4] if args.quick else PAIRS
        generalisation_table(run, pairs)
        timing_table(run)
        f = run.figures
        run.table("modes", ["mode", f"example nets (pre {f['example.pre']['text']})",
                            f"{len(pairs)} more pairs: mean / worst reduction",
                            "pairs worse than the original's best greedy"],
                  [[label, f[f"example.{slug(label)}"]["text"],
                    f"{f[f'pairs.{slug(label)}.mean']['text']} / "
                    f"{f[f'pairs.{slug(label)}.worst']['text']}",
                    f[f"pairs.{slug(label)}.worse"]["text"]] for label, *_ in CONFIGS])


if __name__ == "__main__":
    main()
