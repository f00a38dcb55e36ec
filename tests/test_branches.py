"""Nets with branches beyond the original's traces: the graph API, the
backward order, dropout's draws in every pass, the new activations against
their formulas and gradients, and bad graphs refused with clear errors."""
import pickle

import numpy as np
import pytest

import pyneural as pn
from pyneural import rng
from pyneural.net import _backward_order
from pyneural.nnformat import NNFormatError
from conftest import bits

F32 = np.float32


def _net(*layers, collect=0, size=(4, 3, 2), seed=7):
    rng.set_seed(seed)
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(*size, collect))
    for layer in layers:
        net.add_layer(layer)
    return net


# ------------------------------------------------------------- the graph --

def test_add_layer_after_takes_a_layer_or_an_index_and_starts_a_branch():
    net = _net(pn.TNNetConvolutionReLU(3, 3, 1, 1))
    a = net.add_layer_after(pn.TNNetPointwiseConvLinear(3), 0)
    b = net.add_layer_after(pn.TNNetReLU(), net.layers[1])
    c = net.add_layer_after(pn.TNNetIdentity(), -1)
    assert (a.prev, b.prev, c.prev) == (0, 1, 3)
    s = net.add_layer(pn.TNNetSum([a, b, c]))
    assert s.prev == 4 and s.links == (2, 3, 4) and s.input_indices() == (2, 3, 4)
    assert "#0)TNNetPointwiseConvLinear:3;1;0;1;0" in net.save_structure_to_string()
    assert ":2;3;4:" in net.save_structure_to_string()
    again = pn.TNNet.from_string(net.save_to_string())
    assert again.save_to_string() == net.save_to_string()


def test_the_backward_order_is_the_original_recursion():
    # a chain: last to first
    chain = _net(pn.TNNetFullConnectReLU(3), pn.TNNetFullConnectLinear(2))
    assert _backward_order(chain.layers) == [2, 1]
    # layer 1 feeds 2 and the sum: it runs once both have passed their error back
    net = _net(pn.TNNetConvolutionLinear(2, 1), pn.TNNetConvolutionReLU(2, 1))
    net.add_layer(pn.TNNetSum([net.layers[2], net.layers[1]]))
    net.add_layer(pn.TNNetFullConnectLinear(2))
    assert _backward_order(net.layers) == [4, 3, 2, 1]
    # a branch that nothing reads is never reached, and neither is what it reads
    dangling = _net(pn.TNNetFullConnectReLU(3))
    dangling.add_layer_after(pn.TNNetFullConnectReLU(3), 1)
    dangling.add_layer_after(pn.TNNetFullConnectLinear(2), 1)
    assert _backward_order(dangling.layers) == [3]


def test_a_layer_fed_into_two_branches_gets_both_errors_before_it_steps():
    # y = conv(x) + relu(conv(x)): the conv's error is the sum of both paths,
    # whatever the order of the branches in the net
    net = _net(pn.TNNetConvolutionLinear(2, 1), collect=1)
    net.add_layer(pn.TNNetReLU())
    net.add_layer(pn.TNNetSum([net.layers[2], net.layers[1]]))
    net.add_layer(pn.TNNetFullConnectLinear(2))
    _assert_input_error_is_the_gradient(net)


def _assert_input_error_is_the_gradient(net, rtol=2e-2, atol=2e-4):
    """With a vanishing learning rate, the error at a collecting input is the
    gradient of 0.5 * sum((y - t)^2): compare it with central differences.
    (Not 0: a convolution passes error back only where its step is nonzero.)"""
    net.set_learning_rate(1e-20, 0)
    g = np.random.default_rng(3)
    x = g.uniform(-1, 1, net.input_size).astype(F32)
    t = g.uniform(-1, 1, net.output_size).astype(F32)

    def loss(v):
        y = net.compute_batch(v[None].astype(F32), exact=True)[0].astype(np.float64)
        return 0.5 * np.sum((y - t) ** 2)

    net.compute(x)
    net.backpropagate(t)
    analytic = net.layers[0].output_error.data.astype(np.float64)
    numeric = np.empty_like(analytic)
    for i in range(x.size):
        step = np.zeros(x.size, np.float64)
        step[i] = 1e-2
        numeric[i] = (loss(x + step) - loss(x - step)) / 2e-2
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)


@pytest.mark.parametrize("layers", [
    lambda: [pn.TNNetFullConnectLinear(6), pn.TNNetLeakyReLU(0.2), pn.TNNetFullConnectLinear(3)],
    lambda: [pn.TNNetFullConnectLinear(6), pn.TNNetSwish(), pn.TNNetFullConnectLinear(3)],
    lambda: [pn.TNNetFullConnectLinear(6), pn.TNNetSELU(), pn.TNNetFullConnectLinear(3)],
    lambda: [pn.TNNetFullConnectLinear(6), pn.TNNetReLU6(), pn.TNNetFullConnectLinear(3)],
    lambda: [pn.TNNetConvolutionLinear(3, 3, 1, 1), pn.TNNetAvgPool(2),
             pn.TNNetFullConnectLinear(3)],
    lambda: [pn.TNNetConvolutionLinear(3, 3, 1, 1), pn.TNNetMaxChannel(),
             pn.TNNetFullConnectLinear(3)],
    lambda: [pn.TNNetPointwiseConvLinear(3), pn.TNNetAvgChannel(), pn.TNNetFullConnectLinear(2)],
], ids=["leaky", "swish", "selu", "relu6", "avgpool", "maxchannel", "avgchannel"])
def test_the_error_each_layer_passes_back_is_its_gradient(layers):
    _assert_input_error_is_the_gradient(_net(*layers(), collect=1))


def test_concatenations_pass_the_gradient_and_make_the_input_collect_error():
    net = _net(pn.TNNetPointwiseConvLinear(2), size=(3, 2, 2))
    net.add_layer(pn.TNNetDeepConcat([net.layers[1], net.layers[0]]))
    net.add_layer(pn.TNNetConcat([net.layers[2], net.layers[1]]))
    net.add_layer(pn.TNNetFullConnectLinear(3))
    assert net.layers[0].struct_ints()[3] == 1      # the original's EnableErrorCollection
    assert net.save_structure_to_string().startswith("-1)TNNetInput:3;2;2;1;")
    assert net.layers[3].output.shape == (24 + 12, 1, 1)
    _assert_input_error_is_the_gradient(net)


# ------------------------------------------------------------ the layers --

def test_the_new_activations_follow_their_formulas_in_every_pass():
    x = np.linspace(-8, 8, 24, dtype=F32)
    x[3] = -0.0
    alpha, scale = F32(1.6733), F32(1.0507)
    expected = {
        pn.TNNetLeakyReLU: np.where(x > 0, x, x * F32(0.01)),
        pn.TNNetReLU6: np.where(x > 6, F32(6), np.where(x > 0, x, F32(0) + x * F32(0))),
        pn.TNNetSwish: x / (1 + np.exp(-x.astype(np.float64))),
        pn.TNNetSELU: np.where(x >= 0, scale * x.astype(np.float64),
                               alpha * scale * (np.exp(x.astype(np.float64)) - 1)),
    }
    for cls, want in expected.items():
        net = _net(cls(), size=(24, 1, 1))
        out = net.compute(x).data.copy()
        np.testing.assert_allclose(out, want, rtol=2e-6, atol=1e-6, err_msg=cls.__name__)
        np.testing.assert_array_equal(bits(net.compute_batch(x[None])[0]), bits(out))
        np.testing.assert_array_equal(bits(net.compute_batch(x[None], exact=True)[0]),
                                      bits(out))


def test_leaky_relu_keeps_its_slope_in_the_text_as_a_float32():
    net = _net(pn.TNNetLeakyReLU(), size=(3, 1, 1))
    assert "TNNetLeakyReLU:0;0;0;0;0;0;0;0::0.009999999776;0;" in net.save_structure_to_string()
    again = pn.TNNet.from_string(net.save_to_string())
    assert again.layers[1].alpha == float(F32(0.01))
    assert _net(pn.TNNetReLU6(3)).save_structure_to_string().split("#")[1].startswith(
        "0)TNNetReLU6:0;6;3;")


@pytest.mark.parametrize("rate, stored", [(0.25, 4), (0.3, 3), (0.5, 2), (0.4, 2), (0, -1),
                                          (-0.5, -1)])
def test_dropout_stores_the_rounded_inverse_rate(rate, stored):
    layer = pn.TNNetDropout(rate)
    assert layer.struct_ints()[:2] == (stored, 1)
    assert layer.enabled == (stored > 0)


def test_dropout_draws_from_the_nets_generator_in_every_pass():
    X = np.random.default_rng(0).uniform(1, 2, (7, 10)).astype(F32)

    def fresh():
        net = pn.TNNet(rng.FPCRandom(5))
        net.add_layer(pn.TNNetInput(10))
        net.add_layer(pn.TNNetDropout(0.5))
        net.add_layer(pn.TNNetIdentity())
        return net

    per_row = fresh()
    rows = np.stack([per_row.compute(x).data.copy() for x in X])
    kept = rows != 0
    assert 0.3 < kept.mean() < 0.7 and np.array_equal(rows[kept], X[kept])
    np.testing.assert_array_equal(bits(fresh().compute_batch(X)), bits(rows))
    np.testing.assert_array_equal(bits(fresh().compute_batch(X, exact=True)), bits(rows))
    off = fresh()
    off.enable_dropouts(False)
    np.testing.assert_array_equal(off.compute_batch(X), X)


def test_the_normalisations_start_at_the_identity_and_save_their_neurons():
    net = _net(pn.TNNetMovingStdNormalization(), pn.TNNetChannelStdNormalization())
    x = np.arange(24, dtype=F32)
    np.testing.assert_array_equal(net.compute(x).data, x)
    data = net.save_data_to_string().split("!")
    assert data[1] == "0]1;1;1;3;0;1;0"
    assert data[2] == "0]1;1;1;2;0;0[0]1;1;1;2;1;1"
    net.fit_samples(np.stack([x, -x]), np.stack([x, x]))
    again = pn.TNNet.from_string(net.save_to_string())
    np.testing.assert_array_equal(again.compute_batch(x[None]), net.compute_batch(x[None]))


def test_pickle_and_text_keep_the_graph():
    net = _net(pn.TNNetConvolutionReLU(2, 3, 1, 1), pn.TNNetConvolutionLinear(2, 3, 1, 1))
    net.add_layer(pn.TNNetSum([net.layers[2], net.layers[1]]))
    net.add_layer(pn.TNNetDropout(0.5))
    net.add_layer(pn.TNNetFullConnectLinear(2))
    net.enable_dropouts(False)
    twin = pickle.loads(pickle.dumps(net))
    assert twin.save_to_string() == net.save_to_string()
    assert twin.layers[3]._link_layers[0] is twin.layers[2]
    X = np.random.default_rng(1).uniform(-1, 1, (4, net.input_size)).astype(F32)
    np.testing.assert_array_equal(twin.compute_batch(X, exact=True),
                                  net.compute_batch(X, exact=True))


# ------------------------------------------------------------ bad graphs --

def test_a_sum_of_other_shapes_and_a_deep_concat_of_other_planes_are_refused():
    net = _net(pn.TNNetConvolutionReLU(2, 3, 1, 1), pn.TNNetConvolutionReLU(3, 3, 1, 1))
    with pytest.raises(ValueError, match=r"different shapes: 4x3x2 .* and 4x3x3"):
        pn.TNNetSum([net.layers[1], net.layers[2]])
    pool = net.add_layer(pn.TNNetMaxPool(2))
    with pytest.raises(ValueError, match=r"different planes: 4x3 .* and 2x2"):
        pn.TNNetDeepConcat([net.layers[1], pool])
    with pytest.raises(TypeError, match="list of layers"):
        pn.TNNetSum(net.layers[1])
    with pytest.raises(ValueError, match="at least one layer"):
        pn.TNNetConcat([])


def test_layers_of_another_net_are_refused():
    a, b = _net(pn.TNNetReLU()), _net(pn.TNNetReLU())
    with pytest.raises(ValueError, match="input 1: TNNetReLU is not a layer of this net"):
        a.add_layer(pn.TNNetSum([a.layers[1], b.layers[1]]))
    with pytest.raises(ValueError, match="not a layer of this net"):
        a.add_layer_after(pn.TNNetReLU(), b.layers[1])
    with pytest.raises(ValueError, match="no layer 9"):
        a.add_layer_after(pn.TNNetReLU(), 9)
    with pytest.raises(TypeError, match="layer of this net or its index"):
        a.add_layer_after(pn.TNNetReLU(), "1")
    assert len(a.layers) == 2


GOOD = ("-1)TNNetInput:4;1;1;0;0;0;0;0::0;0;0;0;0;0;0;0#"
        "0)TNNetReLU:0;0;0;0;0;0;0;0::0;0;0;0;0;0;0;0#"
        "1)TNNetSum:0;0;0;0;0;0;0;0:1;0:0;0;0;0;0;0;0;0>!!")


@pytest.mark.parametrize("bad, message", [
    (GOOD.replace(":1;0:", ":1;2:"), r"layer 2: .*links to layer 2: a link goes to an earlier"),
    (GOOD.replace(":1;0:", ":1;5:"), r"links to layer 5"),
    (GOOD.replace(":1;0:", ":1;-1:"), r"links to layer -1"),
    (GOOD.replace(":1;0:", ":1;x:"), r"layer 2: a link \(layer index\) is not an integer"),
    (GOOD.replace("0)TNNetReLU", "2)TNNetReLU"), r"layer 1: TNNetReLU reads layer 2"),
    (GOOD.replace("0)TNNetReLU", "1)TNNetReLU"), r"layer 1: TNNetReLU reads layer 1"),
    (GOOD.replace(":1;0:", "::"), r"layer 2: TNNetSum needs the layers it reads"),
    (GOOD.replace("TNNetReLU:0;0;0;0;0;0;0;0::", "TNNetReLU:0;0;0;0;0;0;0;0:0:"),
     r"layer 1: TNNetReLU reads one layer; the text links it to 1"),
    (GOOD.replace("0)TNNetReLU:0;0;0;0;0;0;0;0", "0)TNNetFullConnectReLU:2;1;1;0;0;0;0;0")
     .replace(">!!", ">![0]1;4;1;1;0;0;0;0!"), r"layer 2: .*different shapes"),
])
def test_bad_graph_texts_are_refused_naming_the_layer(bad, message):
    with pytest.raises(NNFormatError, match=message):
        pn.TNNet.from_string(bad)
    pn.TNNet.from_string(GOOD)


def test_a_small_text_cannot_declare_a_graph_that_needs_gigabytes():
    # 32 MiB for the input, as much for the ReLU: the sum of both is the layer
    # that takes a 150-character text past its budget
    big = ("-1)TNNetInput:256;256;16;0;0;0;0;0::0;0;0;0;0;0;0;0#"
           "0)TNNetReLU:0;0;0;0;0;0;0;0::0;0;0;0;0;0;0;0#"
           "1)TNNetSum:0;0;0;0;0;0;0;0:1;0;1;0:0;0;0;0;0;0;0;0>!!")
    with pytest.raises(NNFormatError, match=r"layer 2: TNNetSum needs 32 MiB .* layers up to "
                                            r"it 96 MiB: more than the 66.*MiB a 1..-character"):
        pn.TNNet.from_string(big)


SPECIAL = np.array([0.0, -0.0, 1.0, -1.5, np.nan, np.inf, -np.inf, 1e-45, -1e-45, 3.4e38,
                    -3.4e38, 1e30, -88.0, 89.0, 6.0, 6.000001, -100.0], dtype=F32)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_new_activations_on_nan_inf_and_extremes_match_a_transcription():
    x = SPECIAL
    with np.errstate(all="ignore"):
        e = np.exp(x.astype(np.float64)).astype(F32)                 # correctly rounded here
        g = F32(1) / (F32(1) + np.exp(-x.astype(np.float64)).astype(F32))
        s = F32(0.001) * F32(0) + F32(0)                              # leak 0
        alpha, scale = F32(1.6733), F32(1.0507)
        want = {
            pn.TNNetLeakyReLU: np.where(x > 0, x, x * F32(0.01)),
            pn.TNNetReLU6: np.where(x > 6, F32(6) + (x - F32(6)) * s,
                                    np.where(x > 0, x, F32(0) + (x - F32(0)) * s)),
            pn.TNNetSwish: x * g,
            pn.TNNetSELU: np.where(x >= 0, scale * x, (alpha * scale) * e - alpha * scale),
        }
    for cls, w in want.items():
        net = _net(cls(), size=(x.size, 1, 1))
        out = net.compute(x).data
        np.testing.assert_array_equal(bits(out), bits(w.astype(F32)), err_msg=cls.__name__)


def test_every_pass_that_draws_reseeds_when_randseed_is_assigned_again():
    def trained(per_sample):
        rng.set_seed(3)
        net = pn.TNNet()
        net.add_layer(pn.TNNetInput(6))
        net.add_layer(pn.TNNetFullConnectReLU(8))
        net.add_layer(pn.TNNetDropout(0.5))
        net.add_layer(pn.TNNetFullConnectLinear(2))
        X = np.linspace(-1, 1, 24, dtype=F32).reshape(4, 6)
        Y = np.eye(2, dtype=F32)[[0, 1, 0, 1]]
        for seed in (11, 11, 12):             # the same seed again restarts the stream
            rng.set_seed(seed)
            if per_sample:
                for x, y in zip(X, Y):
                    net.compute(x)
                    net.backpropagate(y)
            else:
                net.fit_samples(X, Y)
        rng.set_seed(11)
        return net.save_data_to_string(), net.compute_batch(X, exact=True)

    (text_a, out_a), (text_b, out_b) = trained(True), trained(False)
    assert text_a == text_b
    np.testing.assert_array_equal(out_a, out_b)
