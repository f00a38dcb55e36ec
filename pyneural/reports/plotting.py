"""Loss-curve plots of the reports (matplotlib, an optional extra).

``pip install pyneural[plot]`` installs matplotlib; without it, plotting
raises an ImportError that says so. Nothing else in pyneural needs it.
"""
import math


def _pyplot():
    try:
        import matplotlib.pyplot as plt   # falls back to Agg without a display
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'pyneural[plot]'") from None
    return plt


def _axes(ax):
    plt = _pyplot()
    if ax is None:
        # constrained layout makes room for the legend outside the axes
        fig, ax = plt.subplots(figsize=(6.4, 4.6), layout="constrained")
    return plt, ax


def _curve(ax, curve, label, color):
    """The curve, its ends marked, and its barrier: a dotted line from the
    higher end's loss up to the peak, the value in the legend (a text label
    at the peak would collide with the other curves)."""
    ax.plot(curve.alphas, curve.losses, "-o", color=color, markersize=3,
            label=f"{label}: barrier {curve.barrier:.6f}")
    ax.plot([curve.alphas[0], curve.alphas[-1]], [curve.losses[0], curve.losses[-1]], "s",
            color=color, markersize=7)
    peak = curve.peak_index
    ax.vlines(curve.alphas[peak], curve.endpoint_max, curve.losses[peak], colors=color,
              linestyles=":", linewidth=1.5)


def place_legend(ax, columns=1):
    """The legend of ``ax`` below the axes, outside the data, so that it
    covers neither the curves nor their labels."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=columns, fontsize=8,
              frameon=False)


def save(figure, path):
    """Save ``figure`` as PNG (nothing cut at the edges) and close it."""
    plt = _pyplot()
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)


def report_with_curves(result, path, title, extra):
    """Save ``result.plot()`` with more curves on it: ``extra`` is
    ``(curve, label, style, color)`` tuples, each drawn with its barrier in
    the legend; the legend goes below the axes. Returns the axes (closed
    figure). ImportError without matplotlib."""
    ax = result.plot()
    for curve, label, style, color in extra:
        ax.plot(curve.alphas, curve.losses, style, color=color, markersize=3,
                label=f"{label}: barrier {curve.barrier:.6f}")
    place_legend(ax, columns=1)
    ax.set_title(title)
    save(ax.figure, path)
    return ax


def _finish(plt, ax, title, path):
    ax.set_xlabel("alpha  (theta = (1 - alpha) A + alpha B)")
    ax.set_ylabel("loss")
    ax.set_title(title)
    place_legend(ax)
    ax.grid(alpha=0.3)
    ax.margins(y=0.08)
    if path is not None:
        save(ax.figure, path)
    return ax


def plot_mode_connectivity(result, path=None, ax=None):
    """The loss along the path, endpoints marked, barrier annotated.

    Parameters
    ----------
    result : ModeConnectivityResult
    path : str or path-like, optional
        Save the figure there (PNG by extension) and close it.
    ax : matplotlib Axes, optional
        Draw into these axes instead of a new figure.

    Returns
    -------
    The matplotlib Axes.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    ValueError
        The report did not run (no curve to draw).
    """
    if result.curve is None:
        raise ValueError(f"nothing to plot: {result.message}")
    plt, ax = _axes(ax)
    _curve(ax, result.curve, f"A -> B ({result.verdict.value})", "tab:blue")
    if result.repaired is not None:
        _curve(ax, result.repaired, "REPAIR'd", "tab:purple")
    return _finish(plt, ax, "Mode connectivity: loss along the linear path", path)


def plot_permutation_align(result, path=None, ax=None):
    """Loss curves before and after alignment on one axes (see
    ``plot_mode_connectivity`` for the parameters)."""
    if result.pre is None:
        raise ValueError(f"nothing to plot: {result.message}")
    plt, ax = _axes(ax)
    _curve(ax, result.pre, "before alignment", "tab:red")
    _curve(ax, result.post, f"after alignment ({result.score_mode}, {result.solver})", "tab:green")
    if result.repaired is not None:
        _curve(ax, result.repaired, "after alignment, REPAIR'd", "tab:purple")
    return _finish(plt, ax, f"Permutation alignment: {result.verdict.value}", path)


def plot_merge(result, path=None, ax=None):
    """A merge (see ``plot_mode_connectivity`` for the parameters).

    Two nets: the loss along the straight path before and after alignment,
    the accuracy dashed on a second axis, the merged nets marked at alpha.
    More nets: each model's loss as a bar, its accuracy as a dot.
    """
    plt, ax = _axes(ax)
    if result.pre is None:
        return _merge_bars(plt, ax, result, path)
    _curve(ax, result.pre, f"before alignment (naive average {result.naive.accuracy:.1%})",
           "tab:red")
    _curve(ax, result.post, f"after alignment (aligned merge {result.aligned.accuracy:.1%})",
           "tab:green")
    if result.repaired is not None:
        ax.plot([result.alpha], [result.repaired.loss], "P", color="tab:purple", markersize=10,
                label=f"aligned + REPAIR ({result.repaired.accuracy:.1%})")
        ax.plot([result.alpha], [result.naive_repaired.loss], "X", color="tab:orange",
                markersize=9, label=f"naive + REPAIR ({result.naive_repaired.accuracy:.1%})")
    acc = ax.twinx()
    for curve, color in ((result.pre, "tab:red"), (result.post, "tab:green")):
        acc.plot(curve.alphas, curve.accuracies, "--", color=color, alpha=0.6, linewidth=1)
    acc.set_ylabel("accuracy (dashed)")
    acc.set_ylim(0, 1.02)
    return _finish(plt, ax, f"Merge: {result.verdict.value}", path)


def _merge_bars(plt, ax, result, path):
    models = list(result.endpoints) + [result.naive, result.aligned]
    if result.repaired is not None:
        models[-1:-1] = [result.naive_repaired]
        models.append(result.repaired)
    names = [m.name for m in models]
    x = range(len(models))
    ax.bar(x, [m.loss for m in models], color="tab:blue", alpha=0.7, label="loss")
    ax.set_xticks(list(x))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("loss")
    acc = ax.twinx()
    acc.plot(list(x), [m.accuracy for m in models], "o", color="tab:green", label="accuracy")
    acc.set_ylabel("accuracy (dots)")
    acc.set_ylim(0, 1.02)
    ax.set_title(f"Merge of {result.n_nets} nets: {result.verdict.value}")
    ax.grid(alpha=0.3, axis="y")
    if path is not None:
        save(ax.figure, path)
    return ax


def plot_barrier_matrix(result, path=None):
    """A sweep's barrier matrices as heatmaps, before and after alignment
    (and REPAIR'd, when measured) side by side (only "before" without
    alignment). Each panel has its own colour scale, since alignment
    shrinks the barriers by orders of magnitude, and up to
    ``ANNOTATE_UP_TO`` nets each cell prints its value.

    Parameters
    ----------
    result : SweepResult
    path : str or path-like, optional
        Save the figure there (PNG by extension) and close it.

    Returns
    -------
    The matplotlib Figure.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    """
    import numpy as np
    from matplotlib.ticker import FuncFormatter
    plt = _pyplot()
    panels = [("before alignment", result.pre)]
    if result.aligned:
        panels.append(("after alignment", result.post))
    if result.repaired is not None:
        panels.append(("REPAIR'd" + (", after alignment" if result.aligned else ""),
                       result.repaired))
    n = result.n_nets
    side = max(4.0, 0.45 * n + 2.0)
    fig, axes = plt.subplots(1, len(panels), figsize=((side + 1.2) * len(panels), side),
                             squeeze=False, layout="constrained")
    ticks = list(range(n))
    for ax, (title, m) in zip(axes[0], panels):
        finite = m[np.isfinite(m)]
        top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        image = ax.imshow(m, vmin=0.0, vmax=top, cmap="viridis")
        ax.set_title(f"Barrier {title}")
        ax.set_xticks(ticks)
        ax.set_yticks(ticks)
        ax.set_xticklabels(result.names, rotation=45, ha="right", fontsize=8)
        ax.set_yticklabels(result.names, fontsize=8)
        # Small barriers are shown scaled (x 1e-3 on the colour bar) so that
        # the cells hold short numbers.
        exponent = math.floor(math.log10(top)) if top < 0.1 else 0
        scale = 10.0 ** -exponent
        bar = fig.colorbar(image, ax=ax, shrink=0.85, label="loss barrier" + (
            f" (x 1e{exponent})" if exponent else ""))
        bar.formatter = FuncFormatter(lambda v, _, s=scale: f"{v * s:g}")
        bar.update_ticks()
        if n <= ANNOTATE_UP_TO:
            _annotate_cells(ax, m, top, scale)
    if path is not None:
        save(fig, path)
    return fig


# Up to this many nets a heatmap prints each cell's value (beyond, the
# numbers no longer fit the cells).
ANNOTATE_UP_TO = 12


def _annotate_cells(ax, m, top, scale):
    """Each cell's value (times ``scale``, as the colour bar), dark on the
    light end of the colour map and light on the dark end."""
    n = len(m)
    size = 8 if n <= 6 else 7 if n <= 9 else 6
    for i in range(n):
        for j in range(n):
            v = float(m[i, j])
            digits = 3 if scale == 1 else 2
            text = "0" if v == 0 else f"{v * scale:.{digits}f}" if math.isfinite(v) else "NaN"
            light = math.isfinite(v) and v > 0.6 * top
            ax.text(j, i, text, ha="center", va="center", fontsize=size,
                    color="black" if light else "white")
