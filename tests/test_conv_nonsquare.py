"""Kernels clamped to a smaller input, as the original clamps them when a
convolution is attached: ``feature_size_x = min(feature_size, size_x)``,
``feature_size_y = min(feature_size, size_y)``. Each net below is checked
against a float64 numpy transcription of the forward pass written from
the rules (docs/SEMANTICS.md, "Convolutional layers"), not from pyneural's
code: through ``compute``, both batched passes, one training step's weight
change and input error, and the torch conversion. (The original's own
trace of a clamped kernel is case conv4 of test_traces.py.)"""
import numpy as np
import pytest

import pyneural as pn
from pyneural.rng import FPCRandom

CONV = {"relu": pn.TNNetConvolutionReLU, "tanh": pn.TNNetConvolution,
        "linear": pn.TNNetConvolutionLinear}

# (input (sx, sy, depth), convolutions (activation, features, feature_size,
# padding, stride), expected (feature_size_x, feature_size_y, out_x, out_y)
# of each convolution)
CASES = {
    "x only": ((2, 9, 2), [("relu", 3, 3, 0, 1)], [(2, 3, 1, 7)]),
    "y only, padded, strided": ((9, 2, 2), [("linear", 3, 3, 1, 2)], [(3, 2, 5, 2)]),
    "both, padded": ((3, 2, 1), [("tanh", 2, 5, 2, 1)], [(3, 2, 5, 5)]),
    "a chain that shrinks": ((11, 4, 3), [("relu", 5, 3, 1, 1), ("tanh", 4, 6, 0, 2),
                                          ("linear", 3, 2, 1, 1)],
                             [(3, 3, 11, 4), (6, 4, 3, 1), (2, 1, 4, 3)]),
    "square, untouched": ((5, 5, 1), [("relu", 2, 3, 1, 2)], [(3, 3, 3, 3)]),
}


def build(case, seed=4, tail=True, collect_error=0):
    (sx, sy, d), convs, _ = CASES[case]
    net = pn.TNNet(FPCRandom(seed))
    net.add_layer(pn.TNNetInput(sx, sy, d, collect_error))
    for act, features, size, pad, stride in convs:
        net.add_layer(CONV[act](features, size, pad, stride))
    if tail:
        net.add_layer(pn.TNNetFullConnectLinear(3))
    return net


def rows(net, n=7, seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, (n, net.input_size)).astype(np.float32)


def reference_conv(x, shape, weights, bias, size, pad, stride, activation):
    """One convolution in float64 from the rules: raw order ``(y * sx + x)
    * d + c``; the kernel clamped to the unpadded input; weight ``(ky * fx
    + kx) * d + c`` of feature ``n`` multiplies the zero-padded input at
    ``(ox * stride + kx, oy * stride + ky)``. Returns the output in raw
    order and its shape."""
    sx, sy, d = shape
    fx, fy = min(size, sx), min(size, sy)
    image = np.zeros((sy + 2 * pad, sx + 2 * pad, d))
    image[pad:pad + sy, pad:pad + sx] = np.asarray(x, np.float64).reshape(sy, sx, d)
    ox, oy = (sx + 2 * pad - fx) // stride + 1, (sy + 2 * pad - fy) // stride + 1
    out = np.zeros((oy, ox, len(weights)))
    for y in range(oy):
        for x_ in range(ox):
            for n, w in enumerate(weights):
                total = 0.0
                for ky in range(fy):
                    for kx in range(fx):
                        for c in range(d):
                            total += (float(w[(ky * fx + kx) * d + c])
                                      * image[y * stride + ky, x_ * stride + kx, c])
                out[y, x_, n] = total + float(bias[n])
    if activation == "relu":
        out = np.maximum(out, 0)
    elif activation == "tanh":
        out = np.tanh(out)
    return out.reshape(-1), (ox, oy, len(weights))


def reference_forward(net, x):
    (sx, sy, d), convs, _ = CASES[net.case]
    h, shape = x, (sx, sy, d)
    for (act, _, size, pad, stride), layer in zip(convs, net.layers[1:]):
        h, shape = reference_conv(h, shape, layer.weights, layer.bias, size, pad, stride, act)
    for layer in net.layers[1 + len(convs):]:
        h = layer.weights.astype(np.float64) @ h + layer.bias
    return h


@pytest.fixture(params=sorted(CASES))
def net(request):
    net = build(request.param)
    net.case = request.param
    return net


def test_the_kernel_is_clamped_to_the_unpadded_input(net):
    _, convs, expected = CASES[net.case]
    for (act, features, size, pad, stride), layer, (fx, fy, ox, oy) in zip(
            convs, net.layers[1:], expected):
        d = layer.input_shape[2]
        assert (layer.feature_size, layer.feature_size_x, layer.feature_size_y) == (size, fx, fy)
        assert tuple(layer.output.shape) == (ox, oy, features)
        assert layer.fan_in == fx * fy * d and layer.weights.shape == (features, fx * fy * d)
        assert layer.kernels().shape == (features, fy, fx, d)
        assert layer.neuron_volume_shape() == (fx, fy, d)
        # the structure keeps the constructor's size, the data the clamped volumes
        assert f"{layer.class_name}:{features};{size};{pad};{stride};" in \
            net.save_structure_to_string()
        assert f"]1;{fx};{fy};{d};" in net.save_data_to_string()


def test_forward_matches_the_reference_per_sample_and_batched(net):
    X = rows(net)
    expected = np.stack([reference_forward(net, x) for x in X])
    per_sample = np.stack([net.compute(x).data.copy() for x in X])
    np.testing.assert_allclose(per_sample, expected, rtol=1e-5, atol=1e-5)
    assert np.array_equal(net.compute_batch(X, exact=True).view(np.uint32),
                          per_sample.view(np.uint32))
    np.testing.assert_allclose(net.compute_batch(X), per_sample, rtol=1e-5, atol=1e-6)


def test_the_text_round_trip_keeps_the_clamped_kernels(net):
    X = rows(net)
    net.fit_samples(X, rows(net, 7, 2)[:, :net.output_size])
    again = pn.TNNet.from_string(net.save_to_string(), FPCRandom())
    assert again.save_to_string() == net.save_to_string()
    assert np.array_equal(again.compute_batch(X, exact=True), net.compute_batch(X, exact=True))


def test_one_training_step_is_the_gradient_and_sends_the_transposed_error(net):
    """A net of one linear convolution (inertia 0): the step is ``-lr``
    times the gradient of ``0.5 * |out - target|^2`` and the input's error
    is the kernel times the output error, summed over windows, with the
    weights before the step."""
    (sx, sy, d), convs, _ = CASES[net.case]
    _, features, size, pad, stride = convs[0]
    one = pn.TNNet(FPCRandom(9))
    one.add_layer(pn.TNNetInput(sx, sy, d, 1))
    conv = one.add_layer(pn.TNNetConvolutionLinear(features, size, pad, stride))
    one.set_learning_rate(0.01, 0.0)
    x, t = rows(one, 1, 3)[0], np.random.default_rng(4).uniform(-1, 1, one.output_size)
    w0 = conv.weights.astype(np.float64).copy()
    e = one.compute(x).data.astype(np.float64) - t.astype(np.float32)
    one.backpropagate(t.astype(np.float32))
    fx, fy = conv.feature_size_x, conv.feature_size_y
    ox, oy, _ = conv.output.shape
    image = np.zeros((sy + 2 * pad, sx + 2 * pad, d))
    image[pad:pad + sy, pad:pad + sx] = x.reshape(sy, sx, d)
    grad, back = np.zeros_like(w0), np.zeros_like(image)
    for y in range(oy):
        for x_ in range(ox):
            window = image[y * stride:y * stride + fy, x_ * stride:x_ * stride + fx]
            for n in range(features):
                err = e[(y * ox + x_) * features + n]
                grad[n] += err * window.reshape(-1)
                back[y * stride:y * stride + fy, x_ * stride:x_ * stride + fx] += \
                    err * w0[n].reshape(fy, fx, d)
    np.testing.assert_allclose(conv.weights - w0, -0.01 * grad, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(one.layers[0].output_error.data,
                               back[pad:pad + sy, pad:pad + sx].reshape(-1), rtol=1e-5, atol=1e-6)


def test_torch_holds_the_clamped_kernel_both_ways(net):
    torch = pytest.importorskip("torch")
    (sx, sy, d), _, _ = CASES[net.case]
    model = net.to_torch()
    convs = [m for m in model if isinstance(m, torch.nn.Conv2d)]
    assert [tuple(m.kernel_size) for m in convs] == [
        (layer.feature_size_y, layer.feature_size_x) for layer in net.layers[1:1 + len(convs)]]
    X = rows(net)
    with torch.no_grad():
        out = model(torch.from_numpy(pn.images_from_rows(X, sx, sy, d))).numpy()
    np.testing.assert_allclose(out, net.compute_batch(X, exact=True), rtol=1e-5, atol=1e-5)
    # back: a kernel of two sizes is the smallest square one clamped to them
    back = pn.from_torch(model, input_shape=(d, sy, sx))
    geometry = [(type(l), tuple(l.output.shape), l.feature_size_x, l.feature_size_y)
                for l in net.layers[1:1 + len(convs)]]
    assert [(type(l), tuple(l.output.shape), l.feature_size_x, l.feature_size_y)
            for l in back.layers[1:1 + len(convs)]] == geometry
    assert [l.feature_size for l in back.layers[1:1 + len(convs)]] == [
        max(l.feature_size_x, l.feature_size_y) for l in net.layers[1:1 + len(convs)]]
    assert np.array_equal(np.concatenate(back.snapshot()), np.concatenate(net.snapshot()))


def test_permuting_channels_of_a_clamped_chain_keeps_the_function():
    from pyneural.reports import symmetry
    net = build("a chain that shrinks")
    hidden = symmetry.hidden_layers(net)
    assert [(h.index, h.width, h.positions) for h in hidden] == [(1, 5, 24), (2, 4, 2), (3, 3, 12)]
    perms = symmetry.random_permutations(hidden, np.random.default_rng(5))
    moved = pn.permute(net, perms)
    X = rows(net, 30)
    np.testing.assert_allclose(moved.compute_batch(X, exact=True),
                               net.compute_batch(X, exact=True), rtol=0, atol=2e-6)
    # the second convolution's clamped 6x4 kernels moved along their input channels
    k_old, k_new = net.layers[2].kernels(), moved.layers[2].kernels()
    assert np.array_equal(k_new, k_old[perms[1]][..., perms[0]])
