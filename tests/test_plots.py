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
