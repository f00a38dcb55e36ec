"""Permutation alignment: the Pascal example, then pyneural's default
==================================================================

Port of the Pascal PermutationAlign example: two MLPs trained from
different inits, aligned by weight matching (RUN 1), activation matching
(RUN 2), and a net aligned to itself (CHECK). Same seeds, same constants,
same run order as the original, and the same output, number for number.
RUN 4 then shows pyneural's default alignment on held-out data.

.. code-block:: bash

    python examples/permutation_align.py              # all four runs, and a PNG
    python examples/permutation_align.py --original   # what the Pascal program prints
"""
import argparse
import sys

from pyneural import toy
# The original's report: greedy matching, no refinement, no check 4
# (pyneural's defaults are the improved ones; see RUN 4).
from pyneural.reports.permutation_align import ORIGINAL_OPTIONS as ORIGINAL


def build_pair():
    """RandSeed 101 -> build A, 999 -> build B, 11 -> train A, 22 -> train B
    (each RandSeed restarts the stream, so building and training each net in
    turn draws the same numbers)."""
    return toy.trained_net(101, 11), toy.trained_net(999, 22)


def original_runs(out=sys.stdout):
    probes = toy.build_probes()
    print("=== PermutationAlign demo: Git Re-Basin neuron-permutation alignment ===", file=out)
    print("Two MLPs trained from DIFFERENT inits -> a real barrier pre-alignment", file=out)
    print("that should visibly shrink once the permutation symmetry is removed.", file=out)
    print(file=out)

    print("RUN 1 - DIFFERENT inits, WEIGHT matching (align by weight-row cosine).", file=out)
    a, b = build_pair()
    print(a.permutation_align_report(b.save_data_to_string(), probes, 0, 10, **ORIGINAL), file=out)
    print(file=out)

    print("RUN 2 - DIFFERENT inits, ACTIVATION matching (align by activation corr).", file=out)
    a, b = build_pair()
    print(a.permutation_align_report(b.save_data_to_string(), probes, 1, 10, **ORIGINAL), file=out)
    print(file=out)

    print("CHECK - align-to-self (SnapshotB := A): identity perms, zero barrier.", file=out)
    a = toy.trained_net(303, 11)
    print(a.permutation_align_report(a.save_data_to_string(), probes, 0, 8, **ORIGINAL), file=out)
    return probes


def improved_run(probes, out=sys.stdout, plot_path="permutation_align.png"):
    """RUN 4: the original's two modes and pyneural's default, side by side,
    every barrier measured on samples the alignment never saw."""
    held_out = toy.build_probes(seed=4242, per_class=400)
    print(file=out)
    print("RUN 4 - pyneural's default (score 'auto': optimal matching from three starts, "
          "each refined by barrier-aware swaps),", file=out)
    print("        barriers measured on 1200 fresh samples (RandSeed 4242, 400 per class) "
          "that alignment never saw.", file=out)
    a, b = build_pair()
    runs = [("original weight", a.permutation_align_report(b, probes, 0, 10, eval_samples=held_out,
                                                           **ORIGINAL)),
            ("original activation", a.permutation_align_report(b, probes, 1, 10,
                                                               eval_samples=held_out, **ORIGINAL)),
            ("pyneural default", a.permutation_align_report(b, probes, eval_samples=held_out))]
    print(f"  {'':24s}" + "".join(f"{name:>22s}" for name, _ in runs), file=out)
    for label, value in (("pre-alignment barrier", lambda r: f"{r.pre_barrier:.6f}"),
                         ("post-alignment barrier", lambda r: f"{r.post_barrier:.6f}"),
                         ("barrier reduction", lambda r: f"{100 * r.reduction:.2f}%"),
                         ("verdict", lambda r: r.verdict.value)):
        print(f"  {label:24s}" + "".join(f"{value(r):>22s}" for _, r in runs), file=out)
    print(file=out)
    print(runs[-1][1], file=out)
    try:
        runs[-1][1].plot(plot_path)
        print(f"(loss curves saved to {plot_path})", file=out)
    except ImportError:
        print("(install matplotlib, pip install 'pyneural[plot]', to save the loss curves)",
              file=out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--original", action="store_true",
                        help="only the original program's three runs (no RUN 4, no plot)")
    args = parser.parse_args(argv)
    probes = original_runs()
    if not args.original:
        improved_run(probes)


if __name__ == "__main__":
    main()
