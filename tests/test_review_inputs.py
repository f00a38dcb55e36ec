"""Inputs the review's fuzzing found mishandled: every result's to_dict
loads as strict JSON (NaN -> null) also in the corner cases (a net aligned
to itself, empty samples, NaN weights); a k beyond the bound is a clear
error, not hours of work; barrier_matrix refuses n_jobs / seed it cannot
use and NaN weights (a matrix entry cannot say "non-finite"), and never
starts more processes than pairs."""
import json

import numpy as np
import pytest

import pyneural as pn
from pyneural.reports import interpolation as interp
from pyneural.reports import sweep


def _strict_json(result):
    d = result.to_dict()
    json.dumps(d, allow_nan=False)           # raises on NaN / Inf
    return d


def _nan_copy(net):
    bad = net.clone()
    bad.layers[1].weights[0, 0] = float("nan")
    return bad


def test_align_to_self_to_dict_is_strict_json(example_nets, probes):
    a, _ = example_nets
    d = _strict_json(a.permutation_align_report(a, probes, refine=False))
    # no barrier (float32 noise of (1 - a) A + a A), so no reduction: null, not NaN
    assert d["pre_barrier"] < interp.BARRIER_FLOOR and d["reduction"] is None


def test_empty_samples_to_dict_is_strict_json(example_nets):
    a, b = example_nets
    d = _strict_json(a.permutation_align_report(b, []))
    assert d["pre_barrier"] is None and d["post_barrier"] is None and d["message"]
    d = _strict_json(a.mode_connectivity_report(b, []))
    assert d["barrier"] is None and d["endpoint_mismatch"] is None and d["message"]


def test_nan_weights_to_dict_is_strict_json(example_nets, probes):
    a, _ = example_nets
    bad = _nan_copy(a)
    d = _strict_json(a.mode_connectivity_report(bad, probes, repair=True))
    assert d["verdict"] == "NON-FINITE" and d["endpoint_mismatch"] is None
    d = _strict_json(a.permutation_align_report(bad, probes, refine=False))
    assert d["non_finite"]


def test_numpy_values_in_to_dict_are_plain(example_nets, probes):
    a, b = example_nets
    d = a.permutation_align_report(b, probes, refine=False).to_dict()
    assert all(type(x) is int for x in d["layers"][0]["permutation"])
    assert type(d["pre_barrier"]) is float


@pytest.mark.parametrize("report", ["mode_connectivity_report", "permutation_align_report"])
def test_k_beyond_the_bound_is_a_value_error(example_nets, probes, report):
    a, b = example_nets
    with pytest.raises(ValueError, match=f"k = {interp.MAX_K + 1} .* {interp.MAX_K}"):
        getattr(a, report)(b, probes, k=interp.MAX_K + 1)


def test_k_below_one_is_still_the_originals_one(example_nets, probes):
    a, b = example_nets
    assert a.mode_connectivity_report(b, probes, k=0).k == 1


@pytest.mark.parametrize("n_jobs", [0, "x", 1.5, True])
def test_barrier_matrix_refuses_n_jobs_it_cannot_use(example_nets, probes, n_jobs):
    with pytest.raises(ValueError, match="n_jobs"):
        pn.barrier_matrix(list(example_nets), probes, n_jobs=n_jobs, refine=False)


@pytest.mark.parametrize("seed", [-1, "x", 1.5])
def test_barrier_matrix_refuses_a_bad_seed(example_nets, probes, seed):
    with pytest.raises(ValueError, match="seed"):
        pn.barrier_matrix(list(example_nets), probes, seed=seed, refine=False)


def test_barrier_matrix_k_beyond_the_bound(example_nets, probes):
    with pytest.raises(ValueError, match="k = "):
        pn.barrier_matrix(list(example_nets), probes, k=10**9, align=False)


def test_barrier_matrix_refuses_nan_weights_naming_the_net(example_nets, probes):
    a, b = example_nets
    with pytest.raises(ValueError, match="net 2 has NaN/Inf weights in layer 1"):
        pn.barrier_matrix([a, b, _nan_copy(b)], probes, refine=False)


def test_barrier_matrix_starts_no_more_processes_than_pairs(example_nets, probes, monkeypatch):
    seen = []

    def fake_joblib(payload, todo, seed, align, k, options, n_jobs):
        seen.append(n_jobs)
        return sweep._run_serial(payload, todo, seed, align, k, options)

    monkeypatch.setattr(sweep, "_run_joblib", fake_joblib)
    r = pn.barrier_matrix(list(example_nets), probes, n_jobs=100000, refine=False,
                          progress=False)
    assert seen == [1] and r.post.shape == (2, 2)
    pn.barrier_matrix(list(example_nets) * 2, probes, n_jobs=-1, refine=False, progress=False)
    assert seen == [1, -1]


def test_barrier_matrix_json_of_a_duplicate_pair(example_nets, probes):
    a, b = example_nets
    d = _strict_json(pn.barrier_matrix([a, b, a], probes, refine=False, progress=False))
    assert d["pre"][0][2] < interp.BARRIER_FLOOR and d["summary"]["pairs"] == 3


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e39])
@pytest.mark.parametrize("where", ["input", "target"])
def test_non_finite_samples_are_refused_naming_the_cell(example_nets, probes, value, where):
    # a NaN input would pass the ReLU as 0, and the report would say CONNECTED
    a, b = example_nets
    X = np.stack([p.i.data for p in probes]).astype(np.float64)
    Y = np.stack([p.o.data for p in probes]).astype(np.float64)
    (X if where == "input" else Y)[5, 1] = value
    for run in (lambda s: a.mode_connectivity_report(b, s),
                lambda s: a.permutation_align_report(b, probes, eval_samples=s, refine=False),
                lambda s: a.merge_with(b, s, refine=False),
                lambda s: pn.barrier_matrix([a, b], s, align=False)):
        with pytest.raises(ValueError, match=f"sample 5, {where} 1 is"):
            run((X, Y))


@pytest.mark.parametrize("suffix", [".nn", ".npz"])
def test_saving_onto_a_directory_names_the_path_not_a_temporary_file(example_nets, tmp_path,
                                                                     suffix):
    a, _ = example_nets
    target = tmp_path / f"net{suffix}"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as info:
        a.save(target)
    assert info.value.filename == str(target) and ".tmp" not in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]     # nothing left behind


@pytest.mark.parametrize("dtype", [complex, str, object])
def test_samples_of_a_non_real_dtype_are_a_type_error(example_nets, probes, dtype):
    # complex probes lost their imaginary part with only a ComplexWarning
    a, b = example_nets
    X = np.stack([p.i.data for p in probes]).astype(dtype)
    Y = np.stack([p.o.data for p in probes])
    with pytest.raises(TypeError, match="inputs must be real numbers"):
        a.mode_connectivity_report(b, (X, Y))


def test_sample_pairs_of_complex_values_are_refused(example_nets):
    a, b = example_nets
    with pytest.raises((TypeError, ValueError), match="numeric, got dtype complex"):
        a.mode_connectivity_report(b, [(np.ones(2, complex), np.eye(3)[0])])


@pytest.mark.parametrize("endpoint", [5, None, 2.5])
def test_an_endpoint_that_is_no_net_is_a_type_error_saying_what_is(example_nets, probes,
                                                                   endpoint):
    a, _ = example_nets
    with pytest.raises(TypeError, match="endpoint B must be a TNNet"):
        a.mode_connectivity_report(endpoint, probes)


def test_load_takes_a_bytes_path(example_nets):
    from conftest import FIXTURES
    a, _ = example_nets
    path = bytes(FIXTURES / "example" / "A.nn")
    assert pn.load(path).save_to_string() == a.save_to_string()


def test_files_of_one_name_in_two_folders_get_distinct_labels(tmp_path, probes, example_nets):
    a, b = example_nets
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    a.save(tmp_path / "x" / "net.nn")
    b.save(tmp_path / "y" / "net.nn")
    r = pn.barrier_matrix([str(tmp_path / "x" / "net.nn"), tmp_path / "y" / "net.nn"], probes,
                          align=False, progress=False)
    assert r.names == ["x/net.nn", "y/net.nn"]           # the shortest tails that differ
    r = pn.barrier_matrix([str(tmp_path / "x" / "net.nn"), a], probes, align=False,
                          progress=False)
    assert r.names == ["net.nn", "net 1"]


@pytest.mark.parametrize("exact", ["x", "no", 0.5, None])
def test_exact_is_true_false_or_auto(example_nets, probes, exact):
    # a truthy string such as "no" must not be taken for exact=True
    a, b = example_nets
    with pytest.raises(ValueError, match="exact must be True, False or 'auto'"):
        a.mode_connectivity_report(b, probes, exact=exact)
    with pytest.raises(ValueError, match="exact must be"):
        a.permutation_align_report(b, probes, exact=exact, refine=False)


# ------------------------------------------- merging, REPAIR, alignment --

def test_merge_k_beyond_the_bound_is_a_value_error(example_nets, probes):
    a, b = example_nets
    with pytest.raises(ValueError, match="interpolation intervals"):
        a.merge_with(b, probes, k=10 ** 12, refine=False)


def test_merging_an_endpoint_with_nan_weights_is_non_finite(example_nets, probes):
    a, b = example_nets
    bad = _nan_copy(b)
    r = a.merge_with(bad, probes, refine=False)
    assert r.verdict is pn.reports.merge.MergeVerdict.NON_FINITE
    assert "B has NaN/Inf weights in layer" in str(r).split("Verdict:")[1]
    many = pn.merge_many([a, b, bad], probes, refine=False, rounds=0)
    assert many.verdict.value == "NON-FINITE" and "net 2 has NaN/Inf weights" in str(many)


def test_merge_bars_of_two_noise_level_barriers_are_empty(example_nets, probes):
    a, _ = example_nets
    r = a.merge_with(a, probes, refine=False)
    lines = [l for l in str(r).splitlines() if "align  0.000000" in l]
    assert len(lines) == 2 and all(l.endswith("|") for l in lines)


def test_merge_many_needs_two_nets(example_nets, probes):
    with pytest.raises(ValueError, match="at least two nets"):
        pn.merge_many([example_nets[0]], probes)


def test_merge_weights_whose_sum_overflows_still_mix_evenly():
    from pyneural.reports.repair import mix_weights
    assert mix_weights([1e308, 1e308], 2).tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match="positive sum"):
        mix_weights([0, 0], 2)


@pytest.mark.parametrize("budget, error", [(0, ValueError), (-5, ValueError),
                                           (float("nan"), TypeError), (1.5, TypeError),
                                           ("x", TypeError), (True, TypeError)])
def test_refine_budget_is_checked(example_nets, probes, budget, error):
    a, b = example_nets
    with pytest.raises(error, match="refine_budget"):
        a.permutation_align_report(b, probes, refine_budget=budget)
    with pytest.raises(error, match="refine_budget"):
        a.merge_with(b, probes, refine_budget=budget)


@pytest.mark.parametrize("alpha", [float("nan"), float("inf")])
def test_interpolating_at_a_non_finite_alpha_is_refused(example_nets, alpha):
    a, b = example_nets
    text = a.save_to_string()
    with pytest.raises(ValueError, match="finite"):
        a.interpolate(a.snapshot(), b.snapshot(), alpha)
    assert a.save_to_string() == text


def test_merge_and_repair_to_dict_with_nan_or_inf_weights_is_strict_json(example_nets, probes):
    a, b = example_nets
    bad = _nan_copy(b)
    r = a.merge_with(bad, probes, repair=True)
    d = _strict_json(r)
    assert d["verdict"] == "NON-FINITE" and None in d["repair"][0]["target_mean"]
    _strict_json(pn.merge_many([a, bad, b], probes, repair=True, rounds=0))
    inf_bias = a.clone()
    inf_bias.layers[3].bias[0] = np.inf
    d = _strict_json(inf_bias.merge_with(b, probes, eval_samples=probes))
    assert d["mean_endpoint_loss"] is None
    d = _strict_json(pn.repair(r.net, [a, bad], probes))
    assert d["non_finite"] >= 1 and d["matched"] is False


def test_repair_of_a_nan_unit_fails_its_check_and_says_why(example_nets, probes):
    a, b = example_nets
    bad = _nan_copy(b)
    merged = a.clone()
    merged.interpolate(a.snapshot(), bad.snapshot(), 0.5)
    r = pn.repair(merged, [a, bad], probes)
    text = str(r)
    assert "1 with NaN or infinite statistics, left alone" in text
    assert "constant over the probes" not in text
    assert "Statistics check: FAIL (1 unit with NaN or infinite statistics" in text
    assert not r.matched and r.non_finite == 1


@pytest.mark.parametrize("seed", [-5, 1.5, "3", True])
@pytest.mark.parametrize("call", ["align", "merge", "merge_many"])
def test_reports_and_merges_refuse_a_bad_seed_naming_it(example_nets, probes, seed, call):
    a, b = example_nets
    run = {"align": lambda: a.permutation_align_report(b, probes, seed=seed),
           "merge": lambda: a.merge_with(b, probes, seed=seed),
           "merge_many": lambda: pn.merge_many([a, b], probes, seed=seed)}[call]
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        run()


@pytest.mark.parametrize("k", [2.5, "3", float("nan"), True])
def test_k_that_is_not_an_integer_is_a_type_error_naming_k(example_nets, probes, k):
    a, b = example_nets
    for call in (a.mode_connectivity_report, a.permutation_align_report, a.merge_with):
        with pytest.raises(TypeError, match=r"k \(interpolation intervals\) must be an integer"):
            call(b, probes, k=k)


def test_merge_many_refuses_negative_rounds(example_nets, probes):
    a, b = example_nets
    with pytest.raises(ValueError, match="rounds must be a non-negative integer, got -1"):
        pn.merge_many([a, b, a], probes, rounds=-1)


@pytest.mark.parametrize("value", ["5", 1j, [1, "a"], None])
def test_volume_elements_must_be_real_numbers(value):
    v = pn.TNNetVolume(2, 1, 1)
    v.fill(4.0)
    with pytest.raises(TypeError, match="volume elements must be real numbers"):
        v[0] = value
    with pytest.raises(TypeError, match="volume elements must be real numbers"):
        v[0, 0, 0] = value
    assert v.data.tolist() == [4.0, 4.0]


def test_a_net_without_hidden_layers_still_counts_its_samples(probes):
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(2))
    net.add_layer(pn.TNNetFullConnectLinear(3))
    d = net.permutation_align_report(net.clone(), probes).to_dict()
    assert d["n_samples"] == len(probes) and "nothing to permute" in d["message"]


def test_clear_messages_for_a_bad_pair_and_a_cut_volume_text():
    with pytest.raises(TypeError, match="add\\(\\) takes a TNNetVolumePair or an \\(input, "
                                        "output\\) pair, got int"):
        pn.TNNetVolumePairList().add(3)
    v = pn.TNNetVolume(3, 1, 1)
    with pytest.raises(pn.NNFormatError, match="an empty number .*cut short"):
        v.load_from_string(v.save_to_string()[:8])


@pytest.mark.parametrize("bad", ["no", "yes", 1, 0, None])
def test_repair_takes_only_true_or_false(example_nets, probes, bad):
    a, b = example_nets
    calls = [lambda: a.permutation_align_report(b, probes, 0, 4, repair=bad),
             lambda: a.mode_connectivity_report(b, probes, 4, repair=bad),
             lambda: a.merge_with(b, probes, repair=bad),
             lambda: pn.merge_many([a, b, b.clone()], probes, repair=bad),
             lambda: pn.barrier_matrix([a, b], probes, repair=bad)]
    for call in calls:
        with pytest.raises(ValueError, match=r"repair must be True or False, got"):
            call()
    with pytest.raises(ValueError, match="check_scale must be True or False"):
        a.permutation_align_report(b, probes, 0, 4, check_scale="off")
    assert a.mode_connectivity_report(b, probes, 4, repair=np.bool_(False)).repaired is None


def test_dead_helpers_are_gone():
    from pyneural.reports.permutation_align import Check
    assert not hasattr(pn.TNNetLayer, "weights_t") and not hasattr(Check, "passed")
