"""The two reports: the original's output reproduced, the checks, the
guards, and A restored bit-for-bit whatever happens."""
import io
import pathlib
import sys

import numpy as np
import pytest

import pyneural as pn
from pyneural import rng, toy
from pyneural.reports import interpolation, matching, permutation_align, symmetry
from conftest import fixture_text

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "examples"))
import mode_connectivity as mc_example  # noqa: E402
import permutation_align as pa_example  # noqa: E402


def test_permutation_align_example_prints_the_original_output():
    out = io.StringIO()
    pa_example.original_runs(out)
    assert out.getvalue() == fixture_text("example", "PermutationAlign.out.txt")


def test_mode_connectivity_example_prints_the_original_output():
    out = io.StringIO()
    mc_example.original_runs(out)
    assert out.getvalue() == fixture_text("example", "ModeConnectivity.out.txt")


def test_result_objects_carry_the_numbers(example_nets, probes):
    a, b = example_nets
    r = a.permutation_align_report(b.save_data_to_string(), probes, "weight", 10,
                                   **pa_example.ORIGINAL)
    assert round(r.pre_barrier, 6) == 0.095736 and round(r.post_barrier, 6) == 0.033222
    assert r.verdict is permutation_align.Alignment.PARTIAL
    assert [round(c, 3) for c in r.churn] == [1.0, 1.0]
    assert [c.status for c in r.checks] == ["PASS", "SKIPPED", "PASS"]
    assert len(r.pre.alphas) == 11 and r.pre.alphas[-1] == 1
    d = r.to_dict()
    assert d["verdict"] == "PARTIALLY REDUCED" and len(d["layers"]) == 2
    for layer in r.layers:                               # permutations are permutations
        assert sorted(layer.permutation) == list(range(12))
    m = a.mode_connectivity_report(b, probes)            # a TNNet works as B too
    assert m.barrier == r.pre_barrier and m.to_dict()["verdict"] == "SEPARATED"


def test_align_to_self_is_identity_with_zero_barrier(example_nets, probes):
    a, _ = example_nets
    for mode in ("weight", "activation"):
        for solver in ("greedy", "hungarian"):
            r = a.permutation_align_report(a.save_data_to_string(), probes, mode, 8, solver=solver)
            assert r.self_mode and all(symmetry.is_identity(p) for p in r.permutations)
            assert r.churn == [0.0, 0.0] and r.pre_barrier == 0 == r.post_barrier
            assert r.check(2).status == "PASS"
            assert r.verdict is permutation_align.Alignment.NO_BARRIER


def test_reports_restore_a_and_never_touch_b(example_nets, probes):
    a, b = example_nets
    before_a, text_b = a.save_to_string(), b.save_data_to_string()
    for mode in (0, 1):
        a.permutation_align_report(text_b, probes, mode, 10, solver="hungarian")
        assert a.save_to_string() == before_a
    a.mode_connectivity_report(text_b, probes, 10)
    assert a.save_to_string() == before_a and b.save_data_to_string() == text_b


@pytest.mark.parametrize("target", ["sweep", "permute"])
def test_a_is_restored_when_a_report_fails_halfway(example_nets, probes, monkeypatch, target):
    a, b = example_nets
    before = a.save_to_string()
    calls = {"n": 0}
    real = interpolation.sweep if target == "sweep" else symmetry.permute

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:                 # after A's weights were overwritten
            raise RuntimeError("injected failure")
        return real(*args, **kwargs)

    module = interpolation if target == "sweep" else symmetry
    monkeypatch.setattr(module, target, failing)
    with pytest.raises(RuntimeError, match="injected"):
        a.permutation_align_report(b.save_data_to_string(), probes, 1, 10)
    assert a.save_to_string() == before


def _random_net(g):
    widths = [int(w) for w in g.integers(2, 9, size=g.integers(2, 4))]
    rng.set_seed(int(g.integers(1, 10**6)))
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(int(g.integers(1, 5))))
    for w in widths:
        kind = g.integers(0, 4)
        if kind == 0:
            net.add_layer(pn.TNNetFullConnectReLU(w))
        elif kind == 1:
            net.add_layer(pn.TNNetFullConnect(w))
        elif kind == 2:
            net.add_layer(pn.TNNetFullConnectSigmoid(w))
        else:
            net.add_layer(pn.TNNetFullConnectLinear(w))
            net.add_layer(pn.TNNetReLU())
    net.add_layer(pn.TNNetFullConnectLinear(int(g.integers(1, 4))))
    return net


@pytest.mark.parametrize("seed", range(25))
def test_permuting_any_hidden_layer_with_compensation_keeps_the_function(seed):
    g = np.random.default_rng(seed)
    net = _random_net(g)
    X = g.uniform(-2, 2, (20, net.input_size)).astype(np.float32)
    ref = net.compute_batch(X, exact=True)
    snap = net.snapshot()
    hidden = symmetry.hidden_layers(net)
    assert hidden
    perms = [g.permutation(h.width) for h in hidden]
    net.restore(symmetry.permute_all(net, snap, hidden, perms))
    assert np.allclose(net.compute_batch(X, exact=True), ref, atol=1e-5)
    # ...and a broken compensation (rows moved, next columns not) does change it.
    h = hidden[0]
    broken = list(snap)
    broken[h.index] = symmetry.permute(net, snap, h, perms[0])[h.index]
    net.restore(broken)
    if not symmetry.is_identity(perms[0]):
        assert not np.allclose(net.compute_batch(X, exact=True), ref, atol=1e-5)


def test_hungarian_objective_is_at_least_greedys_on_every_layer(example_nets, probes):
    a, b = example_nets
    for mode in ("weight", "activation"):
        g = a.permutation_align_report(b, probes, mode, 10, solver="greedy", refine=False)
        h = a.permutation_align_report(b, probes, mode, 10, solver="hungarian", refine=False)
        # Same first-layer matrix for both, so the comparison is exact there;
        # later layers see different B rows, so compare each on its own matrix.
        assert h.layers[0].objective >= g.layers[0].objective - 1e-9
    for seed in range(30):
        S = np.random.default_rng(seed).standard_normal((9, 9)).astype(np.float32)
        assert matching.objective(S, matching.hungarian(S)) >= \
            matching.objective(S, matching.greedy(S)) - 1e-9


def test_greedy_breaks_ties_lowest_a_then_lowest_b():
    S = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0]], np.float32)
    assert matching.greedy(S).tolist() == [0, 1, 2]
    S = np.zeros((3, 3), np.float32)
    assert matching.greedy(S).tolist() == [0, 1, 2]
    S = np.array([[0.5, 0.9], [0.9, 0.1]], np.float32)
    assert matching.greedy(S).tolist() == [1, 0]


# ------------------------------------------------------------------ guards --

def test_empty_samples_say_nil_or_empty(example_nets):
    a, b = example_nets
    for samples in (pn.TNNetVolumePairList(), [], None):
        r = a.permutation_align_report(b, samples)
        assert "nil or empty" in str(r) and r.verdict is permutation_align.Alignment.NOT_RUN
        assert "nil or empty" in str(a.mode_connectivity_report(b, samples))


def test_other_architecture_names_first_differing_layer(example_nets, probes):
    a, _ = example_nets
    rng.set_seed(5)
    other = toy.build_net(hidden=(12, 7))
    before = a.save_to_string()
    with pytest.raises(pn.ArchitectureError, match=r"layer 2 .*12x12.*7x12"):
        a.permutation_align_report(other.save_data_to_string(), probes)
    with pytest.raises(pn.ArchitectureError, match=r"layer 2"):
        a.mode_connectivity_report(other, probes)
    assert a.save_to_string() == before


def test_net_without_hidden_trainable_layer(probes):
    rng.set_seed(1)
    net = toy.build_net(hidden=())
    r = net.permutation_align_report(net.save_data_to_string(), probes)
    assert "no hidden trainable layer" in str(r)


def test_k_below_one_is_bumped_to_one(example_nets, probes):
    a, b = example_nets
    r = a.permutation_align_report(b, probes, 0, 0)
    assert r.k == 1 and len(r.pre.alphas) == 2 and "(K=1)" in str(r)
    assert a.mode_connectivity_report(b, probes, -3).k == 1


def test_bad_score_mode_and_solver_are_value_errors(example_nets, probes):
    a, b = example_nets
    with pytest.raises(ValueError, match="score_mode"):
        a.permutation_align_report(b, probes, 7)
    with pytest.raises(ValueError, match="solver"):
        a.permutation_align_report(b, probes, 0, solver="magic")


def test_samples_that_do_not_fit_are_value_errors(example_nets):
    a, b = example_nets
    with pytest.raises(ValueError, match="takes 2"):
        a.permutation_align_report(b, (np.zeros((4, 3), np.float32), np.zeros((4, 3), np.float32)))


def test_non_finite_weights_never_pass(example_nets, probes):
    a, b = example_nets
    b.layers[2].weights[0, 0] = np.nan
    before = a.save_to_string()
    r = a.permutation_align_report(b.save_data_to_string(), probes, 0, 10, refine=False)
    text = str(r)
    # A ReLU maps NaN to 0, so these losses stay finite: the weights are checked too.
    assert r.verdict is permutation_align.Alignment.NON_FINITE
    assert "B has NaN/Inf weights in layer 2" in text and "nan" not in text
    assert all(c.status != "PASS" for c in r.checks)
    m = a.mode_connectivity_report(b.save_data_to_string(), probes)
    assert m.verdict.value == "NON-FINITE" and "-> WARN" in str(m)
    assert a.save_to_string() == before


def test_non_finite_losses_are_printed_as_nan_and_never_pass(example_nets, probes):
    a, b = example_nets
    b.layers[3].bias[1] = np.inf                     # the linear output layer: losses blow up
    r = a.permutation_align_report(b.save_data_to_string(), probes, 1, 10)
    text = str(r)
    assert r.verdict is permutation_align.Alignment.NON_FINITE
    assert "Nan" in text or "Inf" in text
    assert "nan" not in text and all(c.status != "PASS" for c in r.checks)


def test_samples_as_pairs_and_arrays_agree(example_nets, probes):
    a, b = example_nets
    X, Y = probes.to_arrays()
    r1 = a.mode_connectivity_report(b, probes)
    r2 = a.mode_connectivity_report(b, (X, Y))
    r3 = a.mode_connectivity_report(b, list(zip(X, Y)))
    assert r1.barrier == r2.barrier == r3.barrier


def test_endpoint_b_in_every_accepted_form(example_nets, probes, tmp_path):
    a, b = example_nets
    expected = a.mode_connectivity_report(b, probes).barrier
    path = tmp_path / "b.nn"
    b.save_to_file(path)                                    # the two-line file form
    forms = [b.save_data_to_string(), b.save_to_string(), path.read_text(),
             b.snapshot(), [v.data.copy() for v in b.snapshot()],
             [v.data.tolist() for v in b.snapshot()]]
    for form in forms:
        assert a.mode_connectivity_report(form, probes).barrier == expected
    r = a.permutation_align_report([v.data for v in b.snapshot()], probes, refine=False)
    assert r.pre_barrier == expected


def test_checks_that_did_not_run_are_none_and_guards_hold(example_nets, probes):
    a, b = example_nets
    r = a.permutation_align_report(b, probes, refine=False, check_scale=False)
    assert r.check(4) is None and r.check(1) is not None
    empty = a.mode_connectivity_report(b, [])
    assert np.isnan(empty.relative_barrier)


def test_find_alignment_guards(example_nets, probes):
    from pyneural.reports.alignment import find_alignment
    a, b = example_nets
    X, Y = probes.to_arrays()
    with pytest.raises(ValueError, match="solver"):
        find_alignment(a, a.snapshot(), b.snapshot(), X, Y, solver="magic")
    rng.set_seed(1)
    flat = toy.build_net(hidden=())
    layers, aligned, info, stats = find_alignment(flat, flat.snapshot(), flat.snapshot(), X, Y)
    assert layers == [] and stats is None and "nothing to permute" in info


def test_checks_failed_by_non_finite_weights_print_no_passing_comparison(example_nets, probes):
    a, b = example_nets
    b.layers[2].weights[0, 0] = np.nan          # a ReLU maps it to 0: drifts stay small
    r = a.permutation_align_report(b, probes, 0, 10, refine=False)
    failed = [c.line() for c in r.checks if c.status == "FAIL"]
    assert [c.number for c in r.checks if c.status == "FAIL"] == [1, 3, 4]
    for line in failed:
        assert " < " not in line and "NaN/Inf weights in layer 2" in line


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_weights_raise_no_numpy_warnings(example_nets, probes, value):
    import warnings
    a, b = example_nets
    b.layers[1].weights[0, 0] = value
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for mode in ("weight_matching_cosine", "auto"):
            r = a.permutation_align_report(b, probes, mode, 4, repair=True, refine_budget=20)
            assert r.verdict is permutation_align.Alignment.NON_FINITE
        assert a.mode_connectivity_report(b, probes, 4, repair=True).verdict.value == "NON-FINITE"
        a.merge_with(b, probes, score_mode="weight_matching_cosine", repair=True)
