"""One locking rule (build aside, swap in under the lock), one way in for a
net (paths through pyneural.load, texts through TNNet.from_string, then the
architecture check), one writer (pyneural.io.save), and the file formats'
limits. The thread tests call the public methods from threads that take no
lock themselves, as a user's code would."""
import os
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pytest
import safetensors.numpy as stnp

import pyneural as pn
from pyneural import io, toy
from pyneural.rng import FPCRandom
from test_io import EXAMPLE, example, probe_rows


def net_of(widths, seed, activation=pn.TNNetFullConnectReLU):
    net = pn.TNNet(FPCRandom(seed))
    net.add_layer(pn.TNNetInput(widths[0]))
    for w in widths[1:-1]:
        net.add_layer(activation(w))
    net.add_layer(pn.TNNetFullConnectLinear(widths[-1]))
    return net


def run_while(worker, reader, reads):
    """Run ``worker(stop)`` in a thread while ``reader()`` runs ``reads``
    times here; returns the readers' results."""
    stop = threading.Event()
    thread = threading.Thread(target=worker, args=(stop,))
    thread.start()
    try:
        return [reader() for _ in range(reads)]
    finally:
        stop.set()
        thread.join()


def alternate(stop, *calls):
    while not stop.is_set():
        for call in calls:
            call()


# ------------------------------------------------------------- locks --

def test_saves_are_never_torn_by_a_thread_that_reloads_or_trains(tmp_path):
    small, wide = net_of([4, 64, 64, 3], 1), net_of([4, 96, 3], 2)
    texts = {small.save_to_string(), wide.save_to_string()}
    net = small.clone()
    reloads = [lambda t=t: net.load_from_string(t) for t in sorted(texts)]
    seen = run_while(lambda stop: alternate(stop, *reloads), net.save_to_string, 300)
    assert set(seen) <= texts and len(set(seen)) == 2
    path = tmp_path / "n.nn"
    files = run_while(lambda stop: alternate(stop, *reloads),
                      lambda: net.save(path) or path.read_text().replace("\n", ">", 1)[:-1], 100)
    assert set(files) <= texts
    # a thread that trains: every data text read is one state, so it
    # parses back into a net whose own text is that same string
    X = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[np.arange(50) % 3]
    data = run_while(lambda stop: alternate(stop, lambda: net.fit_samples(X, Y)),
                     net.save_data_to_string, 100)
    structure = net.save_structure_to_string()
    assert all(pn.TNNet.from_string(structure + ">" + d).save_data_to_string() == d
               for d in data)


def test_a_reload_swaps_the_whole_net_in_at_once():
    a, b = example("A"), example("B")
    X = probe_rows()
    outs = {a.compute_batch(X, exact=True).tobytes(), b.compute_batch(X, exact=True).tobytes()}
    net = a.clone()
    texts = (a.save_to_string(), b.save_to_string())
    seen = run_while(lambda stop: alternate(stop, *(lambda t=t: net.load_from_string(t)
                                                    for t in texts)),
                     lambda: net.compute_batch(X, exact=True).tobytes(), 2000)
    assert set(seen) <= outs, "a compute saw the initial weights a reload draws"


def test_a_conv_nets_batched_pass_sees_one_net_while_another_thread_reloads():
    def conv(layer):
        net = pn.TNNet(FPCRandom(3))
        for added in (pn.TNNetInput(4, 4, 1), layer, pn.TNNetFullConnectLinear(2)):
            net.add_layer(added)
        return net.save_to_string()
    texts = conv(pn.TNNetConvolutionReLU(3, 3)), conv(pn.TNNetConvolutionLinear(3, 3))
    X = np.random.default_rng(0).normal(size=(3000, 16)).astype(np.float32)
    outs = {pn.TNNet.from_string(t).compute_batch(X).tobytes() for t in texts}
    net = pn.TNNet.from_string(texts[0])
    seen = run_while(lambda stop: alternate(stop, *(lambda t=t: net.load_from_string(t)
                                                    for t in texts)),
                     lambda: net.compute_batch(X).tobytes(), 150)
    assert set(seen) <= outs


def test_init_weights_draws_aside_and_swaps_in():
    net = net_of([3, 40, 40, 2], 7)
    twin = net.clone()
    twin._generator = FPCRandom(99)
    states = {twin.save_data_to_string()}
    for _ in range(30):
        twin.init_weights()
        states.add(twin.save_data_to_string())
    net._generator = FPCRandom(99)
    calls = iter(range(30))
    seen = run_while(lambda stop: [net.init_weights() for _ in calls if not stop.is_set()],
                     net.save_data_to_string, 200)
    assert set(seen) <= states


# ------------------------------------------------------ one way in --

def test_a_whole_net_as_path_or_text_must_match_every_layer(tmp_path):
    """B with other activations is refused whatever form it comes in (a
    data-only text carries no activations, as in Pascal)."""
    a, samples = example("A"), toy.build_probes()
    other = pn.TNNet()
    other.add_layer(pn.TNNetInput(2, 1, 1))
    other.add_layer(pn.TNNetFullConnect(12))            # tanh where A has ReLU
    other.add_layer(pn.TNNetFullConnectReLU(12))
    other.add_layer(pn.TNNetFullConnectLinear(3))
    path = tmp_path / "tanh.nn"
    other.save(path)
    for b in (other, path, str(path), other.save_to_string(), path.read_text()):
        for call in (lambda: a.permutation_align_report(b, samples),
                     lambda: a.mode_connectivity_report(b, samples),
                     lambda: a.merge_with(b, samples),
                     lambda: pn.barrier_matrix([a, b], samples, align=False)):
            with pytest.raises(pn.ArchitectureError, match="layer 1 is TNNetFullConnectReLU"):
                call()
    a.permutation_align_report(other.save_data_to_string(), samples)


def test_one_rule_tells_a_path_from_a_net_text(tmp_path):
    a = example("A")
    assert io.is_path("runs/seed1/model.nn") and io.is_path(tmp_path / "x.nn")
    assert io.is_path(b"x.nn")
    for text in (a.save_to_string(), a.save_data_to_string(),
                 a.save_structure_to_string() + "\n" + a.save_data_to_string()):
        assert not io.is_path(text)
    with pytest.raises(pn.NNFormatError, match="neither .nn text nor the path .*'nothere.nn'"):
        io.as_net("nothere.nn")
    assert io.as_net(a) is a


@pytest.mark.parametrize("folder", ["run[1]", "a!b", "x>y"])
def test_a_file_whose_path_has_text_marks_loads_at_every_entry_point(tmp_path, folder, capsys):
    """``]``, ``!`` and ``>`` appear in every .nn text, and in directory
    names too: a str that names an existing file is a path, everywhere."""
    from pyneural import cli
    a, b, samples = example("A"), example("B"), toy.build_probes()
    where = tmp_path / folder
    where.mkdir()
    a.save(where / "A.nn")
    b.save(where / "B.nn")
    a_path, b_path = str(where / "A.nn"), str(where / "B.nn")
    barrier = a.mode_connectivity_report(b, samples).barrier
    merged = a.merge_with(b, samples, refine=False).net.save_to_string()
    many = pn.merge_many([a, b], samples, refine=False).net.save_to_string()
    for item in (b_path, where / "B.nn"):
        assert io.is_path(item)
        assert pn.load(item).save_to_string() == b.save_to_string()
        assert a.mode_connectivity_report(item, samples).barrier == barrier
        assert a.permutation_align_report(item, samples, refine=False).pre_barrier == barrier
        assert a.merge_with(item, samples, refine=False).net.save_to_string() == merged
        assert pn.merge_many([a_path, item], samples, refine=False).net.save_to_string() == many
        assert pn.repair(a, [a, item], samples).net is not None
        matrix = pn.barrier_matrix([a_path, item], samples, align=False, progress=False)
        assert matrix.pre[0, 1] == barrier and matrix.names == ["A.nn", "B.nn"]
    csv = str(EXAMPLE / "probes.csv")
    for argv in (["info", b_path], ["connect", a_path, b_path, "--samples", csv, "--json"],
                 ["sweep", a_path, b_path, "--samples", csv, "--no-align"]):
        assert cli.main(argv) == 0, (argv, capsys.readouterr().err)
    assert capsys.readouterr().err == ""


def test_the_path_rule_at_its_edges(tmp_path):
    a = example("A")
    missing = str(tmp_path / "run[1]" / "A.nn")
    assert io.is_path(missing)                   # a net file's suffix: no text ends so
    with pytest.raises(pn.NNFormatError, match=r"neither .nn text nor the path .*run\[1\]"):
        a.mode_connectivity_report(missing, toy.build_probes())
    whole, data = a.save_to_string(), a.save_data_to_string()
    for text in (whole, data, whole.replace(">", "\n", 1), data + "\n"):
        assert not io.is_path(text)
    assert io.is_path("model") and not io.is_path(a) and not io.is_path(a.snapshot())


def test_reading_an_endpoint_does_not_move_the_global_random_stream(tmp_path):
    a, b, samples = example("A"), example("B"), toy.build_probes()
    for endpoint in (b.save_to_string(), EXAMPLE / "B.nn"):
        pn.rng.set_seed(5)
        a.mode_connectivity_report(endpoint, samples)
        assert pn.rng.random_int(10 ** 6) == (pn.rng.set_seed(5) or pn.rng.random_int(10 ** 6))


# ----------------------------------------------------------- writers --

def test_save_to_file_and_save_are_one_atomic_writer(tmp_path, monkeypatch):
    a = example("A")
    a.save_to_file(tmp_path / "a.txt")                   # any name, as in Pascal
    a.save(tmp_path / "a.nn")
    assert (tmp_path / "a.txt").read_bytes() == (tmp_path / "a.nn").read_bytes()
    assert (tmp_path / "a.nn").read_text() == (
        a.save_structure_to_string() + "\n" + a.save_data_to_string() + "\n")
    assert pn.load(tmp_path / "a.nn").save_to_string() == a.save_to_string()
    # no process-wide state is touched while writing
    monkeypatch.setattr(os, "umask", lambda *_: pytest.fail("os.umask was called"))
    for name in ("b.nn", "b.safetensors", "b.npz"):
        a.save(tmp_path / name)
    assert not [p for p in os.listdir(tmp_path) if "tmp" in p]


@pytest.mark.parametrize("name", ["n.nn", "n.safetensors", "n.npz"])
def test_saving_keeps_the_mode_and_writes_through_a_symlink(tmp_path, name):
    a = example("A")
    target = tmp_path / name
    target.write_bytes(b"old")
    os.chmod(target, 0o600)
    a.save(target)
    assert (os.stat(target).st_mode & 0o777) == 0o600
    link = tmp_path / ("link-" + name)
    os.symlink(target, link)
    example("B").save(link)
    assert os.path.islink(link) and os.readlink(link) == str(target)
    assert pn.load(target).save_to_string() == example("B").save_to_string()
    fresh = tmp_path / ("new-" + name)
    a.save(fresh)
    umask = os.umask(0o22)
    os.umask(umask)
    assert (os.stat(fresh).st_mode & 0o777) == 0o666 & ~umask


def test_safetensors_saves_are_byte_reproducible_across_processes(tmp_path):
    code = ("import sys, pyneural as pn; pn.load(sys.argv[1]).save(sys.argv[2])")
    blobs = set()
    for i in range(4):
        out = tmp_path / f"{i}.safetensors"
        subprocess.run([sys.executable, "-c", code, str(EXAMPLE / "A.nn"), str(out)],
                       check=True, env={**os.environ, "PYTHONHASHSEED": str(i)})
        blobs.add(out.read_bytes())
    assert len(blobs) == 1
    assert pn.load(tmp_path / "0.safetensors").save_to_string() == example("A").save_to_string()


# ----------------------------------------------------------- formats --

def test_metadata_less_safetensors_needs_numbered_modules_or_an_order(tmp_path):
    a = example("A")
    w = [(l.weights, l.bias) for l in a.trainable_layers()]
    names = ("hidden", "middle", "classifier")        # alphabetical order is wrong
    state = {}
    for name, (weights, bias) in zip(names, w):
        state[f"{name}.weight"] = np.ascontiguousarray(weights)
        state[f"{name}.bias"] = bias.copy()
    path = tmp_path / "named.safetensors"
    stnp.save_file(state, str(path))
    with pytest.raises(pn.FormatError, match=r"do not say the layers' order.*order=\["):
        pn.load(path, "relu,relu,linear")
    back = pn.load(path, "relu,relu,linear", order=names)
    assert back.save_to_string() == a.save_to_string()
    with pytest.raises(pn.FormatError, match="must list the layers' name prefixes"):
        pn.load(path, "relu,relu,linear", order=["hidden", "classifier"])


def test_an_npz_budget_is_one_for_the_whole_file(tmp_path):
    path = tmp_path / "many.npz"
    members = {f"{i}.weight": np.zeros((200, 200), np.float32) for i in range(60)}
    np.savez_compressed(path, **members)    # each member is within 100x, all are not
    with pytest.raises(pn.FormatError, match="members claim .* bytes, more than a"):
        pn.load(path, "linear")
    odd = tmp_path / "odd.npz"
    np.savez(odd, **example("A").to_state_dict())
    with zipfile.ZipFile(odd, "a") as z:
        z.writestr("notes.txt", "x" * 100)
    with pytest.raises(pn.FormatError, match="member notes.txt is not a .npy array"):
        pn.load(odd, "relu,relu,linear")


def test_a_tiny_nn_text_cannot_declare_a_huge_net():
    text = ("-1)TNNetInput:8000000;1;1;0;0;0;0;0::0;0;0;0;0;0;0;0#"
            "0)TNNetReLU:0;0;0;0;0;0;0;0::0;0;0;0;0;0;0;0>!")
    with pytest.raises(pn.NNFormatError, match="more than the 65.5 MiB a 99-character text"):
        pn.TNNet.from_string(text)


def test_a_linear_without_bias_stays_bias_less_both_ways(tmp_path):
    a = example("A")
    state = a.to_state_dict()
    del state["2.bias"]                                    # Linear(12, 12, bias=False)
    net = pn.TNNet.from_state_dict(state, "relu,relu,linear")
    assert net.layers[2].suppress_bias
    for name in ("t.safetensors", "t.npz"):
        net.save(tmp_path / name)
        assert "2.bias" not in pn.load(tmp_path / name).to_state_dict()
    merged = net.merge_with(net.clone(), toy.build_probes(), repair=True)
    assert merged.net.layers[2].suppress_bias and np.all(merged.net.layers[2].bias == 0)


# ------------------------------------------------------------ permute --

def test_permute_moves_units_and_keeps_the_function():
    a, b, samples = example("A"), example("B"), toy.build_probes()
    X = probe_rows()
    result = a.permutation_align_report(b, samples)
    aligned = pn.permute(b, result.permutations)
    np.testing.assert_allclose(aligned.compute_batch(X, exact=True),
                               b.compute_batch(X, exact=True), rtol=0, atol=1e-6)
    again = a.mode_connectivity_report(aligned, samples)
    assert again.barrier == pytest.approx(result.post_barrier, abs=1e-6)
    assert b.save_to_string() == example("B").save_to_string()     # B untouched
    perm = result.permutations[0]
    assert np.array_equal(aligned.layers[1].weights, b.layers[1].weights[perm])


def test_permute_refuses_what_is_not_a_permutation():
    b = example("B")
    ident = [np.arange(12), np.arange(12)]
    with pytest.raises(ValueError, match="1 permutation.* 2 hidden layer"):
        pn.permute(b, ident[:1])
    with pytest.raises(ValueError, match="layer 2 .*each of 0..11 once"):
        pn.permute(b, [np.arange(12), np.zeros(12, int)])
    with pytest.raises(TypeError, match="layer 1 .*integers"):
        pn.permute(b, [np.arange(12.0), np.arange(12)])
    with pytest.raises(TypeError, match="needs a TNNet"):
        pn.permute(b.save_to_string(), ident)
