"""The improved alignment: optimal solvers, weight matching, refinement,
held-out evaluation, scale symmetry, planted-permutation recovery."""
import numpy as np
import pytest

import pyneural as pn
from pyneural import rng, toy
from pyneural.reports import alignment, matching, permutation_align, symmetry
from pyneural.reports.refinement import refine_permutations


@pytest.fixture
def held_out():
    return toy.build_probes(seed=4242, per_class=40)


def _snaps(a, b):
    return a.snapshot(), a.snapshot_from_string(b.save_data_to_string())


@pytest.mark.parametrize("normalize", [False, True])
def test_weight_matching_objective_never_decreases(example_nets, normalize):
    a, b = example_nets
    sa, sb = _snaps(a, b)
    hidden = symmetry.hidden_layers(a)
    wm = matching.WeightMatching(a, sa, sb, hidden, normalize=normalize, seed=3).run()
    assert len(wm.history) == wm.iterations + 1 >= 2
    assert all(later >= earlier - 1e-9 for earlier, later in zip(wm.history, wm.history[1:]))
    assert wm.reason.startswith("converged")
    for p in wm.perms:
        assert sorted(p) == list(range(12))


def test_weight_matching_objective_matches_its_definition(example_nets):
    a, b = example_nets
    sa, sb = _snaps(a, b)
    hidden = symmetry.hidden_layers(a)
    wm = matching.WeightMatching(a, sa, sb, hidden).run()
    aligned = symmetry.permute_all(a, sb, hidden, wm.perms)
    direct = sum(float(np.dot(sa[i].data.astype(np.float64), aligned[i].data))
                 for i in (1, 2, 3))
    assert wm.history[-1] == pytest.approx(direct, rel=1e-9)


def test_refinement_never_increases_the_barrier_on_samples(example_nets, probes):
    a, b = example_nets
    X, Y = probes.to_arrays()
    sa, sb = _snaps(a, b)
    hidden = symmetry.hidden_layers(a)
    g = np.random.default_rng(0)
    for start in ([np.arange(12), np.arange(12)], [g.permutation(12), g.permutation(12)]):
        perms, stats = refine_permutations(a, sa, sb, hidden, start, X, Y, 10, budget=300,
                                           progress=False)
        assert stats.barrier_after <= stats.barrier_before
        assert stats.accepted > 0 and stats.evaluations <= 300 + 9
    a.restore(sa)


def test_refine_false_is_the_original_and_refinement_lowers_the_barrier(example_nets, probes):
    a, b = example_nets
    plain = a.permutation_align_report(b, probes, 1, solver="greedy", refine=False, check_scale=False)
    assert round(plain.post_barrier, 6) == 0.024957 and plain.refinement is None
    refined = a.permutation_align_report(b, probes, 1, solver="greedy", refine=True)
    assert refined.post_barrier < plain.post_barrier / 4
    assert refined.refinement.accepted > 0 and "swaps accepted" in str(refined)


def test_eval_samples_are_only_used_for_measuring(example_nets, probes, held_out):
    a, b = example_nets
    on_probes = a.permutation_align_report(b, probes, "activation", refine_budget=200)
    held = a.permutation_align_report(b, probes, "activation", refine_budget=200,
                                      eval_samples=held_out)
    assert [p.tolist() for p in held.permutations] == [p.tolist() for p in on_probes.permutations]
    assert held.pre_barrier != on_probes.pre_barrier
    assert held.n_eval == 120 and "held-out eval_samples (120 samples)" in str(held)
    X, Y = held_out.to_arrays()
    direct = a.mode_connectivity_report(b, held_out)
    assert held.pre_barrier == direct.barrier


def test_default_collapses_the_example_barrier_on_held_out_data(example_nets, probes, held_out):
    a, b = example_nets
    r = a.permutation_align_report(b, probes, eval_samples=held_out)
    assert r.score_mode == "auto" and r.solver == "hungarian" and r.refinement is not None
    assert r.verdict is permutation_align.Alignment.COLLAPSED
    assert "(kept)" in r.matching_info


def _tanh_net(seed):
    rng.set_seed(seed)
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(2))
    net.add_layer(pn.TNNetFullConnect(8))
    net.add_layer(pn.TNNetFullConnectLinear(6))
    net.add_layer(pn.TNNetHyperbolicTangent())
    net.add_layer(pn.TNNetFullConnectLinear(3))
    return net


def test_scale_check_passes_on_relu_and_tanh_nets(example_nets, probes):
    a, b = example_nets
    r = a.permutation_align_report(b, probes, refine=False)
    assert r.check(4).status == "PASS" and r.check(4).value < 1e-5
    t1, t2 = _tanh_net(1), _tanh_net(2)
    r = t1.permutation_align_report(t2, probes, refine=False)
    assert r.check(4).status == "PASS" and r.check(1).status == "PASS"


def test_scale_check_is_skipped_with_the_reason_for_sigmoid():
    rng.set_seed(4)
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(2))
    net.add_layer(pn.TNNetFullConnectSigmoid(5))
    net.add_layer(pn.TNNetFullConnectLinear(3))
    r = net.permutation_align_report(net, toy.build_probes(), refine=False)
    assert r.check(4).status == "SKIPPED" and "sigmoid" in r.check(4).detail


def test_broken_compensation_makes_checks_1_and_4_fail(example_nets, probes, monkeypatch):
    a, b = example_nets
    real_permute, real_scale = symmetry.permute, symmetry.scale

    def permute_without_compensation(net, snap, hidden, perm):
        out = real_permute(net, snap, hidden, perm)
        out[hidden.next_index] = snap[hidden.next_index]     # next layer left as it was
        return out

    def scale_without_compensation(net, snap, hidden, factors):
        out = real_scale(net, snap, hidden, factors)
        out[hidden.next_index] = snap[hidden.next_index]
        return out

    monkeypatch.setattr(symmetry, "permute", permute_without_compensation)
    monkeypatch.setattr(symmetry, "scale", scale_without_compensation)
    r = a.permutation_align_report(b, probes, 0, refine=False)
    assert r.check(1).status == "FAIL" and "CHANGED" in r.check(1).detail
    assert r.check(4).status == "FAIL"


@pytest.mark.parametrize("mode", list(alignment.SCORE_MODES.values()))
def test_check_5_recovers_planted_permutations_with_every_mode(example_nets, probes, mode):
    a, b = example_nets
    r = a.permutation_align_report(b, probes, mode, check_recovery=True)
    assert r.check(5).status == "PASS" and r.check(5).value == 1.0


def test_scale_align_reports_a_third_row(example_nets, probes):
    a, b = example_nets
    r = a.permutation_align_report(b, probes, refine=False, scale_align=True)
    text = str(r)
    assert "after  scale" in text and "Scale-aligned  barrier" in text
    assert r.scaled_barrier is not None and np.isfinite(r.scaled_barrier)
    sa, sb = _snaps(a, b)
    hidden = symmetry.hidden_layers(a)
    aligned = symmetry.permute_all(a, sb, hidden, r.permutations)
    scaled = alignment.match_norms(a, sa, aligned, hidden)
    X, _ = probes.to_arrays()
    a.restore(aligned)
    before = a.compute_batch(X, exact=True)
    a.restore(scaled)                                       # an exact symmetry of B
    assert np.allclose(a.compute_batch(X, exact=True), before, atol=1e-5)
    rows_a = np.linalg.norm(symmetry.rows(a, sa, 1), axis=1)
    rows_s = np.linalg.norm(np.hstack([symmetry.rows(a, scaled, 1),
                                       symmetry.bias(a, scaled, 1)[:, None]]), axis=1)
    full_a = np.linalg.norm(np.hstack([symmetry.rows(a, sa, 1),
                                       symmetry.bias(a, sa, 1)[:, None]]), axis=1)
    assert np.allclose(rows_s, full_a, rtol=1e-5) and rows_a.shape == (12,)


def test_score_modes_accept_pascal_integers_and_names(example_nets, probes):
    a, b = example_nets
    for number, name in alignment.SCORE_MODES.items():
        assert alignment.resolve_score_mode(number) == alignment.resolve_score_mode(name) == name
    r = a.permutation_align_report(b, probes, 1, refine=False)
    assert r.score_mode == "activation"
    assert [p.tolist() for p in r.permutations] == \
        [p.tolist() for p in a.permutation_align_report(b, probes, "activation",
                                                        refine=False).permutations]


# ---------------------------------------- what each score mode computes --

def _cosine64(A, B):
    """Uncentred cosine of the rows of A and B, in float64, here (not matching's)."""
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    return (A @ B.T) / (np.outer(np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1)) + 1e-12)


def _hidden_outputs64(net, X):
    """Each hidden layer's ReLU output, by a float64 forward pass written here."""
    h, outs = np.asarray(X, np.float64), {}
    for i, layer in enumerate(net.layers[1:-1], 1):
        h = np.maximum(h @ np.asarray(layer.weights, np.float64).T + layer.bias, 0)
        outs[i] = h
    return outs


def test_weight_scores_are_the_cosine_of_incoming_rows(example_nets, probes):
    a, b = example_nets
    sa, sb = _snaps(a, b)
    X, _ = probes.to_arrays()
    for h in symmetry.hidden_layers(a):
        S = alignment.layer_scores(a, "weight", sa, sb, h, X, exact=True)
        expected = _cosine64(a.layers[h.index].weights, b.layers[h.index].weights)
        assert S.shape == (12, 12)
        np.testing.assert_allclose(S, expected, rtol=1e-5, atol=1e-6)


def test_activation_scores_are_the_cosine_of_unit_outputs_over_the_samples(example_nets,
                                                                           probes):
    a, b = example_nets
    sa, sb = _snaps(a, b)
    X, _ = probes.to_arrays()
    outs_a, outs_b = _hidden_outputs64(a, X), _hidden_outputs64(b, X)
    acts_a = a.layer_outputs(X, True)
    for h in symmetry.hidden_layers(a):
        S = alignment.layer_scores(a, "activation", sa, sb, h, X, True, acts_a)
        expected = _cosine64(outs_a[h.index].T, outs_b[h.index].T)
        np.testing.assert_allclose(S, expected, rtol=1e-5, atol=1e-6)
        # and not the weight score: the two modes measure different things
        assert np.max(np.abs(S - alignment.layer_scores(a, "weight", sa, sb, h, X, True))) > 0.1
    a.restore(sa)


def test_score_modes_find_different_permutations_and_auto_keeps_its_best_start(example_nets,
                                                                              probes):
    a, b = example_nets
    found, barriers = {}, {}
    for mode in alignment.SCORE_MODES.values():
        r = a.permutation_align_report(b, probes, mode, refine=False, check_scale=False)
        found[mode] = tuple(tuple(p.tolist()) for p in r.permutations)
        barriers[mode] = r.post_barrier
    singles = [m for m in found if m != "auto"]
    assert len({found[m] for m in singles}) == len(singles)      # four modes, four answers
    assert found["auto"] in {found[m] for m in alignment.AUTO_STARTS}
    assert barriers["auto"] == min(barriers[m] for m in alignment.AUTO_STARTS)


def _planted(net, seed):
    hidden = symmetry.hidden_layers(net)
    planted = symmetry.random_permutations(hidden, np.random.default_rng(seed))
    return hidden, planted, symmetry.permute_all(net, net.snapshot(), hidden, planted)


@pytest.mark.parametrize("mode", list(alignment.SCORE_MODES.values()))
def test_every_score_mode_recovers_a_planted_permutation(example_nets, probes, mode):
    X, Y = probes.to_arrays()
    for net in example_nets:
        snap = net.snapshot()
        for seed in (0, 1, 2):
            hidden, planted, shuffled = _planted(net, seed)
            layers, aligned, _, _ = alignment.find_alignment(net, snap, shuffled, X, Y, mode,
                                                             progress=False)
            net.restore(snap)
            for layer, p in zip(layers, planted):
                assert np.array_equal(layer.permutation, symmetry.inverse(p)), (mode, seed)
            assert all(x.same_bits(y) for x, y in zip(aligned, snap))


@pytest.mark.parametrize("mode", ["activation", "auto"])
def test_activation_matching_alone_recovers_every_unit_the_samples_see(example_nets, probes,
                                                                       mode):
    """Units silent on every sample have equal (zero) activation scores, so
    matching alone may swap them among themselves; refinement's re-pairing
    by weights (above) is what recovers them too."""
    a, _ = example_nets
    X, Y = probes.to_arrays()
    snap = a.snapshot()
    outs = a.layer_outputs(X, True)
    hidden, planted, shuffled = _planted(a, 1)
    layers, _, _, _ = alignment.find_alignment(a, snap, shuffled, X, Y, mode, refine=False)
    a.restore(snap)
    silent_somewhere = False
    for layer, p in zip(layers, planted):
        silent = ~np.any(outs[layer.index] != 0, axis=0)
        silent_somewhere |= bool(silent.any())
        truth = symmetry.inverse(p)
        assert np.array_equal(layer.permutation[~silent], truth[~silent])
        assert set(layer.permutation[silent]) == set(truth[silent])
    assert silent_somewhere          # A has silent units, so this case is exercised


def test_weights_break_the_ties_activation_matching_leaves(example_nets, probes):
    """Silent units tie on activations; with the tie-break the weights tell
    them apart, so the whole planted permutation comes back."""
    a, _ = example_nets
    X, _ = probes.to_arrays()
    snap = a.snapshot()
    hidden, planted, shuffled = _planted(a, 1)
    layers, aligned, info = alignment.align(a, "activation", "hungarian", snap, shuffled, hidden,
                                            X, False, tie_break=alignment.SCALE_TIE_BREAK)
    a.restore(snap)
    assert "breaking its near-ties by the weights" in info
    for layer, p in zip(layers, planted):
        assert np.array_equal(layer.permutation, symmetry.inverse(p))
    assert all(x.same_bits(y) for x, y in zip(aligned, snap))


def test_break_ties_on_uninformative_scores_is_matching_by_weights_alone(example_nets):
    a, _ = example_nets
    hidden, planted, shuffled = _planted(a, 2)
    snap = a.snapshot()
    wm = matching.WeightMatching(a, snap, shuffled, hidden,
                                 start=[np.arange(h.width) for h in hidden])
    flat = [np.zeros((h.width, h.width), np.float32) for h in hidden]
    perms = wm.break_ties(flat, 1.0, alignment.TIE_BREAK_PASSES)
    assert all(np.array_equal(q, symmetry.inverse(p)) for q, p in zip(perms, planted))
    # A zero bonus leaves the scores' own assignment.
    g = np.random.default_rng(0)
    scores = [g.standard_normal((h.width, h.width)) for h in hidden]
    assert all(np.array_equal(q, matching.hungarian(s))
               for q, s in zip(wm.break_ties(scores, 0.0, 1), scores))


def test_weight_cosines_are_the_mean_of_incoming_and_outgoing_cosines(example_nets):
    a, b = example_nets
    sa, sb = _snaps(a, b)
    hidden = symmetry.hidden_layers(a)
    wm = matching.WeightMatching(a, sa, sb, hidden, start=[np.arange(12), np.arange(12)])
    rows = lambda s, i: np.column_stack([symmetry.rows(a, s, i), symmetry.bias(a, s, i)])
    cos = lambda x, y: (x / np.linalg.norm(x, axis=1, keepdims=True)) @ \
        (y / np.linalg.norm(y, axis=1, keepdims=True)).T
    want = (cos(rows(sa, 1), rows(sb, 1))
            + cos(symmetry.rows(a, sa, 2).T, symmetry.rows(a, sb, 2).T)) / 2
    np.testing.assert_allclose(wm.weight_cosines(0), want, atol=1e-6)


def test_the_default_refine_budget_follows_the_widths():
    from pyneural.reports.alignment import default_refine_budget
    from pyneural.reports.symmetry import hidden_layers
    assert default_refine_budget(hidden_layers(toy.build_net(hidden=(12, 12)))) == 2000
    assert default_refine_budget(hidden_layers(toy.build_net(hidden=(128, 128)))) == 8000
    assert default_refine_budget(hidden_layers(toy.build_net(hidden=(128, 20, 128)))) == 9900     # (400 + 190 + 400) x 10
    assert default_refine_budget(hidden_layers(toy.build_net(hidden=(12, 12))), 6000) == 6000
