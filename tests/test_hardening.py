"""The kernel boundary, shared nets and private report copies.

No call from Python may make a kernel read or write out of bounds: every
kernel entry checks its sizes, and a layer's stores refuse a new size. A
net shared by threads gives the single-thread results, and a report never
writes to the net it is called on, even while another thread computes on
it. A fuzz run that assigns, resizes and calls runs in a subprocess, so a
crash shows as a failed test instead of taking pytest down.
"""
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import pyneural as pn
from pyneural import _dense, _volume
from pyneural.reports import interpolation as interp
from pyneural.reports import refinement, symmetry

F32 = np.float32


def _net(sizes, seed=5, suppress_bias=0):
    pn.rng.set_seed(seed)
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(sizes[0]))
    for n in sizes[1:-1]:
        net.add_layer(pn.TNNetFullConnectReLU(n, suppress_bias))
    net.add_layer(pn.TNNetFullConnectLinear(sizes[-1], suppress_bias))
    return net


# ------------------------------------------------------------- stores --

def test_a_wrong_sized_store_is_refused_and_the_net_keeps_working():
    net = _net([2, 256, 256, 10])
    x = np.linspace(-1, 1, 2).astype(F32)
    before = net.compute(x).data.copy()
    layer = net.layers[1]
    with pytest.raises(ValueError, match=r"layer 1 \(TNNetFullConnectReLU.params\) has 3 values, "
                                         r"expected 768"):
        layer.params = pn.TNNetVolume(3)
    with pytest.raises(ValueError, match="layer 2"):
        net.layers[2].output = pn.TNNetVolume(5)
    with pytest.raises(ValueError, match=r"weights has shape \(256, 2\), got \(2, 256\)"):
        layer.weights = np.zeros((2, 256), F32)
    with pytest.raises(ValueError, match=r"bias has shape \(256,\)"):
        layer.bias = np.zeros(3)
    with pytest.raises(TypeError, match="numeric"):
        layer.bias = ["a"] * 256
    assert np.array_equal(net.compute(x).data, before)
    for _ in range(50):                   # training after the refused writes still works
        net.compute(x)
        net.backpropagate(np.zeros(10, F32))
    assert np.all(np.isfinite(net.compute(x).data))


def test_a_right_sized_store_is_copied_into_the_buffer_the_kernel_uses():
    net = _net([3, 4, 2])
    layer = net.layers[1]
    buffer = layer.params.data
    layer.params = np.arange(layer.params.size, dtype=np.float64)
    assert layer.params.data is buffer
    layer.weights = np.eye(4, 3)
    layer.bias = [1, 2, 3, 4]
    out = net.layers[1].output
    net.compute([1, 2, 3])
    assert np.array_equal(out.data, [2, 4, 6, 4])
    assert np.array_equal(net.compute_batch([[1, 2, 3]], exact=True)[0], net.compute([1, 2, 3]).data)


def test_a_store_of_a_layer_outside_a_net_says_so():
    with pytest.raises(AttributeError, match="not in a net yet"):
        pn.TNNetFullConnectReLU(3).params = [1.0]


def test_a_pinned_buffer_cannot_be_resized():
    net = _net([3, 4, 2])
    with pytest.raises(ValueError, match="layer's buffer"):
        net.layers[1].output.resize(100)
    net.layers[1].output.resize(2, 2, 1)       # same size, another shape: allowed
    assert net.layers[1].output.size == 4


# ------------------------------------------------------------ kernels --

def _specs(net):
    return net._program_args()[0]


def _program(specs):
    return _dense.Program(specs, list(range(len(specs) - 1, 0, -1)))


def _with(specs, layer, slot, value):
    out = list(specs)
    row = list(out[layer])
    row[slot] = value
    out[layer] = tuple(row)
    return out


@pytest.mark.parametrize("layer, slot, value, message", [
    (1, 4, np.zeros(3, F32), "layer 1: the parameter buffer has 3 values, the layer needs 16"),
    (1, 5, np.zeros(3, F32), "momentum buffer has 3 values"),
    (2, 6, np.zeros(1, F32), "layer 2: the output buffer has 1 values"),
    (1, 7, None, "raw output buffer is missing"),
    (1, 8, np.zeros(9, F32), "error buffer has 9 values"),
    (2, 9, np.zeros(2, np.float64), "not a contiguous float32 array"),
    (1, 10, np.zeros(1, F32), "learning rate / inertia buffer has 1 values"),
    (1, 3, 7, "the output buffer has 4 values, the layer needs 7"),
    # reading another layer: the weights no longer fit its outputs
    (2, 2, 0, "layer 2: the parameter buffer has 10 values, the layer needs 8"),
    (2, 2, 2, "reads layer 2, which is not an earlier layer"),
    (1, 2, -1, "reads layer -1, which is not an earlier layer"),
    (1, 12, (0,), "only a sum or a concatenation reads several layers"),
    (0, 0, 2, "cannot stand there"),
    (1, 0, 99, "cannot stand there"),
])
def test_program_checks_every_buffer_against_the_graph(layer, slot, value, message):
    specs = _with(_specs(_net([3, 4, 2])), layer, slot, value)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _program(specs)


def test_program_refuses_an_element_wise_layer_that_changes_size_and_short_chains():
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(3))
    net.add_layer(pn.TNNetReLU())
    specs = _with(_specs(net), 1, 3, 2)
    with pytest.raises(ValueError):
        _program(specs)
    with pytest.raises(ValueError, match="at least one more layer"):
        _program(_specs(net)[:1])


@pytest.mark.parametrize("x_shape, y_shape", [((4, 3), (4, 3)), ((4, 2), (4, 2)),
                                              ((4, 3), (5, 2)), ((4, 3), (4, 1))])
def test_forward_many_and_train_many_check_both_shapes(x_shape, y_shape):
    net = _net([3, 4, 2])
    prog = net._prog()
    X, Y = np.zeros(x_shape, F32), np.zeros(y_shape, F32)
    with pytest.raises(ValueError, match="do not fit a net of 3 inputs and 2 outputs"):
        prog.forward_many(X, Y)
    with pytest.raises(ValueError, match="do not fit a net of 3 inputs and 2 outputs"):
        prog.train_many(X, Y)


@pytest.mark.parametrize("kernel, args", [
    (_volume.add, ()), (_volume.sub, ()), (_volume.mul, ()),
    (_volume.mul_add_scalar, (F32(2),)), (_volume.mul_mul_add, (F32(1), F32(2))),
    (_volume.dot_product, ()),
])
def test_volume_kernels_compare_the_operands_length(kernel, args):
    s, short, long = np.zeros(64, F32), np.ones(1, F32), np.ones(65, F32)
    for v in (short, long):
        call = (lambda: kernel(s, *args, v)) if args else (lambda: kernel(s, v))
        with pytest.raises(ValueError, match="elements"):
            call()
    with pytest.raises(ValueError, match="elements"):
        _volume.mul_add(s, np.ones(64, F32), short)
    assert not s.any()


FUZZ = textwrap.dedent("""
    import random, sys
    import numpy as np
    import pyneural as pn
    from pyneural import _dense, _volume

    r = random.Random(int(sys.argv[1]))
    F32 = np.float32
    SIZES = [0, 1, 2, 3, 63, 64, 65, 1024, 70000]
    OK = (ValueError, TypeError, AttributeError, IndexError)
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(2))
    net.add_layer(pn.TNNetFullConnectReLU(256))
    net.add_layer(pn.TNNetReLU())
    net.add_layer(pn.TNNetFullConnectLinear(256))
    net.add_layer(pn.TNNetSoftMax())
    layers = net.layers
    STORES = ["output", "output_raw", "output_error", "output_error_deriv"]

    def arr(n):
        return r.choice([np.ones(n, F32), np.ones(n), [1.0] * min(n, 9),
                         pn.TNNetVolume(n), np.ones((n, 2), F32)])

    def step():
        layer = r.choice(layers)
        what = r.randrange(9)
        if what == 0:
            setattr(layer, r.choice(STORES + ["params", "momentum"]), arr(r.choice(SIZES)))
        elif what == 1:
            getattr(layer, r.choice(STORES)).resize(r.choice(SIZES))
        elif what == 2:
            getattr(layer, r.choice(STORES)).copy_from(pn.TNNetVolume(r.choice(SIZES)))
        elif what == 3:
            net.compute(arr(r.choice([1, 2, 3])))
            net.backpropagate(arr(r.choice([255, 256, 257])))
        elif what == 4:
            rows = r.choice([0, 1, 5])
            net.fit_samples(np.ones((rows, r.choice([1, 2, 3])), F32),
                            np.ones((rows, r.choice([255, 256])), F32))
        elif what == 5:
            net.compute_batch(np.ones((3, r.choice([1, 2, 3])), F32), exact=r.random() < .5)
        elif what == 6:
            spec = [list(s) for s in net._program_args()[0]]
            row = r.choice(spec)
            slot = r.randrange(15)
            row[slot] = r.choice([None, 0, 1, 5, 300, -1, (0,), arr(r.choice(SIZES))])
            prog = _dense.Program([tuple(s) for s in spec], net._program_args()[1])
            prog.forward(np.ones(2, F32))
            prog.backward(np.ones(256, F32))
        elif what == 7:
            k = r.choice([_volume.add, _volume.sub, _volume.mul, _volume.dot_product])
            k(np.ones(r.choice(SIZES), F32), np.ones(r.choice(SIZES), F32))
        else:
            net._program = None           # rebuild the program from whatever is there
            net.compute(np.ones(2, F32))

    for _ in range(int(sys.argv[2])):
        try:
            step()
        except OK:
            pass
    out = net.compute(np.ones(2, F32)).data
    print("done", out.size)
""")


@pytest.mark.parametrize("seed", range(4))
def test_fuzz_assign_resize_and_call_never_crashes(seed):
    run = subprocess.run([sys.executable, "-X", "faulthandler", "-c", FUZZ, str(seed), "1500"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == ["done", "256"]


# ------------------------------------------------------------ threads --

def _inputs(n=3000, seed=0):
    return np.random.default_rng(seed).uniform(-3, 3, (n, 2)).astype(F32)


def test_two_threads_on_one_net_give_the_single_thread_results():
    net = _net([2, 256, 256, 10])
    X = _inputs()
    expected = net.compute_batch(X, exact=True)
    got, errors = {}, []

    def work(name, rows):
        try:
            out = np.empty((len(rows), 10), F32)
            for i, x in enumerate(rows):
                with net.lock:                        # compute's output is the live buffer
                    out[i] = net.compute(x).data
            got[name] = (out, net.compute_batch(rows, exact=True), net.compute_batch(rows))
        except Exception as exc:                      # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n, X)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for one, many, batched in got.values():
        assert np.array_equal(one, expected)
        assert np.array_equal(many, expected)
        assert np.allclose(batched, expected, atol=1e-5)


def test_training_in_one_thread_while_another_reads_outputs_never_tears_them():
    net = _net([2, 64, 64, 3])
    X = _inputs(400)
    Y = np.eye(3, dtype=F32)[(X[:, 0] > 0).astype(int)]
    stop = threading.Event()
    torn = []

    def train():
        for _ in range(20):
            net.fit_samples(X, Y)
        stop.set()

    def read():
        while not stop.is_set():
            with net.lock:
                snap = net.snapshot()
                out = net.compute_batch(X[:20], exact=True)
            twin = net.clone()
            twin.restore(snap)
            if not np.array_equal(twin.compute_batch(X[:20], exact=True), out):
                torn.append(1)

    threads = [threading.Thread(target=train), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not torn


def test_a_report_never_writes_to_the_net_another_thread_computes_on(example_nets, probes):
    a, b = example_nets
    X = _inputs(200)
    expected = a.compute_batch(X, exact=True)
    weights = a.save_to_string()
    done = threading.Event()
    wrong = []

    def compute_on_a():
        while not done.is_set():
            if not np.array_equal(a.compute_batch(X, exact=True), expected):
                wrong.append(1)

    t = threading.Thread(target=compute_on_a)
    t.start()
    try:
        a.mode_connectivity_report(b.save_data_to_string(), probes)
        a.permutation_align_report(b.save_data_to_string(), probes, check_recovery=True)
        a.merge_with(b.save_data_to_string(), probes, repair=True)
    finally:
        done.set()
        t.join()
    assert not wrong
    assert a.save_to_string() == weights


def test_clone_is_independent_and_draws_no_random_number(example_nets):
    a, _ = example_nets
    pn.rng.set_seed(77)
    copy = a.clone()
    assert pn.rng.random_int(1000) == (pn.rng.set_seed(77) or pn.rng.random_int(1000))
    assert copy.save_to_string() == a.save_to_string()
    assert [l.learning_rate for l in copy.layers] == [l.learning_rate for l in a.layers]
    copy.layers[1].bias = np.zeros(copy.layers[1].neurons)
    assert copy.save_to_string() != a.save_to_string()


# ----------------------------------------------------- one forward path --

def _trained_pair(suppress_bias):
    rng = np.random.default_rng(3)
    X = rng.uniform(-3, 3, (600, 2)).astype(F32)
    Y = np.eye(3, dtype=F32)[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0)]
    nets = []
    for seed in (11, 12):
        net = _net([2, 12, 12, 3], seed=seed, suppress_bias=suppress_bias)
        net.set_learning_rate(0.01, 0.9)
        for _ in range(3):
            net.fit_samples(X, Y)
        for layer in net.trainable_layers():
            layer.bias = np.linspace(-0.5, 0.5, layer.neurons)    # a bias that must be ignored
        nets.append(net)
    return nets, X[:300], Y[:300]


@pytest.mark.parametrize("suppress_bias", [0, 1])
def test_refinement_measures_the_same_losses_as_the_sweep(suppress_bias):
    (a, b), X, Y = _trained_pair(suppress_bias)
    work = a.clone()
    snap_a, snap_b = a.snapshot(), b.snapshot()
    path = refinement._Path(work, snap_a, snap_b, X, Y, 10)
    curve = interp.sweep(work, snap_a, snap_b, X, Y, 10, exact=True)
    assert np.allclose(path.losses, curve.losses[1:-1], rtol=0, atol=1e-6)
    # ...and so does an evaluated swap, against the sweep of the swapped net.
    hidden = symmetry.hidden_layers(work)
    loss, _ = path._evaluate(int(np.argmax(path.losses)), 0, 0, 1)
    perm = np.arange(12)
    perm[[0, 1]] = [1, 0]
    swapped = symmetry.permute(work, snap_b, hidden[0], perm)
    alpha_index = int(np.argmax(path.losses)) + 1
    assert abs(loss - interp.sweep(work, snap_a, swapped, X, Y, 10, exact=True)
               .losses[alpha_index]) < 1e-6


def test_reports_on_suppress_bias_nets_lower_the_barrier_without_touching_a():
    (a, b), X, Y = _trained_pair(1)
    text = a.save_to_string()
    result = a.permutation_align_report(b.snapshot(), (X, Y))
    assert result.post_barrier <= result.pre_barrier
    assert result.refinement.barrier_after <= result.refinement.barrier_before
    assert a.save_to_string() == text


def test_batched_forward_matches_the_exact_kernel_on_suppress_bias_nets():
    (a, _), X, _ = _trained_pair(1)
    assert np.allclose(a.compute_batch(X), a.compute_batch(X, exact=True), atol=1e-5)
    outs = a.layer_outputs(X)
    exact = a.layer_outputs(X, exact=True)
    assert all(np.allclose(o, e, atol=1e-5) for o, e in zip(outs, exact))


def test_blend_is_the_originals_mul_mul_add():
    r = np.random.default_rng(1)
    a, b = r.normal(size=1000).astype(F32), r.normal(size=1000).astype(F32)
    for alpha in (0.0, 0.1, 0.3, 1.0, 1.7):
        v = pn.TNNetVolume(a)
        v.mul_mul_add(1 - F32(alpha), alpha, b)
        assert np.array_equal(pn.volume.blend(a, b, alpha), v.data)
        assert np.array_equal(pn.volume.blend(a.reshape(20, 50), b.reshape(20, 50), alpha),
                              v.data.reshape(20, 50))
    with pytest.raises(ValueError, match="shape"):
        pn.volume.blend(a, b[:5], 0.5)


# ------------------------------------------------------------ check 5 --

def test_check_5_runs_the_reports_own_pipeline_and_names_it(example_nets, probes):
    a, b = example_nets
    result = a.permutation_align_report(b.save_data_to_string(), probes, check_recovery=True)
    check = result.checks[-1]
    assert check.number == 5
    assert check.status == "PASS", check.detail
    assert "auto, hungarian, refined (budget" in check.detail
    plain = a.permutation_align_report(b.save_data_to_string(), probes, score_mode="weight",
                                       refine=False, check_recovery=True).checks[-1]
    assert "(weight, hungarian)" in plain.detail


def test_a_net_pickles_with_its_weights_momentum_and_a_lock_of_its_own():
    import pickle
    net = _net([2, 64, 3])
    X = _inputs(50)
    net.fit_samples(X, np.eye(3, dtype=F32)[np.arange(50) % 3])    # momentum, a program
    copy = pickle.loads(pickle.dumps(net))
    assert copy.lock is not net.lock and copy.save_to_string() == net.save_to_string()
    assert np.array_equal(copy.layers[1].momentum.data, net.layers[1].momentum.data)
    assert np.array_equal(copy.compute_batch(X, exact=True), net.compute_batch(X, exact=True))
    copy.fit_samples(X, np.zeros((50, 3), F32))
    assert copy.save_to_string() != net.save_to_string()           # independent buffers
