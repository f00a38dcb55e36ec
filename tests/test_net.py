"""TNNet: the examples' nets from their seeds, outputs, batching, bad input."""
import numpy as np
import pytest

import pyneural as pn
from pyneural import rng, toy
from conftest import csv_text, fixture_text


def _trained(build_seed, train_seed):
    rng.set_seed(build_seed)
    net = toy.build_net()
    init = net.save_to_string() + "\n"
    rng.set_seed(train_seed)
    toy.train_net(net)
    return net, init


def test_probes_match_the_original(probes):
    X, Y = probes.to_arrays()
    assert csv_text("x0,x1,y0,y1,y2", np.hstack([X, Y])) == fixture_text("example", "probes.csv")


@pytest.mark.parametrize("name,build,train", [("A", 101, 11), ("B", 999, 22)])
def test_example_nets_are_rebuilt_and_trained_byte_identically(name, build, train, probes):
    net, init = _trained(build, train)
    assert init == fixture_text("example", f"{name}_init.nn")
    assert net.save_to_string() + "\n" == fixture_text("example", f"{name}.nn")
    X, _ = probes.to_arrays()
    outputs = [net.compute(x).data.copy() for x in X]
    assert csv_text(None, outputs) == fixture_text("example", f"{name}_out.csv")


def test_step_by_step_training_equals_fit_samples():
    rng.set_seed(101)
    a = toy.build_net()
    b = pn.TNNet.from_string(a.save_to_string())
    b.set_learning_rate(0.05, 0.9)
    rng.set_seed(5)
    X, Y = toy.make_samples(np.tile([0, 1, 2], 40))
    for x, y in zip(X, Y):
        a.compute(pn.TNNetVolume(x))
        a.backpropagate(pn.TNNetVolume(y))
    b.fit_samples(X, Y)
    assert a.save_to_string() == b.save_to_string()


def test_compute_batch_agrees_with_compute(example_nets):
    a, _ = example_nets
    X = np.random.default_rng(1).uniform(-3, 3, (200, 2)).astype(np.float32)
    per_sample = np.array([a.compute(x).data.copy() for x in X])
    assert np.array_equal(a.compute_batch(X, exact=True), per_sample)
    assert np.allclose(a.compute_batch(X), per_sample, atol=1e-5)


def test_compute_batch_agrees_on_every_layer_class():
    text = fixture_text("layers", "all_layers_trained_ep5.nn")
    net = pn.TNNet.from_string(text)
    X = np.random.default_rng(2).uniform(-2, 2, (100, 5)).astype(np.float32)
    per_sample = np.array([net.compute(x).data.copy() for x in X])
    assert np.allclose(net.compute_batch(X), per_sample, atol=1e-5)


def test_compute_takes_volumes_and_float32_arrays_without_copying(example_nets):
    a, _ = example_nets
    x = np.array([2.0, -2.0], np.float32)
    out = a.compute(x).data.copy()
    assert np.array_equal(a.compute(pn.TNNetVolume(x)).data, out)
    assert np.array_equal(a.compute([2, -2]).data, out)


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros(1), [], np.zeros((2, 2))])
def test_wrong_size_input_is_a_value_error(example_nets, bad):
    a, _ = example_nets
    with pytest.raises(ValueError, match="expected 2"):
        a.compute(bad)


@pytest.mark.parametrize("bad", [np.zeros(2), np.zeros(4), []])
def test_wrong_size_target_is_a_value_error(example_nets, bad):
    a, _ = example_nets
    before = a.save_data_to_string()
    with pytest.raises(ValueError, match="expected 3"):
        a.backpropagate(bad)
    assert a.save_data_to_string() == before


def test_wrong_shape_batch_is_a_value_error(example_nets):
    a, _ = example_nets
    with pytest.raises(ValueError, match=r"\(samples, 2\)"):
        a.compute_batch(np.zeros((4, 3)))


def test_structure_rules():
    net = pn.TNNet()
    with pytest.raises(ValueError, match="first layer must be a TNNetInput"):
        net.add_layer(pn.TNNetReLU())
    net.add_layer(pn.TNNetInput(3))
    layer = net.add_layer(pn.TNNetFullConnectReLU(4))
    assert net.get_last_layer() is layer and net.count_layers() == 2
    assert net.count_weights() == 12 and layer.weights.shape == (4, 3)
    with pytest.raises(ValueError, match="already belongs"):
        net.add_layer(layer)


def test_weights_view_is_the_store(example_nets):
    a, _ = example_nets
    layer = a.layers[1]
    x = np.array([1.0, 0.5], np.float32)
    before = a.compute(x).data.copy()
    layer.weights[:] *= 2            # writes reach the kernels: one store
    assert not np.array_equal(a.compute(x).data, before)


def test_snapshot_restore_and_interpolate(example_nets):
    a, b = example_nets
    sa = a.snapshot()
    sb = a.snapshot_from_string(b.save_data_to_string())
    a.interpolate(sa, sb, 1.0)
    assert a.save_data_to_string() == b.save_data_to_string()
    a.interpolate(sa, sb, 0.5)
    exp = sa[1].data * np.float32(0.5) + sb[1].data * np.float32(0.5)
    assert np.array_equal(a.layers[1].params.data, exp)
    a.restore(sa)
    assert a.save_to_string() + "\n" == fixture_text("example", "A.nn")


def test_init_weights_draws_last_layer_first():
    rng.set_seed(3)
    net = toy.build_net()
    rng.set_seed(3)
    net.init_weights()
    rng.set_seed(3)
    fresh = toy.build_net()
    # Same draws, other order: the last layer now holds what the first drew.
    assert not np.array_equal(net.layers[1].weights, fresh.layers[1].weights)
    k = rng.FPCRandom(3).random_ints(10000, 3 * 12)
    w = ((k - 5000) / 5000.0).astype(np.float32).reshape(3, 12)
    assert np.array_equal(net.layers[3].weights, w * np.sqrt(np.float32(6) / np.float32(15), dtype=np.float32))


def test_nan_through_relu_is_zero_in_both_forward_paths(example_nets):
    a, _ = example_nets
    a.layers[1].weights[0, :] = np.nan          # unit 0 of the first ReLU layer: NaN
    X = np.random.default_rng(3).uniform(-3, 3, (50, 2)).astype(np.float32)
    exact = a.compute_batch(X, exact=True)
    assert np.all(np.isfinite(exact))           # the kernel's ReLU maps NaN to 0
    assert np.allclose(a.compute_batch(X), exact, atol=1e-5)


def test_architecture_check_compares_classes_not_only_sizes(example_nets, probes):
    a, _ = example_nets
    rng.set_seed(8)
    tanh = pn.TNNet()
    tanh.add_layer(pn.TNNetInput(2))
    tanh.add_layer(pn.TNNetFullConnect(12))
    tanh.add_layer(pn.TNNetFullConnectReLU(12))
    tanh.add_layer(pn.TNNetFullConnectLinear(3))
    with pytest.raises(pn.ArchitectureError, match=r"layer 1 is TNNetFullConnectReLU.*TNNetFullConnect "):
        a.check_same_architecture(tanh)
    with pytest.raises(pn.ArchitectureError, match="layer 1"):
        a.permutation_align_report(tanh, probes)


def test_layer_buffers_keep_their_arrays(example_nets):
    a, b = example_nets
    layer = a.layers[1]
    x = np.array([1.0, -0.5], np.float32)
    layer.params.load_from_string(b.layers[1].params.save_to_string())
    assert np.array_equal(a.compute(x).data, a.compute_batch(x[None], exact=True)[0])
    b_out = b.compute(x).data.copy()
    a.layers[2].params.copy_from(b.layers[2].params)
    a.layers[3].params.copy_from(b.layers[3].params)
    assert np.array_equal(a.compute(x).data, b_out)      # the kernels see the new values
    with pytest.raises(ValueError, match="layer's buffer"):
        layer.params.copy_from(pn.TNNetVolume(5))
    with pytest.raises(ValueError, match="layer's buffer"):
        layer.output.resize(7)


def test_set_learning_rate_is_all_or_nothing(example_nets):
    a, _ = example_nets
    before = [(l.learning_rate, l.inertia) for l in a.layers]
    with pytest.raises(TypeError):
        a.set_learning_rate(0.5, "0.9")
    assert [(l.learning_rate, l.inertia) for l in a.layers] == before
