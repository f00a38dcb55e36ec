"""The results' notebook view (``_repr_html_``): the numbers as tables, the
plot inline as a PNG when matplotlib is installed and no image without it;
``str()`` stays the text report."""
import base64
import re
import sys

import matplotlib
import pytest

import pyneural as pn
from pyneural import toy

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PNG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def results():
    a, b = toy.trained_net(101, 11), toy.trained_net(999, 22)
    probes = toy.build_probes()
    held_out = toy.to_pair_list(*toy.make_samples([0, 1, 2] * 20))
    naive = a.clone()
    naive.interpolate(a.snapshot(), b.snapshot(), 0.5)
    return {
        "align": a.permutation_align_report(b, probes, eval_samples=held_out, repair=True,
                                            refine_budget=200),
        "connect": a.mode_connectivity_report(b, probes, repair=True),
        "merge": a.merge_with(b, probes, repair=True, refine_budget=200),
        "sweep": pn.barrier_matrix([a, b, toy.trained_net(303, 304)], probes, refine_budget=200,
                                   names=["<A>", "B & co", "C"]),
        "repair": pn.repair(naive, [a, b], probes),
    }


def _png(html):
    found = PNG.search(html)
    return base64.b64decode(found.group(1)) if found else None


@pytest.mark.parametrize("name", ["align", "connect", "merge", "sweep"])
def test_numbers_and_the_plot_inline(results, name):
    r = results[name]
    plt.close("all")
    html = r._repr_html_()
    assert html.count("<table>") == html.count("</table>") >= 1
    png = _png(html)
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2000
    assert plt.get_fignums() == []       # the figure drawn for the view is closed
    text = str(r)
    assert "<" not in text.split("\n")[0] and "<table" not in text


def test_each_view_shows_its_results_numbers(results):
    align = results["align"]._repr_html_()
    assert "BARRIER COLLAPSED" in align and f"{results['align'].pre_barrier:.6f}" in align
    assert f"{results['align'].post_barrier:.6f}" in align
    assert f"{results['align'].repaired_barrier:.6f}" in align
    assert f"{100 * results['align'].reduction:.2f}%" in align
    connect = results["connect"]._repr_html_()
    assert "SEPARATED" in connect and f"{results['connect'].barrier:.6f}" in connect
    merge = results["merge"]
    view = merge._repr_html_()
    assert merge.verdict.value in view
    for model in (*merge.endpoints, merge.naive, merge.aligned, merge.repaired):
        assert f"{model.loss:.6f}" in view and f"{100 * model.accuracy:.2f}%" in view
    sweep = results["sweep"]
    view = sweep._repr_html_()
    assert f"{sweep.pre[0, 1]:.6f}" in view and f"{sweep.post[1, 2]:.6f}" in view
    repair = results["repair"]
    view = repair._repr_html_()
    assert "statistics match" in view and repair.summary().replace("'", "&#x27;") in view
    assert _png(view) is None            # REPAIR has no plot


def test_names_are_escaped(results):
    view = results["sweep"]._repr_html_()
    assert "&lt;A&gt;" in view and "B &amp; co" in view and "<A>" not in view


def test_without_matplotlib_the_table_alone(results, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pyneural\\[plot\\]"):
        results["align"].plot()
    for r in results.values():
        html = r._repr_html_()
        assert "<table>" in html and "<img" not in html


def test_a_report_that_did_not_run_has_no_plot():
    a = toy.trained_net(101, 11)
    empty = pn.TNNetVolumePairList()
    r = a.permutation_align_report(a, empty)
    assert r.message and r.pre is None
    html = r._repr_html_()
    assert "<img" not in html and r.verdict.value in html


def test_a_large_sweep_shows_its_summary_and_heatmaps_only():
    import numpy as np
    from pyneural.reports.sweep import SweepResult
    n = 13
    m = np.full((n, n), 0.01)
    np.fill_diagonal(m, 0.0)
    r = SweepResult(names=[f"net {i}" for i in range(n)], k=10, n_samples=36, pre=m, post=m / 10)
    html = r._repr_html_()
    assert html.count("<table>") == 1 and "0.001000" in html and _png(html) is not None
