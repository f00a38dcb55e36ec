"""Nets with branches and PyTorch, both ways: torch models traced with
torch.fx (residual sums, channel concatenations, BatchNorm2d folded into the
convolution before it, functional forms) become nets computing the same
function; nets with branches become GraphModules computing theirs; the
round trip keeps structure and bits; pyneural's files of such nets are
what torch's ``load_state_dict`` accepts strictly; what has no counterpart
is refused naming the node or the layer."""
import warnings

import numpy as np
import pytest

import pyneural as pn
from pyneural.rng import FPCRandom
from conftest import need

torch = need("torch")
nn, F = torch.nn, torch.nn.functional

TOL = dict(rtol=1e-5, atol=1e-5)


def run(model, images):
    with torch.no_grad():
        return model(torch.as_tensor(images)).numpy()


def random_images(n, c, h, w, seed=1):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)).numpy()


def randomise_batchnorms(model, seed=1):
    """Running statistics and affine parameters far from the identity, so
    that folding them is tested; then eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                if m.affine:
                    m.weight.uniform_(0.5, 1.5, generator=g)
                    m.bias.uniform_(-0.5, 0.5, generator=g)
    return model.eval()


def same_weights(a, b):
    return len(a.layers) == len(b.layers) and all(
        np.array_equal(x.data, y.data) for x, y in zip(a.snapshot(), b.snapshot()))


class Call(nn.Module):
    """A model whose forward is ``fn(conv(x), x, self)``."""

    def __init__(self, fn, **modules):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.fn = fn
        for name, m in modules.items():
            setattr(self, name, m)

    def forward(self, x):
        return self.fn(self.conv(x), x, self)



# ------------------------------------------------- torchvision-style ResNet --

class BasicBlock(nn.Module):
    """torchvision's BasicBlock, written out: Conv-BN-ReLU-Conv-BN, the
    shortcut (identity, or a strided 1x1 Conv-BN), ``out += identity``, ReLU
    (one in-place ReLU module called twice)."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """Stem (Conv-BN-ReLU, max-pool), two identity blocks, a downsampling
    block, global average pool, flatten, Linear head."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(2)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet():
    torch.manual_seed(0)
    return randomise_batchnorms(ResNet())


def test_a_resnet_becomes_a_net_computing_the_same_within_1e_5():
    model = resnet()
    net = pn.from_torch(model, input_shape=(3, 16, 16))
    block = ["TNNetConvolutionReLU", "TNNetConvolutionLinear", "TNNetSum", "TNNetReLU"]
    assert [l.class_name for l in net.layers] == (
        ["TNNetInput", "TNNetConvolutionReLU", "TNNetMaxPool"] + block + block
        + ["TNNetConvolutionReLU", "TNNetConvolutionLinear", "TNNetConvolutionLinear",
           "TNNetSum", "TNNetReLU", "TNNetAvgChannel", "TNNetFullConnectLinear"])
    # out + identity: the second conv, then the block's input; the
    # downsampling block adds its strided 1x1 shortcut
    assert net.layers[5].links == (4, 2) and net.layers[14].links == (12, 13)
    assert net.layers[13].input_indices() == (10,) and net.layers[13].stride == 2
    # BatchNorm folded: the bias-less convolutions have a bias now
    assert not any(l.suppress_bias for l in net.trainable_layers())
    images = random_images(16, 3, 16, 16)
    out = net.compute_batch(pn.image_rows(images), exact=True)
    np.testing.assert_allclose(out, run(model, images), **TOL)
    np.testing.assert_allclose(net.compute_batch(pn.image_rows(images)), out, **TOL)


def test_a_resnet_net_goes_to_torch_and_back_with_its_bits():
    net = pn.from_torch(resnet(), input_shape=(3, 16, 16))
    model = net.to_torch()
    assert isinstance(model, torch.fx.GraphModule) and not model.training
    assert list(model.state_dict()) == list(net.to_state_dict())
    images = random_images(16, 3, 16, 16, seed=2)
    np.testing.assert_allclose(run(model, images),
                               net.compute_batch(pn.image_rows(images), exact=True), **TOL)
    back = pn.from_torch(model, input_shape=(3, 16, 16))
    assert back.save_structure_to_string() == net.save_structure_to_string()
    assert same_weights(back, net)


def test_batchnorm_folding_covers_biases_and_non_affine_norms():
    torch.manual_seed(3)
    model = randomise_batchnorms(nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Tanh(),
        nn.Conv2d(4, 3, 1, bias=False), nn.BatchNorm2d(3, affine=False, eps=1e-3)))
    net = pn.from_torch(model, input_shape=(2, 5, 6))
    assert [l.class_name for l in net.layers] == ["TNNetInput", "TNNetConvolution",
                                                  "TNNetConvolutionLinear"]
    images = random_images(8, 2, 5, 6)
    as_images = pn.images_from_rows(net.compute_batch(pn.image_rows(images), exact=True), 6, 5, 3)
    np.testing.assert_allclose(as_images, run(model, images), **TOL)


# ------------------------------------------------------- DenseNet-style --

class DenseLayer(nn.Module):
    """A bottleneck (1x1 then 3x3, each Conv-BN-ReLU) whose output is
    concatenated to its input's channels."""

    def __init__(self, cin, growth):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, 2 * growth, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(2 * growth)
        self.conv2 = nn.Conv2d(2 * growth, growth, 3, padding="same", bias=False)
        self.bn2 = nn.BatchNorm2d(growth)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return torch.cat([x, y], 1)


class DenseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.block = nn.Sequential(DenseLayer(6, 4), DenseLayer(10, 4))
        self.transition = nn.Conv2d(14, 8, 1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = self.block(F.relu(self.stem(x)))
        x = F.avg_pool2d(self.transition(x), 2)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))


def test_a_densenet_block_converts_both_ways():
    torch.manual_seed(4)
    model = randomise_batchnorms(DenseNet())
    net = pn.from_torch(model, input_shape=(3, 8, 8))
    concats = [l for l in net.layers if isinstance(l, pn.TNNetDeepConcat)]
    assert [c.output.shape for c in concats] == [(8, 8, 10), (8, 8, 14)]
    assert concats[0].links == (1, 3)              # the block's input, then the new channels
    assert [l.class_name for l in net.layers[-3:]] == ["TNNetAvgPool", "TNNetAvgChannel",
                                                       "TNNetFullConnectLinear"]
    images = random_images(12, 3, 8, 8)
    out = net.compute_batch(pn.image_rows(images), exact=True)
    np.testing.assert_allclose(out, run(model, images), **TOL)
    back_model = net.to_torch()
    np.testing.assert_allclose(run(back_model, images), out, **TOL)
    back = pn.from_torch(back_model, input_shape=(3, 8, 8))
    assert back.save_structure_to_string() == net.save_structure_to_string()
    assert same_weights(back, net)


# ------------------------------------------- pyneural's graphs to torch --

def every_layer_net():
    """A graph of every layer class to_torch converts: a residual sum of a
    conv and a pointwise conv of the input, four activations concatenated
    by depth, both normalisations, dropout, the three poolings (the
    average ones on clipped and non-square windows), a dense branch, and
    a flat concatenation of pooled volumes, that branch and a conv's
    output; trained, so that the normalisations hold learnt values."""
    net = pn.TNNet(FPCRandom(3))
    inp = net.add_layer(pn.TNNetInput(7, 5, 3))
    c1 = net.add_layer(pn.TNNetConvolutionReLU(4, 3, 1, 1))
    c2 = net.add_layer_after(pn.TNNetPointwiseConvLinear(4), inp)
    s = net.add_layer(pn.TNNetSum([c1, c2]))
    acts = [net.add_layer_after(layer, s) for layer in (
        pn.TNNetLeakyReLU(0.1), pn.TNNetReLU6(), pn.TNNetSwish(), pn.TNNetSELU())]
    net.add_layer(pn.TNNetDeepConcat(acts))
    net.add_layer(pn.TNNetChannelStdNormalization())
    net.add_layer(pn.TNNetMovingStdNormalization())
    dropout = net.add_layer(pn.TNNetDropout(0.5))
    pooled = net.add_layer(pn.TNNetAvgPool(2))
    mean = net.add_layer_after(pn.TNNetAvgChannel(), dropout)
    top = net.add_layer_after(pn.TNNetMaxChannel(), dropout)
    dense = net.add_layer_after(pn.TNNetFullConnectReLU(6), pooled)
    net.add_layer(pn.TNNetConcat([mean, top, dense, c2]))
    net.add_layer(pn.TNNetFullConnectLinear(4))
    net.add_layer(pn.TNNetSoftMax())
    g = np.random.default_rng(0)
    X = g.uniform(-1, 1, (40, net.input_size)).astype(np.float32)
    net.fit_samples(X, g.uniform(0, 1, (40, net.output_size)).astype(np.float32))
    net.enable_dropouts(False)
    assert not np.array_equal(net.layers[9].weights, [[0.0] * 16, [1.0] * 16])
    return net, X


def test_a_graph_of_every_layer_computes_the_same_in_torch_and_back():
    net, X = every_layer_net()
    model = net.to_torch()
    kinds = [type(m).__name__ for m in model.children()]
    assert {"PascalSELU", "ChannelStdNormalization", "MovingStdNormalization", "SiLU", "ReLU6",
            "LeakyReLU", "Dropout", "AvgPool2d", "AdaptiveMaxPool2d"} <= set(kinds)
    assert list(model.state_dict()) == list(net.to_state_dict())
    images = pn.images_from_rows(X, 7, 5, 3)
    out = net.compute_batch(X, exact=True)
    np.testing.assert_allclose(run(model, images), out, rtol=1e-5, atol=1e-6)
    back = pn.from_torch(model, input_shape=(3, 5, 7))
    assert not back.layers[11].enabled                  # eval mode: dropout off
    # The same function, weights and graph; two classes come back as the
    # same computation under another name.
    renamed = {"TNNetPointwiseConvLinear": "TNNetConvolutionLinear",
               "TNNetAvgChannel": "TNNetAvgPool"}        # 7x5: a 7x7 window, divided by 49
    assert [l.class_name for l in back.layers] == [renamed.get(l.class_name, l.class_name)
                                                   for l in net.layers]
    assert [l.input_indices() for l in back.layers] == [l.input_indices() for l in net.layers]
    assert same_weights(back, net)
    assert np.array_equal(back.compute_batch(X, exact=True), out)


def test_a_sum_of_two_convolutions_is_no_longer_a_sequential_of_them():
    """Before graphs, to_torch chained every layer: conv, conv, 'Identity'
    for the sum, a function of the second conv only."""
    net = pn.TNNet(FPCRandom(1))
    net.add_layer(pn.TNNetInput(6, 6, 2))
    a = net.add_layer(pn.TNNetConvolutionReLU(4, 3, 1, 1))
    b = net.add_layer(pn.TNNetConvolutionLinear(4, 3, 1, 1))
    net.add_layer(pn.TNNetSum([b, a]))
    net.add_layer(pn.TNNetFullConnectLinear(3))
    X = np.random.default_rng(2).uniform(-1, 1, (10, net.input_size)).astype(np.float32)
    model = net.to_torch()
    assert "add = _2 + _1" in model.code.replace("getattr(self, ", "")
    np.testing.assert_allclose(run(model, pn.images_from_rows(X, 6, 6, 2)),
                               net.compute_batch(X, exact=True), rtol=1e-5, atol=1e-6)


def test_a_dense_graph_takes_rows_and_a_chain_stays_a_sequential():
    net = pn.TNNet(FPCRandom(2))
    inp = net.add_layer(pn.TNNetInput(3))
    a = net.add_layer(pn.TNNetFullConnectReLU(5))
    b = net.add_layer_after(pn.TNNetFullConnect(5), inp)
    net.add_layer(pn.TNNetSum([a, b]))
    net.add_layer(pn.TNNetConcat([a, net.layers[-1]]))
    net.add_layer(pn.TNNetFullConnectSigmoid(2))
    X = np.random.default_rng(3).uniform(-2, 2, (20, 3)).astype(np.float32)
    model = net.to_torch()
    np.testing.assert_allclose(run(model, X), net.compute_batch(X, exact=True), **TOL)
    back = pn.from_torch(model)
    assert back.save_structure_to_string() == net.save_structure_to_string()
    assert same_weights(back, net)
    chain = pn.TNNet(FPCRandom(2))
    for layer in (pn.TNNetInput(4, 4, 1), pn.TNNetConvolutionReLU(2, 3), pn.TNNetSwish(),
                  pn.TNNetDropout(0.25), pn.TNNetFullConnectLinear(2)):
        chain.add_layer(layer)
    assert [type(m).__name__ for m in chain.to_torch()] == [
        "Conv2d", "ReLU", "SiLU", "Dropout", "Flatten", "Linear"]


def test_what_torch_cannot_compute_is_refused_by_layer():
    def net_of(*layers, shape=(4, 4, 2)):
        net = pn.TNNet(FPCRandom(1))
        net.add_layer(pn.TNNetInput(*shape))
        for layer in layers:
            net.add_layer(layer)
        return net

    with pytest.raises(pn.FormatError, match=r"layer 1 \(TNNetReLU6\): leakiness 3"):
        net_of(pn.TNNetReLU6(3)).to_torch()
    flat = net_of(pn.TNNetConvolutionLinear(2, 1))
    flat.add_layer(pn.TNNetConcat([flat.layers[1]]))
    flat.add_layer(pn.TNNetMaxChannel())
    with pytest.raises(pn.FormatError, match=r"layer 3 \(TNNetMaxChannel\) follows a fully-"
                                             r"connected layer or a flat concatenation"):
        flat.to_state_dict()
    with pytest.raises(pn.FormatError, match=r"layer 2 \(TNNetSoftMax\) is a softmax over a 3-D"):
        net_of(pn.TNNetConvolutionLinear(2, 1), pn.TNNetSoftMax()).to_torch()


# ------------------------------------------------------------------ files --

@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_graph_nets_save_load_and_torch_reads_the_files_strictly(tmp_path, suffix):
    from safetensors.torch import load_file
    for net, X, shape in ((*every_layer_net(), (3, 5, 7)),
                          (pn.from_torch(resnet(), input_shape=(3, 16, 16)), None, (3, 16, 16))):
        path = tmp_path / f"g{suffix}"
        net.save(path)
        back = pn.load(path)
        assert back.save_to_string() == net.save_to_string()
        fresh = net.clone()
        fresh.init_weights()                        # the same graph, other weights
        model = fresh.to_torch()
        if suffix == ".npz":
            with np.load(path) as npz:
                state = {k: torch.from_numpy(npz[k]) for k in npz.files if k != "__pyneural__"}
        else:
            state = load_file(str(path))
        model.load_state_dict(state)                # strict: the keys are exactly its own
        images = random_images(6, *shape, seed=5)
        np.testing.assert_allclose(run(model, images),
                                   net.compute_batch(pn.image_rows(images), exact=True),
                                   rtol=1e-5, atol=1e-5)


# ------------------------------------------ functions, SELU, dropout --

class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 3 * 2 + 4, 3)

    def forward(self, x):
        y = F.relu6(F.leaky_relu(self.conv(x), 0.2))
        y = F.max_pool2d(F.silu(y), 2, ceil_mode=True)                   # 5x3 -> 3x2
        z = F.dropout(F.adaptive_max_pool2d(y, 1), 0.3, training=False).flatten(1)
        y = torch.cat([y.permute(0, 2, 3, 1).flatten(1), z], 1)
        return torch.add(self.fc(y).relu(), torch.sigmoid(self.fc(y)))


def test_functional_forms_read_as_their_modules():
    torch.manual_seed(5)
    model = Functional()
    net = pn.from_torch(model, input_shape=(2, 3, 5))
    assert [l.class_name for l in net.layers] == [
        "TNNetInput", "TNNetConvolutionLinear", "TNNetLeakyReLU", "TNNetReLU6", "TNNetSwish",
        "TNNetMaxPool", "TNNetMaxChannel", "TNNetDropout", "TNNetConcat", "TNNetFullConnectReLU",
        "TNNetFullConnectSigmoid", "TNNetSum"]
    assert net.layers[2].alpha == np.float32(0.2) and not net.layers[7].enabled
    images = random_images(10, 2, 3, 5)
    np.testing.assert_allclose(net.compute_batch(pn.image_rows(images), exact=True),
                               run(model, images), **TOL)


def test_flattened_images_concatenated_feed_a_linear_with_its_columns_reordered():
    torch.manual_seed(8)
    model = Call(lambda y, x, m: m.fc(torch.cat([y.flatten(1), m.other(x).flatten(1)], 1)),
                 other=nn.Conv2d(2, 3, 1), fc=nn.Linear(2 * 12 + 3 * 12, 4))
    net = pn.from_torch(model, input_shape=(2, 4, 3))
    assert [l.class_name for l in net.layers] == [
        "TNNetInput", "TNNetConvolutionLinear", "TNNetConvolutionLinear", "TNNetConcat",
        "TNNetFullConnectLinear"]
    images = random_images(6, 2, 4, 3)
    np.testing.assert_allclose(net.compute_batch(pn.image_rows(images), exact=True),
                               run(model, images), **TOL)


def test_an_activation_folds_into_its_convolution_only_when_it_alone_reads_it():
    """y = relu(conv(x)) read twice is a TNNetConvolutionReLU read twice;
    a conv whose raw output a shortcut reads too keeps its ReLU apart."""
    torch.manual_seed(9)
    shared = Call(lambda y, x, m: (lambda a: a + m.conv2(a))(m.act(y)), act=nn.ReLU(),
                  conv2=nn.Conv2d(2, 2, 1))
    raw = Call(lambda y, x, m: m.act(y) + y, act=nn.ReLU())
    for model, classes in ((shared, ["TNNetConvolutionReLU", "TNNetConvolutionLinear"]),
                           (raw, ["TNNetConvolutionLinear", "TNNetReLU"])):
        net = pn.from_torch(model, input_shape=(2, 4, 3))
        assert [l.class_name for l in net.layers] == ["TNNetInput"] + classes + ["TNNetSum"]
        images = random_images(5, 2, 4, 3)
        np.testing.assert_allclose(net.compute_batch(pn.image_rows(images), exact=True),
                                   pn.image_rows(run(model, images)), **TOL)


def test_an_average_pool_converts_where_its_windows_are_pyneurals():
    torch.manual_seed(6)
    clipped = nn.Sequential(nn.Conv2d(1, 2, 1), nn.AvgPool2d(2, ceil_mode=True,
                                                            divisor_override=4))
    net = pn.from_torch(clipped, input_shape=(1, 5, 3))
    assert net.layers[2].output.shape == (2, 3, 2)
    images = random_images(4, 1, 5, 3)
    rows = net.compute_batch(pn.image_rows(images), exact=True)
    np.testing.assert_allclose(pn.images_from_rows(rows, 2, 3, 2), run(clipped, images), **TOL)
    np.testing.assert_allclose(run(net.to_torch(), images), pn.images_from_rows(rows, 2, 3, 2),
                               **TOL)
    with pytest.raises(pn.FormatError, match=r"module 1 \(AvgPool2d\): on 3x5 the border "
                                             r"windows .*divisor_override=4"):
        pn.from_torch(nn.Sequential(nn.Conv2d(1, 2, 1), nn.AvgPool2d(2, ceil_mode=True)),
                      input_shape=(1, 5, 3))


def test_selu_converts_with_a_warning_of_the_constants():
    model = nn.Sequential(nn.SELU())
    with pytest.warns(UserWarning, match=r"module 0 \(SELU\): .*1\.6733.*differ from torch's "
                                         r"by up to 2\.1e-05 relative, plus 1\.2e-07 near 0"):
        net = pn.from_torch(model, input_shape=(1, 1, 1))
    x = np.concatenate([np.linspace(-20, 20, 40001), -np.logspace(-12, 0, 2001)])
    x = x.astype(np.float32).reshape(-1, 1, 1, 1)
    got, want = net.compute_batch(pn.image_rows(x), exact=True).ravel(), run(model, x).ravel()
    apart = np.abs(got - want)
    assert np.max(apart[want != 0] / np.abs(want[want != 0])) > 2e-5   # not rounding: the constants
    assert np.all(apart <= 2.11e-5 * np.abs(want) + 1.2e-7)
    # pyneural's own SELU goes to torch as itself, and back without a warning
    mine = pn.TNNet()
    for layer in (pn.TNNetInput(3), pn.TNNetFullConnectLinear(8), pn.TNNetSELU()):
        mine.add_layer(layer)
    model = mine.to_torch()
    assert type(model[1]).__name__ == "PascalSELU"
    X = np.random.default_rng(4).uniform(-3, 3, (500, 3)).astype(np.float32)
    np.testing.assert_allclose(run(model, X), mine.compute_batch(X, exact=True), rtol=1e-6,
                               atol=2.4e-7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pn.from_torch(model).save_to_string() == mine.save_to_string()


def test_dropout_is_enabled_as_the_torch_module_is():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.25), nn.Linear(4, 2))
    train = pn.from_torch(model)
    assert train.layers[2].enabled and train.layers[2].rate == 0.25
    assert not pn.from_torch(model.eval()).layers[2].enabled


# -------------------------------------------------------------- refusals --

def pre_activation():
    model = Call(lambda y, x, m: m.conv2(F.relu(m.norm(y + x))), norm=nn.BatchNorm2d(2),
                 conv2=nn.Conv2d(2, 2, 1))
    return model.eval()


REFUSED = [
    (pre_activation,
     r"module norm \(BatchNorm2d\) does not follow a Conv2d: pyneural folds"),
    (lambda: Call(lambda y, x, m: m.norm(y) + y, norm=nn.BatchNorm2d(2)).eval(),
     r"module norm \(BatchNorm2d\): the convolution before it \(module conv \(Conv2d\)\) is "
     r"read by other nodes too"),
    (lambda: Call(lambda y, x, m: m.norm(y), norm=nn.BatchNorm2d(2)),
     r"module norm \(BatchNorm2d\) is in training mode"),
    (lambda: Call(lambda y, x, m: m.block(y), block=nn.Sequential(nn.GELU())),
     r"module block.0 \(GELU\) has no pyneural layer"),
    (lambda: Call(lambda y, x, m: y * x), r"node mul \(operator.mul\) has no pyneural layer"),
    (lambda: Call(lambda y, x, m: y.view(y.size(0), -1)), r"node size \(Tensor.size\)"),
    (lambda: Call(lambda y, x, m: torch.cat([y, x], 2)),
     r"node cat \(torch.cat\): torch.cat\(dim=2\) of image, image"),
    (lambda: Call(lambda y, x, m: y + 1), r"node add \(operator.add\): from_torch reads the sum "
                                          r"of two tensors"),
    (lambda: Call(lambda y, x, m: y + m.scale, scale=nn.Parameter(torch.ones(1))),
     r"node scale \(get_attr scale\)"),
    (lambda: Call(lambda y, x, m: m.pool(y), pool=nn.AdaptiveAvgPool2d(1)),
     r"module pool \(AdaptiveAvgPool2d\) on a 3x4 plane"),
    (lambda: Call(lambda y, x, m: m.act(y) + y, act=nn.ReLU(inplace=True)),
     r"module act \(ReLU\) works in place on a value that other nodes read too \(conv\)"),
    (lambda: Call(lambda y, x, m: y if y.sum() > 0 else x), r"torch.fx cannot trace it"),
    (lambda: Call(lambda y, x, m: (y, x)), r"forward\(\) returns a tuple"),
    (lambda: Call(lambda y, x, m: torch.flatten(y, 1) + torch.flatten(x, 1).relu()),
     r"node flatten \(torch.flatten\) ends the module's spatial part"),
    (lambda: Call(lambda y, x, m: m.fc(y.flatten(1)) + y.flatten(1), fc=nn.Linear(24, 24)),
     r"node add \(operator.add\) adds values of different layouts"),
    (lambda: Call(lambda y, x, m: m.fc(y), fc=nn.Linear(3, 2)),
     r"module fc \(Linear\) after a Conv2d or pooling needs a Flatten"),
    (lambda: Call(lambda y, x, m: y.permute(0, 3, 1, 2)),
     r"node permute \(Tensor.permute\): from_torch reads permute\(0, 2, 3, 1\)"),
]


@pytest.mark.parametrize("build, message", REFUSED)
def test_what_pyneural_cannot_compute_is_refused_naming_the_node(build, message):
    with pytest.raises(pn.FormatError, match=message):
        pn.from_torch(build(), input_shape=(2, 4, 3))


def test_other_bad_models_are_refused():
    class TwoInputs(nn.Module):
        def forward(self, x, y):
            return x + y
    with pytest.raises(pn.FormatError, match=r"forward\(\) takes 2 tensors \(x, y\)"):
        pn.from_torch(TwoInputs(), input_shape=(1, 2, 2))
    with pytest.raises(TypeError, match="lone Conv2d: wrap it"):
        pn.from_torch(nn.Conv2d(1, 1, 1), input_shape=(1, 2, 2))
    with pytest.raises(TypeError, match="needs a torch module"):
        pn.from_torch(lambda x: x)
    with pytest.raises(pn.FormatError, match=r"module 0 \(Conv2d\) reads images: give "
                                             r"from_torch input_shape"):
        pn.from_torch(nn.Sequential(nn.Conv2d(1, 1, 1), nn.Flatten(), nn.Linear(4, 2)))
    with pytest.raises(pn.FormatError, match="no Linear says how many values it takes"):
        pn.from_torch(nn.Sequential(nn.Conv2d(1, 1, 1)))
