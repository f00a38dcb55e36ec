"""Nets as `.safetensors` / `.npz` files and PyTorch-layout state dicts: the
same bits back, the same reports, clear errors naming the key, and nothing
that needs torch (tests/test_io_torch.py has the torch round trip)."""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import safetensors.numpy as stnp

import pyneural as pn
from pyneural import cli, io, toy
from pyneural.rng import FPCRandom
from conftest import FIXTURES

EXAMPLE = FIXTURES / "example"
A_NN, B_NN, PROBES = (str(EXAMPLE / n) for n in ("A.nn", "B.nn", "probes.csv"))
SUFFIXES = (".nn", ".safetensors", ".npz")


def bits(net):
    """Every parameter as raw 32-bit patterns (NaN-safe, -0 distinct)."""
    return [v.data.view(np.uint32).copy() for v in net.snapshot()]


def same_bits(a, b):
    return len(a.layers) == len(b.layers) and all(
        np.array_equal(x, y) for x, y in zip(bits(a), bits(b)))


def example(name="A"):
    return pn.load(EXAMPLE / f"{name}.nn")


def probe_rows():
    return np.stack([p.i.data for p in toy.build_probes()])


def mixed_net():
    """Every FC class, a suppressed bias made non-zero by training, and
    weightless layers in the middle and at the end."""
    g = FPCRandom(5)
    net = pn.TNNet(g)
    net.add_layer(pn.TNNetInput(2, 1, 1))
    net.add_layer(pn.TNNetFullConnect(6))
    net.add_layer(pn.TNNetFullConnectSigmoid(5, 1, 1, 1))        # suppress_bias
    net.add_layer(pn.TNNetFullConnectLinear(4))
    net.add_layer(pn.TNNetReLU())
    net.add_layer(pn.TNNetFullConnectReLU(4))
    net.add_layer(pn.TNNetFullConnectLinear(3))
    net.add_layer(pn.TNNetSoftMax(1))
    X = np.random.default_rng(1).uniform(-2, 2, (64, 2)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0)]
    net.fit_samples(X, Y)
    assert np.any(net.layers[2].bias != 0)         # the unused bias trained away from 0
    return net, X


def torch_layout(net):
    """The net's tensors copied key by key from the layers (not through
    to_state_dict), named as nn.Sequential(Linear, ReLU, ...) names them."""
    state, index = {}, 0
    for layer in net.layers[1:]:
        if layer.has_weights:
            # C order: safetensors.numpy writes an array's memory as it is, and
            # np.array of the transposed weights view would be Fortran-ordered.
            state[f"{index}.weight"] = np.array(layer.weights, order="C")
            state[f"{index}.bias"] = np.array(layer.bias)
            index += 1 if layer.activation == "identity" else 2
        else:
            index += 1
    return state


# ----------------------------------------------------------- round trips --

@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_saved_net_reloads_to_the_same_bits_and_outputs(tmp_path, suffix):
    for net, X in ((example("A"), probe_rows()), mixed_net()):
        path = tmp_path / f"net{suffix}"
        net.save(path)
        back = pn.load(path)
        assert back.save_structure_to_string() == net.save_structure_to_string()
        assert same_bits(back, net)
        assert np.array_equal(back.compute_batch(X, exact=True), net.compute_batch(X, exact=True))


def test_state_dict_layout_and_activations():
    net, _ = mixed_net()
    state = net.to_state_dict()
    # Sequential(Linear, Tanh, Linear, Sigmoid, Linear, ReLU, Linear, ReLU, Linear, Softmax)
    assert list(state) == ["0.weight", "0.bias", "2.weight", "4.weight", "4.bias", "6.weight",
                           "6.bias", "8.weight", "8.bias"]        # no bias: suppress_bias
    assert state["2.weight"].shape == (5, 6) and state["0.bias"].shape == (6,)
    assert all(a.dtype == np.float32 and a.flags.c_contiguous for a in state.values())
    assert np.array_equal(state["4.weight"], net.layers[3].weights)
    state["4.weight"][0, 0] += 1                   # copies, not views of the net
    assert not np.array_equal(state["4.weight"], net.layers[3].weights)
    assert io.activations_of(net) == ["tanh", "sigmoid", "relu", "relu", "softmax"]
    one = pn.TNNet()
    one.add_layer(pn.TNNetInput(3))
    one.add_layer(pn.TNNetFullConnectLinear(1))    # a (1, n) view is "contiguous" too
    w = one.to_state_dict()["0.weight"]
    w[:] = 7
    assert not np.any(one.layers[1].weights == 7)


def test_a_torch_layout_file_of_a_pascal_net_computes_bit_identically(tmp_path):
    net, X = example("A"), probe_rows()
    path = tmp_path / "a_torch.safetensors"
    stnp.save_file(torch_layout(net), str(path))               # no pyneural metadata
    with pytest.raises(pn.FormatError, match="activations"):
        pn.load(path)
    back = pn.load(path, activations="relu,relu,linear")
    assert back.save_to_string() == net.save_to_string()
    for exact in (True, False):
        assert np.array_equal(back.compute_batch(X, exact=exact), net.compute_batch(X, exact=exact))
    npz = tmp_path / "a_torch.npz"
    np.savez(npz, **torch_layout(net))
    assert same_bits(pn.load(npz, activations=["relu", "RELU", " linear"]), net)


def test_suppressed_bias_in_the_torch_layout_is_absent_and_stays_suppressed():
    net, X = mixed_net()
    acts = io.activations_of(net)
    state = net.to_state_dict()
    back = pn.TNNet.from_state_dict(state, acts)
    assert back.layers[2].suppress_bias and np.all(back.layers[2].bias == 0)
    # Linear(bias=False) both ways: saving writes no bias torch would refuse.
    assert sorted(back.to_state_dict()) == sorted(state)
    # Same function: the weightless ReLU after a linear layer folds into FC ReLU.
    assert [l.class_name for l in back.layers] == [
        "TNNetInput", "TNNetFullConnect", "TNNetFullConnectSigmoid", "TNNetFullConnectReLU",
        "TNNetFullConnectReLU", "TNNetFullConnectLinear", "TNNetSoftMax"]
    np.testing.assert_allclose(back.compute_batch(X, exact=True), net.compute_batch(X, exact=True),
                               rtol=0, atol=1e-6)


def test_the_report_on_safetensors_files_equals_the_report_on_nn_files(tmp_path):
    a, b, samples = example("A"), example("B"), toy.build_probes()
    expected = str(a.permutation_align_report(b, samples))
    own = tmp_path / "A.safetensors", tmp_path / "B.safetensors"
    a.save(own[0])
    b.save(own[1])
    torch_files = tmp_path / "At.safetensors", tmp_path / "Bt.safetensors"
    stnp.save_file(torch_layout(a), str(torch_files[0]))
    stnp.save_file(torch_layout(b), str(torch_files[1]))
    for pa, pb, acts in ((*own, None), (*torch_files, "relu,relu,linear")):
        fa, fb = pn.load(pa, acts), pn.load(pb, acts)
        assert str(fa.permutation_align_report(fb, samples)).splitlines() == expected.splitlines()


def test_prefixed_keys_missing_biases_and_mapping_order():
    a = example("A")
    w = [l.weights for l in a.trainable_layers()]
    state = {"model.fc1.weight": w[0], "model.fc2.weight": w[1], "model.fc2.bias":
             a.layers[2].bias, "model.out.weight": w[2], "model.out.bias": a.layers[3].bias}
    net = pn.TNNet.from_state_dict(state, ("relu", "relu", "linear"))
    assert np.all(net.layers[1].bias == 0) and np.array_equal(net.layers[1].weights, w[0])
    assert np.array_equal(net.layers[2].bias, a.layers[2].bias)
    reordered = {k: state[k] for k in ("model.out.weight", "model.fc1.weight")}
    with pytest.raises(pn.FormatError, match=r"'model.fc1.weight' has shape \(12, 2\).*"
                                             r"'model.out.weight', has 3 outputs"):
        pn.TNNet.from_state_dict(reordered, "linear,linear")


def test_safetensors_files_take_layers_in_the_natural_order_of_their_names(tmp_path):
    # safetensors keeps no order: "10.weight" must come after "2.weight".
    rng = np.random.default_rng(0)
    sizes = [3] + [4] * 6
    state = {f"{2 * i}.weight": rng.standard_normal((sizes[i + 1], sizes[i])).astype(np.float32)
             for i in range(6)}
    path = tmp_path / "deep.safetensors"
    stnp.save_file(state, str(path))
    net = pn.load(path, ["relu"] * 5 + ["linear"])
    assert [np.array_equal(l.weights, state[f"{2 * i}.weight"])
            for i, l in enumerate(net.trainable_layers())] == [True] * 6


def test_float64_and_float16_are_converted_with_a_warning():
    a = example("A")
    state = {k: v.astype(np.float64) for k, v in a.to_state_dict().items()}
    state["4.bias"] = state["4.bias"].astype(np.float16)
    with pytest.warns(UserWarning, match=r"converted to float32: float64 0.weight, 0.bias, "
                                         r"2.weight, 2.bias, 4.weight; float16 4.bias"):
        net = pn.TNNet.from_state_dict(state, "relu,relu,linear")
    assert np.array_equal(net.layers[1].weights, a.layers[1].weights)
    assert np.array_equal(net.layers[3].bias, a.layers[3].bias.astype(np.float16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # float32: no warning
        pn.TNNet.from_state_dict(a.to_state_dict(), "relu,relu,linear")


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.update({"4.extra": np.zeros(3, np.float32)}), r"unexpected tensor '4.extra'"),
    (lambda s: s.update({"6.bias": np.zeros(3, np.float32)}),
     r"'6.bias' has no weight \('6.weight' is missing\)"),
    (lambda s: s.update({"2.weight": s["2.weight"].astype(np.int32)}),
     r"'2.weight' has dtype int32"),
    (lambda s: s.update({"2.weight": s["2.weight"].astype(np.complex64)}),
     r"'2.weight' has dtype complex64"),
    (lambda s: s.update({"2.weight": s["2.weight"].ravel()}),
     r"'2.weight' has shape \(144,\): a Linear weight is 2-D"),
    (lambda s: s.update({"2.weight": s["2.weight"][:, :5]}),
     r"'2.weight' has shape \(12, 5\) \(5 inputs\), but the Linear before it, '0.weight', "
     r"has 12 outputs"),
    (lambda s: s.update({"4.bias": np.zeros(4, np.float32)}),
     r"'4.bias' has shape \(4,\), but '4.weight' has 3 outputs"),
    (lambda s: s["2.weight"].__setitem__((3, 4), np.nan),
     r"'2.weight' has 1 non-finite value\(s\).*index \(3, 4\)"),
    (lambda s: s["0.bias"].__setitem__(0, -np.inf), r"'0.bias' has 1 non-finite"),
    (lambda s: s.update({"0.weight": np.full((12, 2), 1e300)}),
     r"'0.weight' has 24 non-finite"),                 # float64 beyond float32
    (lambda s: s.update({"0.weight": np.zeros((0, 2), np.float32)}), r"no zero size"),
    (lambda s: s.update({"0.weight": np.array(["a"] * 24).reshape(12, 2)}), r"dtype <U1"),
])
def test_bad_state_dicts_are_format_errors_naming_the_key(edit, message):
    state = example("A").to_state_dict()
    edit(state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(pn.FormatError, match=message):
            pn.TNNet.from_state_dict(state, "relu,relu,linear")


def test_bad_activations():
    state = example("A").to_state_dict()
    with pytest.raises(pn.FormatError, match=r"3 Linear layer\(s\) in the tensors, but 2 in the "
                                             r"activations"):
        pn.TNNet.from_state_dict(state, "relu,linear")
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        pn.TNNet.from_state_dict(state, "relu,gelu,linear")
    with pytest.raises(ValueError, match="empty"):
        pn.TNNet.from_state_dict(state, [])
    with pytest.raises(TypeError, match="activations must be names"):
        pn.TNNet.from_state_dict(state, [1, 2, 3])
    with pytest.raises(TypeError, match="mapping"):
        pn.TNNet.from_state_dict([("0.weight", np.ones((2, 2)))], "linear")
    with pytest.raises(pn.FormatError, match="no tensors"):
        pn.TNNet.from_state_dict({}, "linear")


def test_softmax_activation_is_a_linear_layer_and_a_softmax_layer():
    a = example("A")
    net = pn.TNNet.from_state_dict(a.to_state_dict(), "relu,relu,softmax")
    assert [l.class_name for l in net.layers[-2:]] == ["TNNetFullConnectLinear", "TNNetSoftMax"]
    assert list(net.to_state_dict()) == list(a.to_state_dict())
    X = probe_rows()
    out = net.compute_batch(X)
    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)


def test_activations_are_checked_against_a_files_own_structure(tmp_path):
    a = example("A")
    for suffix in SUFFIXES:
        path = tmp_path / f"a{suffix}"
        a.save(path)
        assert same_bits(pn.load(path, "relu,relu,linear"), a)
        with pytest.raises(pn.FormatError, match=r"activations relu,tanh,linear do not match "
                                                 r"the net's own structure \(relu,relu,linear\)"):
            pn.load(path, "relu,tanh,linear")


def test_unknown_suffixes_and_pickles_are_refused(tmp_path):
    a = example("A")
    for name in ("a.pt", "a.pth", "a.bin", "a"):
        with pytest.raises(pn.FormatError, match="unknown suffix.*never pickled"):
            a.save(tmp_path / name)
        assert not (tmp_path / name).exists()
    (tmp_path / "a.txt").write_text(a.save_to_string())
    with pytest.raises(pn.FormatError, match="unknown suffix '.txt'"):
        pn.load(tmp_path / "a.txt")
    assert same_bits(pn.load(tmp_path / "a.txt", format="nn"), a)
    with pytest.raises(ValueError, match="unknown format 'pt'"):
        pn.load(tmp_path / "a.txt", format="pt")
    pickled = tmp_path / "obj.npz"
    np.savez(pickled, **{"0.weight": np.array([object()], dtype=object)})
    with pytest.raises(pn.FormatError, match="obj.npz"):
        pn.load(pickled, "linear")
    single = tmp_path / "single.npz"
    np.save(single, np.ones((2, 2), np.float32))      # np.save writes single.npz.npy
    (tmp_path / "single.npz.npy").rename(single)
    with pytest.raises(pn.FormatError, match="single .npy array"):
        pn.load(single, "linear")


def test_saving_non_finite_weights_is_refused_and_keeps_the_old_file(tmp_path):
    a = example("A")
    path = tmp_path / "a.safetensors"
    a.save(path)
    before = path.read_bytes()
    a.layers[2].weights[1, 3] = np.nan
    for suffix in (".safetensors", ".npz"):
        target = tmp_path / f"a{suffix}"
        with pytest.raises(pn.FormatError, match=r"cannot save .*'2.weight' has 1 non-finite"):
            a.save(target)
    assert path.read_bytes() == before and not (tmp_path / "a.npz").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pyneural-")] == []
    a.save(tmp_path / "nan.nn")                          # .nn text keeps NaN, as the original
    assert np.isnan(pn.load(tmp_path / "nan.nn").layers[2].weights[1, 3])
    with pytest.raises(OSError):
        a.save(tmp_path / "no" / "such" / "dir.nn")


def test_hostile_metadata_is_a_format_error(tmp_path):
    a = example("A")
    path = tmp_path / "a.safetensors"
    meta = {"structure": a.save_structure_to_string(), "unused_bias": {}}

    def write(structure=None, state=None, **extra):
        m = dict(meta, **extra)
        if structure is not None:
            m["structure"] = structure
        stnp.save_file(state or a.to_state_dict(), str(path), metadata={"pyneural": json.dumps(m)})

    write(structure=a.save_structure_to_string().replace("12;1;1;0", "2000000000;1;1;0", 1))
    with pytest.raises(pn.FormatError, match="bad pyneural metadata.*parameters"):
        pn.load(path)
    write(structure="-1)TNNetInput:2;1;1;0;0;0;0;0::0;0;0;0;0;0;0;0#0)TNNetBogus")
    with pytest.raises(pn.FormatError, match="bad pyneural metadata"):
        pn.load(path)
    write(unused_bias={"2": "00"})
    with pytest.raises(pn.FormatError, match=r"unused biases for modules \['2'\]"):
        pn.load(path)
    state = a.to_state_dict()
    del state["2.bias"]
    write(state=state)
    with pytest.raises(pn.FormatError, match="tensor '2.bias' is missing"):
        pn.load(path)
    stnp.save_file(a.to_state_dict(), str(path), metadata={"pyneural": "{not json"})
    with pytest.raises(pn.FormatError, match="bad pyneural metadata"):
        pn.load(path)


def test_hostile_files_named_cases(tmp_path):
    a = example("A")
    good = tmp_path / "a.safetensors"
    a.save(good)
    raw = good.read_bytes()
    header = int.from_bytes(raw[:8], "little")
    cases = {
        "short": raw[:5],
        "header beyond the file": (len(raw) * 10).to_bytes(8, "little") + raw[8:],
        "truncated data": raw[:-4],
        "bad json": raw[:8] + b"#" + raw[9:],
        "claims more bytes": raw[:8] + raw[8:8 + header].replace(b'"data_offsets":[0,',
                                                                  b'"data_offsets":[9,') +
        raw[8 + header:],
    }
    for name, data in cases.items():
        path = tmp_path / "bad.safetensors"
        path.write_bytes(data)
        with pytest.raises(pn.FormatError, match="bad.safetensors"):
            pn.load(path)
    zpath = tmp_path / "a.npz"
    a.save(zpath)
    zraw = zpath.read_bytes()
    for data in (zraw[: len(zraw) // 2], b"PK\x03\x04" + b"\0" * 40, b"not a zip"):
        bad = tmp_path / "bad.npz"
        bad.write_bytes(data)
        with pytest.raises(pn.FormatError, match="bad.npz"):
            pn.load(bad)


def test_zip_bombs_are_refused_before_they_expand(tmp_path):
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, **{"0.weight": np.zeros((4000, 4000), np.float32)})
    assert path.stat().st_size < 200_000                 # 64 MB of zeros compress ~1000x
    with pytest.raises(pn.FormatError, match="claim 64000128 bytes, more than a"):
        pn.load(path, "linear")
    ordinary = tmp_path / "ok.npz"
    np.savez_compressed(ordinary, **example("A").to_state_dict())
    assert same_bits(pn.load(ordinary, "relu,relu,linear"), example("A"))


# ------------------------------------------------ optional dependencies --

def test_import_pyneural_imports_neither_safetensors_nor_torch():
    code = ("import sys, pyneural; "
            "print(sorted(m for m in ('safetensors', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip() == "[]"


def test_without_safetensors_or_torch_the_errors_say_what_to_install(monkeypatch, tmp_path):
    a = example("A")
    a.save(tmp_path / "a.npz")
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    monkeypatch.setitem(sys.modules, "torch", None)
    for call in (lambda: a.save(tmp_path / "a.safetensors"),
                 lambda: pn.load(tmp_path / "x.safetensors")):
        with pytest.raises(ImportError, match="pip install safetensors"):
            call()
    assert same_bits(pn.load(tmp_path / "a.npz"), a)       # npz needs neither
    with pytest.raises(ImportError, match="to_torch needs PyTorch: pip install torch"):
        a.to_torch()
    with pytest.raises(ImportError, match="from_torch needs PyTorch"):
        pn.from_torch(object())
    (tmp_path / "x.safetensors").write_bytes(b"\0" * 16)   # present, so its format is read
    code, _, err = run_cli(None, "info", tmp_path / "x.safetensors")
    assert code == 2 and "pip install safetensors" in err


# ------------------------------------------------------------------ CLI --

def run_cli(capsys, *argv):
    if capsys is None:
        import contextlib
        import io as stdio
        out, err = stdio.StringIO(), stdio.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([str(a) for a in argv])
        return code, out.getvalue(), err.getvalue()
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_reports_on_safetensors_equal_the_reports_on_nn(capsys, tmp_path):
    a, b = example("A"), example("B")
    files = {}
    for name, net in (("A", a), ("B", b)):
        stnp.save_file(torch_layout(net), str(tmp_path / f"{name}.safetensors"))
        files[name] = tmp_path / f"{name}.safetensors"
    for cmd in (("align", "--original", "--score-mode", "0"), ("connect",)):
        nn_run = run_cli(capsys, cmd[0], A_NN, B_NN, "--samples", PROBES, *cmd[1:])
        st_run = run_cli(capsys, cmd[0], files["A"], files["B"], "--samples", PROBES,
                         "--activations", "relu,relu,linear", *cmd[1:])
        assert nn_run[0] == st_run[0] == 0 and nn_run[1] == st_run[1]
    code, out, err = run_cli(capsys, "info", files["A"], "--activations", "relu,relu,linear")
    assert code == 0 and "Parameters: 231" in out


def test_cli_permute_and_merge_write_the_format_of_the_suffix(capsys, tmp_path):
    run_cli(capsys, "permute", B_NN, "--to", A_NN, "--samples", PROBES, "-o",
            tmp_path / "p.nn", "--original")
    reference = pn.load(tmp_path / "p.nn")
    for suffix in (".safetensors", ".npz"):
        out = tmp_path / f"p{suffix}"
        code, _, err = run_cli(capsys, "permute", B_NN, "--to", A_NN, "--samples", PROBES,
                               "-o", out, "--original")
        assert code == 0 and same_bits(pn.load(out), reference), err
    code, _, err = run_cli(capsys, "merge", A_NN, B_NN, "--samples", PROBES, "-o",
                           tmp_path / "m.npz")
    assert code == 0 and f"wrote {tmp_path / 'm.npz'}" in err
    merged = pn.load(tmp_path / "m.npz")
    expected = example("A").merge_with(example("B"), toy.build_probes()).net
    assert same_bits(merged, expected)


@pytest.mark.parametrize("argv, needle", [
    (("info", A_NN, "--activations", "relu,swish"), "unknown activation 'swish'"),
    (("merge", A_NN, B_NN, "--samples", PROBES, "-o", "merged.pt"), "unknown suffix '.pt'"),
    (("info", A_NN, "--activations", "relu,linear"),
     "activations relu,linear do not match the net's own structure"),
])
def test_cli_bad_activations_and_suffixes_exit_2(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and needle in err and "Traceback" not in err


def test_cli_torch_file_without_activations_exits_2(capsys, tmp_path):
    path = tmp_path / "t.safetensors"
    stnp.save_file(torch_layout(example("A")), str(path))
    code, out, err = run_cli(capsys, "align", path, path, "--samples", PROBES)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"pyneural: error: {path}: which activation follows each Linear layer" in err
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK garbage")
    code, _, err = run_cli(capsys, "info", bad)
    assert code == 2 and "bad.npz: not a readable .npz file" in err


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_loading_a_weights_file_draws_no_random_number(tmp_path, suffix):
    # Only the .nn loader draws initial weights (as the original's does);
    # a file that holds every weight must not move the global RandSeed stream.
    net = pn.TNNet.from_file(A_NN)
    path = tmp_path / f"a{suffix}"
    net.save(path)
    state = net.to_state_dict()
    for load in (lambda: pn.load(path),
                 lambda: pn.TNNet.from_state_dict(state, "relu,relu,linear")):
        pn.rng.set_seed(5)
        loaded = load()
        assert pn.rng.random_int(10 ** 6) == (pn.rng.set_seed(5) or pn.rng.random_int(10 ** 6))
        assert loaded.save_data_to_string() == net.save_data_to_string()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_reports_and_merges_take_the_path_of_a_saved_net(tmp_path, suffix):
    a, b, samples = example("A"), example("B"), toy.build_probes()
    expected = str(a.permutation_align_report(b, samples))
    path = tmp_path / f"B{suffix}"
    b.save(path)
    for endpoint in (path, str(path)):
        pn.rng.set_seed(5)
        assert str(a.permutation_align_report(endpoint, samples)) == expected
        # the file is read, not built as a net: the RandSeed stream stays put
        assert pn.rng.random_int(10 ** 6) == (pn.rng.set_seed(5) or pn.rng.random_int(10 ** 6))
    assert a.merge_with(path, samples).net.save_data_to_string() == \
        a.merge_with(b, samples).net.save_data_to_string()
    assert a.mode_connectivity_report(str(path), samples).barrier == \
        a.mode_connectivity_report(b, samples).barrier


def test_a_missing_path_or_a_binary_nn_file_is_a_format_error_naming_it(tmp_path):
    a, samples = example("A"), toy.build_probes()
    with pytest.raises(pn.NNFormatError, match="neither .nn text nor the path .*'missing.nn'"):
        a.permutation_align_report("missing.nn", samples)
    binary = tmp_path / "binary.nn"
    binary.write_bytes(b"\xff\xfe\x00")
    for load in (lambda: pn.load(binary), lambda: pn.TNNet.from_file(binary),
                 lambda: a.permutation_align_report(binary, samples)):
        with pytest.raises(pn.NNFormatError, match="binary.nn: not UTF-8 text"):
            load()
