"""Every net in fixtures/layers regenerated from its seeds, byte for byte:
initial weights, the per-step output trace of the first pass, the trained
nets and their outputs (docs/SEMANTICS.md, "Checks"; layers/INDEX.md)."""
import numpy as np
import pytest

import pyneural as pn
from pyneural import rng
from conftest import csv_text, fixture_text

f32 = np.float32


def _tanh_sigmoid_data():
    rng.set_seed(8)
    rows = []
    for _ in range(500):
        x = [f32(rng.random() * 2 - 1) for _ in range(3)]
        y0 = f32(np.sin(np.float64(x[0]) + np.float64(x[1])))
        y1 = f32(np.float64(x[2]) * np.float64(x[0]))
        rows.append((x, [y0, y1], None))
    return rows


def _class_data(seed, n, n_in, scale):
    rng.set_seed(seed)
    rows = []
    for _ in range(n):
        x = [f32(rng.random() * 2 - 1) if scale else f32(rng.random()) for _ in range(n_in)]
        c = rng.random_int(3)
        x[c] = f32(x[c] + f32(1))
        t = [f32(0)] * 3
        t[c] = f32(1)
        rows.append((x, t, c))
    return rows


def _build(seed, layers, lr, inertia):
    rng.set_seed(seed)
    net = pn.TNNet()
    for layer in layers:
        net.add_layer(layer)
    net.set_learning_rate(lr, inertia)
    return net


CASES = {
    "tanh_sigmoid": dict(
        build=lambda: _build(7, [pn.TNNetInput(3), pn.TNNetFullConnect(8),
                                 pn.TNNetFullConnectSigmoid(6), pn.TNNetFullConnectLinear(2)], 0.02, 0.8),
        data=_tanh_sigmoid_data, header="x0,x1,x2,y0,y1", passes=10),
    "relu_softmax": dict(
        build=lambda: _build(21, [pn.TNNetInput(4), pn.TNNetFullConnectLinear(10), pn.TNNetReLU(),
                                  pn.TNNetFullConnectLinear(3), pn.TNNetSoftMax()], 0.01, 0.9),
        data=lambda: _class_data(22, 600, 4, scale=False), header="x0,x1,x2,x3,class,t0,t1,t2",
        passes=10),
    "all_layers": dict(
        build=lambda: _build(31, [pn.TNNetInput(5), pn.TNNetFullConnectReLU(7), pn.TNNetSigmoid(),
                                  pn.TNNetFullConnect(6), pn.TNNetHyperbolicTangent(), pn.TNNetIdentity(),
                                  pn.TNNetFullConnectSigmoid(5), pn.TNNetFullConnectLinear(4),
                                  pn.TNNetReLU(), pn.TNNetFullConnectLinear(3), pn.TNNetSoftMax()],
                             0.05, 0.7),
        data=lambda: _class_data(32, 300, 5, scale=True), header="x0,x1,x2,x3,x4,class,t0,t1,t2",
        passes=5),
}


def _data_rows(rows):
    return [list(x) + ([str(c)] if c is not None else []) + list(t) for x, t, c in rows]


@pytest.mark.parametrize("name", sorted(CASES))
def test_regenerate_layer_fixture(name):
    assert_regenerates(name)


def assert_regenerates(name):
    """Rebuild, trace and train one fixture net from its seeds; assert every
    file it wrote comes out byte for byte."""
    case = CASES[name]
    net = case["build"]()
    if name != "all_layers":
        assert net.save_to_string() + "\n" == fixture_text("layers", f"{name}_init.nn")
    else:
        assert net.save_to_string() + "\n" == fixture_text("layers", "all_layers_init.nn")
    rows = case["data"]()
    assert csv_text(case["header"], _data_rows(rows)) == fixture_text("layers", f"{name}_data.csv")

    n_out = net.output_size
    header = "step," + ",".join(f"o{k}" for k in range(n_out))
    trace = []
    for step, (x, t, _) in enumerate(rows):
        out = net.compute(np.array(x, f32))
        trace.append([str(step)] + list(out.data))
        net.backpropagate(np.array(t, f32))
    assert csv_text(header, trace) == fixture_text("layers", f"{name}_trace.csv")

    out_header = ",".join(f"o{k}" for k in range(n_out))

    def outputs():
        return csv_text(out_header, [list(net.compute(np.array(x, f32)).data) for x, _, _ in rows[:50]])

    if name != "all_layers":
        assert net.save_to_string() + "\n" == fixture_text("layers", f"{name}_trained.nn")
        assert outputs() == fixture_text("layers", f"{name}_outputs.csv")
    X = np.array([x for x, _, _ in rows], f32)
    T = np.array([t for _, t, _ in rows], f32)
    for _ in range(case["passes"] - 1):
        net.fit_samples(X, T)
    suffix = "ep5" if name == "all_layers" else "ep10"
    assert net.save_to_string() + "\n" == fixture_text("layers", f"{name}_trained_{suffix}.nn")
    assert outputs() == fixture_text("layers", f"{name}_outputs_{suffix}.csv")


@pytest.mark.parametrize("name", ["tanh_sigmoid_init.nn", "tanh_sigmoid_trained_ep10.nn",
                                  "relu_softmax_trained.nn", "all_layers_trained_ep5.nn",
                                  "all_layers_init.nn"])
def test_layer_fixture_round_trips(name):
    text = fixture_text("layers", name)
    assert pn.TNNet.from_string(text).save_to_string() + "\n" == text
