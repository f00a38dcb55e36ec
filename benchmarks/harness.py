"""The machinery of the speed table: rows, results, targets, timing, the
progress line and the table itself.

A row is a ``Row(number, work, measure, original=..., target=...)`` whose
``measure(ctx)`` returns a ``Result``. ``ctx`` is a ``Context``: it knows
the repetition counts (``--quick`` lowers them) and reports progress.
"""
import dataclasses
import importlib.util
import pathlib
import shutil
import sys
from typing import Callable, Optional

from .results import load_average, machine, median_timing, timed

__all__ = ["Result", "Row", "AtLeast", "AtMost", "RatioAtLeast", "Context", "format_rate",
           "format_seconds", "render_table", "machine_summary", "load_example"]

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load_example(name):
    """The module ``examples/<name>.py`` (the benchmarks reuse the examples'
    data and training code)."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ values --
def format_rate(value):
    """``1,234,567 /s``."""
    return f"{value:,.0f} /s"


def format_seconds(value):
    return f"{value:.3g} s" if value < 10 else f"{value:.1f} s"


@dataclasses.dataclass
class Result:
    """What one row measured.

    figure : the pyneural figure (a rate per second when ``unit == "/s"``,
        a time when ``unit == "s"``); None when the row could not run.
    reference : the in-run numpy figure in the same unit, if the row has one.
    reference_label : what the reference is ("numpy matvec loop").
    status : shown instead of the figure when ``figure`` is None
        ("n/a (reports not available yet)", "error: ...").
    notes : short remarks printed under the table (checks, sizes).
    timing : the Timing (median wall and CPU seconds, load) of one timed
        repetition of pyneural's work, printed under the table.
    """
    figure: Optional[float] = None
    unit: str = "/s"
    reference: Optional[float] = None
    reference_label: str = ""
    status: str = ""
    notes: list = dataclasses.field(default_factory=list)
    timing: object = None

    def fmt(self, value):
        return format_rate(value) if self.unit == "/s" else format_seconds(value)

    @property
    def ratio(self):
        """pyneural relative to numpy, > 1 is better for pyneural (rates:
        figure / reference; times: reference / figure)."""
        if self.figure is None or not self.reference:
            return None
        if self.unit == "/s":
            return self.figure / self.reference
        return self.reference / self.figure


# ----------------------------------------------------------------- targets --
@dataclasses.dataclass
class AtLeast:
    """The figure must reach ``value`` (a rate)."""
    value: float

    def describe(self):
        return ">= " + format_rate(self.value)

    def met(self, result):
        return None if result.figure is None else result.figure >= self.value


@dataclasses.dataclass
class AtMost:
    """The figure must stay under ``value`` seconds."""
    value: float

    def describe(self):
        return "<= " + format_seconds(self.value)

    def met(self, result):
        return None if result.figure is None else result.figure <= self.value


@dataclasses.dataclass
class RatioAtLeast:
    """pyneural / in-run numpy must reach ``value``."""
    value: float

    def describe(self):
        return f">= {self.value:g}x numpy"

    def met(self, result):
        r = result.ratio
        return None if r is None else r >= self.value


@dataclasses.dataclass
class Row:
    """One line of the table.

    number : shown in the first column (the row's number in the targets).
    work : what is measured, short.
    measure : ``measure(ctx) -> Result``.
    original : the reference figure as text ("102,400 /s (Pascal)").
    target : AtLeast / AtMost / RatioAtLeast, or None.
    """
    number: str
    work: str
    measure: Callable
    original: str = "-"
    target: object = None


# ----------------------------------------------------------------- context --
class Context:
    """Passed to every row: repetition counts and the progress line (on
    stderr, so it stays out of the printed results)."""

    def __init__(self, quick=False, stream=None):
        self.quick = quick
        self.reps = 3 if quick else 7          # timed repetitions (after a warm-up)
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._label = ""
        self._shown = 0

    def begin(self, label):
        self._label = label
        self.progress("")

    def progress(self, text):
        """Rewrite the progress line (only on a terminal)."""
        if not self.tty:
            return
        width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
        line = f"{self._label} {text}".rstrip()[:width]
        self.stream.write("\r" + line.ljust(self._shown))
        self.stream.flush()
        self._shown = len(line)

    def clear(self):
        if self.tty and self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
            self._shown = 0

    def time_once(self, fn):
        """The Timing of one call of ``fn()``."""
        return timed(fn)[1]

    def median_time(self, fn, reps=None, warmup=1, what="rep"):
        """Median wall and CPU seconds (a Timing) of ``fn()`` over ``reps``
        runs after ``warmup`` runs."""
        reps = reps or self.reps
        for _ in range(warmup):
            fn()
        times = []
        for i in range(reps):
            self.progress(f"{what} {i + 1}/{reps}")
            times.append(self.time_once(fn))
        return median_timing(times)

    def median_times_interleaved(self, fns, reps=None, warmup=1):
        """Median Timings of several functions, run in turn (a, b, b, a,
        a, b, ...: the order flips every repetition) so that a noisy
        neighbour, or what the previous call left behind (freed memory, a
        cold cache), weighs on them alike. Each Timing has the median wall
        and the median CPU seconds of the process."""
        reps = reps or self.reps
        for _ in range(warmup):
            for fn in fns:
                fn()
        times = [[] for _ in fns]
        order = list(range(len(fns)))
        for i in range(reps):
            self.progress(f"rep {i + 1}/{reps}")
            for k in (order if i % 2 == 0 else order[::-1]):
                times[k].append(self.time_once(fns[k]))
        return [median_timing(t) for t in times]


# ------------------------------------------------------------------- table --
def _ratio_text(result):
    r = result.ratio
    return "-" if r is None else f"{r:.2f}x"


def _met_text(row, result):
    if result.status and result.figure is not None:
        return "NO: " + result.status        # measured, but a check failed
    if row.target is None:
        return "-"
    met = row.target.met(result)
    return "n/a" if met is None else ("yes" if met else "NO")


def table_cells(rows_and_results):
    header = ["#", "work", "pyneural", "numpy (same run)", "pyneural/numpy",
              "reference", "target", "met"]
    body = []
    for row, res in rows_and_results:
        fig = res.fmt(res.figure) if res.figure is not None else (res.status or "n/a")
        ref = res.fmt(res.reference) if res.reference is not None else "-"
        body.append([row.number, row.work, fig, ref, _ratio_text(res), row.original,
                     row.target.describe() if row.target else "-", _met_text(row, res)])
    return header, body


def render_table(rows_and_results, markdown=False):
    header, body = table_cells(rows_and_results)
    if markdown:
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join("---:" if i in (2, 3, 4) else "---" for i in range(len(header))) + "|"]
        for cells in body:
            cells = list(cells)
            cells[4] = f"**{cells[4]}**" if cells[4] != "-" else cells[4]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body)]
    right = {2, 3, 4}

    def line(cells):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep] + [line(c) for c in body])


# ----------------------------------------------------------------- machine --
def machine_summary():
    """One line: the machine, the load average, Python, numpy and the kernels."""
    m = machine()
    load = load_average()
    load = f", load average {load[0]:.2f}" if load else ""
    return (f"{m['cpu']}, {m['cores']} cores{load}; Python {m['python']}, "
            f"numpy {m['numpy']} ({m['blas']}); pyneural dense kernels: {m['kernels']}")
