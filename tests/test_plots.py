"""plot() on both result objects: a real PNG with matplotlib, a clear
ImportError without it."""
import builtins

import pytest

from pyneural.reports import plotting


def test_plots_write_non_empty_pngs(example_nets, probes, tmp_path):
    import matplotlib  # noqa: F401  (in the [test] extra: a missing one fails, never skips)
    a, b = example_nets
    for name, result in (("mc", a.mode_connectivity_report(b, probes)),
                         ("pa", a.permutation_align_report(b, probes, 1))):
        path = tmp_path / f"{name}.png"
        ax = result.plot(path)
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
        assert len(ax.lines) >= 2


def test_plot_draws_into_given_axes(example_nets, probes):
    import matplotlib.pyplot as plt
    a, b = example_nets
    fig, ax = plt.subplots()
    assert a.mode_connectivity_report(b, probes).plot(ax=ax) is ax
    plt.close(fig)


def test_plot_without_matplotlib_names_the_extra(example_nets, probes, monkeypatch):
    a, b = example_nets
    result = a.mode_connectivity_report(b, probes)
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"pyneural\[plot\]"):
        plotting.plot_mode_connectivity(result)


def test_plot_of_a_report_that_did_not_run_is_a_value_error(example_nets):
    a, b = example_nets
    with pytest.raises(ValueError, match="nil or empty"):
        a.permutation_align_report(b, []).plot()


def _overlap(a, b):
    return not (a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0)


def test_legends_sit_outside_the_data_and_show_the_barriers(example_nets, probes):
    import matplotlib.pyplot as plt
    a, b = example_nets
    for result in (a.permutation_align_report(b, probes, repair=True, refine_budget=100),
                   a.merge_with(b, probes, repair=True, refine_budget=100)):
        ax = result.plot()
        fig = ax.figure
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        legend = ax.get_legend().get_window_extent(renderer)
        for axes in fig.axes:            # the merge plot's accuracy axis too
            assert not _overlap(legend, axes.get_window_extent(renderer))
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any(f"barrier {result.pre_barrier:.6f}" in t for t in labels)
        assert any(f"barrier {result.post_barrier:.6f}" in t for t in labels)
        plt.close(fig)


def test_heatmaps_each_on_their_own_scale_with_values_up_to_12_nets():
    import matplotlib.pyplot as plt
    import numpy as np
    from pyneural.reports.sweep import SweepResult

    def result(n):
        g = np.random.default_rng(n)
        pre, post = g.uniform(0.05, 0.15, (n, n)), g.uniform(0.0005, 0.003, (n, n))
        for m in (pre, post):
            m[:] = (m + m.T) / 2
            np.fill_diagonal(m, 0.0)
        return SweepResult(names=[f"net {i}" for i in range(n)], k=10, n_samples=36,
                           pre=pre, post=post)

    r = result(12)
    fig = r.plot()
    before, after = [ax for ax in fig.axes if ax.images]
    assert before.images[0].get_clim()[1] == r.pre.max()
    assert after.images[0].get_clim()[1] == r.post.max()
    texts = [t.get_text() for t in after.texts]
    assert len(texts) == 144
    # after alignment the barriers are ~1e-3: shown x 1e3, as the colour bar says
    assert f"{r.post[0, 1] * 1e3:.2f}" in texts
    assert any("x 1e-3" in ax.get_ylabel() for ax in fig.axes)
    plt.close(fig)
    fig = result(13).plot()
    assert all(not ax.texts for ax in fig.axes)
    plt.close(fig)


def test_report_with_curves_adds_labelled_curves_and_saves(example_nets, probes, tmp_path):
    a, b = example_nets
    r = a.permutation_align_report(b, probes, 1, repair=True)
    original = a.permutation_align_report(b, probes, 1, solver="greedy", refine=False).post
    path = tmp_path / "more.png"
    ax = plotting.report_with_curves(r, path, "title", [(original, "greedy", ":o", "tab:gray")])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"greedy: barrier {original.barrier:.6f}" in labels
    assert ax.get_title() == "title"
