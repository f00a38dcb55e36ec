"""Alignment of nets with branches: the permutation spec derived from the
graph (a residual stream is one group, concatenations keep their inputs'
units side by side, per-channel layers carry a channel, the output and the
input stay fixed), checks 1 and 4 on the fixture pair, the original's three
trace nets and random graphs, and the original's text on the fixture."""
import numpy as np
import pytest

import pyneural as pn
from pyneural import rng
from pyneural.reports import symmetry
from pyneural.reports.permutation_align import ORIGINAL_OPTIONS
from pyneural.reports.samples import read_samples
from conftest import FIXTURES
from test_traces import CASES

REPORT = FIXTURES / "branches" / "report"


def fixture_pair():
    a, b = (pn.load(str(REPORT / f"{n}.nn")) for n in "AB")
    return a, b, read_samples(str(REPORT / "probes.csv"), a)


def trace_net(case, seed=5):
    """The shape of the original's trace net ``case`` with weights from ``seed``."""
    rng.set_seed(seed)
    net = pn.TNNet()
    CASES[f"res{case}"][3](net)
    return _with_busy_normalisations(net, np.random.default_rng(seed))


def _with_busy_normalisations(net, g):
    """Give the normalisations weights that are not the identity (a channel
    moved without its shift and scale must change the function)."""
    snap = net.snapshot()
    for layer, v in zip(net.layers, snap):
        if isinstance(layer, pn.TNNetChannelStdNormalization):
            w, b = layer.split(v.data)
            w[0] = g.uniform(-0.5, 0.5, w.shape[1])
            w[1] = g.uniform(0.5, 2.0, w.shape[1])
        elif isinstance(layer, pn.TNNetMovingStdNormalization):
            layer.split(v.data)[0][0] = (g.uniform(-0.3, 0.3), g.uniform(0.6, 1.8), 5)
    net.restore(snap)
    return net


def random_graph(seed):
    """A random small net with branches: convolutions (3x3, pointwise) reading
    any earlier volume, sums of volumes of one shape, depth concatenations,
    ReLU / leaky ReLU / the normalisations / dropout between, a pooled
    head, sometimes a flat concatenation of two heads, then dense layers."""
    g = np.random.default_rng(seed)
    rng.set_seed(seed)
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(4, 4, int(g.integers(1, 3))))
    volumes = [net.layers[0]]

    def conv(features, after):
        kind = g.choice(["relu", "linear", "pw_relu", "pw_linear"])
        layer = {"relu": lambda: pn.TNNetConvolutionReLU(features, 3, 1, 1, 0),
                 "linear": lambda: pn.TNNetConvolutionLinear(features, 3, 1, 1, 0),
                 "pw_relu": lambda: pn.TNNetPointwiseConvReLU(features),
                 "pw_linear": lambda: pn.TNNetPointwiseConvLinear(features)}[kind]()
        return net.add_layer_after(layer, after)

    for _ in range(int(g.integers(4, 9))):
        op = g.choice(["conv", "conv", "sum", "deep", "act"])
        src = volumes[int(g.integers(len(volumes)))]
        if op == "sum" and src.output.shape[2] in (3, 4):
            d = src.output.shape[2]
            other = conv(d, volumes[int(g.integers(len(volumes)))])
            volumes.append(net.add_layer(pn.TNNetSum([other, src])))
        elif op == "deep" and len(volumes) > 1:
            other = volumes[int(g.integers(len(volumes)))]
            volumes.append(net.add_layer(pn.TNNetDeepConcat([src, other])))
        elif op == "act":
            layer = g.choice(["relu", "leaky", "channel_std", "moving_std", "dropout"])
            volumes.append(net.add_layer_after(
                {"relu": pn.TNNetReLU, "leaky": lambda: pn.TNNetLeakyReLU(0.1),
                 "channel_std": pn.TNNetChannelStdNormalization,
                 "moving_std": pn.TNNetMovingStdNormalization,
                 "dropout": lambda: pn.TNNetDropout(0.5)}[layer](), src))
        else:
            volumes.append(conv(int(g.choice([3, 4])), src))
    last = volumes[-1]
    heads = [net.add_layer_after(g.choice([pn.TNNetMaxPool(2), pn.TNNetAvgPool(2),
                                           pn.TNNetMaxChannel()]), last)]
    if g.random() < 0.5:
        heads.append(net.add_layer_after(pn.TNNetFullConnectReLU(5), volumes[-2]))
        net.add_layer(pn.TNNetConcat(heads))
    net.add_layer(pn.TNNetFullConnectReLU(6))
    net.add_layer(pn.TNNetFullConnectLinear(3))
    net.enable_dropouts(False)
    return _with_busy_normalisations(net, g)


def rows(net, n=24, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, net.input_size)).astype(np.float32)


def _moved(net, snap):
    out = net.clone()
    out.restore(snap)
    out.enable_dropouts(False)
    return out


def assert_symmetries_hold(net, seed=0):
    """Random permutations of every group, and random positive scales (and
    sign flips) of the groups that allow them, keep the function; moving
    one producer's rows without the readers does not."""
    X = rows(net)
    ref = net.compute_batch(X, exact=True)
    groups = symmetry.hidden_layers(net)
    g = np.random.default_rng(seed)
    perms = [p if not symmetry.is_identity(p) else np.roll(p, 1)
             for p in symmetry.random_permutations(groups, g)]
    moved = pn.permute(net, perms)
    moved.enable_dropouts(False)
    np.testing.assert_allclose(moved.compute_batch(X, exact=True), ref, rtol=0, atol=2e-5)
    snap = net.snapshot()
    for group in groups:
        f = np.ones(group.width, np.float32)
        if group.positive_scale:
            f = g.uniform(0.5, 2.0, group.width).astype(np.float32)
        if group.sign_flip:
            f *= g.choice(np.array([-1, 1], np.float32), group.width)
        snap = symmetry.scale(net, snap, group, f)
    np.testing.assert_allclose(_moved(net, snap).compute_batch(X, exact=True), ref,
                               rtol=1e-4, atol=1e-4)
    for group, perm in zip(groups, perms):
        broken = list(net.snapshot())
        i = group.index
        broken[i] = symmetry.permute(net, broken, group, perm)[i]
        out = _moved(net, broken).compute_batch(X, exact=True)
        assert not np.allclose(out, ref, rtol=0, atol=2e-5), f"group {group.describe()}"
    return groups


# ------------------------------------------------------------ the spec --

def test_a_residual_stream_is_one_group_read_wherever_it_goes():
    a, _, _ = fixture_pair()
    groups = symmetry.hidden_layers(a)
    assert [(g.producers, g.readers, g.width) for g in groups] == [
        ((1, 3), (2, 7), 6), ((2,), (3,), 6), ((7,), (8,), 8)]
    stream = groups[0]
    assert stream.tied and stream.describe() == "net layers 1, 3"
    assert stream.activations == ("identity", "identity", "sum", "relu", "maxpool")
    assert stream.positive_scale and not stream.sign_flip
    # the sum's two producers move the same units, the FC reads a channel at
    # every position of the pooled 4x4 plane
    assert np.array_equal(stream.units[1], np.arange(6)) and np.array_equal(stream.units[3],
                                                                            np.arange(6))
    assert stream.columns[2].shape == (6, 9) and stream.columns[7].shape == (6, 16)
    assert [g.index for g in symmetry.hidden_layers(a, channels=False)] == [7]


@pytest.mark.parametrize("case", range(1, 7))
def test_the_trace_nets_keep_their_function_under_every_symmetry(case):
    net = trace_net(case)
    net.enable_dropouts(False)
    groups = assert_symmetries_hold(net, case)
    spec = [(g.producers, g.readers, g.width, g.positive_scale) for g in groups]
    assert spec == {
        # the stream of two blocks through dropout and pooling into the
        # dense layer; the softmax output stays fixed
        1: [((1, 3, 7), (2, 6, 12), 4, True), ((2,), (3,), 4, True), ((6,), (7,), 4, True)],
        # the depth concatenation keeps each branch's channels; through the
        # moving-std normalisation no scale
        2: [((1,), (2, 6), 4, False), ((2,), (6,), 3, False), ((6,), (8,), 5, True),
            ((8,), (9,), 6, True)],
        # the flat concatenation: the channel max's 3 and the branch's 2x2x2
        3: [((1,), (5,), 3, True), ((3,), (5,), 2, True), ((5,), (7,), 5, True)],
        # a chain: scale only through the leaky ReLU, not ReLU6, swish, SELU
        4: [((1,), (3,), 8, True), ((3,), (5,), 7, False), ((5,), (7,), 7, False),
            ((7,), (9,), 6, False), ((9,), (12,), 6, False)],
        # the convolution's channels through the channel-std normalisation
        # (its shift: no scale), the depth concatenation and the pool, read
        # by the pointwise convolution and, in the flat concatenation, by
        # the dense layer; the pointwise channels through both channel pools
        5: [((1,), (6, 10), 3, False), ((6,), (10,), 4, True), ((10,), (12,), 6, True)],
        # both sums read the input: every unit is tied to it and stays fixed
        6: []}[case]


def test_units_tied_to_the_input_or_mixed_by_a_pool_are_fixed():
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(4, 4, 2))
    c = net.add_layer(pn.TNNetConvolutionLinear(2, 3, 1, 1, 0))
    net.add_layer(pn.TNNetSum([c, net.layers[0]]))       # tied to the input: fixed
    d = net.add_layer(pn.TNNetFullConnectReLU(2, 2, 3))     # a volume whose units vary by position
    pool = net.add_layer(pn.TNNetMaxPool(2))                # mixes them: fixed
    e = net.add_layer_after(pn.TNNetFullConnectReLU(5), d)
    net.add_layer(pn.TNNetConcat([pool, e]))
    net.add_layer(pn.TNNetFullConnectLinear(2))
    groups = assert_symmetries_hold(net)
    assert [(g.producers, g.readers) for g in groups] == [((5,), (7,))]
    assert groups[0].columns[7].shape == (5, 1) and groups[0].columns[7][0, 0] == 3


def test_a_depth_concatenation_of_a_layer_with_itself_moves_both_copies():
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(3, 3, 2))
    a = net.add_layer(pn.TNNetConvolutionReLU(3, 3, 1, 1, 0))
    net.add_layer(pn.TNNetDeepConcat([a, a]))
    net.add_layer(pn.TNNetChannelStdNormalization())
    net.add_layer(pn.TNNetPointwiseConvReLU(4))
    net.add_layer(pn.TNNetFullConnectLinear(2))
    _with_busy_normalisations(net, np.random.default_rng(1))
    groups = assert_symmetries_hold(net)
    first = groups[0]
    assert first.columns[3].shape == (3, 2) and first.columns[4].shape == (3, 2)
    assert "channel_std" in first.activations and not first.positive_scale


@pytest.mark.parametrize("seed", range(30))
def test_random_graphs_keep_their_function_under_every_symmetry(seed):
    net = random_graph(seed)
    groups = assert_symmetries_hold(net, seed)
    assert groups
    for g in groups:
        assert net.layers[-1].index not in g.producers
        through_norm = any(a in ("channel_std", "moving_std") for a in g.activations)
        assert not (through_norm and g.positive_scale)


def test_random_graphs_reach_every_construct():
    seen = set()
    for seed in range(30):
        net = random_graph(seed)
        seen |= {type(l).__name__ for l in net.layers}
        seen |= {"tied" for g in symmetry.hidden_layers(net) if g.tied}
    assert {"TNNetSum", "TNNetDeepConcat", "TNNetConcat", "TNNetPointwiseConvReLU",
            "TNNetChannelStdNormalization", "TNNetMovingStdNormalization", "TNNetDropout",
            "tied"} <= seen


# ---------------------------------------------------------- the reports --

def test_the_default_report_on_the_residual_pair_keeps_b_and_lowers_the_barrier():
    a, b, probes = fixture_pair()
    before = a.save_to_string(), b.save_to_string()
    r = a.permutation_align_report(b, probes, progress=False, check_recovery=True)
    assert [c.status for c in r.checks] == ["PASS", "SKIPPED", "PASS", "PASS", "PASS"]
    assert r.check(1).value < 1e-5
    assert [l.producers for l in r.layers] == [(1, 3), (2,), (7,)]
    assert "layer[0] (net layers 1, 3, width 6)" in str(r)
    assert r.reduction > 0.5
    assert (a.save_to_string(), b.save_to_string()) == before
    aligned = pn.permute(b, r.permutations)
    assert a.mode_connectivity_report(aligned, probes).barrier == pytest.approx(
        r.post_barrier, abs=1e-6)


@pytest.mark.parametrize("mode", [0, 1])
def test_the_original_options_print_the_originals_text_on_the_residual_pair(mode):
    a, b, probes = fixture_pair()
    text = (str(a.mode_connectivity_report(b, probes)) + "\n"
            + str(a.permutation_align_report(b, probes, score_mode=mode, **ORIGINAL_OPTIONS))
            + "\n")
    assert text == (REPORT / f"pascal_mode{mode}.txt").read_text()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("mode", ["activation", "weight", "weight_matching"])
def test_checks_1_and_4_pass_on_random_graph_pairs(seed, mode):
    a, b = random_graph(seed), random_graph(seed)
    rng.set_seed(1000 + seed)
    b.init_weights()
    _with_busy_normalisations(b, np.random.default_rng(1000 + seed))
    X = rows(a, 40, seed)
    Y = np.eye(3, dtype=np.float32)[np.arange(40) % 3]
    r = a.permutation_align_report(b, (X, Y), mode, progress=False)
    assert r.check(1).status == "PASS", r.check(1).detail
    assert r.check(4).status in ("PASS", "SKIPPED"), r.check(4).detail
    assert r.check(3).status == "PASS"


# --------------------------------------------------------- refinement --

def _small_resnet(seed):
    rng.set_seed(seed)
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(6, 6, 1))
    s = net.add_layer(pn.TNNetConvolutionLinear(4, 3, 1, 1, 0))
    net.add_layer(pn.TNNetConvolutionReLU(4, 3, 1, 1, 0))
    net.add_layer(pn.TNNetConvolutionLinear(4, 3, 1, 1, 0))
    net.add_layer(pn.TNNetSum([net.get_last_layer(), s]))
    net.add_layer(pn.TNNetReLU())
    net.add_layer(pn.TNNetMaxPool(2))
    net.add_layer(pn.TNNetFullConnectReLU(6))
    net.add_layer(pn.TNNetFullConnectLinear(2))
    return net


def _conv_chain(seed):
    rng.set_seed(seed)
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(6, 6, 1))
    net.add_layer(pn.TNNetConvolutionReLU(3, 3, 1, 1, 0))
    net.add_layer(pn.TNNetMaxPool(2))
    net.add_layer(pn.TNNetFullConnectReLU(5))
    net.add_layer(pn.TNNetFullConnectLinear(2))
    return net


@pytest.mark.parametrize("build", [_small_resnet, _conv_chain])
def test_the_swap_search_measures_the_sweeps_bits(build):
    from pyneural.reports import interpolation as interp, refinement
    a, b = build(1), build(2)
    X = rows(a, 300)            # more than one row block of compute_batch
    Y = np.eye(2, dtype=np.float32)[np.arange(300) % 2]
    groups = symmetry.hidden_layers(a)
    first = refinement.chain_from(a, [g.index for g in groups if g.dense])
    assert first == len(a.layers) - 2
    work, sa, sb = a.clone(), a.snapshot(), b.snapshot()
    path = refinement._Path(work, sa, sb, X, Y, 10, first)
    for snap in (sb, symmetry.permute(work, sb, groups[-1], np.roll(np.arange(groups[-1].width),
                                                                    1))):
        ours, theirs = path.sweep(snap), interp.sweep(work, sa, snap, X, Y, 10, exact=False)
        assert np.array_equal(ours.losses, theirs.losses)
        assert np.array_equal(ours.accuracies, theirs.accuracies)


def test_channel_swaps_on_the_residual_pair_lower_the_barrier_on_their_samples():
    from pyneural.reports import interpolation as interp, refinement
    a, b, (X, Y) = fixture_pair()
    work, sa, sb = a.clone(), a.snapshot(), b.snapshot()
    groups = symmetry.hidden_layers(work)
    start = [np.arange(g.width) for g in groups]
    perms, stats = refinement.refine_permutations(work, sa, sb, groups, start, X, Y, 10,
                                                  budget=500, progress=False)
    assert stats.channel_probes == refinement.CHANNEL_PROBES
    assert stats.channel_tried == sum(min(refinement.CHANNEL_CANDIDATES,
                                          g.width * (g.width - 1) // 2) for g in groups[:2])
    assert stats.channel_accepted and stats.channel_after < stats.channel_before
    assert "channel swaps accepted" in stats.summary()
    refined = symmetry.permute_all(work, sb, groups, perms)
    assert interp.sweep(work, sa, refined, X, Y, 10, False).barrier == pytest.approx(
        stats.barrier_after, abs=1e-7)
    assert stats.barrier_after <= stats.barrier_before
    assert stats.barrier_after < interp.sweep(work, sa, sb, X, Y, 10, False).barrier


# ------------------------------------------------------------- dropout --

def _dropout_pair():
    a, b = trace_net(1, 5), trace_net(1, 6)
    return a, b, rows(a, 30), np.eye(3, dtype=np.float32)[np.arange(30) % 3]


def test_reports_measure_the_function_with_dropout_off_and_draw_nothing():
    a, b, X, Y = _dropout_pair()
    assert all(l.enabled for l in a.layers if isinstance(l, pn.TNNetDropout))
    rng.set_seed(11)
    first = (str(a.permutation_align_report(b, (X, Y), progress=False)),
             str(a.mode_connectivity_report(b, (X, Y))))
    state = rng.random()
    rng.set_seed(11)
    again = (str(a.permutation_align_report(b, (X, Y), progress=False)),
             str(a.mode_connectivity_report(b, (X, Y))))
    assert again == first and rng.random() == state       # no mask was drawn
    off = a.clone()
    off.enable_dropouts(False)
    r = off.mode_connectivity_report(b, (X, Y))
    assert str(r) == first[1]
    assert "PASS" in first[0].split("Check 1")[1].split("\n")[0]
    assert all(l.enabled for l in a.layers if isinstance(l, pn.TNNetDropout))


def test_merges_and_repair_hand_back_nets_with_their_dropout_as_given():
    a, b, X, Y = _dropout_pair()
    merged = a.merge_with(b, (X, Y), repair=True, progress=False)
    drops = [l for l in merged.net.layers if isinstance(l, pn.TNNetDropout)]
    assert drops and all(l.enabled for l in drops)
    assert merged.drift < 1e-4
    a.enable_dropouts(False)
    assert not any(l.enabled for l in pn.merge_many([a, b, b], (X, Y)).net.layers
                   if isinstance(l, pn.TNNetDropout))
    fixed = pn.repair(merged.net, [a, pn.permute(b, merged.permutations[1])], X)
    assert all(l.enabled for l in fixed.net.layers if isinstance(l, pn.TNNetDropout))
    assert fixed.matched


# ------------------------------------------- other graphs are refused --

def _other_links():
    """The fixture's A with its sum reading layers 3 and 2 instead of 3 and 1."""
    a, _, _ = fixture_pair()
    text = a.save_to_string().replace("TNNetSum:0;0;0;0;0;0;0;0:3;1:", "TNNetSum:0;0;0;0;0;0;0;0:3;2:")
    return pn.TNNet.from_string(text)


def test_every_report_merge_and_sweep_names_the_first_layer_that_reads_otherwise():
    a, b, probes = fixture_pair()
    other = _other_links()
    want = ("layer 4 is TNNetSum output 8x8x6, reading layers 3, 1 in A but TNNetSum output "
            "8x8x6, reading layers 3, 2 in B")
    calls = [lambda: a.permutation_align_report(other, probes),
             lambda: a.mode_connectivity_report(other, probes),
             lambda: a.merge_with(other, probes)]
    for call in calls:
        with pytest.raises(pn.ArchitectureError, match=want):
            call()
    for call in (lambda: pn.merge_many([a, b, other], probes),
                 lambda: pn.barrier_matrix([a, b, other], probes),
                 lambda: pn.repair(a, [b, other], probes)):
        with pytest.raises(pn.ArchitectureError, match="layer 4 is TNNetSum output 8x8x6, "
                                                       "reading layers 3, 1 in .* but "
                                                       "TNNetSum output 8x8x6, reading "
                                                       "layers 3, 2 in "):
            call()


# ------------------------------------------------- merges and sweeps --

def test_merges_repair_and_sweeps_work_on_the_residual_pair():
    a, b, probes = fixture_pair()
    merged = a.merge_with(b, probes, repair=True, progress=False)
    assert merged.drift < 1e-4 and merged.repair_error < 1e-4
    assert merged.repaired.loss < merged.naive.loss
    assert [l.index for l in merged.repair_layers] == [1, 2, 3, 7]
    c = pn.permute(b, symmetry.random_permutations(symmetry.hidden_layers(b),
                                                  np.random.default_rng(3)))
    many = pn.merge_many([a, b, c], probes, repair=True)
    assert many.drift < 1e-4 and np.isfinite(many.net.compute_batch(rows(a, 5))).all()
    sweep = pn.barrier_matrix([a, b, c], probes)
    assert sweep.post[1, 2] == pytest.approx(0, abs=1e-6) and sweep.pre[1, 2] > 0.01
    assert sweep.post[0, 1] < sweep.pre[0, 1]


# ------------------------------------------------------------- the CLI --

def test_every_command_runs_on_the_residual_pair(capsys, tmp_path):
    from pyneural import cli
    A, B, P = (str(REPORT / n) for n in ("A.nn", "B.nn", "probes.csv"))

    def run(*argv):
        code = cli.main([str(x) for x in argv])
        out, err = capsys.readouterr()
        assert code == 0, err
        return out
    out = run("info", A)
    assert "TNNetSum" in out and "  3,1  " in out
    assert "Permutation groups: 3\n  net layers 1, 3: 6 units, read by 2, 7" in out
    assert "Check 1 permutation invariance: PASS" in run("align", A, B, "--samples", P)
    pascal = (REPORT / "pascal_mode1.txt").read_text()
    out = run("align", A, B, "--samples", P, "--score-mode", "1", "--original")
    assert out.rstrip("\n") == pascal[pascal.index("PermutationAlignReport"):].rstrip("\n")
    assert "Barrier height" in run("connect", A, B, "--samples", P)
    out = run("permute", B, "--to", A, "--samples", P, "-o", tmp_path / "b.nn")
    assert "net layers 1, 3 (width 6)" in out
    moved, b = pn.load(str(tmp_path / "b.nn")), pn.load(B)
    X = rows(b, 20)
    np.testing.assert_allclose(moved.compute_batch(X), b.compute_batch(X), atol=1e-5)
    assert "aligned + REPAIR" in run("merge", A, B, "--samples", P, "--repair", "-o",
                                     tmp_path / "m.nn")
    assert pn.load(str(tmp_path / "m.nn")).layers[4].links == (3, 1)
    assert "After alignment" in run("sweep", A, B, tmp_path / "b.nn", "--samples", P)


# ------------------------------------------- the example and benchmark --

def _branches(monkeypatch):
    import importlib
    import pathlib
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[1]))
    return importlib.import_module("benchmarks.branches")


def test_the_examples_net_is_the_issues_and_its_stream_runs_through_both_blocks(monkeypatch):
    ex = _branches(monkeypatch).load_example("mnist_resnet")
    net = ex.build_resnet(1)
    assert [l.class_name for l in net.layers] == [
        "TNNetInput", "TNNetConvolutionLinear",
        "TNNetConvolutionReLU", "TNNetConvolutionLinear", "TNNetSum", "TNNetReLU", "TNNetMaxPool",
        "TNNetConvolutionReLU", "TNNetConvolutionLinear", "TNNetSum", "TNNetReLU", "TNNetMaxPool",
        "TNNetFullConnectReLU", "TNNetFullConnectLinear"]
    assert net.layers[4].links == (3, 1) and net.layers[9].links == (8, 6)
    groups = assert_symmetries_hold(net)
    assert [(g.producers, g.readers, g.width) for g in groups] == [
        ((1, 3, 8), (2, 7, 12), 16), ((2,), (3,), 16), ((7,), (8,), 16), ((12,), (13,), 64)]


def test_repair_after_the_sums_sets_the_sums_statistics(monkeypatch):
    bench = _branches(monkeypatch)
    ex = bench.load_example("mnist_resnet")

    def small(seed):
        net = ex.build_resnet(seed)
        X = rows(net, 60, seed)
        net.fit_samples(X, np.eye(10, dtype=np.float32)[np.arange(60) % 10])
        return net
    a, b = small(1), small(2)
    X = rows(a, 80, 5)
    work = a.clone()
    stats = [bench._sum_statistics(work, s, X) for s in (a.snapshot(), b.snapshot())]
    work.interpolate(a.snapshot(), b.snapshot(), 0.5)
    fixed = bench.repair_after_sums(work, work.snapshot(), stats, (0.5, 0.5), X)
    got = bench._sum_statistics(work, fixed, X)
    for i in (*bench.ALONE, bench.FIRST_SUM, bench.SECOND_SUM):
        target = [(stats[0][i][j] + stats[1][i][j]) / 2 for j in (0, 1)]
        np.testing.assert_allclose(got[i][0], target[0], rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(got[i][1], target[1], rtol=1e-3, atol=1e-3)
    assert not np.allclose(bench._sum_statistics(work, work.snapshot(), X)[4][1], got[4][1])


def test_the_yardstick_keeps_bs_function(monkeypatch):
    bench = _branches(monkeypatch)
    a, b, (X, _) = fixture_pair()
    moved = bench.plain_matching(a, b, X)
    np.testing.assert_allclose(moved.compute_batch(X), b.compute_batch(X), atol=1e-5)
    assert not np.array_equal(moved.layers[1].weights, b.layers[1].weights)
