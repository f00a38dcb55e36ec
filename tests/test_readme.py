"""The README runs as written (its first command and its Quick start), and
the citations of docs/SEMANTICS.md point at its sections."""
import contextlib
import io
import pathlib
import re
import subprocess
import sys

README = pathlib.Path(__file__).parents[1] / "README.md"


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
    assert "97.59%" in proc.stdout and "removes 97.6% of" in " ".join(text.split())


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
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not target.startswith(("http://", "https://")):
            assert (README.parent / target).exists(), target
