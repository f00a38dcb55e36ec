"""The results' notebook view: ``_repr_html_`` of every report result.

Jupyter shows an object through its ``_repr_html_``: here a compact table
of the result's numbers and, when matplotlib is installed, its plot as an
embedded PNG (base64, so the notebook file keeps it). ``str()`` stays the
printed report.
"""
import base64
import html
import io
import math

from .text import fixed

_STYLE = ("<style>.pyneural-result table{border-collapse:collapse;font-size:12px;"
          "margin:2px 0 6px 0}.pyneural-result th,.pyneural-result td{padding:1px 8px;"
          "border-bottom:1px solid #ddd;text-align:right;font-family:monospace}"
          ".pyneural-result th{text-align:left}.pyneural-result tr>th:first-child"
          "{font-weight:normal}.pyneural-result thead th{font-weight:bold}</style>")


def number(value, decimals=6):
    """A float with ``decimals`` decimals (NaN / Inf spelled as the reports
    spell them); None as a dash."""
    if value is None:
        return "-"
    return fixed(float(value), decimals)


def share(value):
    """A fraction as a percentage with two decimals (a dash for None / NaN)."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{100 * value:.2f}%"


def table(rows, header=None):
    """An HTML table of ``rows`` (sequences of cells, the first the row's
    label) under an optional ``header``. Every cell is escaped."""
    out = ["<table>"]
    if header:
        out.append("<thead><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
                   + "</tr></thead>")
    for row in rows:
        cells = [html.escape(str(c)) for c in row]
        out.append(f"<tr><th>{cells[0]}</th>" + "".join(f"<td>{c}</td>" for c in cells[1:])
                   + "</tr>")
    out.append("</table>")
    return "".join(out)


def figure_png(draw):
    """``draw()``'s figure as a base64 PNG ``<img>``, closed afterwards; ""
    when matplotlib is not installed."""
    try:
        drawn = draw()
        import matplotlib.pyplot as plt
    except ImportError:
        return ""
    figure = getattr(drawn, "figure", drawn)
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    finally:
        plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="plot" style="max-width:100%"/>'


def result_html(title, verdict, tables, draw=None):
    """The notebook view of a result: a title line with its verdict, the
    tables (HTML from ``table``) and the plot ``draw`` makes (None: no
    plot, e.g. for a report that did not run)."""
    head = f"<b>{html.escape(title)}</b>"
    if verdict:
        head += f": {html.escape(str(verdict))}"
    body = "".join(tables)
    image = figure_png(draw) if draw is not None else ""
    return f'{_STYLE}<div class="pyneural-result">{head}{body}{image}</div>'
