"""What ``compute_batch`` guarantees however its rows are blocked
(docs/SEMANTICS.md, "pyneural's own"): ``exact=True`` is ``compute`` row
by row, bit for bit; the default agrees to ~1e-6, and its convolutions,
max-pools and activations are the same bits in any blocking (only the
fully-connected layers' BLAS products may depend on the rows computed
together). Row counts around the block size, and a net over larger images
whose blocks hold fewer rows."""
import numpy as np
import pytest

import pyneural as pn
from pyneural import _blocks
from pyneural.rng import FPCRandom
from benchmarks.conv import lenet
from test_conv import conv_net

ROWS = [1, 255, 256, 257, 511, 512, 513, 700]


def images(net, n, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, net.input_size)).astype(np.float32)


def wide_net(tail):
    """64x64x3 images through a 64-feature convolution: 1 MiB of output a
    row, so blocks of 64 rows."""
    net = pn.TNNet(FPCRandom(2))
    for layer in (pn.TNNetInput(64, 64, 3), pn.TNNetConvolutionReLU(64, 3, 1, 1),
                  pn.TNNetMaxPool(4), pn.TNNetConvolutionLinear(5, 3, 0, 2)):
        net.add_layer(layer)
    if tail:
        net.add_layer(pn.TNNetFullConnectReLU(16))
        net.add_layer(pn.TNNetFullConnectLinear(4))
    return net


NETS = {"lenet": lenet, "conv_net": conv_net, "wide, dense tail": lambda: wide_net(True)}


@pytest.fixture(scope="module", params=sorted(NETS))
def net_and_outputs(request):
    net = NETS[request.param]()
    X = images(net, max(ROWS))
    return net, X, np.stack([net.compute(x).data.copy() for x in X])


def test_blocks_hold_fewer_rows_over_large_images():
    assert _blocks.rows_per_block(10) == _blocks.SPATIAL_CHUNK
    assert _blocks.rows_per_block(64 * 64 * 64) == 64
    assert _blocks.rows_per_block(1024 * 1024 * 8) == 2
    assert _blocks.rows_per_block(2 ** 31 - 1) == 1


def test_exact_batch_is_compute_row_by_row_for_any_row_count(net_and_outputs):
    net, X, per_sample = net_and_outputs
    for n in ROWS:
        got = net.compute_batch(X[:n], exact=True)
        assert np.array_equal(got.view(np.uint32), per_sample[:n].view(np.uint32)), n


def test_the_default_batch_is_within_1e_6_for_any_row_count(net_and_outputs):
    net, X, per_sample = net_and_outputs
    scale = np.abs(per_sample).max()
    for n in ROWS:
        np.testing.assert_allclose(net.compute_batch(X[:n]), per_sample[:n], rtol=0,
                                   atol=4e-6 * scale, err_msg=f"{n} rows")


def test_spatial_layers_give_the_same_bits_in_any_blocking():
    net = wide_net(tail=False)
    X = images(net, 200, seed=1)
    per_sample = np.stack([net.compute(x).data.copy() for x in X])
    for n in (1, 63, 64, 65, 130, 200):                    # blocks of 64 rows
        assert np.array_equal(net.compute_batch(X[:n]).view(np.uint32),
                              per_sample[:n].view(np.uint32)), n
