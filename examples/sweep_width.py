"""Barrier against width: a sweep over seeds
=========================================

The barrier against width (Entezari et al. 2021): is every pair of seeds
linearly connected once permutations are factored out, and more so when
the nets are wider?

For each width W, six 2-W-W-3 ReLU nets are trained with the examples'
recipe (``toy.trained_net``: the three blobs, per-sample SGD with inertia)
from different seeds; ``pn.barrier_matrix`` aligns all 15 pairs on the
examples' 36 probes and measures every barrier on 300 held-out samples.
The mean barrier before and after alignment is printed per width and
plotted against it.

.. code-block:: bash

    python examples/sweep_width.py --jobs 2              # widths 8..128, six nets each
    python examples/sweep_width.py --widths 8,16 --nets 3 --budget 200 --no-plot

Each width's line ends with the time its sweep took.
"""
import argparse
import time

import numpy as np

import pyneural as pn
from pyneural import toy
from pyneural.cli import int_at_least
from pyneural.reports import plotting

WIDTHS = (8, 16, 32, 64, 128)
NETS_PER_WIDTH = 6
HELD_OUT_PER_CLASS = 100
HELD_OUT_SEED = 4242


def population(width, n):
    """``n`` nets 2-W-W-3 trained with the examples' recipe from seeds
    (build 10 + s, train 20 + s)."""
    return [toy.trained_net(10 + s, 20 + s, hidden=(width, width)) for s in range(n)]


def held_out():
    """Fresh samples of the three blobs, 100 per class (a private generator)."""
    classes = np.repeat(np.arange(3), HELD_OUT_PER_CLASS)
    return toy.make_samples(classes, pn.rng.FPCRandom(HELD_OUT_SEED))


def sweep_widths(widths, n_nets, jobs, budget):
    """``{width: SweepResult}``, printing a row per width as it finishes."""
    probes = toy.build_probes(generator=pn.rng.FPCRandom())
    held = held_out()
    print(f"{n_nets} nets per width, {n_nets * (n_nets - 1) // 2} pairs each; alignment on "
          f"{len(probes)} probes, barriers on {len(held[0])} held-out samples; jobs {jobs}")
    print(f"{'width':>6s} {'mean pre':>10s} {'mean post':>10s} {'max post':>10s} "
          f"{'reduction':>9s}  {'central':>7s} {'time':>7s}")
    results = {}
    for width in widths:
        start = time.perf_counter()
        r = pn.barrier_matrix(population(width, n_nets), probes, eval_samples=held,
                              n_jobs=jobs, refine_budget=budget)
        reduction = 1 - r.mean_post / r.mean_pre if r.mean_pre > 0 else float("nan")
        print(f"{width:6d} {r.mean_pre:10.6f} {r.mean_post:10.6f} {r.max_post:10.6f} "
              f"{100 * reduction:8.1f}%  {r.names[r.central]:>7s} "
              f"{time.perf_counter() - start:6.1f}s", flush=True)
        results[width] = r
    return results


def plot(results, path):
    """Mean barrier (with the pairs' range) against width, log2 axis: before
    and after alignment on the left, after alone (its own scale) on the right."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    widths = sorted(results)
    fig, (both, after) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    for which, color, axes in (("pre", "tab:red", (both,)), ("post", "tab:green", (both, after))):
        pairs = [results[w].pair_barriers(which) for w in widths]
        mean = np.array([p.mean() for p in pairs])
        spread = np.array([[mean[i] - p.min(), p.max() - mean[i]] for i, p in enumerate(pairs)]).T
        for ax in axes:
            ax.errorbar(widths, mean, yerr=spread, fmt="-o", color=color, capsize=3,
                        label=f"{which}-alignment (mean, min-max over pairs)")
    for ax, title in ((both, "before and after alignment"), (after, "after alignment")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths)
        ax.set_xticklabels([str(w) for w in widths])
        ax.set_xlabel("hidden width W (2-W-W-3 ReLU)")
        ax.set_ylabel("loss barrier (held-out)")
        ax.set_title(f"Barrier against width, {title}")
        ax.grid(alpha=0.3)
        plotting.place_legend(ax)
    plotting.save(fig, path)
    print(f"wrote {path}")


def _widths(text):
    return [int_at_least(1)(w) for w in text.split(",")]


_widths.__name__ = "comma-separated list of widths >= 1"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--widths", type=_widths, default=WIDTHS,
                        help="comma-separated hidden widths (default 8,16,32,64,128)")
    parser.add_argument("--nets", type=int_at_least(2), default=NETS_PER_WIDTH,
                        help="nets per width, at least 2 (default 6: 15 pairs)")
    parser.add_argument("--jobs", type=int_at_least(1), default=1,
                        help="local worker processes for the pairs (needs joblib)")
    parser.add_argument("--budget", type=int_at_least(1), default=None,
                        help="refinement budget per alignment start (default: the library's,"
                             " which grows with the widths)")
    parser.add_argument("--plot", default="sweep_width.png", help="where to save the plot")
    parser.add_argument("--no-plot", action="store_true", help="do not plot")
    args = parser.parse_args(argv)
    results = sweep_widths(args.widths, args.nets, args.jobs, args.budget)
    if not args.no_plot:
        try:
            plot(results, args.plot)
        except ImportError:
            print("(no plot: matplotlib is not installed; pip install 'pyneural[plot]')")


if __name__ == "__main__":
    main()

# %%
# What a run saves to ``sweep_width.png``: the barrier against width.
#
# .. image:: /_static/plots/sweep_width.png
#    :alt: sweep_width.png
#
# sphinx_gallery_thumbnail_path = '_static/plots/sweep_width.png'
