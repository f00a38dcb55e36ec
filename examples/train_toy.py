"""Training the Pascal examples' toy net
=====================================

Train the Pascal examples' 2-12-12-3 ReLU net on three 2-D blobs and
print its outputs on the probes: the Python port of BuildNet / TrainNet.

.. code-block:: text

    RandSeed := 101; NN := BuildNet;   ->  rng.set_seed(101); nn = toy.build_net()
    RandSeed := 11;  TrainNet(NN);     ->  rng.set_seed(11);  toy.train_net(nn)

.. code-block:: bash

    python examples/train_toy.py

The net saved at the end is byte-identical to the original's A.nn.
"""
import argparse
import time

from pyneural import float_to_str, rng, toy


def main(argv=None):
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args(argv)
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


if __name__ == "__main__":
    main()
