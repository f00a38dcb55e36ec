"""Mode connectivity: the loss barrier between two nets
====================================================

Port of the Pascal ModeConnectivity example: the loss barrier between two
nets from the same init (RUN 1), from different inits (RUN 2), and between a
net and itself (CHECK). Same seeds, constants, order and output as the
original; then RUN 2's loss curve is saved as a PNG when matplotlib is there.

.. code-block:: bash

    python examples/mode_connectivity.py                    # saves mode_connectivity.png
    python examples/mode_connectivity.py --plot mc.png
"""
import argparse
import sys

from pyneural import rng, toy


def original_runs(out=sys.stdout):
    probes = toy.build_probes()
    print("=== ModeConnectivity demo: loss barrier between two solutions ===", file=out)
    print(file=out)

    print("RUN 1 - SAME init (only batch order differs): expect a tiny absolute barrier "
          "(same basin).", file=out)
    rng.set_seed(2024)
    a = toy.build_net()
    b = toy.build_net()
    b.load_data_from_string(a.save_data_to_string())
    rng.set_seed(11)
    toy.train_net(a)
    rng.set_seed(22)
    toy.train_net(b)
    print(a.mode_connectivity_report(b.save_data_to_string(), probes, 10), file=out)
    print(file=out)

    print("RUN 2 - DIFFERENT inits: expect a HIGHER barrier.", file=out)
    a, b = toy.trained_net(101, 11), toy.trained_net(999, 22)
    different = a.mode_connectivity_report(b.save_data_to_string(), probes, 10)
    print(different, file=out)
    print(file=out)

    print("CHECK - B := A (self-connectivity): barrier must be ~0.", file=out)
    a = toy.trained_net(303, 11)
    print(a.mode_connectivity_report(a.save_data_to_string(), probes, 8), file=out)
    return different


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plot", default="mode_connectivity.png",
                        help="where to save RUN 2's loss curve (default mode_connectivity.png)")
    args = parser.parse_args(argv)
    different = original_runs()
    try:
        different.plot(args.plot)
        print(f"(RUN 2's loss curve saved to {args.plot})")
    except ImportError:
        print("(install matplotlib, pip install 'pyneural[plot]', to save RUN 2's loss curve)")


if __name__ == "__main__":
    main()
