"""Convolutional layers beyond the traces: the layer API (shapes, weight
layout, constructor checks), everything a dense net has (batched forward,
clone, pickling, text and file round trips, the CLI's info), the image
helpers, and the kernels' entry checks."""
import pickle
import threading

import numpy as np
import pytest

import pyneural as pn
from pyneural import rng
from pyneural._kernels import dense as _dense
from pyneural.rng import FPCRandom


def conv_net(seed=3, width=10, height=6):
    """A non-square input through every spatial class, padding, strides, a
    suppressed bias, a 1x1 kernel and a strided max-pool, then the dense tail."""
    net = pn.TNNet(FPCRandom(seed))
    for layer in (pn.TNNetInput(width, height, 3), pn.TNNetConvolutionReLU(5, 3, 1, 1, 0),
                  pn.TNNetMaxPool(2), pn.TNNetConvolutionLinear(4, 2, 1, 2, 1),
                  pn.TNNetConvolution(6, 1), pn.TNNetMaxPool(3, 1, 0),
                  pn.TNNetFullConnectReLU(7), pn.TNNetFullConnectLinear(3)):
        net.add_layer(layer)
    return net


def data(net, n=40, seed=0):
    g = np.random.default_rng(seed)
    X = g.uniform(-1, 1, (n, net.input_size)).astype(np.float32)
    Y = np.eye(net.output_size, dtype=np.float32)[g.integers(0, net.output_size, n)]
    return X, Y


def trained(seed=3):
    net = conv_net(seed)
    net.fit_samples(*data(net))
    return net


# ------------------------------------------------------------ the API --

def test_shapes_follow_the_original_formulas():
    net = conv_net()
    shapes = [tuple(l.output.shape) for l in net.layers]
    # conv: (in + 2p - k) // s + 1; pool: ceil((in + 2p) / s)
    assert shapes == [(10, 6, 3), (10, 6, 5), (5, 3, 5), (3, 2, 4), (3, 2, 6), (3, 2, 6),
                      (7, 1, 1), (3, 1, 1)]
    conv = net.layers[1]
    assert (conv.features, conv.feature_size, conv.input_padding, conv.stride) == (5, 3, 1, 1)
    assert conv.weights.shape == (5, 27) and conv.kernels().shape == (5, 3, 3, 3)
    assert np.shares_memory(conv.kernels(), conv.params.data)
    assert net.layers[3].suppress_bias and not conv.suppress_bias
    assert net.layers[2].stride == 2 and net.layers[5].stride == 1
    assert net.count_weights() == 5 * 27 + 4 * 20 + 6 * 4 + 7 * 36 + 3 * 7
    assert "TNNetConvolutionLinear(4, 2, 1, 2, 1)" in repr(net)


def test_weight_layout_is_neuron_major_kernels_in_raw_order():
    """Weight (ky * k + kx) * depth + d of feature n multiplies input
    (x0 + kx, y0 + ky, d): checked by putting one weight at a time."""
    net = pn.TNNet(FPCRandom(1))
    net.add_layer(pn.TNNetInput(4, 3, 2))
    conv = net.add_layer(pn.TNNetConvolutionLinear(2, 2, 0, 1, 1))
    x = np.arange(24, dtype=np.float32) + 1                    # (y * 4 + x) * 2 + d, plus 1
    for n, ky, kx, d in [(0, 0, 0, 0), (1, 1, 0, 1), (0, 0, 1, 1), (1, 1, 1, 0)]:
        conv.params.data[:] = 0
        conv.kernels()[n, ky, kx, d] = 1
        out = net.compute(x).as_array()                         # [x, y, feature]
        for oy in range(2):
            for ox in range(3):
                assert out[ox, oy, n] == x[((oy + ky) * 4 + ox + kx) * 2 + d]
                assert out[ox, oy, 1 - n] == 0


def test_output_channel_permutation_with_its_compensation_keeps_the_function():
    """What an alignment does: permute a conv layer's output channels (rows
    of weights and bias), the next conv's input channels (last kernel axis)
    and, after pooling, the dense layer's columns per position."""
    net = trained()
    X, _ = data(net, 20, 9)
    before = net.compute_batch(X, exact=True)
    conv1, conv2, conv3, fc = net.layers[1], net.layers[3], net.layers[4], net.layers[6]
    p1, p3 = np.array([3, 0, 4, 1, 2]), np.array([5, 2, 0, 1, 4, 3])
    conv1.weights = conv1.weights[p1]
    conv1.bias = conv1.bias[p1]
    conv2.weights = conv2.kernels()[..., p1].reshape(conv2.neurons, -1)
    conv3.weights = conv3.weights[p3]
    conv3.bias = conv3.bias[p3]
    sx, sy, d = net.layers[5].output.shape
    fc.weights = fc.weights.reshape(-1, sy, sx, d)[..., p3].reshape(fc.neurons, -1)
    np.testing.assert_allclose(net.compute_batch(X, exact=True), before, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda: pn.TNNetConvolutionReLU(0, 3), "features must be >= 1"),
    (lambda: pn.TNNetConvolution(4, 0), "feature_size must be >= 1"),
    (lambda: pn.TNNetConvolutionLinear(4, 3, 0, 0), "stride must be >= 1"),
    (lambda: pn.TNNetConvolutionLinear(4, 3, -1), "input_padding must be >= 0"),
    (lambda: pn.TNNetMaxPool(0), "pool_size must be >= 1"),
    (lambda: pn.TNNetMaxPool(2, -1), "stride must be >= 0"),
    (lambda: pn.TNNetMaxPool(2, 0, -2), "padding must be >= 0"),
])
def test_bad_constructor_arguments_are_value_errors_naming_the_class(make, message):
    with pytest.raises(ValueError, match=message) as info:
        make()
    assert "TNNet" in str(info.value)


def test_constructor_types_and_a_first_spatial_layer_are_refused():
    with pytest.raises(TypeError, match="TNNetMaxPool: pool_size must be an integer"):
        pn.TNNetMaxPool(2.5)
    with pytest.raises(ValueError, match="TNNetMaxPool cannot be the first layer"):
        pn.TNNetMaxPool(2)._plan(None)


def test_max_pool_stride_zero_is_the_pool_size_as_in_the_original():
    assert pn.TNNetMaxPool(3).struct_ints()[:3] == (3, 3, 0)
    assert pn.TNNetMaxPool(3, 0, 1).struct_ints()[:3] == (3, 3, 1)


def test_max_pool_ties_and_floor():
    """Each output is at least -1e6 and ties keep the first cell visited;
    the error goes back to that cell only."""
    net = pn.TNNet(FPCRandom(1))
    net.add_layer(pn.TNNetInput(2, 2, 1, 1))                      # collects error
    net.add_layer(pn.TNNetMaxPool(2))
    net.add_layer(pn.TNNetFullConnectLinear(1))
    net.layers[2].weights = [[1.0]]
    net.set_learning_rate(0, 0)
    net.compute([5.0, 5.0, 5.0, 5.0])
    assert net.layers[1].output.data[0] == 5
    net.backpropagate([4.0])
    np.testing.assert_array_equal(net.layers[0].output_error.data, [1, 0, 0, 0])
    net.compute([-2e6] * 4)
    assert net.layers[1].output.data[0] == -1e6


# -------------------------------------------- what a dense net has too --

def test_numpy_batched_pass_agrees_with_the_exact_one():
    net = trained()
    X, _ = data(net, 64, 5)
    exact = net.compute_batch(X, exact=True)
    np.testing.assert_allclose(net.compute_batch(X), exact, rtol=1e-5, atol=1e-6)
    for layer, a, b in zip(net.layers, net.layer_outputs(X), net.layer_outputs(X, exact=True)):
        assert a.shape == b.shape == (64, layer.output.size)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the spatial layers' batched pass is the per-sample arithmetic itself
    # (up to numpy's tanh for TNNetConvolution)
    outs = net.layer_outputs(X, exact=True)
    np.testing.assert_array_equal(net.layers[1].forward_batch(X[0]), outs[1][:1])
    assert net.compute_batch(X[:0]).shape == (0, 3)
    with pytest.raises(ValueError, match="TNNetConvolutionReLU: inputs of 180 values"):
        net.layers[1].forward_batch(X[:, 1:])
    for i in range(1, 6):
        layer = net.layers[i]
        if layer.activation == "tanh":
            np.testing.assert_array_equal(layer.pre_activation(outs[i - 1])[-1],
                                          _raw(net, X[-1], i))
        else:
            np.testing.assert_array_equal(layer.forward_batch(outs[i - 1]), outs[i])


def _raw(net, x, i):
    net.compute(x)
    return net.layers[i].output_raw.data.copy()


def test_text_clone_pickle_and_files_round_trip_bit_for_bit(tmp_path):
    net = trained()
    text = net.save_to_string()
    assert "]1;3;3;3;" in text and "]1;1;1;4;" in text          # kernel volumes (k, k, depth)
    assert pn.TNNet.from_string(text, FPCRandom()).save_to_string() == text
    twin = net.clone()
    assert twin.save_to_string() == text
    copy = pickle.loads(pickle.dumps(net))
    assert copy.save_to_string() == text
    X, Y = data(net, 10, 2)
    for other in (twin, copy):
        other.fit_samples(X, Y)
    net.fit_samples(X, Y)
    assert twin.save_to_string() == copy.save_to_string() == net.save_to_string()
    for suffix in ("nn", "npz", "safetensors"):
        path = tmp_path / f"c.{suffix}"
        net.save(path)
        assert pn.load(path, generator=FPCRandom()).save_to_string() == net.save_to_string()


def test_state_dict_is_in_torch_layout():
    net = trained()
    state = net.to_state_dict()
    assert {k: v.shape for k, v in state.items()} == {
        "0.weight": (5, 3, 3, 3), "0.bias": (5,), "3.weight": (4, 5, 2, 2),
        "4.weight": (6, 4, 1, 1), "4.bias": (6,), "8.weight": (7, 36), "8.bias": (7,),
        "10.weight": (3, 7), "10.bias": (3,)}
    k = net.layers[1].kernels()
    np.testing.assert_array_equal(state["0.weight"], k.transpose(0, 3, 1, 2))
    # the first dense layer's columns in torch's flatten order (depth, y, x)
    w = net.layers[6].weights.reshape(7, 2, 3, 6)                 # [n, y, x, d]
    np.testing.assert_array_equal(state["8.weight"], w.transpose(0, 3, 1, 2).reshape(7, -1))


def test_the_lock_serialises_training_and_batched_reads():
    """Batched reads while two threads train: each read is the outputs of
    one of the states the training passes through (replayed on a copy:
    the ten passes give the same states in whatever order the threads take
    them), never a mix of two."""
    net = trained()
    X, Y = data(net, 30, 4)
    R = data(net, 600, 5)[0]               # three row blocks, side by side
    replay = net.clone()
    states = [replay.compute_batch(R).tobytes()]
    for _ in range(10):
        replay.fit_samples(X, Y)
        states.append(replay.compute_batch(R).tobytes())
    assert len(set(states)) == len(states)
    errors = []

    def train():
        try:
            for _ in range(5):
                net.fit_samples(X, Y)
        except Exception as exc:          # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=train) for _ in range(2)]
    for t in threads:
        t.start()
    reads = [net.compute_batch(R).tobytes() for _ in range(8)]
    for t in threads:
        t.join()
    assert not errors
    assert all(read in states for read in reads)
    assert net.compute_batch(R).tobytes() == states[-1]


def test_a_batched_read_is_one_state_when_training_runs_between_its_row_blocks(monkeypatch):
    """The row blocks run one after the other here, and another thread
    trains the net between the first and the second: the read is still the
    outputs of the state it started on."""
    from pyneural._blocks import SPATIAL_CHUNK
    net = trained()
    X, Y = data(net, 30, 4)
    R = data(net, 600, 5)[0]
    before = net.compute_batch(R)
    trainers = []

    def blocks_with_training_between(fn, rows, block=SPATIAL_CHUNK):
        outs = []
        for start in range(0, len(rows), block):
            outs.append(fn(rows[start:start + block]))
            if not trainers:
                trainers.append(threading.Thread(target=net.fit_samples, args=(X, Y)))
                trainers[0].start()
                if not net.lock._is_owned():     # else it trains once the read lets go
                    trainers[0].join()
        return np.concatenate(outs)

    monkeypatch.setattr(pn.net, "map_row_blocks", blocks_with_training_between)
    got = net.compute_batch(R)
    assert trainers, "the batched pass ran in one block"
    trainers[0].join()
    np.testing.assert_array_equal(got, before)
    assert not np.array_equal(net.compute_batch(R), before)          # it trained


def test_cli_info_on_a_conv_net(tmp_path, capsys):
    from pyneural import cli
    path = tmp_path / "c.nn"
    trained().save(path)
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "TNNetConvolutionReLU" in out and "5 x 27" in out and "TNNetMaxPool" in out


# --------------------------------------------------------- image rows --

def test_image_rows_and_back():
    g = np.random.default_rng(0)
    nchw = g.random((3, 2, 4, 5), dtype=np.float32)               # N, C, H, W
    rows = pn.image_rows(nchw)
    assert rows.shape == (3, 40)
    # raw order (y * size_x + x) * depth + d
    assert rows[1, (2 * 5 + 3) * 2 + 1] == nchw[1, 1, 2, 3]
    np.testing.assert_array_equal(pn.image_rows(nchw.transpose(0, 2, 3, 1), "NHWC"), rows)
    np.testing.assert_array_equal(pn.images_from_rows(rows, 5, 4, 2), nchw)
    np.testing.assert_array_equal(pn.images_from_rows(rows, 5, 4, 2, "NHWC"),
                                  nchw.transpose(0, 2, 3, 1))
    assert pn.image_rows(nchw[0]).shape == (1, 40)
    with pytest.raises(ValueError, match="layout"):
        pn.image_rows(nchw, "CHW")
    with pytest.raises(ValueError, match="4-D"):
        pn.image_rows(rows)
    with pytest.raises(ValueError, match="40 values"):
        pn.images_from_rows(rows[:, :30], 5, 4, 2)


# ------------------------------------------------------ kernel entries --

def _spec_list(net):
    return [list(spec) for spec in net._program_args()[0]]


@pytest.mark.parametrize("layer, geometry", [
    (1, (10, 6, 3, 10, 6, 5, 5, 1, 1)),       # kernel size changed: output does not fit
    (1, (10, 6, 3, 10, 6, 3, 2, 1, 1)),       # kernel height changed: output does not fit
    (1, (10, 6, 3, 10, 6, 3, 1, 1)),          # eight integers
    (1, (11, 6, 3, 10, 6, 3, 3, 1, 1)),       # input size does not fit
    (1, (10, 6, 3, 10, 6, 99, 3, 1, 1)),      # kernel beyond the padded input
    (1, (10, 6, 3, 10, 6, 3, 99, 1, 1)),
    (1, (2 ** 62, 2 ** 62, 3, 10, 6, 3, 3, 1, 1)),
    (1, (10, 6, 3, 10, 6, 3, 3, -1, 1)),
    (1, (10, 6, 3, 10, 6, 3, 3, 1, 0)),
    (1, (10, 6, 3, 10, 6, 3, 0, 1, 1)),
    (2, (10, 6, 5, 5, 3, 2, 2, 0, 1)),        # pool stride changed: output does not fit
    (2, None),
])
def test_the_program_refuses_geometry_that_does_not_fit(layer, geometry):
    net = conv_net()
    specs = _spec_list(net)
    specs[layer][11] = geometry
    with pytest.raises(ValueError, match=f"layer {layer}"):
        _dense.Program([tuple(s) for s in specs], net._program_args()[1])


def test_the_batched_kernels_refuse_shapes_that_do_not_fit():
    net = conv_net()
    conv, pool = net.layers[1], net.layers[2]
    geometry = conv._kernel_geometry(None)
    X = np.zeros((2, conv.input_shape[0] * conv.input_shape[1] * 3), np.float32)
    Z = np.zeros((2, conv.output.size), np.float32)
    W = np.zeros((5, 27), np.float32)
    b = np.zeros(5, np.float32)
    _dense.conv_rows(X, W, b, geometry, False, Z)
    c = np.ascontiguousarray
    for args in [(c(X[:, 1:]), W, b, geometry, False, Z), (X, c(W[:, 1:]), b, geometry, False, Z),
                 (X, W, b[1:], geometry, False, Z), (X, W, b, geometry, False, c(Z[:, 1:])),
                 (X, W, b, geometry, False, Z[:1]), (X, W, b, (1, 2, 3), False, Z),
                 (X, W, b, geometry[:5] + (3, 2) + geometry[7:], False, Z)]:
        with pytest.raises(ValueError, match="conv_rows"):
            _dense.conv_rows(*args)
    P = np.zeros((2, pool.output.size), np.float32)
    H = np.zeros((2, conv.output.size), np.float32)
    _dense.maxpool_rows(H, pool._kernel_geometry(None), P)
    with pytest.raises(ValueError, match="maxpool_rows"):
        _dense.maxpool_rows(H, pool._kernel_geometry(None), c(P[:, 1:]))
    with pytest.raises(ValueError, match="maxpool_rows"):
        _dense.maxpool_rows(c(H[:, 1:]), pool._kernel_geometry(None), P)


def test_hostile_structure_text_is_a_clean_error():
    good = conv_net().save_to_string()
    for old, new in [("TNNetConvolutionReLU:5;3;1;1", "TNNetConvolutionReLU:5;3;1;0"),
                     ("TNNetConvolutionReLU:5;3;1;1", "TNNetConvolutionReLU:0;3;1;1"),
                     ("TNNetConvolutionReLU:5;3;1;1", "TNNetConvolutionReLU:5;3;2147483647;1"),
                     ("TNNetMaxPool:2;2;0", "TNNetMaxPool:0;2;0"),
                     ("TNNetMaxPool:2;2;0", "TNNetMaxPool:2;-3;0")]:
        bad = good.replace(old, new, 1)
        assert bad != good
        with pytest.raises(pn.NNFormatError, match="layer 1|layer 2"):
            pn.TNNet.from_string(bad, FPCRandom())
    # data for another kernel size
    with pytest.raises(ValueError, match="layer 1"):
        pn.TNNet.from_string(good.replace("]1;3;3;3;", "]1;3;3;2;", 1), FPCRandom())


# ------------------------------------------- error for the previous layer --

def test_a_padded_strided_conv_sends_the_transposed_convolution_of_its_error():
    """The input error of a linear convolution (padding 1, stride 2) is
    sum over outputs of kernel * error, the padding cut away: checked
    against a float64 transcription, before the weights' update."""
    net = pn.TNNet(FPCRandom(6))
    net.add_layer(pn.TNNetInput(7, 5, 2, 1))                     # collects error
    conv = net.add_layer(pn.TNNetConvolutionLinear(3, 3, 1, 2, 0))
    x = np.random.default_rng(1).uniform(-1, 1, net.input_size).astype(np.float32)
    t = np.random.default_rng(2).uniform(-1, 1, net.output_size).astype(np.float32)
    kernels = conv.kernels().astype(np.float64).copy()           # [n, ky, kx, d]
    e = net.compute(x).data.astype(np.float64) - t
    net.backpropagate(t)
    ox, oy, _ = conv.output.shape
    padded = np.zeros((5 + 2, 7 + 2, 2))                          # [y, x, d]
    for py in range(oy):
        for px in range(ox):
            for n in range(3):
                padded[2 * py:2 * py + 3, 2 * px:2 * px + 3] += \
                    kernels[n] * e[(py * ox + px) * 3 + n]
    expected = padded[1:-1, 1:-1].reshape(-1)
    np.testing.assert_allclose(net.layers[0].output_error.data, expected, rtol=1e-5, atol=1e-6)


def test_a_padded_max_pool_sends_each_error_to_its_winning_cell():
    net = pn.TNNet(FPCRandom(6))
    net.add_layer(pn.TNNetInput(3, 3, 1, 1))
    net.add_layer(pn.TNNetMaxPool(2, 2, 1))                        # 5x5 padded -> 3x3
    x = np.array([[-1, 2, -3], [4, -5, 6], [-7, 8, -9]], np.float32).reshape(-1)
    out = net.compute(x).data.copy()
    # windows over the zero-padded input; a zero of the padding wins where
    # every real cell is negative, and its error is dropped
    np.testing.assert_array_equal(out, [0, 2, 0, 4, 8, 0, 0, 0, 0])
    err = np.arange(1, 10, dtype=np.float32)
    net.backpropagate(out - err)                                  # the error is out - target
    expected = np.zeros(9, np.float32)
    for o, cell in [(1, 1), (3, 3), (4, 7)]:
        expected[cell] += err[o]
    np.testing.assert_array_equal(net.layers[0].output_error.data, expected)


# ------------------------------------- generic and AVX2 kernels agree --

def _random_conv_net(r):
    """Random geometry: feature counts across the AVX2 kernels' blocks and
    masked tails (1..40), kernels (clamped where the volume has shrunk
    below them), padding, strides, pools, depths."""
    sx, sy, d = r.randint(3, 12), r.randint(3, 12), r.randint(1, 5)
    net = pn.TNNet(FPCRandom(r.randrange(1000)))
    net.add_layer(pn.TNNetInput(sx, sy, d, r.randint(0, 1)))
    for _ in range(r.randint(1, 3)):
        cls = r.choice([pn.TNNetConvolutionReLU, pn.TNNetConvolutionLinear,
                        pn.TNNetConvolution, pn.TNNetMaxPool])
        if cls is pn.TNNetMaxPool:
            net.add_layer(cls(r.randint(1, 3), r.randint(0, 3), r.randint(0, 1)))
        else:
            net.add_layer(cls(r.choice([1, 3, 7, 8, 9, 16, 17, 24, 32, 40]),
                              r.randint(1, 4), r.randint(0, 2), r.randint(1, 3),
                              r.randint(0, 1)))
    net.add_layer(pn.TNNetFullConnectLinear(r.randint(1, 4)))
    return net


@pytest.mark.skipif(not hasattr(_dense, "set_simd_level"), reason="no SIMD switch")
def test_generic_and_avx2_kernels_give_the_same_bits_on_random_geometries():
    import random
    before = _dense.simd_level()
    if before != "avx2":
        pytest.skip("this CPU has no AVX2")
    r = random.Random(2026)
    try:
        for _ in range(100):
            net = _random_conv_net(r)
            X, Y = data(net, 6, r.randrange(100))
            Y = Y * r.choice([1, 1000])             # large errors: the clipping path
            inertia = r.choice([0.0, 0.9])
            results = []
            for level in ("generic", "avx2"):
                _dense.set_simd_level(level)
                twin = net.clone()
                twin.set_learning_rate(0.05, inertia)
                twin.fit_samples(X, Y)
                outs = twin.layer_outputs(X, exact=True)
                batched = [l.forward_batch(o) for l, o in zip(twin.layers[1:], outs)
                           if hasattr(l, "input_shape")]
                results.append((twin.save_to_string(), [o.tobytes() for o in outs],
                                [b.tobytes() for b in batched],
                                twin.layers[0].output_error.data.tobytes()))
            assert results[0] == results[1], repr(net)
    finally:
        _dense.set_simd_level(before)


@pytest.mark.parametrize("inertia", [0.9, 0.1, 0.5, 1.5, -0.3])
def test_subnormal_momentum_gives_the_same_bits_on_both_instruction_sets(inertia):
    """The AVX2 updates compute lanes with subnormal momentum in double (to
    avoid the slow path of subnormal binary32); the bits must be those of
    the binary32 operations, as the generic build computes them."""
    if _dense.simd_level() != "avx2":
        pytest.skip("this CPU has no AVX2")
    g = np.random.default_rng(int(inertia * 100) % 7)
    net = pn.TNNet(FPCRandom(3))
    for layer in (pn.TNNetInput(6, 5, 2), pn.TNNetConvolutionReLU(12, 3, 1),
                  pn.TNNetMaxPool(2), pn.TNNetFullConnectReLU(19),
                  pn.TNNetFullConnectLinear(3)):
        net.add_layer(layer)
    bits = g.integers(0, 2 ** 23, 10 ** 5, dtype=np.uint32)           # subnormal patterns
    special = np.concatenate([bits.view(np.float32), -bits.view(np.float32),
                              np.float32([1.2e-38, -1.1755e-38, 2.4e-38, 3e-38, 0.0, -0.0,
                                          1e-3, -2.5])])
    for layer in net.trainable_layers():
        layer.momentum.data[:] = g.choice(special, layer.momentum.size)
        layer.weights = np.where(g.random(layer.weights.shape) < 0.3,
                                 g.choice(special, layer.weights.shape), layer.weights)
    X, Y = data(net, 4, 1)
    X[:, X.shape[1] // 3:] = 0                             # inputs that stay 0
    results = []
    before = _dense.simd_level()
    try:
        for level in ("generic", "avx2"):
            _dense.set_simd_level(level)
            twin = net.clone()
            twin.set_learning_rate(0.01, inertia)
            twin.fit_samples(X, Y)
            results.append(b"".join(l.params.data.tobytes() + l.momentum.data.tobytes()
                                    for l in twin.trainable_layers()))
            momenta = np.concatenate([l.momentum.data for l in twin.trainable_layers()])
            tiny = (momenta != 0) & (np.abs(momenta) < np.finfo(np.float32).tiny)
            assert tiny.sum() > 100                       # the subnormal lanes ran
    finally:
        _dense.set_simd_level(before)
    assert results[0] == results[1]
