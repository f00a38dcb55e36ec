"""The REPAIR'd path (repair=True on the reports, --repair on the CLI) and
the default's paper-scale branch (gradient-guided assignment steps)."""
import json

import numpy as np
import pytest

import pyneural as pn
from pyneural import cli, rng
from pyneural.reports import alignment, repair, symmetry
from pyneural.reports.assignment_steps import assignment_steps, supported
from conftest import FIXTURES, fixture_text

EXAMPLE = FIXTURES / "example"
A, B, PROBES = (str(EXAMPLE / n) for n in ("A.nn", "B.nn", "probes.csv"))


@pytest.fixture
def nets():
    return (pn.TNNet.from_string(fixture_text("example", "A.nn")),
            pn.TNNet.from_string(fixture_text("example", "B.nn")))


def _without_repair_lines(text):
    return "\n".join(l for l in text.split("\n") if "REPAIR" not in l)


def test_repair_towards_an_endpoint_itself_is_the_identity(nets, probes):
    # Why the repaired path copies its ends from the linear curve.
    a, b = nets
    X = probes.to_arrays()[0]
    work = repair.new_net_like(a)
    sa, sb = a.snapshot(), b.snapshot()
    for merged, w in ((sa, (1.0, 0.0)), (sb, (0.0, 1.0))):
        snap, _ = repair.repair_snapshot(work, merged, [sa, sb], w, X)
        assert all(x.same_bits(y) for x, y in zip(snap, merged))


def test_permutation_report_with_repair_adds_the_repaired_path(nets, probes):
    a, b = nets
    plain = a.permutation_align_report(b, probes, progress=False)
    r = a.permutation_align_report(b, probes, repair=True, progress=False)
    assert plain.repaired is None and plain.repaired_barrier is None
    assert np.array_equal(r.repaired.alphas, r.post.alphas)
    assert r.repaired.losses[0] == r.post.losses[0] and r.repaired.losses[-1] == r.post.losses[-1]
    assert np.isfinite(r.repaired_barrier) and r.repaired_barrier < r.pre_barrier
    text, plain_text = str(r), str(plain)
    assert "REPAIR'd barrier" in text and "REPAIR" not in plain_text
    assert _without_repair_lines(text) == plain_text
    d = r.to_dict()
    assert d["repaired_barrier"] == r.repaired_barrier and d["repaired"]["losses"][0] == \
        r.post.losses[0]
    json.dumps(d)


def test_repair_lowers_the_unaligned_barrier_of_the_example_nets(nets, probes):
    a, b = nets
    m = a.mode_connectivity_report(b, probes, repair=True)
    plain = a.mode_connectivity_report(b, probes)
    assert m.repaired_barrier < 0.6 * m.barrier          # measured 0.0548 against 0.0957
    assert m.barrier == plain.barrier and str(plain).count("REPAIR") == 0
    assert "REPAIR'd path" in str(m)


def test_cli_repair_on_connect_and_align(capsys):
    for cmd, extra in (("connect", ()), ("align", ("--score-mode", "activation", "--no-refine"))):
        assert cli.main([cmd, A, B, "--samples", PROBES, "--repair", *extra]) == 0
        out = capsys.readouterr()[0]
        assert "REPAIR'd barrier" in out
        assert cli.main([cmd, A, B, "--samples", PROBES, "--repair", "--json", *extra]) == 0
        assert json.loads(capsys.readouterr()[0])["repaired_barrier"] is not None


def test_auto_at_scale_takes_assignment_steps_unless_aligning_for_repair(nets, probes,
                                                                        monkeypatch):
    a, b = nets
    monkeypatch.setattr(alignment, "AUTO_SCALE_WORK", 0)
    r = a.permutation_align_report(b, probes, progress=False)
    assert r.matching_info.startswith("auto at scale") and "assignment steps" in r.matching_info
    assert "breaking its near-ties by the weights" in r.matching_info
    st = r.refinement
    assert st.moves == "assignment steps" and st.barrier_after <= st.barrier_before
    assert "assignment steps accepted" in str(r)
    X, _ = probes.to_arrays()
    work, hidden = a.clone(), symmetry.hidden_layers(a)
    start, aligned, _ = alignment.align(work, "activation", "hungarian", a.snapshot(),
                                        b.snapshot(), hidden, X, False,
                                        tie_break=alignment.SCALE_TIE_BREAK)
    work.restore(aligned)
    assert r.post_barrier <= a.mode_connectivity_report(work, probes).barrier + 1e-6
    rr = a.permutation_align_report(b, probes, repair=True, progress=False)
    assert rr.refinement is None and "REPAIR'd path" in rr.matching_info
    assert [l.permutation.tolist() for l in rr.layers] == [l.permutation.tolist() for l in start]


def test_small_nets_keep_the_three_refined_starts(nets, probes):
    a, b = nets
    r = a.permutation_align_report(b, probes, progress=False)
    assert r.matching_info.startswith("auto, each start refined")
    assert r.refinement.moves == "swaps"


def test_assignment_steps_never_raise_the_barrier_and_need_relu_or_linear(nets, probes):
    a, b = nets
    X, Y = probes.to_arrays()
    hidden = symmetry.hidden_layers(a)
    g = np.random.default_rng(3)
    start = [g.permutation(h.width) for h in hidden]
    perms, st = assignment_steps(a.clone(), a.snapshot(), b.snapshot(), hidden, start, X, Y, 10)
    assert st.barrier_after <= st.barrier_before and st.accepted > 0
    assert sorted(perms[0].tolist()) == list(range(hidden[0].width))
    rng.set_seed(1)
    tanh = pn.TNNet()
    tanh.add_layer(pn.TNNetInput(2))
    tanh.add_layer(pn.TNNetFullConnect(4))
    tanh.add_layer(pn.TNNetFullConnectLinear(3))
    assert supported(a) and not supported(tanh)


@pytest.mark.parametrize("suppress_bias", [0, 1])
def test_step_gradients_are_the_losss_derivatives(suppress_bias):
    from pyneural.reports.assignment_steps import _gradients
    pn.rng.set_seed(3)
    net = pn.TNNet()
    net.add_layer(pn.TNNetInput(3))
    net.add_layer(pn.TNNetFullConnectReLU(5, suppress_bias))
    net.add_layer(pn.TNNetFullConnectLinear(2, suppress_bias))
    for layer in net.trainable_layers():
        layer.bias = np.linspace(-0.3, 0.4, layer.neurons)
    g = np.random.default_rng(0)
    X, Y = g.normal(size=(40, 3)).astype(np.float32), g.normal(size=(40, 2)).astype(np.float32)

    def loss(params):                       # float64, from the layers' own arrays
        h = X.astype(np.float64)
        for layer, (w, b) in zip(net.trainable_layers(), params):
            h = h @ w.T + (0 if layer.suppress_bias else b)
            h = np.maximum(h, 0) if layer.activation == "relu" else h
        return 0.5 * np.mean(np.sum((h - Y) ** 2, axis=1)) / Y.shape[1]

    params = [(l.weights.astype(np.float64), l.bias.astype(np.float64))
              for l in net.trainable_layers()]
    for (gw, gb), (w, b) in zip(_gradients(net, X, Y), params):
        for grad, p in ((gw, w), (gb, b)):
            for idx in np.ndindex(p.shape):
                old = p[idx]
                p[idx] = old + 1e-6
                up = loss(params)
                p[idx] = old - 1e-6
                down = loss(params)
                p[idx] = old
                assert abs(grad[idx] - (up - down) / 2e-6) < 1e-4


def test_permute_repair_writes_the_permutations_align_repair_reports(capsys, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setattr(alignment, "AUTO_SCALE_WORK", 0)     # the paper-scale default
    written = {}
    for flag in ((), ("--repair",)):
        out = tmp_path / f"b{len(flag)}.nn"
        assert cli.main(["permute", B, "--to", A, "--samples", PROBES, "-o", str(out),
                         "--json", *flag]) == 0
        summary = json.loads(capsys.readouterr()[0])
        assert summary["for_repair"] is bool(flag)
        assert cli.main(["align", A, B, "--samples", PROBES, "--json", *flag]) == 0
        report = json.loads(capsys.readouterr()[0])
        written[flag] = [l["permutation"] for l in summary["layers"]]
        assert written[flag] == [l["permutation"] for l in report["layers"]]
    # the assignment steps move units: the two alignments differ
    assert written[()] != written[("--repair",)]


def test_merge_report_says_what_refinement_ran_at_scale(nets, probes, monkeypatch):
    a, b = nets
    monkeypatch.setattr(alignment, "AUTO_SCALE_WORK", 0)
    text = str(a.merge_with(b, probes, progress=False))
    assert "refinement: on (assignment steps)" in text
    assert "assignment steps accepted of" in text and "swaps accepted" not in text
    text = str(a.merge_with(b, probes, repair=True, progress=False))
    assert "refinement: on, none ran (see Matching)" in text
    assert "\nRefinement" not in text
