"""What a benchmark run leaves behind: ``benchmarks/results/<name>.json``.

Every benchmark (``python -m benchmarks.<name>``) records its run in one
file: the command, when and on what it ran (date, CPU, cores, Python,
numpy and its BLAS, the kernels' SIMD level), the load average at the start
and at the end, the wall and CPU seconds of the whole run, everything it
printed, and the figures the documentation quotes. A figure is the text
the docs show ("64.8%") with the number behind it; a table is a header and
rows of texts.

The documentation takes its figures from these files, never from a hand:
the site through ``docs/_ext/pyneural_results.py`` (the ``{bench}`` role
and the ``bench-table``/``bench-output`` directives), the README through
``tests/test_readme.py``, which checks every figure the README quotes
against its file. Re-running a benchmark rewrites its file; the pages
follow on the next build, and a README figure that no longer matches fails
the tests.

A full run writes the file; a partial or smoke run (``--quick``, a subset
of rows or pairs) writes it only where ``--results PATH`` says, so it
cannot replace the committed figures by accident.
"""
import contextlib
import dataclasses
import datetime
import io
import json
import os
import pathlib
import platform
import re
import resource
import statistics
import sys
import time

__all__ = ["RESULTS_DIR", "Timing", "timed", "median_timing", "cpu_seconds", "Run", "add_results_option", "results_path",
           "load", "machine", "slug", "update_readme"]

RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"
ROOT = RESULTS_DIR.parents[1]


def load_average():
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


@dataclasses.dataclass(frozen=True)
class Timing:
    """One timed call: wall seconds, CPU seconds of this process (every
    thread: on two cores the conv kernels run row blocks on both, so CPU
    can exceed wall) and the 1-minute load average when it ended."""
    wall: float
    cpu: float
    load: float = float("nan")

    def __str__(self):
        return f"{_seconds(self.wall)} wall, {_seconds(self.cpu)} CPU, load {self.load:.1f}"

    def to_dict(self):
        return {"wall_seconds": round(self.wall, 4), "cpu_seconds": round(self.cpu, 4),
                "load_average": round(self.load, 2)}


def _seconds(value):
    return f"{value:.3g} s" if value < 100 else f"{value:.0f} s"


def cpu_seconds():
    """CPU seconds so far of this process (every thread) and of the child
    processes it has waited for (an example run in a subprocess)."""
    return time.process_time() + _children_cpu()


def timed(call):
    """``(call(), Timing)``."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    out = call()
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    load = load_average()
    return out, Timing(wall, cpu, load[0] if load else float("nan"))


def median_timing(timings):
    """The median wall and the median CPU seconds of several runs, and the
    highest load seen among them."""
    return Timing(statistics.median(t.wall for t in timings),
                  statistics.median(t.cpu for t in timings),
                  max(t.load for t in timings))


def machine():
    """What the run ran on, as a dict (also printed by each benchmark's
    first line, ``harness.machine_summary``)."""
    import numpy as np

    from pyneural import _kernels
    blas = "?"
    try:
        b = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        blas = f"{b.get('name', '?')} {b.get('version', '')}".strip()
    except Exception:  # older numpy: no dict mode
        pass
    try:
        simd = _kernels.dense.simd_level()
    except AttributeError:
        simd = "?"
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "blas": blas, "kernels": simd,
            "platform": platform.platform()}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class _Tee(io.TextIOBase):
    """stdout that also keeps what was written (the run's printed output)."""

    def __init__(self, stream):
        self.stream = stream
        self.kept = io.StringIO()

    def write(self, text):
        self.kept.write(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()

    def isatty(self):
        return self.stream.isatty()


class Run:
    """A benchmark run being recorded: ``with Run(name, path, argv) as run:``
    around the benchmark's work; ``run.figure(...)`` and ``run.table(...)``
    inside it; the file is written when the block ends without an error
    (nothing is written when ``path`` is None).

    Parameters
    ----------
    name : str
        The module's name in ``benchmarks`` ("speed" for ``python -m benchmarks``).
    path : path-like or None
        Where to write the record.
    argv : list of str, optional
        The arguments the run was given (recorded in its command).
    """

    def __init__(self, name, path, argv=None):
        self.name = name
        self.path = None if path is None else pathlib.Path(path)
        module = "benchmarks" if name == "speed" else f"benchmarks.{name}"
        self.command = " ".join(["python -m", module, *(argv or [])])
        self.figures = {}
        self.tables = {}
        self.notes = {}

    def figure(self, key, text, value=None):
        """Record a figure the docs may quote: ``text`` as shown, ``value``
        the number behind it (None when the text is not a number)."""
        if key in self.figures:
            raise KeyError(f"figure {key!r} recorded twice in {self.name}")
        self.figures[key] = {"text": str(text),
                             "value": None if value is None else float(value)}
        return text

    def table(self, key, header, rows):
        """Record a table the docs may show: a header and rows of texts."""
        self.tables[key] = {"header": [str(h) for h in header],
                            "rows": [[str(c) for c in row] for row in rows]}

    def note(self, key, text):
        """Record a sentence the docs may quote (where a constant comes from)."""
        self.notes[key] = str(text)

    def __enter__(self):
        self._date = datetime.datetime.now().astimezone()
        self._load = load_average()
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()
        self._tee = _Tee(sys.stdout)
        self._redirect = contextlib.redirect_stdout(self._tee)
        self._redirect.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb):
        self._redirect.__exit__(exc_type, exc, tb)
        if exc_type is None and self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(self.record(), indent=1, ensure_ascii=False) + "\n")
            os.replace(tmp, self.path)
            print(f"(results written to {shown_path(self.path)})")
        return False

    def record(self):
        """The file's content, as a dict."""
        return {
            "benchmark": self.name,
            "command": self.command,
            "date": self._date.isoformat(timespec="seconds"),
            "machine": machine(),
            "load_average": {"start": self._load, "end": load_average()},
            "wall_seconds": round(time.perf_counter() - self._wall, 2),
            "cpu_seconds": round(cpu_seconds() - self._cpu, 2),
            "figures": self.figures,
            "tables": self.tables,
            "notes": self.notes,
            "output": self._tee.kept.getvalue(),
        }


def shown_path(path):
    """``path`` relative to the repository when inside it (what a run
    prints, and so what its results file records, is the same on every
    checkout)."""
    path = pathlib.Path(path).resolve()
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _children_cpu():
    """CPU seconds of the child processes this one has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def slug(label):
    """A row label as a figure's key: "hungarian weight + refine (x)" ->
    "hungarian_weight_refine_x"."""
    return "_".join(label.replace("+", " ").replace("(", " ").replace(")", " ").split())


def add_results_option(parser):
    """The ``--results`` option every benchmark takes."""
    parser.add_argument("--results", metavar="PATH",
                        help="where to write this run's results file (default: "
                             "benchmarks/results/<name>.json after a full run, none after a "
                             "partial or smoke run; '-' for none)")


def results_path(args, name, partial):
    """Where the run's record goes: ``--results`` if given ('-': nowhere),
    else the committed file for a full run and nowhere for a partial one."""
    if args.results:
        return None if args.results == "-" else pathlib.Path(args.results)
    return None if partial else RESULTS_DIR / f"{name}.json"


def load(name):
    """The record of ``benchmarks/results/<name>.json`` as a dict."""
    path = RESULTS_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no results file {path}: run python -m "
                                f"{'benchmarks' if name == 'speed' else 'benchmarks.' + name}"
                                ) from None


# A figure the README quotes: [64.8%](benchmarks/results/conv_align.json "linear_mean")
README_FIGURE = re.compile(r'\[([^\]]+)\]\((benchmarks/results/(\w+)\.json) "([^"]+)"\)')


def update_readme(path=ROOT / "README.md"):
    """Rewrite the text of every figure link in the README from its results
    file (what ``python -m benchmarks.results --readme`` does after a
    re-run); returns the ``(name:key, old, new)`` changes."""
    text = pathlib.Path(path).read_text()
    records, changes = {}, []

    def figure(match):
        old, target, name, key = match.groups()
        record = records.setdefault(name, load(name))
        if key not in record["figures"]:
            raise KeyError(f"{target} has no figure {key!r} (the README links to it)")
        new = record["figures"][key]["text"]
        if new != old:
            changes.append((f"{name}:{key}", old, new))
        return f'[{new}]({target} "{key}")'

    updated = README_FIGURE.sub(figure, text)
    if updated != text:
        pathlib.Path(path).write_text(updated)
    return changes


def main(argv=None):
    """``python -m benchmarks.results --readme``: the README's figures from
    the results files."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m benchmarks.results",
                                     description="The benchmarks' results files.")
    parser.add_argument("--readme", action="store_true",
                        help="rewrite every figure the README links to a results file from "
                             "that file")
    args = parser.parse_args(argv)
    if not args.readme:
        parser.print_help()
        return 0
    for where, old, new in update_readme():
        print(f"README.md: {where}: {old} -> {new}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
