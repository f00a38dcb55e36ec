"""The Pascal example programs' toy problem, draw for draw.

Three 2-D blobs around (-2,-2), (2,2) and (2,-2); a sample of class C is
``centre[C] + (Random - 0.5) * 0.6`` per coordinate (computed in double,
stored as float32) with a one-hot target. ``build_net`` is the examples'
2-12-12-3 ReLU net, ``train_net`` their per-sample training (60 epochs of
60 samples per class, class-interleaved), ``build_probes`` their 36 probes.
"""
import numpy as np

from . import rng as _rng
from .layers import TNNetFullConnectLinear, TNNetFullConnectReLU, TNNetInput
from .net import TNNet
from .volume import TNNetVolumePair, TNNetVolumePairList

__all__ = ["CENTRES", "make_sample", "make_samples", "build_net", "train_net",
           "trained_net", "build_probes", "to_pair_list"]

CENTRES = ((-2.0, -2.0), (2.0, 2.0), (2.0, -2.0))
EPOCHS = 60
SAMPLES_PER_CLASS = 60
PROBES_PER_CLASS = 12
LEARNING_RATE = 0.05
INERTIA = 0.9


def make_sample(c, generator=None):
    """One sample of class ``c``: (x float32[2], one-hot float32[3])."""
    g = generator or _rng.default
    x0 = CENTRES[c][0] + (g.random() - 0.5) * 0.6
    x1 = CENTRES[c][1] + (g.random() - 0.5) * 0.6
    y = np.zeros(len(CENTRES), np.float32)
    y[c] = 1
    return np.array([x0, x1], np.float32), y


def make_samples(classes, generator=None):
    """Samples for the class sequence ``classes``, in order: (X, Y)."""
    g = generator or _rng.default
    u = g.raw_u32s(2 * len(classes)).reshape(-1, 2) / 4294967296.0
    centres = np.array(CENTRES)[np.asarray(classes)]
    X = (centres + (u - 0.5) * 0.6).astype(np.float32)
    Y = np.eye(len(CENTRES), dtype=np.float32)[np.asarray(classes)]
    return X, Y


def build_net(hidden=(12, 12), n_in=2, n_out=3, learning_rate=LEARNING_RATE,
              inertia=INERTIA, generator=None):
    """The examples' ``BuildNet``: Input(2) -> FullConnectReLU(12) x2 ->
    FullConnectLinear(3), then SetLearningRate(0.05, 0.9)."""
    net = TNNet(generator)
    net.add_layer(TNNetInput(n_in, 1, 1))
    for width in hidden:
        net.add_layer(TNNetFullConnectReLU(width))
    net.add_layer(TNNetFullConnectLinear(n_out))
    net.set_learning_rate(learning_rate, inertia)
    return net


def train_net(net, epochs=EPOCHS, per_class=SAMPLES_PER_CLASS, generator=None):
    """The examples' ``TrainNet``: for each epoch, ``per_class`` rounds of
    one sample of each class, each followed by compute + backpropagate.

    The samples are drawn up front (training draws nothing) and trained in
    one kernel call; the bits are the same as the step-by-step loop.
    """
    classes = np.tile(np.arange(len(CENTRES)), epochs * per_class)
    X, Y = make_samples(classes, generator)
    net.fit_samples(X, Y)


def trained_net(build_seed, train_seed, **build_options):
    """``RandSeed := build_seed; BuildNet; RandSeed := train_seed; TrainNet``:
    the examples' nets (A is ``trained_net(101, 11)``, B ``(999, 22)``)."""
    g = build_options.pop("generator", None) or _rng.default
    g.set_seed(build_seed)
    net = build_net(generator=g, **build_options)
    g.set_seed(train_seed)
    train_net(net, generator=g)
    return net


def build_probes(seed=777, per_class=PROBES_PER_CLASS, generator=None):
    """The examples' ``BuildProbes``: RandSeed := seed, then ``per_class``
    samples of class 0, then of class 1, then of class 2."""
    g = generator or _rng.default
    g.set_seed(seed)
    classes = np.repeat(np.arange(len(CENTRES)), per_class)
    return to_pair_list(*make_samples(classes, g))


def to_pair_list(X, Y):
    """A TNNetVolumePairList with one pair per row of X / Y."""
    pairs = TNNetVolumePairList()
    for x, y in zip(X, Y):
        pairs.add(TNNetVolumePair(x, y))
    return pairs
