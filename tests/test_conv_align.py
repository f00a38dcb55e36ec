"""Alignment on convolutional nets: a convolution's output channels are its
units. Permuting them (with the next layer's input channels at every
position, through pooling) keeps the function; the reports, REPAIR, merges
and sweeps align them; the original's algorithm still permutes only what
the original can."""
import numpy as np
import pytest

import pyneural as pn
from pyneural import cli
from pyneural.reports import symmetry
from pyneural.rng import FPCRandom
from conftest import FIXTURES

CONV = FIXTURES / "conv_report"


def pair():
    return pn.load(CONV / "A.nn"), pn.load(CONV / "B.nn")


def probes(net):
    return cli.read_samples(CONV / "probes.csv", net)


def tanh_net(seed):
    """Suppressed bias, pooling with a stride, 1x1 tanh convolution, tanh
    fully-connected layer (the original's third conv trace)."""
    net = pn.TNNet(FPCRandom(seed))
    net.add_layer(pn.TNNetInput(9, 9, 3))
    net.add_layer(pn.TNNetConvolutionLinear(5, 5, 2, 2, 1))
    net.add_layer(pn.TNNetMaxPool(3, 2, 0))
    net.add_layer(pn.TNNetConvolution(4, 1, 0, 1, 0))
    net.add_layer(pn.TNNetFullConnect(6))
    net.add_layer(pn.TNNetFullConnectLinear(2))
    return net


def random_rows(net, n, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, net.input_size)).astype(np.float32)


def test_hidden_layers_of_a_conv_net_are_its_channels_and_the_dense_tail():
    a, _ = pair()
    hidden = symmetry.hidden_layers(a)
    assert [(h.index, h.next_index, h.width, h.positions, h.conv) for h in hidden] == [
        (1, 3, 4, 9, True), (3, 4, 6, 4, True), (4, 5, 8, 1, False)]
    assert hidden[0].activations == ("relu", "maxpool") and hidden[0].positive_scale
    # the original's rule: only a next layer with one weight per unit
    assert [h.index for h in symmetry.hidden_layers(a, channels=False)] == [4]
    # a 1x1 convolution reads one weight per channel: the original permutes
    # the convolution before it (but not the 1x1 one, read at 9 positions)
    assert [h.index for h in symmetry.hidden_layers(tanh_net(1), channels=False)] == [1, 4]
    assert [h.index for h in symmetry.hidden_layers(tanh_net(1))] == [1, 3, 4]


@pytest.mark.parametrize("build", [lambda: pair()[1], lambda: tanh_net(3)])
def test_permuting_channels_keeps_the_function(build):
    net = build()
    X = random_rows(net, 40)
    g = np.random.default_rng(5)
    perms = symmetry.random_permutations(symmetry.hidden_layers(net), g)
    moved = pn.permute(net, perms)
    np.testing.assert_allclose(moved.compute_batch(X, exact=True),
                               net.compute_batch(X, exact=True), rtol=0, atol=2e-6)
    assert not np.array_equal(moved.layers[1].weights, net.layers[1].weights)
    # a channel's kernel moved whole, and the next convolution's input channel with it
    assert np.array_equal(moved.layers[1].weights, net.layers[1].weights[perms[0]])
    if symmetry.is_conv(net.layers[3]):
        k_old, k_new = net.layers[3].kernels(), moved.layers[3].kernels()
        assert np.array_equal(k_new[..., :], k_old[np.ix_(perms[1], range(k_old.shape[1]),
                                                          range(k_old.shape[2]), perms[0])])


def test_positive_scales_of_relu_channels_through_pooling_keep_the_function():
    _, b = pair()
    X = random_rows(b, 40)
    snap = b.snapshot()
    for h in symmetry.hidden_layers(b):
        f = np.random.default_rng(h.index).uniform(0.5, 2.0, h.width).astype(np.float32)
        snap = symmetry.scale(b, snap, h, f)
    moved = b.clone()
    moved.restore(snap)
    np.testing.assert_allclose(moved.compute_batch(X), b.compute_batch(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["activation", "weight", "weight_matching"])
def test_a_planted_channel_permutation_comes_back(mode):
    a, _ = pair()
    X, Y = probes(a)
    r = a.permutation_align_report(a, (X, Y), mode, refine=False, check_recovery=True,
                                   progress=False)
    assert r.check(5).status == "PASS", r.check(5).detail


def test_the_default_report_aligns_channels_and_keeps_b_and_a():
    a, b = pair()
    before = a.save_to_string(), b.save_to_string()
    X, Y = probes(a)
    r = a.permutation_align_report(b, (X, Y), repair=True, progress=False)
    assert [l.index for l in r.layers] == [1, 3, 4]
    assert r.check(1).status == "PASS" and r.check(4).status == "PASS"
    assert r.reduction > 0.5
    assert r.repaired_barrier < r.post_barrier
    aligned = pn.permute(b, r.permutations)
    assert a.mode_connectivity_report(aligned, (X, Y)).barrier == pytest.approx(r.post_barrier,
                                                                                abs=1e-6)
    assert (a.save_to_string(), b.save_to_string()) == before
    # the original's algorithm: the dense tail only, as the Pascal report
    o = a.permutation_align_report(b, (X, Y), 0, solver="greedy", refine=False,
                                   check_scale=False, permute_channels=False)
    assert [l.index for l in o.layers] == [4]
    assert f"{o.post_barrier:.6f}" == "0.110321" and f"{o.pre_barrier:.6f}" == "0.109506"


def test_repair_matches_each_channels_statistics_over_samples_and_positions():
    a, b = pair()
    X, Y = probes(a)
    merged = a.merge_with(b, (X, Y), repair=True)
    conv = [l for l in merged.repair_layers if l.index in (1, 3)]
    assert [l.width for l in conv] == [4, 6]
    for layer in conv:
        assert layer.repaired and layer.mean_error < 1e-4 and layer.std_error < 1e-4
    assert merged.repaired.loss < merged.naive.loss


def test_merges_and_sweeps_run_on_conv_nets():
    a, b = pair()
    X, Y = probes(a)
    c = pn.permute(b, symmetry.random_permutations(symmetry.hidden_layers(b),
                                                  np.random.default_rng(1)))
    many = pn.merge_many([a, b, c], (X, Y))
    assert np.isfinite(many.net.compute_batch(X)).all()
    sweep = pn.barrier_matrix([a, b, c], (X, Y))
    # c is b with its channels shuffled: aligned, the two are one net
    assert sweep.post[1, 2] == pytest.approx(0, abs=1e-6)
    assert sweep.pre[1, 2] > 0.01


@pytest.mark.parametrize("mode", [0, 1])
def test_the_originals_report_on_a_conv_net_is_its_bytes(mode, capsys):
    """The original permutes the dense tail only; its text, byte for byte
    (ModeConnectivityReport then PermutationAlignReport, as rep.lpr)."""
    from pyneural.reports.permutation_align import ORIGINAL_OPTIONS
    a, b = pair()
    samples = probes(a)
    snapshot_b = b.save_data_to_string()
    mc = a.mode_connectivity_report(snapshot_b, samples, 10, exact=True)
    pa = a.permutation_align_report(snapshot_b, samples, mode, 10, exact=True, **ORIGINAL_OPTIONS)
    expected = (CONV / f"pascal_mode{mode}.txt").read_bytes()
    assert (str(mc) + "\n" + str(pa) + "\n").encode() == expected
    args = [str(CONV / "A.nn"), str(CONV / "B.nn"), "--samples", str(CONV / "probes.csv"),
            "--original"]
    assert cli.main(["connect", *args]) == 0
    connect = capsys.readouterr().out
    assert cli.main(["align", *args, "--score-mode", str(mode)]) == 0
    assert (connect + "\n" + capsys.readouterr().out + "\n").encode() == expected


def test_permute_takes_the_originals_permutations_too():
    a, b = pair()
    samples = probes(a)
    r = a.permutation_align_report(b, samples, 0, solver="greedy", refine=False,
                                   permute_channels=False)
    moved = pn.permute(b, r.permutations)            # the dense layer only
    assert np.array_equal(moved.layers[1].weights, b.layers[1].weights)
    assert np.array_equal(moved.layers[4].weights, b.layers[4].weights[r.permutations[0]])
    X = samples[0]
    np.testing.assert_allclose(moved.compute_batch(X), b.compute_batch(X), rtol=0, atol=2e-6)


def test_original_on_merge_and_sweep_permutes_only_the_dense_tail(tmp_path, capsys):
    import json
    args = [str(CONV / "A.nn"), str(CONV / "B.nn"), "--samples", str(CONV / "probes.csv"),
            "--original", "--json"]
    assert cli.main(["merge", *args, "-o", str(tmp_path / "m.nn")]) == 0
    merged = json.loads(capsys.readouterr().out)
    assert [len(p) for p in merged["permutations"][1]] == [8]     # the dense layer's only
    assert cli.main(["sweep", *args]) == 0
    sweep = json.loads(capsys.readouterr().out)
    assert f"{sweep['post'][0][1]:.6f}" == "0.110321"          # the original's post barrier
    a, b = pair()
    r = a.merge_with(b, probes(a), permute_channels=False)
    assert [len(p) for p in r.permutations[1]] == [8]
    with pytest.raises(ValueError, match="permute_channels must be True or False"):
        a.merge_with(b, probes(a), permute_channels="no")


def test_image_rows_of_no_images_is_an_empty_batch():
    assert pn.image_rows(np.ones((0, 1, 8, 8), np.float32)).shape == (0, 64)
    assert pn.image_rows(np.ones((0, 8, 8, 3), np.float32), layout="NHWC").shape == (0, 192)
