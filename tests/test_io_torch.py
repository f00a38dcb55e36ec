"""The torch round trip: what pyneural writes, torch's ``load_state_dict``
reads, and the outputs agree (float32 tolerance: torch sums in its own
order). Runs where torch is installed; elsewhere the whole module is
skipped with a warning in the summary (a failure under
PYNEURAL_REQUIRE_OPTIONAL=1, as in CI), and tests/test_io.py checks the
clear ImportError of the torch functions."""
import numpy as np
import pytest

import pyneural as pn
from pyneural import toy
from conftest import FIXTURES, need

torch = need("torch")

TOL = dict(rtol=1e-5, atol=1e-6)


def example(name):
    return pn.load(FIXTURES / "example" / f"{name}.nn")


def mixed_net():
    from test_io import mixed_net as build
    return build()


def torch_out(model, X):
    with torch.no_grad():
        return model(torch.from_numpy(X)).numpy()


def test_to_torch_keys_equal_to_state_dict_keys_and_outputs_agree():
    for net, X in ((example("A"), np.stack([p.i.data for p in toy.build_probes()])),
                   mixed_net()):
        model = net.to_torch()
        state = net.to_state_dict()
        assert list(model.state_dict()) == list(state)
        assert all(np.array_equal(model.state_dict()[k].numpy(), v) for k, v in state.items())
        np.testing.assert_allclose(torch_out(model, X), net.compute_batch(X, exact=True), **TOL)


def test_load_state_dict_of_what_pyneural_wrote(tmp_path):
    import safetensors.torch
    net, X = mixed_net()
    net.save(tmp_path / "m.safetensors")
    fresh = torch.nn.Sequential(
        torch.nn.Linear(2, 6), torch.nn.Tanh(), torch.nn.Linear(6, 5, bias=False),
        torch.nn.Sigmoid(), torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 4),
        torch.nn.ReLU(), torch.nn.Linear(4, 3), torch.nn.Softmax(dim=-1))
    fresh.load_state_dict(safetensors.torch.load_file(tmp_path / "m.safetensors"))
    np.testing.assert_allclose(torch_out(fresh, X), net.compute_batch(X, exact=True), **TOL)


def test_from_torch_and_back():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 8), torch.nn.Identity(), torch.nn.Sigmoid(),
                                torch.nn.Linear(8, 3, bias=False), torch.nn.Softmax(dim=1))
    net = pn.from_torch(model)
    assert [l.class_name for l in net.layers] == [
        "TNNetInput", "TNNetFullConnectReLU", "TNNetFullConnectLinear", "TNNetIdentity",
        "TNNetSigmoid", "TNNetFullConnectLinear", "TNNetSoftMax"]
    assert np.all(net.layers[5].bias == 0)                     # bias=False: a zero bias
    X = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
    np.testing.assert_allclose(net.compute_batch(X, exact=True), torch_out(model, X), **TOL)
    np.testing.assert_allclose(torch_out(net.to_torch(), X), torch_out(model, X), **TOL)


def test_from_torch_refuses_what_it_cannot_express():
    with pytest.raises(TypeError, match="nn.Sequential"):
        pn.from_torch(torch.nn.Linear(2, 2))
    with pytest.raises(pn.FormatError, match=r"module 1 \(GELU\) has no pyneural layer"):
        pn.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.GELU()))
    with pytest.raises(pn.FormatError, match=r"Softmax\(dim=0\)"):
        pn.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Softmax(dim=0)))

    class MyReLU(torch.nn.ReLU):
        pass
    with pytest.raises(pn.FormatError, match=r"module 1 \(MyReLU\)"):
        pn.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), MyReLU()))
    half = torch.nn.Sequential(torch.nn.Linear(2, 2)).to(torch.bfloat16)
    with pytest.raises(pn.FormatError, match="'0.weight' cannot be read as an array"):
        pn.from_torch(half)
    with pytest.warns(UserWarning, match="float64 0.weight, 0.bias"):
        pn.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2)).double())


def test_torch_state_dict_tensors_go_straight_into_from_state_dict():
    a = example("A")
    model = a.to_torch()
    back = pn.TNNet.from_state_dict(model.state_dict(), "relu,relu,linear")
    assert back.save_to_string() == a.save_to_string()


def test_the_guide_page_runs(tmp_path, monkeypatch, capsys):
    import pathlib
    import re
    text = (pathlib.Path(__file__).parents[1] / "docs" / "guide" / "pytorch.md").read_text()
    code = re.search(r"# Bringing a PyTorch model\n.*?```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)                  # it writes b.safetensors, merged.safetensors
    exec(compile(code, "docs/guide/pytorch.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "PermutationAlignReport" in printed
    assert float(printed.strip().splitlines()[-1]) < 1e-5


def test_a_bias_less_linear_round_trips_through_files_torch_accepts(tmp_path):
    from safetensors.torch import load_file
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8, bias=False), torch.nn.ReLU(),
                                torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    net = pn.from_torch(model)
    assert net.layers[1].suppress_bias
    X = np.stack([p.i.data for p in toy.build_probes()])
    for path in (tmp_path / "m.safetensors", tmp_path / "merged.safetensors"):
        net.save(path)
        model.load_state_dict(load_file(str(path)))          # strict: no unexpected key
        np.testing.assert_allclose(torch_out(model, X), net.compute_batch(X, exact=True), **TOL)
        net = net.merge_with(net.clone(), toy.build_probes(), repair=True).net
        assert net.layers[1].suppress_bias and np.all(net.layers[1].bias == 0)


# ------------------------------------------------------ convolutional nets --

def conv_net():
    """Non-square images through padding, strides, a bias-less conv, a tanh
    1x1 conv and a pool whose clipped last window torch's ceil_mode
    reproduces, then the dense tail; trained a little."""
    from pyneural.rng import FPCRandom
    from test_conv import data
    net = pn.TNNet(FPCRandom(4))
    for layer in (pn.TNNetInput(11, 7, 3), pn.TNNetConvolutionReLU(5, 3, 1, 1, 0),
                  pn.TNNetMaxPool(2), pn.TNNetConvolutionLinear(4, 2, 1, 2, 1),
                  pn.TNNetConvolution(6, 1), pn.TNNetFullConnectReLU(7),
                  pn.TNNetFullConnectLinear(3)):
        net.add_layer(layer)
    net.fit_samples(*data(net))
    return net


def conv_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 8, 3, stride=2, bias=False), torch.nn.Tanh(),
        torch.nn.MaxPool2d(2, ceil_mode=True), torch.nn.Conv2d(8, 5, 1),
        torch.nn.Flatten(), torch.nn.Linear(5 * 1 * 2, 16), torch.nn.ReLU(),
        torch.nn.Linear(16, 4))


def test_a_conv_net_and_its_torch_model_compute_the_same_function():
    net = conv_net()
    sx, sy, d = net.layers[0].output.shape
    X = np.random.default_rng(3).uniform(-1, 1, (25, net.input_size)).astype(np.float32)
    images = pn.images_from_rows(X, sx, sy, d)
    model = net.to_torch()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == \
        {k: v.shape for k, v in net.to_state_dict().items()}
    np.testing.assert_allclose(torch_out(model, images), net.compute_batch(X, exact=True),
                               **TOL)
    back = pn.from_torch(model, input_shape=(d, sy, sx))
    assert back.save_structure_to_string() == net.save_structure_to_string()
    for a, b in zip(back.trainable_layers(), net.trainable_layers()):
        np.testing.assert_array_equal(a.weights, b.weights)
        if not b.suppress_bias:
            np.testing.assert_array_equal(a.bias, b.bias)


def test_a_torch_conv_model_becomes_a_net_computing_the_same(tmp_path):
    model = conv_model()
    net = pn.from_torch(model, input_shape=(3, 10, 16))
    assert [l.class_name for l in net.layers] == [
        "TNNetInput", "TNNetConvolutionReLU", "TNNetMaxPool", "TNNetConvolution", "TNNetMaxPool",
        "TNNetConvolutionLinear", "TNNetFullConnectReLU", "TNNetFullConnectLinear"]
    assert net.layers[3].suppress_bias and net.layers[0].output.shape == (16, 10, 3)
    assert net.layers[4].output.shape == (2, 1, 8)        # the clipped window, as ceil_mode
    images = torch.rand(12, 3, 10, 16, generator=torch.Generator().manual_seed(1)).numpy()
    rows = pn.image_rows(images)
    np.testing.assert_allclose(net.compute_batch(rows, exact=True), torch_out(model, images),
                               **TOL)
    # and back: the safetensors torch reads
    from safetensors.torch import load_file
    path = tmp_path / "c.safetensors"
    net.save(path)
    fresh = conv_model()
    fresh.load_state_dict(load_file(path))
    np.testing.assert_allclose(torch_out(fresh, images), torch_out(model, images), **TOL)


@pytest.mark.parametrize("modules, message", [
    (lambda: [torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)], r"module 1 \(BatchNorm2d\)"),
    (lambda: [torch.nn.Conv2d(3, 4, 3), torch.nn.AvgPool2d(2)], r"module 1 \(AvgPool2d\)"),
    (lambda: [torch.nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")],
     r"module 0 \(Conv2d\): padding_mode='reflect'"),
    (lambda: [torch.nn.Conv2d(3, 4, 3, dilation=2)], r"module 0 \(Conv2d\): dilation"),
    (lambda: [torch.nn.Conv2d(3, 6, 3, groups=3)], r"module 0 \(Conv2d\): groups=3"),
    (lambda: [torch.nn.Conv2d(3, 4, (3, 1))], r"module 0 \(Conv2d\): kernel \(3, 1\)"),
    (lambda: [torch.nn.MaxPool2d(3, 2)], r"module 0 \(MaxPool2d\)"),
    (lambda: [torch.nn.MaxPool2d(2, padding=1)], r"module 0 \(MaxPool2d\): a max-pool with "
                                                  r"padding"),
    (lambda: [torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(8, 2)], r"module 1 \(Linear\) after "
                                                                 r"a Conv2d"),
    (lambda: [torch.nn.Conv2d(3, 4, 11)], r"module 0 \(Conv2d\): kernel \(11, 11\) on an "
                                          r"input 10 high and 9 wide.*10 high and 9 wide"),
    (lambda: [torch.nn.Conv2d(3, 4, (10, 11))], r"module 0 \(Conv2d\): kernel \(10, 11\)"),
])
def test_torch_modules_without_a_counterpart_are_refused_by_name(modules, message):
    with pytest.raises(pn.FormatError, match=message):
        pn.from_torch(torch.nn.Sequential(*modules()), input_shape=(3, 10, 9))


def test_a_flatten_that_ends_the_module_is_refused_and_a_conv_ending_net_gives_images():
    """torch's Flatten orders a conv's outputs (channel, y, x), pyneural's
    rows are (y, x, channel): a module ending in one would load computing
    a shuffled function (0.257 apart here), so it is refused by name; the
    same module without it is the same function, images out both ways."""
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten())
    with pytest.raises(pn.FormatError, match=r"module 2 \(Flatten\) .*\(channel, y, x\) order"):
        pn.from_torch(model, input_shape=(1, 4, 6))
    with pytest.raises(pn.FormatError, match=r"module 3 \(Flatten\)"):
        pn.from_torch(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
                                    nn.Sigmoid()), input_shape=(1, 4, 6))
    images = torch.randn(5, 1, 4, 6, generator=torch.Generator().manual_seed(2)).numpy()
    net = pn.from_torch(model[:2], input_shape=(1, 4, 6))
    rows = net.compute_batch(pn.image_rows(images), exact=True)
    assert rows.shape == (5, 16)
    as_images = pn.images_from_rows(rows, 4, 2, 2)                # (N, C, H, W)
    np.testing.assert_allclose(as_images, torch_out(model[:2], images), **TOL)
    back = net.to_torch()
    assert [type(m).__name__ for m in back] == ["Conv2d", "ReLU"]
    assert torch_out(back, images).shape == (5, 2, 2, 4)
    np.testing.assert_allclose(torch_out(back, images), as_images, **TOL)
    np.testing.assert_allclose(torch_out(model, images), as_images.reshape(5, 16), **TOL)


def test_a_conv_module_needs_its_input_shape_and_a_conv_state_dict_its_module():
    model = conv_model()
    with pytest.raises(pn.FormatError, match="input_shape"):
        pn.from_torch(model)
    with pytest.raises(pn.FormatError, match="Conv2d weight.*from_torch"):
        pn.TNNet.from_state_dict(model.state_dict(), "relu,linear")


def test_nets_torch_cannot_hold_are_refused_by_layer():
    from pyneural.rng import FPCRandom
    net = pn.TNNet(FPCRandom(1))
    for layer in (pn.TNNetInput(5, 5, 1), pn.TNNetMaxPool(3, 2), pn.TNNetFullConnectLinear(2)):
        net.add_layer(layer)
    with pytest.raises(pn.FormatError, match=r"layer 1 \(TNNetMaxPool\).*5x5"):
        net.to_torch()
    net = pn.TNNet(FPCRandom(1))
    for layer in (pn.TNNetInput(6, 1, 1), pn.TNNetFullConnectLinear(16),
                  pn.TNNetConvolutionLinear(2, 1)):
        net.add_layer(layer)
    with pytest.raises(pn.FormatError, match=r"layer 2 \(TNNetConvolutionLinear\) follows"):
        net.to_state_dict()
