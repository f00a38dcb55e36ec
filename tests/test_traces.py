"""The original's traces, regenerated from their seeds and checked bit for
bit: its convolutional nets (fixtures/conv/README.md; case 4: a kernel
clamped to its non-square input) and its nets with branches
(fixtures/branches/README.md: residual sums, depth and flat
concatenations, branches from the input, pointwise convolutions, dropout
drawing from the global generator while training, the normalisations,
average and channel pooling, the activations). Every line of every case:
STRUCT and INIT (the structure and the initial weights drawn from the
seed), OUT (each output during the training pass, dropout on, before that
sample's backpropagation), TRAINED (the weights after the pass), POST (each
output after training, dropout off) and FILE (the whole `.nn` text);
through compute/backpropagate, fit_samples and the exact batch on both
instruction sets, loaded files, clones and snapshots."""
import numpy as np
import pytest

import pyneural as pn
from pyneural import rng
from pyneural._kernels import dense as _dense
from conftest import bits, read_trace


def _chain(layers):
    """A builder adding the layers ``layers()`` makes, in order (the conv
    traces are chains)."""
    def build(net):
        for layer in layers():
            net.add_layer(layer)
    return build


def _case1(net):
    """Two identity-shortcut blocks, dropout, pooling, softmax."""
    net.add_layer(pn.TNNetInput(8, 6, 2))
    glue = net.add_layer(pn.TNNetConvolutionLinear(4, 3, 1, 1, 0))
    for _ in range(2):
        net.add_layer(pn.TNNetConvolutionReLU(4, 3, 1, 1, 0))
        net.add_layer(pn.TNNetConvolutionLinear(4, 3, 1, 1, 0))
        net.add_layer(pn.TNNetSum([net.get_last_layer(), glue]))
        glue = net.add_layer(pn.TNNetReLU())
    net.add_layer(pn.TNNetDropout(0.25))
    net.add_layer(pn.TNNetMaxPool(2))
    net.add_layer(pn.TNNetFullConnectLinear(3))
    net.add_layer(pn.TNNetSoftMax(1))


def _case2(net):
    """A depth concatenation of two branches, normalisation, pools."""
    net.add_layer(pn.TNNetInput(7, 9, 3))
    a = net.add_layer(pn.TNNetPointwiseConvReLU(4))
    b = net.add_layer(pn.TNNetConvolutionReLU(3, 3, 1, 1, 0))
    net.add_layer(pn.TNNetDeepConcat([a, b]))
    net.add_layer(pn.TNNetMovingStdNormalization())
    net.add_layer(pn.TNNetAvgPool(2))
    net.add_layer(pn.TNNetPointwiseConvLinear(5))
    net.add_layer(pn.TNNetAvgChannel())
    net.add_layer(pn.TNNetFullConnectReLU(6))
    net.add_layer(pn.TNNetFullConnectLinear(2))


def _case3(net):
    """Two branches from the input, a flat concatenation, a channel max."""
    inp = net.add_layer(pn.TNNetInput(6, 6, 1))
    net.add_layer(pn.TNNetConvolutionReLU(3, 3, 0, 1, 0))
    net.add_layer(pn.TNNetMaxChannel())
    b = net.add_layer_after(pn.TNNetConvolutionReLU(2, 5, 0, 1, 1), inp)
    net.add_layer(pn.TNNetConcat([net.layers[2], b]))
    net.add_layer(pn.TNNetFullConnectReLU(5))
    net.add_layer(pn.TNNetDropout(0.5))
    net.add_layer(pn.TNNetFullConnectLinear(2))


def _case4(net):
    """The activations on a dense chain (trace_more.lpr): leaky ReLU, ReLU6
    plain and leaky, swish, SELU; inputs large enough to pass 6."""
    net.add_layer(pn.TNNetInput(5, 1, 1))
    for layer in (pn.TNNetFullConnectLinear(8), pn.TNNetLeakyReLU(),
                  pn.TNNetFullConnectLinear(7), pn.TNNetReLU6(),
                  pn.TNNetFullConnectLinear(7), pn.TNNetReLU6(50),
                  pn.TNNetFullConnectLinear(6), pn.TNNetSwish(),
                  pn.TNNetFullConnectLinear(6), pn.TNNetSELU(), pn.TNNetLeakyReLU(0.2),
                  pn.TNNetFullConnectLinear(3)):
        net.add_layer(layer)


def _case5(net):
    """The channel-std normalisation, a depth concatenation reading the
    input, average pooling with clipped windows, the channel average on a
    non-square plane and the channel maximum, a flat concatenation of a
    layer another branch reads too (its error is overwritten)."""
    inp = net.add_layer(pn.TNNetInput(7, 5, 2))
    net.add_layer(pn.TNNetConvolutionReLU(3, 3, 1, 1, 0))
    net.add_layer(pn.TNNetChannelStdNormalization())
    net.add_layer(pn.TNNetDeepConcat([net.get_last_layer(), inp]))
    d = net.add_layer(pn.TNNetAvgPool(2))
    net.add_layer(pn.TNNetLeakyReLU(0.2))
    f = net.add_layer(pn.TNNetPointwiseConvLinear(4))
    net.add_layer(pn.TNNetMaxChannel())
    b = net.add_layer_after(pn.TNNetAvgChannel(), f)
    net.add_layer(pn.TNNetConcat([net.layers[7], b, d]))
    net.add_layer(pn.TNNetFullConnectReLU(6))
    net.add_layer(pn.TNNetDropout(0.3))
    net.add_layer(pn.TNNetFullConnectLinear(3))
    net.add_layer(pn.TNNetSoftMax())


def _case6(net):
    """A sum reading the input and one layer twice, a second sum, swish,
    SELU, the moving-std normalisation, two dropouts."""
    inp = net.add_layer(pn.TNNetInput(6, 6, 3))
    a = net.add_layer(pn.TNNetPointwiseConvLinear(3))
    b = net.add_layer(pn.TNNetSum([a, inp, a]))
    net.add_layer(pn.TNNetSwish())
    net.add_layer(pn.TNNetDropout(0.25))
    net.add_layer(pn.TNNetConvolutionLinear(3, 3, 1, 1, 0))
    net.add_layer(pn.TNNetSum([net.get_last_layer(), b]))
    net.add_layer(pn.TNNetSELU())
    net.add_layer(pn.TNNetMovingStdNormalization())
    net.add_layer(pn.TNNetMaxPool(2))
    net.add_layer(pn.TNNetDropout(0.5))
    net.add_layer(pn.TNNetFullConnectLinear(2))


# Fixture folder, trace file, seed and builder of each case, as the trace
# programs (trace.lpr, trace_more.lpr) build them.
CASES = {
    "conv1": ("conv", "trace_case1.txt", 101, _chain(lambda: [
        pn.TNNetInput(8, 8, 2), pn.TNNetConvolutionReLU(4, 3, 1, 1, 0), pn.TNNetMaxPool(2),
        pn.TNNetConvolutionReLU(6, 3, 0, 1, 0), pn.TNNetFullConnectReLU(8),
        pn.TNNetFullConnectLinear(3)])),
    "conv2": ("conv", "trace_case2.txt", 7, _chain(lambda: [
        pn.TNNetInput(28, 28, 1), pn.TNNetConvolutionReLU(8, 5, 0, 1, 0), pn.TNNetMaxPool(2),
        pn.TNNetConvolutionReLU(16, 5, 0, 1, 0), pn.TNNetMaxPool(2),
        pn.TNNetFullConnectReLU(32), pn.TNNetFullConnectLinear(10)])),
    "conv3": ("conv", "trace_case3.txt", 555, _chain(lambda: [
        pn.TNNetInput(9, 9, 3), pn.TNNetConvolutionLinear(5, 5, 2, 2, 1),
        pn.TNNetMaxPool(3, 2, 0), pn.TNNetConvolution(4, 1, 0, 1, 0), pn.TNNetFullConnect(6),
        pn.TNNetFullConnectLinear(2)])),
    # a kernel larger than the unpadded input along y: clamped to 3x2
    "conv4": ("conv", "trace_case4.txt", 8088, _chain(lambda: [
        pn.TNNetInput(10, 2, 1), pn.TNNetConvolutionReLU(2, 3, 1, 1, 0),
        pn.TNNetFullConnectLinear(2)])),
    **{f"res{n}": ("branches", f"trace_res{n}.txt", seed, build) for n, seed, build in (
        (1, 1101, _case1), (2, 2202, _case2), (3, 3303, _case3), (4, 4404, _case4),
        (5, 5505, _case5), (6, 6606, _case6))},
}


def _built(case):
    """The case's net after ``RandSeed := seed``: building draws the initial
    weights from the global generator, training draws the dropout masks."""
    seed, build = CASES[case][2:]
    rng.set_seed(seed)
    net = pn.TNNet()
    build(net)
    net.set_learning_rate(0.01, 0.9)
    return net


@pytest.fixture(params=sorted(CASES))
def case(request):
    folder, name = CASES[request.param][:2]
    return request.param, read_trace(folder, name)


def test_structure_and_initial_weights(case):
    number, t = case
    net = _built(number)
    assert net.save_structure_to_string() == t["STRUCT"]
    assert net.save_data_to_string() == t["INIT"]


def test_training_pass_outputs_weights_and_file(case):
    number, t = case
    net = _built(number)
    for i, (x, target) in enumerate(zip(t["IN"], t["TGT"])):
        np.testing.assert_array_equal(bits(net.compute(x).data), bits(t["OUT"][i]),
                                      err_msg=f"OUT {i}")
        net.backpropagate(target)
    assert net.save_data_to_string() == t["TRAINED"]
    net.enable_dropouts(False)
    for i, x in enumerate(t["IN"]):
        np.testing.assert_array_equal(bits(net.compute(x).data), bits(t["POST"][i]),
                                      err_msg=f"POST {i}")
    assert net.save_to_string() == t["FILE"]


@pytest.mark.parametrize("level", ["generic", "avx2"])
def test_fit_samples_and_exact_batch_on_both_instruction_sets(case, level):
    number, t = case
    before = _dense.simd_level()
    try:
        try:
            _dense.set_simd_level(level)
        except ValueError:
            pytest.skip("this CPU has no AVX2")
        net = _built(number)
        net.fit_samples(t["IN"], t["TGT"])            # the same draws as per sample
        assert net.save_data_to_string() == t["TRAINED"]
        net.enable_dropouts(False)
        np.testing.assert_array_equal(bits(net.compute_batch(t["IN"], exact=True)),
                                      bits(t["POST"]))
    finally:
        _dense.set_simd_level(before)


def test_loaded_file_computes_the_post_outputs(case):
    number, t = case
    net = pn.TNNet.from_string(t["FILE"], generator=rng.FPCRandom())
    assert net.save_to_string() == t["FILE"]
    net.enable_dropouts(False)        # loading rebuilds dropout enabled, as the original
    np.testing.assert_array_equal(bits(net.compute_batch(t["IN"], exact=True)), bits(t["POST"]))
    # the numpy batched pass agrees closely
    np.testing.assert_allclose(net.compute_batch(t["IN"]), t["POST"], rtol=1e-5, atol=1e-6)
    outs = net.layer_outputs(t["IN"][:3])
    assert [o.shape for o in outs] == [(3, layer.output.size) for layer in net.layers]
    np.testing.assert_allclose(outs[-1], t["POST"][:3], rtol=1e-5, atol=1e-6)


def test_a_clone_and_a_restored_snapshot_compute_the_same_bits(case):
    number, t = case
    net = pn.TNNet.from_string(t["FILE"], generator=rng.FPCRandom())
    net.enable_dropouts(False)
    twin = net.clone()
    assert twin.save_to_string() == t["FILE"]
    np.testing.assert_array_equal(bits(twin.compute_batch(t["IN"], exact=True)),
                                  bits(t["POST"]))
    trained = net.snapshot()
    net.init_weights()
    assert net.save_data_to_string() != t["FILE"].split(">")[1]
    net.restore(trained)
    np.testing.assert_array_equal(bits(net.compute_batch(t["IN"], exact=True)),
                                  bits(t["POST"]))
