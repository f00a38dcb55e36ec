"""Pascal's two-argument constructor ``Create(Size, SuppressBias)``, checked
against a trace the original wrote (fixtures/layers/suppress_bias_trace.txt,
its INDEX.md entry says how): the net, its training and its outputs."""
import numpy as np
import pytest

import pyneural as pn
from pyneural import rng
from conftest import fixture_text

f32 = np.float32


def _lines():
    return fixture_text("layers/suppress_bias_trace.txt").splitlines()


def _samples():
    rng.set_seed(4321)
    X, Y = [], []
    for _ in range(20):
        X.append([f32(rng.random() * 2 - 1) for _ in range(3)])
        Y.append([f32(rng.random()), f32(rng.random() - 0.5)])
    return np.array(X, f32), np.array(Y, f32)


def _net():
    # The Pascal program's lines, ported one for one.
    rng.set_seed(555)
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(3, 1, 1))
    net.add_layer(pn.TNNetFullConnectReLU(6, 1))
    net.add_layer(pn.TNNetFullConnect(5, 1))
    net.add_layer(pn.TNNetFullConnectReLU(4, 0))
    net.add_layer(pn.TNNetFullConnectLinear(2, 1))
    net.set_learning_rate(0.05, 0.9)
    return net


def _bits(values):
    return [format(int(np.float32(v).view(np.uint32)), "08X") for v in values]


def test_two_arguments_are_size_and_suppress_bias():
    layer = pn.TNNetFullConnectReLU(6, 1)
    assert (layer.neurons, layer.suppress_bias, layer.struct_ints()[:4]) == (6, True, (6, 1, 1, 1))
    assert pn.TNNetFullConnectLinear(4, 0).suppress_bias is False
    assert pn.TNNetFullConnect(2, 3, 4).struct_ints()[:4] == (2, 3, 4, 0)
    assert pn.TNNetFullConnect(2, 3, 4, 1).suppress_bias is True
    assert pn.TNNetFullConnectSigmoid(5, suppress_bias=1).suppress_bias is True
    assert pn.TNNetFullConnectSigmoid(5, size_y=2).struct_ints()[:4] == (5, 2, 1, 0)


@pytest.mark.parametrize("call, message", [
    (lambda: pn.TNNetFullConnectReLU(6, 1, suppress_bias=1), "given twice"),
    (lambda: pn.TNNetFullConnectReLU(1, 2, 3, 4, 5), "at most 4"),
])
def test_ambiguous_or_long_calls_are_refused(call, message):
    with pytest.raises(TypeError, match=message):
        call()


def test_the_original_trace_byte_for_byte():
    lines = _lines()
    net = _net()
    assert lines[0] == "INIT " + net.save_to_string()
    X, Y = _samples()
    for _ in range(3):
        net.fit_samples(X, Y)
    assert lines[1] == "TRAINED " + net.save_to_string()
    outs = [l for l in lines if l.startswith("OUT ")]
    assert len(outs) == len(X)
    for line, x, y in zip(outs, X, Y):
        expected = "OUT " + " ".join(_bits(net.compute(x).data)) + " " + " ".join(
            ["x" + b for b in _bits(x)] + ["y" + b for b in _bits(y)])
        assert line == expected
