"""The original's convolutional nets, regenerated from their seeds and
checked bit for bit against its traces (fixtures/conv/README.md): every
line of every case (case 4: a kernel clamped to its non-square input). STRUCT and INIT (the structure and the initial weights
drawn from the seed), OUT (each output during the training pass, before
that sample's backpropagation), TRAINED (the weights after the pass), POST
(each output after training) and FILE (the whole `.nn` text)."""
import numpy as np
import pytest

import pyneural as pn
from pyneural import rng
from pyneural._kernels import dense as _dense
from conftest import bits, read_trace

# Seed and layers of each case, as trace.lpr builds them.
CASES = {
    1: (101, lambda: [pn.TNNetInput(8, 8, 2), pn.TNNetConvolutionReLU(4, 3, 1, 1, 0),
                      pn.TNNetMaxPool(2), pn.TNNetConvolutionReLU(6, 3, 0, 1, 0),
                      pn.TNNetFullConnectReLU(8), pn.TNNetFullConnectLinear(3)]),
    2: (7, lambda: [pn.TNNetInput(28, 28, 1), pn.TNNetConvolutionReLU(8, 5, 0, 1, 0),
                    pn.TNNetMaxPool(2), pn.TNNetConvolutionReLU(16, 5, 0, 1, 0),
                    pn.TNNetMaxPool(2), pn.TNNetFullConnectReLU(32),
                    pn.TNNetFullConnectLinear(10)]),
    3: (555, lambda: [pn.TNNetInput(9, 9, 3), pn.TNNetConvolutionLinear(5, 5, 2, 2, 1),
                      pn.TNNetMaxPool(3, 2, 0), pn.TNNetConvolution(4, 1, 0, 1, 0),
                      pn.TNNetFullConnect(6), pn.TNNetFullConnectLinear(2)]),
    # a kernel larger than the unpadded input along y: clamped to 3x2
    4: (8088, lambda: [pn.TNNetInput(10, 2, 1), pn.TNNetConvolutionReLU(2, 3, 1, 1, 0),
                       pn.TNNetFullConnectLinear(2)]),
}


def _built(case):
    seed, layers = CASES[case]
    rng.set_seed(seed)
    net = pn.TNNet()
    for layer in layers():
        net.add_layer(layer)
    net.set_learning_rate(0.01, 0.9)
    return net


@pytest.fixture(params=sorted(CASES), ids=lambda c: f"case{c}")
def case(request):
    return request.param, read_trace("conv", f"trace_case{request.param}.txt")


def test_structure_and_initial_weights(case):
    number, t = case
    net = _built(number)
    assert net.save_structure_to_string() == t["STRUCT"]
    assert net.save_data_to_string() == t["INIT"]


def test_training_pass_outputs_weights_and_file(case):
    number, t = case
    net = _built(number)
    for i, (x, target) in enumerate(zip(t["IN"], t["TGT"])):
        out = net.compute(x).data
        np.testing.assert_array_equal(bits(out), bits(t["OUT"][i]), err_msg=f"OUT {i}")
        net.backpropagate(target)
    assert net.save_data_to_string() == t["TRAINED"]
    for i, x in enumerate(t["IN"]):
        np.testing.assert_array_equal(bits(net.compute(x).data), bits(t["POST"][i]),
                                      err_msg=f"POST {i}")
    assert net.save_to_string() == t["FILE"]


@pytest.mark.parametrize("level", ["generic", "avx2"])
def test_fit_samples_and_exact_batch_on_both_instruction_sets(case, level):
    number, t = case
    if level == "avx2" and _dense.simd_level() != "avx2" and not _try_avx2():
        pytest.skip("this CPU has no AVX2")
    before = _dense.simd_level()
    try:
        _dense.set_simd_level(level)
        net = _built(number)
        net.fit_samples(t["IN"], t["TGT"])
        assert net.save_data_to_string() == t["TRAINED"]
        np.testing.assert_array_equal(bits(net.compute_batch(t["IN"], exact=True)),
                                      bits(t["POST"]))
    finally:
        _dense.set_simd_level(before)


def _try_avx2():
    try:
        _dense.set_simd_level("avx2")
        return True
    except ValueError:
        return False


def test_loaded_file_computes_the_post_outputs(case):
    number, t = case
    net = pn.TNNet.from_string(t["FILE"], generator=rng.FPCRandom())
    assert net.save_to_string() == t["FILE"]
    np.testing.assert_array_equal(bits(net.compute_batch(t["IN"], exact=True)), bits(t["POST"]))
    # the numpy batched pass (im2col + GEMM, strided max) agrees closely
    np.testing.assert_allclose(net.compute_batch(t["IN"]), t["POST"], rtol=1e-5, atol=1e-6)
    for layer, out in zip(net.layers, net.layer_outputs(t["IN"][:3])):
        assert out.shape == (3, layer.output.size)
