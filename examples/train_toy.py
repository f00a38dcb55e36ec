"""Training the Pascal examples' toy net
=====================================

Train the Pascal examples' 2-12-12-3 ReLU net on three 2-D blobs and
print its outputs on the probes: the Python port of BuildNet / TrainNet.

.. code-block:: text

    RandSeed := 101; NN := BuildNet;   ->  rng.set_seed(101); nn = toy.build_net()
    RandSeed := 11;  TrainNet(NN);     ->  rng.set_seed(11);  toy.train_net(nn)

.. code-block:: bash

    python examples/train_toy.py                  # saves train_toy.png
    python examples/train_toy.py --no-plot

The trained net is byte-identical to the original's A.nn. With matplotlib
it saves the classes the net predicts over the plane, with the probes.
"""
import argparse
import time

import numpy as np

from pyneural import float_to_str, rng, toy


def plot(nn, probes, path):
    """The class ``nn`` predicts at every point of the plane (shaded) and
    the probes (marked by their true class). ImportError without
    matplotlib."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'pyneural[plot]'") from None
    xs = np.linspace(-3.5, 3.5, 141, dtype=np.float32)
    grid = np.stack(np.meshgrid(xs, xs), axis=-1).reshape(-1, 2)
    predicted = nn.compute_batch(grid).argmax(axis=1).reshape(len(xs), len(xs))
    X = np.stack([pair.i.data for pair in probes])
    labels = np.array([pair.o.data.argmax() for pair in probes])
    fig, ax = plt.subplots(figsize=(4.8, 4.4), layout="constrained")
    ax.contourf(xs, xs, predicted, levels=[-0.5, 0.5, 1.5, 2.5],
                colors=["#c6dbef", "#fdd0a2", "#c7e9c0"])
    for c, (marker, color) in enumerate((("o", "tab:blue"), ("s", "tab:orange"),
                                         ("^", "tab:green"))):
        ax.scatter(*X[labels == c].T, marker=marker, color=color, edgecolor="k",
                   label=f"probes of class {c}")
    ax.set_title("2-12-12-3 ReLU net: predicted class")
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.legend(loc="upper left", fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plot", default="train_toy.png", help="where to save the plot")
    parser.add_argument("--no-plot", action="store_true", help="do not plot")
    args = parser.parse_args(argv)
    probes = toy.build_probes()            # RandSeed := 777; 12 probes per class
    rng.set_seed(101)
    nn = toy.build_net()
    rng.set_seed(11)
    start = time.perf_counter()
    toy.train_net(nn)                      # 60 epochs x 180 samples, one update per sample
    took = time.perf_counter() - start
    print(f"trained {nn!r} on 10800 samples in {took * 1000:.1f} ms")
    correct = 0
    for pair in probes:
        out = nn.compute(pair.i)
        correct += int(out.data.argmax() == pair.o.data.argmax())
    for pair in list(probes)[::12]:
        out = nn.compute(pair.i).data
        print("x =", [float_to_str(v) for v in pair.i.data], "->", [float_to_str(v) for v in out])
    print(f"probe accuracy: {correct}/{len(probes)}")
    print("first 80 characters of SaveToString:", nn.save_to_string()[:80])
    if not args.no_plot:
        try:
            plot(nn, probes, args.plot)
            print(f"(predicted classes saved to {args.plot})")
        except ImportError as exc:
            print(f"({exc})")


if __name__ == "__main__":
    main()
