"""The fast paths give the same bits as the plain ones (nothing here is timed;
the figures are in ``python -m benchmarks``).

* compute / backpropagate read a TNNetVolume or a float32 ndarray in place,
  and give the same bits as every other accepted input;
* per-sample training from Python == fit_samples == the fixture bytes;
* the AVX2 and the baseline builds of the dense loops give the same bits;
* compute_batch (BLAS) agrees with the per-sample compute to 1e-5, and
  compute_batch(exact=True) bit for bit.
"""
import threading

import numpy as np
import pytest

import pyneural as pn
import pyneural.net as pn_net
from pyneural import _kernels, rng, toy
from conftest import fixture_text

import test_layer_fixtures
from test_layer_fixtures import assert_regenerates

f32 = np.float32
dense = _kernels.dense
LEVELS = ["generic"] + (["avx2"] if dense.simd_level() == "avx2" else [])


@pytest.fixture(params=LEVELS)
def simd(request):
    """Run the test under each SIMD build of the dense loops."""
    before = dense.simd_level()
    dense.set_simd_level(request.param)
    yield request.param
    dense.set_simd_level(before)


def _net(sizes, seed=1, hidden=pn.TNNetFullConnectReLU, last=pn.TNNetFullConnectLinear, lr=None):
    rng.set_seed(seed)
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(sizes[0]))
    for w in sizes[1:-1]:
        net.add_layer(hidden(w))
    net.add_layer(last(sizes[-1]))
    if lr is not None:
        net.set_learning_rate(*lr)
    return net


def _all_layers_net():
    return pn.TNNet.from_string(fixture_text("layers", "all_layers_trained_ep5.nn"))


def _bits(a):
    return np.ascontiguousarray(a, f32).view(np.uint32).tobytes()


def _state(net):
    """Every parameter and momentum bit of the net."""
    return b"".join(_bits(l.params.data) + _bits(l.momentum.data) for l in net.trainable_layers())


# ------------------------------------------------------- the input forms --
def _input_forms(x):
    """The same numbers as every input form compute() accepts."""
    big_endian = x.astype(">f4")
    strided = np.repeat(x, 2)[::2]
    readonly = x.copy()
    readonly.flags.writeable = False
    unaligned = np.frombuffer(b"\0" + x.tobytes(), f32, offset=1) if x.size else x
    return {
        "float32 array": x.copy(),
        "TNNetVolume": pn.TNNetVolume(x),
        "list": [float(v) for v in x],
        "float64 array": x.astype(np.float64),
        "row of a 2-D array": np.stack([x, x])[1],
        "(1, n) array": x.reshape(1, -1).copy(),
        "strided view": strided,
        "big-endian": big_endian,
        "read-only": readonly,
        "unaligned": unaligned,
    }


@pytest.mark.parametrize("make", [lambda: toy.build_net(), _all_layers_net],
                         ids=["toy", "all_layers"])
def test_every_input_form_gives_the_same_outputs(make):
    net = make()
    X = np.random.default_rng(3).uniform(-2, 2, (20, net.input_size)).astype(f32)
    for x in X:
        want = _bits(net.compute(x).data)
        for name, form in _input_forms(x).items():
            assert _bits(net.compute(form).data) == want, name
            assert _bits(net.layers[0].output.data) == _bits(x), name


@pytest.mark.parametrize("form", ["float32 array", "TNNetVolume", "list", "float64 array",
                                  "strided view", "big-endian", "unaligned"])
def test_training_is_the_same_for_every_target_form(form):
    rng.set_seed(4)
    X, Y = toy.make_samples(np.tile([0, 1, 2], 30))
    ref = _all_layers_net()
    net = _all_layers_net()
    X5 = np.random.default_rng(4).uniform(-2, 2, (len(X), 5)).astype(f32)
    for x, y in zip(X5, Y):
        ref.compute(x)
        ref.backpropagate(y.copy())
        net.compute(_input_forms(x)[form])
        net.backpropagate(_input_forms(y)[form])
    assert _state(net) == _state(ref)


def test_fast_path_does_not_convert_or_copy(monkeypatch):
    """A float32 array or a volume goes straight to the kernel: the
    converter (which would copy anything else) is never called."""
    net = toy.build_net()
    x = np.array([2.0, -2.0], f32)
    y = np.array([0, 0, 1], f32)
    want = net.compute(x).data.copy()

    def refuse(*args, **kwargs):
        raise AssertionError("as_f32_vector called on the fast path")

    monkeypatch.setattr(pn_net, "as_f32_vector", refuse)
    assert np.array_equal(net.compute(x).data, want)
    assert np.array_equal(net.compute(pn.TNNetVolume(x)).data, want)
    assert net.compute(x) is net.layers[-1].output          # the live output volume
    net.backpropagate(y)
    net.backpropagate(pn.TNNetVolume(y))
    with pytest.raises(AssertionError, match="fast path"):
        net.compute([2.0, -2.0])                             # a list is converted


@pytest.mark.parametrize("bad", [np.zeros(3, f32), np.zeros(1, f32), pn.TNNetVolume(3),
                                 np.zeros((2, 2), f32)])
def test_wrong_size_float32_input_is_the_same_value_error(bad):
    net = toy.build_net()
    with pytest.raises(ValueError, match=r"compute\(\) input has \d+ values, expected 2"):
        net.compute(bad)


@pytest.mark.parametrize("bad", [np.zeros(2, f32), np.zeros(4, f32), pn.TNNetVolume(4)])
def test_wrong_size_float32_target_is_the_same_value_error(bad):
    net = toy.build_net()
    net.compute(np.zeros(2, f32))
    before = _state(net)
    with pytest.raises(ValueError, match=r"backpropagate\(\) target has \d+ values, expected 3"):
        net.backpropagate(bad)
    assert _state(net) == before


def test_input_that_is_the_input_layer_buffer():
    net = toy.build_net()
    x = np.array([1.5, -0.5], f32)
    want = net.compute(x).data.copy()
    assert np.array_equal(net.compute(net.layers[0].output).data, want)
    assert np.array_equal(net.compute(net.layers[0].output.data).data, want)


def test_kernel_program_checks_sizes_itself():
    prog = toy.build_net()._prog()
    with pytest.raises(ValueError):
        prog.forward(np.zeros(3, f32))
    with pytest.raises(ValueError):
        prog.backward(np.zeros(2, f32))
    assert prog.forward_vec(np.zeros(3, f32)) is False
    assert prog.forward_vec([0.0, 0.0]) is False
    assert prog.backward_vec(np.zeros(3, np.float64)) is False


# -------------------------------------------------------------- training --
def test_per_sample_calls_equal_fit_samples_equal_fixture(simd):
    """The examples' net A: per-sample calls from Python with volumes, with
    arrays, and one fit_samples call all give the fixture's bytes."""
    expected = fixture_text("example", "A.nn")
    rng.set_seed(11)
    X, Y = toy.make_samples(np.tile(np.arange(3), toy.EPOCHS * toy.SAMPLES_PER_CLASS))
    nets = []
    for _ in range(3):
        rng.set_seed(101)
        nets.append(toy.build_net())
    volumes, arrays, batch = nets
    for pair in toy.to_pair_list(X, Y):
        volumes.compute(pair.i)
        volumes.backpropagate(pair.o)
    for x, y in zip(X, Y):
        arrays.compute(x)
        arrays.backpropagate(y)
    batch.fit_samples(X, Y)
    for net in nets:
        assert net.save_to_string() + "\n" == expected


@pytest.mark.parametrize("name", sorted(test_layer_fixtures.CASES))
def test_layer_fixtures_under_each_simd_level(simd, name):
    assert_regenerates(name)


@pytest.mark.parametrize("sizes", [(19, 77, 130, 9), (13, 32, 24, 17, 33, 8, 1)],
                         ids=["wide", "narrow"])
@pytest.mark.parametrize("hidden,last", [
    (pn.TNNetFullConnectReLU, pn.TNNetFullConnectLinear),
    (pn.TNNetFullConnect, pn.TNNetFullConnectSigmoid),
])
def test_simd_levels_give_the_same_bits_on_wide_layers(hidden, last, sizes):
    """Widths that are not multiples of the vector width, narrow layers
    (<= 32 neurons: the register-resident AVX2 sums, full and masked), fan-ins
    that are not multiples of the 8 error chains; forward, training and
    error push."""
    if len(LEVELS) < 2:
        pytest.skip("no AVX2 on this CPU: only one build to run")
    X = np.random.default_rng(5).uniform(-1, 1, (60, sizes[0])).astype(f32)
    Y = np.random.default_rng(6).uniform(0, 1, (60, sizes[-1])).astype(f32)
    results = []
    before = dense.simd_level()
    try:
        for level in LEVELS:
            dense.set_simd_level(level)
            net = _net(sizes, hidden=hidden, last=last, lr=(0.03, 0.9))
            outs = []
            for x, y in zip(X, Y):
                outs.append(_bits(net.compute(x).data))
                net.backpropagate(y)
            net.fit_samples(X, Y)
            results.append((outs, _state(net), _bits(net.compute_batch(X, exact=True))))
    finally:
        dense.set_simd_level(before)
    assert results[0] == results[1]


def test_set_simd_level_rejects_unknown_levels():
    with pytest.raises(ValueError, match="unknown SIMD level"):
        dense.set_simd_level("sse9")
    assert dense.simd_level() in ("avx2", "generic")


# --------------------------------------------------------------- forward --
def test_compute_batch_agrees_with_compute_on_a_wide_net(simd):
    net = _net((2, 512, 512, 10))
    X = np.random.default_rng(7).standard_normal((300, 2)).astype(f32)
    per_sample = np.stack([net.compute(x).data.copy() for x in X])
    assert np.array_equal(net.compute_batch(X, exact=True), per_sample)
    fast = net.compute_batch(X)
    assert fast.dtype == f32 and fast.shape == (300, 10)
    assert np.allclose(fast, per_sample, rtol=1e-5, atol=1e-5)


def test_big_nets_compute_in_threads_as_alone():
    """Wide nets release the GIL in the kernel; two threads on two nets give
    what each gives alone."""
    nets = [_net((2, 256, 256, 10), seed=s) for s in (1, 2)]
    X = np.random.default_rng(8).standard_normal((100, 2)).astype(f32)
    alone = [np.stack([n.compute(x).data.copy() for x in X]) for n in nets]
    got = [None, None]

    def work(i):
        got[i] = np.stack([nets[i].compute(x).data.copy() for x in X])

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(g, a) for g, a in zip(got, alone))


# --------------------------------------------------------------- volumes --
_VOLUME_OPS = {
    "add": lambda v, o: v.add(o), "sub": lambda v, o: v.sub(o), "mul": lambda v, o: v.mul(o),
    "mul_add scalar": lambda v, o: v.mul_add(0.3, o), "mul_add": lambda v, o: v.mul_add(o, o),
    "mul_mul_add": lambda v, o: v.mul_mul_add(0.3, 0.7, o),
    "dot_product": lambda v, o: np.float32(v.dot_product(o)),
}


@pytest.mark.parametrize("n", [7, 20000])          # below and above the GIL threshold
@pytest.mark.parametrize("op", sorted(_VOLUME_OPS))
def test_volume_ops_give_the_same_bits_for_every_operand_form(op, n):
    g = np.random.default_rng(9)
    base = g.uniform(-3, 3, n).astype(f32)
    operand = g.uniform(-3, 3, n).astype(f32)
    results = {}
    for name, form in _input_forms(operand).items():
        if name == "(1, n) array":
            continue
        v = pn.TNNetVolume(base)
        r = _VOLUME_OPS[op](v, form)
        results[name] = _bits(v.data) + (_bits(np.atleast_1d(r)) if r is not None else b"")
    assert len(set(results.values())) == 1, results.keys()


def test_volume_kernels_keep_their_errors_for_odd_arrays():
    vk = _kernels.volume
    a = np.ones(4, f32)
    readonly = np.ones(4, f32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        vk.add(readonly, a)
    with pytest.raises(ValueError, match="dtype mismatch"):
        vk.add(np.ones(4), a)
    with pytest.raises(ValueError, match="dtype mismatch"):
        vk.add(a, np.ones(4))
    with pytest.raises(ValueError, match="contiguous"):
        vk.fill(np.ones(8, f32)[::2], 0)
    s = np.ones(8, f32)[::2].copy()
    vk.mul_scalar(s, 2)
    assert np.array_equal(s, np.full(4, 2, f32))
