"""The README runs as written (its first command and its Quick start),
its figures are those of the benchmarks' results files, the numbers it
quotes from the command line are what the commands print, and the
citations of docs/SEMANTICS.md point at its sections."""
import contextlib
import io
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).parents[1] / "README.md"
ROOT = README.parent
sys.path.insert(0, str(ROOT))            # the benchmarks package, from any directory
from benchmarks.results import README_FIGURE  # noqa: E402
# A figure the README quotes from a benchmark: [64.8%](benchmarks/results/conv_align.json "linear_mean")
RESULT_LINK = README_FIGURE
# What a measured figure looks like: 97.6%, 881,515 /s, 8.6x, 3.1 s, 561 MB.
FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?(?:-\d[\d,]*(?:\.\d+)?)?(?:%|x\b| ?/s\b| s\b| MB\b)")


def _plain(text):
    """The README's text with every link replaced by its text."""
    return re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)


def _section(text, heading):
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else len(text)]


def _prose(text):
    """``text`` without its fenced code blocks."""
    return re.sub(r"^```.*?^```$", "", text, flags=re.S | re.M)


def test_quick_start_runs():
    text = README.read_text()
    code = re.search(r"## Quick start\n\n```python\n(.*?)```", text, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md (Quick start)", "exec"), {})
    printed = out.getvalue()
    assert "ModeConnectivityReport" in printed and "PermutationAlignReport" in printed
    assert "Verdict:" in printed


def test_first_command_runs_the_headline(tmp_path):
    """A newcomer's first command is the permutation-alignment example, and
    it prints what the README promises."""
    text = README.read_text()
    first = re.search(r"```bash\n(.*?)```", text, re.S).group(1).strip()
    install, run = first.split(" && ")
    assert install == "pip install -e ." and run == "python examples/permutation_align.py"
    script = README.parent / run.split()[1]
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "RUN 4" in proc.stdout and "Verdict: BARRIER COLLAPSED" in proc.stdout
    assert "97.59%" in proc.stdout and "removes 97.6% of" in " ".join(_plain(text).split())


def test_figures_are_the_results_files():
    """Every figure the README links to a results file is the text that file
    records for it: re-running a benchmark that changes a figure makes this
    fail until the README says the new one (``python -m benchmarks.results
    --readme`` rewrites them from the files)."""
    links = RESULT_LINK.findall(README.read_text())
    assert len(links) >= 20
    files = {}
    for text, path, name, key in links:
        record = files.setdefault(name, json.loads((ROOT / path).read_text()))
        assert key in record["figures"], f"{path} has no figure {key!r}"
        assert text == record["figures"][key]["text"], (
            f"README quotes {text!r} for {name}:{key}, the results file says "
            f"{record['figures'][key]['text']!r}")


@pytest.mark.parametrize("heading", ["Set up", "Headline results", "Conv nets"])
def test_measured_figures_link_to_their_results(heading):
    """In the sections that quote measurements, no figure is typed by hand:
    each one is a link to the results file it comes from."""
    prose = _prose(_section(README.read_text(), heading))
    unlinked = FIGURE.findall(RESULT_LINK.sub("", prose))
    assert not unlinked, f"figures in '{heading}' without a results file: {unlinked}"


def test_the_command_line_flow_says_what_it_prints(tmp_path):
    """The README's command-line flow and the numbers its explanation
    quotes: the original's and the default's reductions, the barriers, the
    endpoint loss and their ratio are what the commands print."""
    text = " ".join(_plain(README.read_text()).split())
    example = ROOT / "tests" / "fixtures" / "example"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + sys.path))

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "pyneural", *map(str, args)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    samples = ("--samples", example / "probes.csv")
    original = cli("align", example / "A.nn", example / "B.nn", *samples, "--score-mode", "0",
                   "--original")
    permuted = cli("permute", example / "B.nn", "--to", example / "A.nn", *samples,
                   "-o", "B_aligned.nn")
    connect = json.loads(cli("connect", example / "A.nn", "B_aligned.nn", *samples, "--json"))
    aligned = cli("align", example / "A.nn", example / "B.nn", *samples)
    reduction = re.search(r"Barrier reduction += ([\d.]+%)", original).group(1)
    before, after, removed = re.search(r"before ([\d.]+), after ([\d.]+) \(([\d.]+%) removed",
                                       permuted).groups()
    endpoint = max(connect["endpoint_losses"])
    assert connect["verdict"] == "SEPARATED" and "Verdict: BARRIER COLLAPSED" in aligned
    assert f"{connect['barrier']:.6f}" == after
    for quoted in (f"removes {reduction} of the barrier", f"removes {removed} of it",
                   f"({before} -> {after})", f"at most {endpoint:.6f}",
                   f"{connect['barrier'] / endpoint:.1f} times it", '"verdict": "SEPARATED"',
                   "BARRIER COLLAPSED"):
        assert quoted in text, quoted


def test_semantics_citations_name_sections_that_exist():
    """Code and tests cite docs/SEMANTICS.md by section name; every name
    must be a heading there, and the document's contents links must work."""
    root = README.parent
    doc = (root / "docs" / "SEMANTICS.md").read_text()
    headings = set(re.findall(r"^#+ (.+)$", doc, re.M))
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
    for link in re.findall(r"\]\(#([^)]+)\)", doc):
        assert link in anchors, link
    cited = []
    for path in [*root.glob("tests/*.py"), *root.glob("tests/fixtures/layers/*.md"),
                 *root.glob("pyneural/**/*.py"), *root.glob("ext/*.p*")]:
        for name in re.findall(r'docs/SEMANTICS\.md, "([^"]+)"', path.read_text()):
            cited.append(name)
            assert name in headings, (path, name)
    assert len(cited) >= 3


def test_ci_runs_the_readmes_commands():
    """CI runs the README's test command and its docs build command as
    written (a changed command must change in both places)."""
    text = README.read_text()
    commands = [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)]
    test_command = 'pip install -e ".[test,plot,examples]" && python -m pytest -q'
    docs_command = ('pip install -e ".[docs]" && '
                    "python -m sphinx -W -b html docs docs/_build/html")
    assert test_command in commands and docs_command in commands
    ci = (README.parent / ".ci" / "run").read_text()
    assert test_command in ci
    assert docs_command.replace("pip install -e", "pip install --quiet -e") in ci


def test_readme_is_short():
    assert len(README.read_text().splitlines()) <= 300


def test_readme_links_resolve():
    text = README.read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)\s]*)?(?: \"[^\"]*\")?\)", text):
        if not target.startswith(("http://", "https://")):
            assert (README.parent / target).exists(), target
