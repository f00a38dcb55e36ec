"""Merging two digit classifiers with alignment and REPAIR
=======================================================

Merging two digit classifiers: permutation alignment and REPAIR on real data.

scikit-learn's bundled ``digits`` (1797 8x8 images, no download), a fixed
split (1200 train / 300 probe / 297 test). Two 64-128-128-10 ReLU nets are
trained from different seeds with pyneural's per-sample SGD (MSE, inertia),
as the original trains; then B is merged into A with each score mode, with
and without REPAIR. Alignment, refinement and REPAIR only see the 300 probe
images; every number printed is measured on the 297 test images.

.. code-block:: bash

    pip install 'pyneural[examples,plot]'
    python examples/digits_merge.py                  # seconds; saves digits_merge.png
    python examples/digits_merge.py --epochs 5 --no-plot

It prints how long the whole run took (``benchmarks.merging`` times the
same merges with their CPU seconds and the load).
"""
import argparse
import sys
import time

import numpy as np

import pyneural as pn
from pyneural import rng
from pyneural.cli import int_at_least

N_TRAIN, N_PROBE = 1200, 300          # the rest (297) is the test split
SPLIT_SEED = 0
HIDDEN = (128, 128)
LEARNING_RATE, INERTIA = 0.02, 0.9
EPOCHS = 20
SEEDS = (1, 2)

# (label, score_mode, solver, refine): the original's report first, the
# merge's default last.
MODES = [
    ("greedy weight (original)", "weight", "greedy", False),
    ("Hungarian weight", "weight", "hungarian", False),
    ("activation", "activation", "hungarian", False),
    ("weight matching", "weight_matching", "hungarian", False),
    ("default (auto + refinement)", None, "hungarian", None),
]


def load_split():
    """``{"train": (X, Y), "probe": (X, Y), "test": (X, Y)}``: pixels scaled
    to [0, 1], one-hot float32 targets, a fixed shuffle (seed 0)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("this example needs scikit-learn for the digits data: "
                         "pip install 'pyneural[examples]'") from None
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[digits.target]
    order = np.random.default_rng(SPLIT_SEED).permutation(len(X))
    X, Y = X[order], Y[order]
    cut = (N_TRAIN, N_TRAIN + N_PROBE)
    return {"train": (X[:cut[0]], Y[:cut[0]]), "probe": (X[cut[0]:cut[1]], Y[cut[0]:cut[1]]),
            "test": (X[cut[1]:], Y[cut[1]:])}


def build_net(seed, hidden=HIDDEN):
    """Input(64) -> FullConnectReLU(128) x2 -> FullConnectLinear(10), weights
    drawn after ``RandSeed := seed``."""
    rng.set_seed(seed)
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(64))
    for width in hidden:
        net.add_layer(pn.TNNetFullConnectReLU(width))
    net.add_layer(pn.TNNetFullConnectLinear(10))
    net.set_learning_rate(LEARNING_RATE, INERTIA)
    return net


def train(net, X, Y, epochs=EPOCHS, seed=0):
    """Per-sample SGD with inertia (compute + backpropagate per image), the
    training set reshuffled every epoch by a seeded generator."""
    g = np.random.default_rng(seed)
    for _ in range(epochs):
        order = g.permutation(len(X))
        net.fit_samples(X[order], Y[order])
    return net


def trained_net(data, seed, epochs=EPOCHS):
    return train(build_net(seed), *data["train"], epochs=epochs, seed=seed)


def _pct(v):
    return f"{100 * v:.2f}%"


def run(epochs=EPOCHS, refine_budget=None, plot_path="digits_merge.png", out=sys.stdout):
    """Train the pair, merge with every mode; returns ``{label: MergeResult}``."""
    data = load_split()
    n_test = len(data["test"][0])
    print("=== Merging two digit classifiers: permutation alignment + REPAIR ===", file=out)
    print(f"scikit-learn digits, fixed split {N_TRAIN} train / {N_PROBE} probe / {n_test} test "
          f"(shuffle seed {SPLIT_SEED}).", file=out)
    print(f"Nets: 64-{'-'.join(map(str, HIDDEN))}-10 ReLU, MSE, per-sample SGD (lr "
          f"{LEARNING_RATE}, inertia {INERTIA}), {epochs} epochs, seeds {SEEDS[0]} and "
          f"{SEEDS[1]}.", file=out)
    start = time.perf_counter()
    a = trained_net(data, SEEDS[0], epochs)
    b = trained_net(data, SEEDS[1], epochs)
    print(f"Trained A and B in {time.perf_counter() - start:.1f} s.", file=out)
    print(file=out)
    options = {} if refine_budget is None else {"refine_budget": refine_budget}
    results = {}
    for label, mode, solver, refine in MODES:
        results[label] = a.merge_with(b, data["probe"], 0.5, score_mode=mode, solver=solver,
                                      refine=refine, repair=True, eval_samples=data["test"],
                                      progress=False, **options)
    first = next(iter(results.values()))
    print(f"Endpoints on the {n_test} test images: A {_pct(first.endpoints[0].accuracy)}, "
          f"B {_pct(first.endpoints[1].accuracy)}.", file=out)
    print(f"Naive weight average (no alignment): {_pct(first.naive.accuracy)}; with REPAIR "
          f"{_pct(first.naive_repaired.accuracy)} (test loss {first.naive.loss:.4f} -> "
          f"{first.naive_repaired.loss:.4f}, "
          f"{100 * (1 - first.naive_repaired.loss / first.naive.loss):.1f}% lower).", file=out)
    print(file=out)
    print(f"Merged at alpha 0.5; barriers, losses and accuracies on the test images "
          f"(alignment and REPAIR saw only the {N_PROBE} probes):", file=out)
    header = (f"  {'score mode':28s} {'barrier':>8s} {'aligned':>8s} {'reduction':>9s}  "
              f"{'merged':>7s} {'+REPAIR':>7s}  {'time':>6s}")
    print(header, file=out)
    print("  " + "-" * (len(header) - 2), file=out)
    for label, r in results.items():
        print(f"  {label:28s} {r.pre_barrier:8.5f} {r.post_barrier:8.5f} "
              f"{100 * r.reduction:8.1f}%  {_pct(r.aligned.accuracy):>7s} "
              f"{_pct(r.repaired.accuracy):>7s}  {r.seconds['total']:5.2f}s", file=out)
    print(file=out)
    default = results[MODES[-1][0]]
    print("The default merge's report:", file=out)
    print(default, file=out)
    if plot_path:
        try:
            default.plot(plot_path)
            print(f"(loss and accuracy curves saved to {plot_path})", file=out)
        except ImportError:
            print("(install matplotlib, pip install 'pyneural[plot]', to save the curves)",
                  file=out)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int_at_least(1), default=EPOCHS,
                        help=f"training epochs per net (default {EPOCHS})")
    parser.add_argument("--refine-budget", type=int_at_least(1), default=None,
                        help="refinement budget of the default mode (default: the merge's)")
    parser.add_argument("--plot", default="digits_merge.png", help="where to save the curves")
    parser.add_argument("--no-plot", action="store_true", help="do not save the curves")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    run(args.epochs, args.refine_budget, None if args.no_plot else args.plot)
    print(f"(whole run {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()

# %%
# What a run saves to ``digits_merge.png``: the default merge's loss and accuracy along the path.
#
# .. image:: /_static/plots/digits_merge.png
#    :alt: digits_merge.png
#
# sphinx_gallery_thumbnail_path = '_static/plots/digits_merge.png'
