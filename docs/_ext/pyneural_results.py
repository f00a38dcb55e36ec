"""The benchmarks' figures on the docs pages, read from their results files
(``benchmarks/results/<name>.json``, written by ``python -m
benchmarks.<name>``; see ``benchmarks/results.py``), never typed by hand.

In a MyST page:

- ``{bench}`conv_align:linear_mean``` is a figure as the run printed it
  ("64.8%");
- ``{bench-run}`conv_align``` says when and on what the run was made: date,
  machine, load average, wall and CPU seconds, and its command;
- ``{bench-note}`speed:reference_source``` is a sentence the run recorded
  (where a constant column comes from);
- a ``bench-table`` directive (argument ``conv_align:pairs``) is a table the
  run recorded;
- a ``bench-output`` directive (argument ``conv``) is everything the run
  printed, as a literal block.

A missing file, figure or table is a warning naming it (an error under
``sphinx -W``), and each page depends on the files it reads, so a re-run
benchmark rebuilds its pages.
"""
import json
import pathlib

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.util import logging

RESULTS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "results"
logger = logging.getLogger(__name__)


class BenchError(LookupError):
    """A results file, figure, table or note that is not there."""


def _record(name):
    path = RESULTS / f"{name}.json"
    try:
        return path, json.loads(path.read_text())
    except FileNotFoundError:
        module = "benchmarks" if name == "speed" else f"benchmarks.{name}"
        raise BenchError(f"no results file {path.name} (python -m {module} writes it)") from None


def _split(text):
    name, sep, key = text.partition(":")
    if not sep or not name or not key:
        raise BenchError(f"{text!r}: write NAME:KEY, e.g. conv_align:linear_mean")
    return name.strip(), key.strip()


def _lookup(text, section):
    name, key = _split(text)
    path, record = _record(name)
    try:
        return path, record[section][key]
    except KeyError:
        known = ", ".join(sorted(record.get(section, {}))) or "none"
        raise BenchError(f"{path.name} has no {section[:-1]} {key!r} (it has: {known})") from None


def describe_run(record):
    """One sentence: when, on what, at what load, how long, which command."""
    m = record["machine"]
    load = record.get("load_average") or {}
    start, end = load.get("start"), load.get("end")
    loads = ("load average not recorded" if not start else
             f"load average {start[0]:.1f} at the start and {end[0]:.1f} at the end"
             if end else f"load average {start[0]:.1f}")
    wall, cpu = record.get("wall_seconds"), record.get("cpu_seconds")
    took = ("" if wall is None else f"the run took {wall:.0f} s wall"
            + ("" if cpu is None else f" and {cpu:.0f} s CPU") + "; ")
    text = (f"{record['date'][:10]}, {m['cores']} cores of {m['cpu']} (Python {m['python']}, "
            f"numpy {m['numpy']} with {m['blas']}, kernels {m['kernels']}), {loads}; "
            f"{took}command: {record['command']}")
    if record.get("transcribed"):
        text += f" ({record['transcribed']})"
    return text


def _role(kind):
    def role(name, rawtext, text, lineno, inliner, options=None, content=None):
        env = inliner.document.settings.env
        try:
            if kind == "run":
                path, record = _record(text.strip())
                shown = describe_run(record)
            else:
                path, value = _lookup(text, "figures" if kind == "figure" else "notes")
                shown = value["text"] if kind == "figure" else value
        except BenchError as exc:
            logger.warning(f"{{bench}} {exc}", location=(env.docname, lineno))
            return [nodes.problematic(rawtext, rawtext)], []
        env.note_dependency(str(path))
        return [nodes.inline(rawtext, shown, classes=["bench-" + kind])], []
    return role


class BenchTable(Directive):
    """A table a benchmark recorded (``NAME:TABLE``)."""
    required_arguments = 1

    def run(self):
        env = self.state.document.settings.env
        try:
            path, table = _lookup(self.arguments[0], "tables")
        except BenchError as exc:
            logger.warning(f"bench-table {exc}", location=(env.docname, self.lineno))
            return []
        env.note_dependency(str(path))
        header, rows = table["header"], table["rows"]
        group = nodes.tgroup(cols=len(header))
        for _ in header:
            group += nodes.colspec(colwidth=1)
        group += nodes.thead("", self._row(header))
        group += nodes.tbody("", *(self._row(r) for r in rows))
        return [nodes.table("", group, classes=["bench-table"])]

    @staticmethod
    def _row(cells):
        return nodes.row("", *(nodes.entry("", nodes.paragraph(text=c)) for c in cells))


class BenchOutput(Directive):
    """Everything a benchmark printed (``NAME``), as a literal block."""
    required_arguments = 1

    def run(self):
        env = self.state.document.settings.env
        try:
            path, record = _record(self.arguments[0])
        except BenchError as exc:
            logger.warning(f"bench-output {exc}", location=(env.docname, self.lineno))
            return []
        env.note_dependency(str(path))
        text = record["output"].rstrip("\n")
        block = nodes.literal_block(text, text, classes=["bench-output"])
        block["language"] = "text"
        return [block]


def setup(app):
    app.add_role("bench", _role("figure"))
    app.add_role("bench-run", _role("run"))
    app.add_role("bench-note", _role("note"))
    app.add_directive("bench-table", BenchTable)
    app.add_directive("bench-output", BenchOutput)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
