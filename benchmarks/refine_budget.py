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
import time

import numpy as np

from pyneural import rng, toy
from pyneural.reports.alignment import default_refine_budget
from pyneural.reports.symmetry import hidden_layers

BUDGETS = (500, 1000, 2000, 4000, 8000, 16000)


def _pair(width):
    a = toy.trained_net(1100 + width, 3100 + width, hidden=(width, width))
    b = toy.trained_net(2100 + width, 4100 + width, hidden=(width, width))
    X, Y = toy.make_samples(np.random.default_rng(width).integers(0, 3, 256),
                            rng.FPCRandom(7000 + width))
    return a, b, (X, Y), toy.build_probes(seed=5100 + width, per_class=400)


def _row(label, a, b, probes, held_out, budget):
    start = time.perf_counter()
    r = a.permutation_align_report(b, probes, refine_budget=budget, eval_samples=held_out,
                                   progress=False)
    took = time.perf_counter() - start
    on_probes = r.refinement.barrier_after if r.refinement is not None else float("nan")
    evaluations = r.refinement.evaluations if r.refinement is not None else 0
    print(f"   {label:>16s} {on_probes:12.6f} {r.post_barrier:12.6f} {100 * r.reduction:9.1f}%"
          f" {evaluations:8d} {took:7.2f}s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="widths 32 and 128 only")
    args = parser.parse_args(argv)
    for width in (32, 128) if args.quick else (12, 32, 64, 128, 256):
        a, b, probes, held_out = _pair(width)
        auto = default_refine_budget(hidden_layers(a))
        print(f"2-{width}-{width}-3: pre-alignment barrier (held-out) "
              f"{a.mode_connectivity_report(b, held_out).barrier:.6f}; default budget {auto}")
        print(f"   {'budget':>16s} {'left (probes)':>12s} {'left (held)':>12s} {'reduction':>10s}"
              f" {'evals':>8s} {'time':>8s}")
        for budget in BUDGETS:
            _row(str(budget), a, b, probes, held_out, budget)
        _row(f"default ({auto})", a, b, probes, held_out, None)
        print()


if __name__ == "__main__":
    main()
