"""The refinement budget against the layer widths: how much barrier each
budget leaves, and what the width-following default spends.

    python -m benchmarks.refine_budget           # widths 12, 32, 64, 128, 256
    python -m benchmarks.refine_budget --quick   # widths 32 and 128

For each width w, a 2-w-w-3 pair trained with the examples' recipe
(``toy.trained_net``), 256 alignment probes, and 1200 held-out samples for
the barrier the alignment never saw. Each row aligns with the default
report (score "auto": three Hungarian starts, each refined) under a fixed
budget, then under the default (``alignment.default_refine_budget``), and
prints the barrier left on the probes, on the held-out samples, the
evaluations spent and the time.
"""
import argparse
import sys

import numpy as np

from pyneural import rng, toy
from pyneural.reports.alignment import default_refine_budget
from pyneural.reports.symmetry import hidden_layers

from .harness import machine_summary
from .results import Run, add_results_option, results_path, timed

BUDGETS = (500, 1000, 2000, 4000, 8000, 16000)


def _pair(width):
    a = toy.trained_net(1100 + width, 3100 + width, hidden=(width, width))
    b = toy.trained_net(2100 + width, 4100 + width, hidden=(width, width))
    X, Y = toy.make_samples(np.random.default_rng(width).integers(0, 3, 256),
                            rng.FPCRandom(7000 + width))
    return a, b, (X, Y), toy.build_probes(seed=5100 + width, per_class=400)


def _row(label, a, b, probes, held_out, budget):
    r, took = timed(lambda: a.permutation_align_report(b, probes, refine_budget=budget,
                                                       eval_samples=held_out, progress=False))
    on_probes = r.refinement.barrier_after if r.refinement is not None else float("nan")
    evaluations = r.refinement.evaluations if r.refinement is not None else 0
    print(f"   {label:>16s} {on_probes:12.6f} {r.post_barrier:12.6f} {100 * r.reduction:9.1f}%"
          f" {evaluations:8d}  {took}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.refine_budget",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="widths 32 and 128 only")
    add_results_option(parser)
    args = parser.parse_args(argv)
    with Run("refine_budget", results_path(args, "refine_budget", args.quick),
             argv if argv is not None else sys.argv[1:]):
        print(f"pyneural refinement budgets - {machine_summary()}")
        for width in (32, 128) if args.quick else (12, 32, 64, 128, 256):
            a, b, probes, held_out = _pair(width)
            auto = default_refine_budget(hidden_layers(a))
            print(f"2-{width}-{width}-3: pre-alignment barrier (held-out) "
                  f"{a.mode_connectivity_report(b, held_out).barrier:.6f}; default budget {auto}")
            print(f"   {'budget':>16s} {'left (probes)':>12s} {'left (held)':>12s} "
                  f"{'reduction':>10s} {'evals':>8s}  time")
            for budget in BUDGETS:
                _row(str(budget), a, b, probes, held_out, budget)
            _row(f"default ({auto})", a, b, probes, held_out, None)
            print()


if __name__ == "__main__":
    main()
