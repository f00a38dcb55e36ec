"""The benchmarks' results files (benchmarks/results.py): what a run
records, when it writes, the committed files, and the docs' references to
their figures."""
import argparse
import json
import pathlib
import re
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))            # the benchmarks package, from any directory
from benchmarks import results  # noqa: E402

FIELDS = {"benchmark", "command", "date", "machine", "load_average", "wall_seconds",
          "cpu_seconds", "figures", "tables", "notes", "output"}


def test_a_run_records_when_where_how_long_and_what_it_printed(tmp_path):
    path = tmp_path / "demo.json"
    with results.Run("demo", path, ["--pairs", "1,2"]) as run:
        print("a line the run printed")
        busy = time.process_time() + 0.05
        while time.process_time() < busy:
            pass
        run.figure("share", "64.8%", 0.648)
        run.table("pairs", ["pair", "share"], [["(1, 2)", "64.8%"]])
        run.note("source", "where a constant comes from")
    record = json.loads(path.read_text())
    assert FIELDS <= set(record)
    assert record["command"] == "python -m benchmarks.demo --pairs 1,2"
    assert record["machine"]["cores"] >= 1 and record["machine"]["cpu"]
    assert len(record["load_average"]["start"]) == 3 and len(record["load_average"]["end"]) == 3
    assert record["cpu_seconds"] >= 0.05 and record["wall_seconds"] >= 0.05
    assert record["output"] == "a line the run printed\n"
    assert record["figures"]["share"] == {"text": "64.8%", "value": 0.648}
    assert record["tables"]["pairs"]["rows"] == [["(1, 2)", "64.8%"]]
    with pytest.raises(KeyError, match="twice"):
        run.figure("share", "1%")


def test_a_failed_run_writes_nothing(tmp_path):
    path = tmp_path / "demo.json"
    with pytest.raises(RuntimeError):
        with results.Run("demo", path):
            raise RuntimeError("the benchmark broke")
    assert not path.exists()


def test_timed_gives_wall_cpu_and_load():
    def work():
        end = time.process_time() + 0.02
        while time.process_time() < end:
            pass
        return 7
    value, timing = results.timed(work)
    assert value == 7 and timing.cpu >= 0.02 and timing.wall >= 0.02
    assert re.fullmatch(r"\S+ s wall, \S+ s CPU, load \S+", str(timing))


@pytest.mark.parametrize("given,partial,expected", [
    (None, False, results.RESULTS_DIR / "x.json"),    # a full run: the committed file
    (None, True, None),                               # --quick, --rows, --pairs: none
    ("-", False, None),
    ("elsewhere.json", True, pathlib.Path("elsewhere.json")),
])
def test_where_a_run_writes(given, partial, expected):
    assert results.results_path(argparse.Namespace(results=given), "x", partial) == expected


COMMITTED = sorted(results.RESULTS_DIR.glob("*.json"))


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_results_files_are_complete(path):
    """Each file names its command, date, machine and load, and says so
    where CPU seconds were not recorded (a transcribed older run)."""
    record = json.loads(path.read_text())
    assert FIELDS <= set(record), FIELDS - set(record)
    assert record["benchmark"] == path.stem
    assert record["command"].startswith("python -m benchmarks")
    assert record["output"].strip()
    if record["cpu_seconds"] is None or record["load_average"]["start"] is None:
        assert "transcribed" in record.get("transcribed", "")
    for key, figure in record["figures"].items():
        assert set(figure) == {"text", "value"} and figure["text"], key


def _doc_references():
    """Every ``{bench}`name:key``` (and note, table, output, run) the docs use."""
    found = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        text = page.read_text()
        for kind, ref in re.findall(r"\{(bench|bench-note|bench-run)\}`([^`]+)`", text):
            found.append((page.name, kind, ref))
        for kind, ref in re.findall(r"```\{(bench-table|bench-output)\} *(\S+)", text):
            found.append((page.name, kind, ref))
    return found


def test_every_figure_the_docs_quote_is_in_its_file():
    """What the docs build reads exists (the build fails otherwise; this
    says so in the test run, without Sphinx)."""
    refs = _doc_references()
    assert len(refs) >= 40
    section = {"bench": "figures", "bench-note": "notes", "bench-table": "tables"}
    for page, kind, ref in refs:
        name, _, key = ref.partition(":")
        record = results.load(name)
        if kind in section:
            assert key in record[section[kind]], f"{page}: {kind} {ref}"


def test_update_readme_rewrites_stale_figures(tmp_path):
    key = next(iter(results.load("conv_align")["figures"]))
    readme = tmp_path / "README.md"
    readme.write_text(f'removes [1.0%](benchmarks/results/conv_align.json "{key}") of it\n')
    changes = results.update_readme(readme)
    now = results.load("conv_align")["figures"][key]["text"]
    assert changes == [(f"conv_align:{key}", "1.0%", now)]
    assert readme.read_text() == f'removes [{now}](benchmarks/results/conv_align.json "{key}") of it\n'
    assert results.update_readme(readme) == []
