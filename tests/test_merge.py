"""Model merging: merge_with, merge_many, REPAIR, the digits
example and the `pyneural merge` command.

The core tests merge the Pascal examples' toy nets (2-12-12-3, three blobs),
which need nothing beyond pyneural; the digits tests need scikit-learn (in
the ``[test]`` extra) and fail, saying so, without it.
"""
import importlib.util
import io
import json
import pathlib

import numpy as np
import pytest

import pyneural as pn
from pyneural import cli, rng, toy
from pyneural.reports import repair as repair_mod, symmetry

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "digits_merge.py"
EPOCHS = 5              # a reduced training budget: the digits nets still reach ~97%
BUDGET = 300            # a reduced refinement budget
N_TEST = 300            # held-out toy samples, 100 per class
# (build seed, train seed): the examples' A and B, and a third net
TOY_SEEDS = ((101, 11), (999, 22), (555, 33))


@pytest.fixture(scope="module")
def example():
    """examples/digits_merge.py as a module; a failure (not a skip) without
    scikit-learn, which the [test] extra installs."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        pytest.fail("the digits tests need scikit-learn: pip install -e '.[test]'")
    spec = importlib.util.spec_from_file_location("digits_merge", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def data():
    """The toy problem: the examples' 36 probes, and 300 held-out samples."""
    probes = toy.build_probes(generator=rng.FPCRandom())
    probe = (np.stack([p.i.data for p in probes]), np.stack([p.o.data for p in probes]))
    test = toy.make_samples(np.tile([0, 1, 2], N_TEST // 3), rng.FPCRandom(4242))
    return {"probe": probe, "test": test}


@pytest.fixture(scope="module")
def trained():
    """Three toy nets from different seeds (A and B are the examples')."""
    g = rng.FPCRandom()
    return [toy.trained_net(build, train, generator=g) for build, train in TOY_SEEDS]


@pytest.fixture
def pair(trained):
    a, b = trained[:2]
    return pn.TNNet.from_string(a.save_to_string()), pn.TNNet.from_string(b.save_to_string())


def _same_bits(s1, s2):
    return all(x.same_bits(y) for x, y in zip(s1, s2))


def _permuted_copy(net, seed):
    hidden = symmetry.hidden_layers(net)
    planted = symmetry.random_permutations(hidden, np.random.default_rng(seed))
    return symmetry.permute_all(net, net.snapshot(), hidden, planted), planted


# ------------------------------------------------------------ merge_with --

def test_merged_net_is_a_valid_tnnet_that_round_trips(pair, data, tmp_path):
    a, b = pair
    r = a.merge_with(b, data["probe"], score_mode="activation", refine=False, repair=True,
                     eval_samples=data["test"])
    net = r.net
    assert isinstance(net, pn.TNNet) and net is not a
    assert _same_bits(net.snapshot(), r.repaired_snapshot)
    text = net.save_to_string()
    again = pn.TNNet.from_string(text)
    assert again.save_to_string() == text
    path = tmp_path / "merged.nn"
    net.save_to_file(path)
    loaded = pn.TNNet.from_file(path)
    loaded.save_to_file(tmp_path / "again.nn")
    assert (tmp_path / "again.nn").read_bytes() == path.read_bytes()
    X = data["test"][0]
    assert np.array_equal(loaded.compute_batch(X, exact=True), net.compute_batch(X, exact=True))
    # The data part loads into a fresh net of the same structure (Pascal LoadDataFromString).
    other = pn.TNNet.from_string(a.save_to_string())
    other.load_data_from_string(net.save_data_to_string())
    assert other.save_to_string() == text
    # The merged net trains like any other.
    assert net.layers[1].learning_rate == pytest.approx(a.layers[1].learning_rate)
    net.fit_samples(*data["probe"])


def test_merge_leaves_a_b_and_the_global_random_stream_alone(pair, data):
    a, b = pair
    sa, sb = a.snapshot(), b.snapshot()
    rng.set_seed(77)
    a.merge_with(b, data["probe"], score_mode="activation", refine=False, repair=True)
    drawn = rng.random_int(1_000_000)
    rng.set_seed(77)
    assert rng.random_int(1_000_000) == drawn
    assert _same_bits(a.snapshot(), sa) and _same_bits(b.snapshot(), sb)


@pytest.mark.parametrize("repair", [False, True])
def test_merging_a_net_with_itself_returns_the_same_function(trained, data, repair):
    a = trained[0]
    r = a.merge_with(a, data["probe"], repair=repair, eval_samples=data["test"])
    for X in (data["probe"][0], data["test"][0]):
        assert np.max(np.abs(r.net.compute_batch(X) - a.compute_batch(X))) <= 1e-6
    assert all(symmetry.is_identity(p) for p in r.permutations[1])
    assert abs(r.pre_barrier) <= 1e-6 and abs(r.post_barrier) <= 1e-6
    if repair:
        assert r.repair_error < 1e-4


@pytest.mark.parametrize("repair", [False, True])
@pytest.mark.parametrize("mode", [None, "activation", "weight"])
def test_merging_with_a_permuted_copy_returns_a(trained, data, repair, mode):
    a = trained[0]
    shuffled, planted = _permuted_copy(a, seed=5)
    r = a.merge_with(shuffled, data["probe"], score_mode=mode, repair=repair,
                     refine_budget=BUDGET)
    for X in (data["probe"][0], data["test"][0]):
        assert np.max(np.abs(r.net.compute_batch(X) - a.compute_batch(X))) <= 1e-6
    for found, p in zip(r.permutations[1], planted):
        assert np.array_equal(found, symmetry.inverse(p))


def test_alpha_zero_is_a_and_alpha_is_validated(pair, data):
    a, b = pair
    r = a.merge_with(b, data["probe"], 0.0, score_mode="activation", refine=False)
    assert _same_bits(r.net.snapshot(), a.snapshot())
    with pytest.raises(ValueError, match="alpha"):
        a.merge_with(b, data["probe"], 1.5)
    with pytest.raises(ValueError, match="nil or empty"):
        a.merge_with(b, [])


def test_aligned_merge_is_the_interpolation_of_a_and_aligned_b(pair, data):
    a, b = pair
    r = a.merge_with(b, data["probe"], 0.3, score_mode="weight_matching", refine=False)
    hidden = symmetry.hidden_layers(a)
    aligned = symmetry.permute_all(a, b.snapshot(), hidden, r.permutations[1])
    probe = pn.TNNet.from_string(a.save_to_string())
    probe.interpolate(a.snapshot(), aligned, 0.3)
    assert _same_bits(r.net.snapshot(), probe.snapshot())
    assert r.alpha == pytest.approx(0.3) and r.weights == pytest.approx((0.7, 0.3))


def test_alignment_beats_the_naive_average_and_the_report_says_so(pair, data):
    a, b = pair
    r = a.merge_with(b, data["probe"], repair=True, eval_samples=data["test"],
                     refine_budget=BUDGET)
    assert r.aligned.accuracy > r.naive.accuracy + 0.2
    assert r.post_barrier < r.pre_barrier / 2
    assert r.naive_repaired.loss < r.naive.loss
    text = str(r)
    assert text.startswith("MergeReport (")
    for needle in ("naive average", "naive + REPAIR", "aligned merge", "aligned + REPAIR",
                   "Barrier reduction", "Check 1 permutation invariance: PASS",
                   "Check 2 REPAIR statistics: PASS", "Verdict: ",
                   f"held-out eval_samples ({N_TEST} samples)"):
        assert needle in text, needle
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["report"] == "merge" and d["n_eval"] == N_TEST and len(d["permutations"]) == 2


def test_plot_of_a_merge_writes_a_png(pair, data, tmp_path):
    import matplotlib  # noqa: F401  (in the [test] extra: a missing one fails, never skips)
    a, b = pair
    r = a.merge_with(b, data["probe"], score_mode="activation", refine=False, repair=True)
    path = tmp_path / "merge.png"
    r.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------- REPAIR --

def _targets(endpoints, weights, X):
    """Mixed endpoint pre-activation mean/std per hidden layer, computed here
    independently of the module (float64)."""
    out = {}
    for net, w in zip(endpoints, weights):
        h = X.astype(np.float64)
        for i, layer in enumerate(net.layers[1:], 1):
            if layer.has_weights:
                z = h @ layer.weights.T.astype(np.float64) + layer.bias
                mu, sd = out.get(i, (0, 0))
                out[i] = (mu + w * z.mean(axis=0), sd + w * z.std(axis=0))
            h = layer.forward_batch(h.astype(np.float32)).astype(np.float64)
    return out


def _check_stats(result, endpoints, weights, X):
    targets = _targets(endpoints, weights, X)
    zs = repair_mod.pre_activations(result.net, X)
    hidden = symmetry.hidden_layers(result.net)
    assert [l.index for l in result.layers] == [h.index for h in hidden]
    for layer in result.layers:
        ok = ~layer.left_alone
        mu_t, sd_t = targets[layer.index]
        z = zs[layer.index].astype(np.float64)
        assert np.allclose(z.mean(axis=0)[ok], mu_t[ok], rtol=1e-4, atol=1e-4)
        assert np.allclose(z.std(axis=0)[ok], sd_t[ok], rtol=1e-4, atol=1e-4)


def test_repair_sets_the_target_statistics_layer_by_layer(pair, data):
    a, b = pair
    naive = pn.TNNet.from_string(a.save_to_string())
    naive.interpolate(a.snapshot(), b.snapshot(), 0.5)
    before = naive.snapshot()
    X = data["probe"][0]
    result = pn.repair(naive, [a, b], data["probe"])
    assert _same_bits(naive.snapshot(), before)             # not in place
    _check_stats(result, [a, b], [0.5, 0.5], X)
    assert result.matched and result.repaired == 24          # every hidden unit
    # the averaged units had collapsed: their spread was well below the target
    assert all(l.collapse < 0.9 for l in result.layers)
    assert "Statistics check: PASS" in str(result)
    # the output layer is untouched
    assert result.net.layers[-1].params.same_bits(naive.layers[-1].params)


def test_repair_with_weights_and_in_place(pair, data):
    a, b = pair
    merged = pn.TNNet.from_string(a.save_to_string())
    merged.interpolate(a.snapshot(), b.snapshot(), 0.25)
    result = pn.repair(merged, [a.snapshot(), b.save_data_to_string()], data["probe"][0],
                       weights=(0.75, 0.25), in_place=True)
    assert result.net is merged
    _check_stats(result, [a, b], [0.75, 0.25], data["probe"][0])
    with pytest.raises(ValueError, match="weights"):
        pn.repair(merged, [a, b], data["probe"], weights=(1.0,))
    with pytest.raises(ValueError, match="nil or empty"):
        pn.repair(merged, [a, b], [])


def _stack(seed, kinds):
    g = pn.rng.FPCRandom(seed)
    net = pn.TNNet(g)
    net.add_layer(pn.TNNetInput(5))
    for kind in kinds:
        if kind == "tanh":
            net.add_layer(pn.TNNetFullConnect(9))
        elif kind == "sigmoid":
            net.add_layer(pn.TNNetFullConnectSigmoid(9))
        elif kind == "relu":
            net.add_layer(pn.TNNetFullConnectReLU(9))
        elif kind == "linear+tanh":
            net.add_layer(pn.TNNetFullConnectLinear(9))
            net.add_layer(pn.TNNetHyperbolicTangent())
        elif kind == "linear+relu":
            net.add_layer(pn.TNNetFullConnectLinear(9))
            net.add_layer(pn.TNNetReLU())
    net.add_layer(pn.TNNetFullConnectLinear(3))
    return net


@pytest.mark.parametrize("kinds", [("tanh", "sigmoid"), ("relu", "linear+tanh"),
                                   ("linear+relu", "sigmoid", "tanh")])
def test_repair_works_on_tanh_sigmoid_and_activation_layer_stacks(kinds):
    a, b = _stack(1, kinds), _stack(2, kinds)
    X = np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32)
    merged = pn.TNNet.from_string(a.save_to_string())
    merged.interpolate(a.snapshot(), b.snapshot(), 0.5)
    result = pn.repair(merged, [a, b], X)
    assert len(result.layers) == len(kinds)
    _check_stats(result, [a, b], [0.5, 0.5], X)
    assert pn.TNNet.from_string(result.net.save_to_string()).save_to_string() == \
        result.net.save_to_string()


def test_repair_leaves_constant_units_alone_without_nan(pair, data):
    a, b = pair
    merged = pn.TNNet.from_string(a.save_to_string())
    merged.interpolate(a.snapshot(), b.snapshot(), 0.5)
    layer = merged.layers[1]
    layer.weights[[3, 7]] = 0                  # constant pre-activation = the bias
    layer.bias[[3, 7]] = -0.5
    result = pn.repair(merged, [a, b], data["probe"])
    first = result.layers[0]
    assert first.left_alone[[3, 7]].all() and first.left_alone.sum() == 2
    assert all(np.all(np.isfinite(v.data)) for v in result.snapshot)
    assert np.array_equal(result.net.layers[1].weights[[3, 7]], np.zeros((2, 2), np.float32))
    assert np.array_equal(result.net.layers[1].bias[[3, 7]], np.float32([-0.5, -0.5]))
    _check_stats(result, [a, b], [0.5, 0.5], data["probe"][0])


def test_repair_of_identical_endpoints_changes_nothing(trained, data):
    a = trained[0]
    result = pn.repair(a, [a, a], data["probe"])
    X = data["test"][0]
    assert np.max(np.abs(result.net.compute_batch(X) - a.compute_batch(X))) <= 1e-6


# -------------------------------------------------------------- merge_many --

def test_merge_many_of_permuted_copies_returns_the_original(trained, data):
    a = trained[0]
    copies = [_permuted_copy(a, seed)[0] for seed in (1, 2)]
    r = pn.merge_many([a] + copies, data["probe"], repair=True, refine_budget=BUDGET)
    X = data["test"][0]
    assert np.max(np.abs(r.net.compute_batch(X) - a.compute_batch(X))) <= 1e-6
    assert r.n_nets == 3 and len(r.permutations) == 3


def test_merge_many_beats_the_naive_average(trained, data):
    nets = list(trained)
    texts = [nets[1].save_to_string(), nets[2].save_data_to_string()]
    r = pn.merge_many([nets[0]] + texts, data["probe"], score_mode="activation", refine=False,
                      rounds=1, repair=True, eval_samples=data["test"])
    assert r.aligned.accuracy > r.naive.accuracy + 0.2
    assert r.mean_endpoint_accuracy - r.final.accuracy < 0.05
    assert [e.name for e in r.endpoints] == ["net 0", "net 1", "net 2"]
    assert r.rounds and r.rounds[0]["round"] == "reference"
    assert "MergeMany rounds" in str(r) and r.pre is None
    # MergeMany measures no barrier: to_dict says None (JSON null), never NaN
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["pre"] is None and d["pre_barrier"] is None and d["n_nets"] == 3


def test_merge_many_reference_and_inputs(trained, data):
    a, b, c = trained
    r = pn.merge_many([a, b, c], data["probe"], reference=2, score_mode="activation",
                      refine=False, rounds=0)
    assert [e.name for e in r.endpoints] == ["net 2", "net 0", "net 1"]
    assert all(symmetry.is_identity(p) for p in r.permutations[0])
    with pytest.raises(TypeError, match="at least one TNNet"):
        pn.merge_many([a.snapshot(), b.snapshot()], data["probe"])
    with pytest.raises(ValueError, match="reference"):
        pn.merge_many([a, b], data["probe"], reference=5)
    with pytest.raises(ValueError, match="weights"):
        pn.merge_many([a, b], data["probe"], weights=(1, 2, 3))


def test_merge_many_plot(trained, data, tmp_path):
    import matplotlib  # noqa: F401  (in the [test] extra: a missing one fails, never skips)
    r = pn.merge_many(list(trained), data["probe"], score_mode="activation", refine=False,
                      rounds=0, repair=True)
    r.plot(tmp_path / "many.png")
    assert (tmp_path / "many.png").stat().st_size > 5000


# -------------------------------------------------------- digits example --

def test_digits_example_on_a_reduced_budget(example):
    out = io.StringIO()
    results = example.run(epochs=EPOCHS, refine_budget=BUDGET, plot_path=None, out=out)
    text = out.getvalue()
    default = results[example.MODES[-1][0]]
    first = results[example.MODES[0][0]]
    # the ordering, not tuned numbers: aligned far above naive, default best of the modes
    assert default.aligned.accuracy > default.naive.accuracy + 0.2
    assert default.post_barrier < min(r.post_barrier for r in results.values()) + 1e-12
    assert default.post_barrier < first.post_barrier
    assert default.naive_repaired.loss < default.naive.loss
    for label, *_ in example.MODES:
        assert label in text
    assert "Endpoints on the 297 test images" in text and "MergeReport" in text


# --------------------------------------------------------- pyneural merge --

def _write_csv(path, X, Y):
    rows = [",".join(repr(float(v)) for v in np.concatenate([x, y])) for x, y in zip(X, Y)]
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture
def cli_files(trained, data, tmp_path):
    paths = []
    for name, net in zip("ABC", trained):
        path = tmp_path / f"{name}.nn"
        net.save_to_file(path)
        paths.append(str(path))
    _write_csv(tmp_path / "probes.csv", *data["probe"])
    _write_csv(tmp_path / "test.csv", *data["test"])
    return tmp_path, paths


def test_cli_merge_writes_a_net_the_library_loads(cli_files, trained, data, capsys):
    tmp, (a, b, _) = cli_files
    out = tmp / "merged.nn"
    rc = cli.main(["merge", a, b, "--samples", str(tmp / "probes.csv"), "--eval-samples",
                   str(tmp / "test.csv"), "--repair", "--refine-budget", str(BUDGET),
                   "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "MergeReport" in captured.out and "aligned + REPAIR" in captured.out
    assert "wrote" in captured.err
    merged = pn.TNNet.from_file(out)
    direct = trained[0].merge_with(trained[1], data["probe"], repair=True,
                                   refine_budget=BUDGET)
    assert merged.save_to_string() == direct.net.save_to_string()


def test_cli_merge_of_three_nets_as_json(cli_files, capsys):
    tmp, paths = cli_files
    out = tmp / "merged3.nn"
    rc = cli.main(["merge", *paths, "--samples", str(tmp / "probes.csv"), "--score-mode",
                   "activation", "--no-refine", "--rounds", "0", "--weights", "1,1,2", "--json",
                   "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    d = json.loads(captured.out)
    assert d["n_nets"] == 3 and d["weights"] == pytest.approx([0.25, 0.25, 0.5])
    assert d["output"] == str(out) and pn.TNNet.from_file(out).count_layers() == 4


@pytest.mark.parametrize("extra, message", [
    (["--alpha", "2"], "--alpha: must be in [0, 1]"),
    (["--weights", "1,2,3"], "--weights has 3 values"),
])
def test_cli_merge_bad_input_is_exit_2(cli_files, capsys, extra, message):
    tmp, (a, b, _) = cli_files
    rc = cli.main(["merge", a, b, "--samples", str(tmp / "probes.csv"), "-o",
                   str(tmp / "x.nn"), *extra])
    assert rc == 2 and message in capsys.readouterr().err
    assert cli.main(["merge", a, "--samples", str(tmp / "probes.csv"), "-o",
                     str(tmp / "x.nn")]) == 2
    assert not (tmp / "x.nn").exists()
