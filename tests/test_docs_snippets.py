"""Every code block of the README and of the docs' Markdown pages runs.

A page's ```python blocks run in order in one namespace (a page reads as
one session), in a fresh temporary directory, with matplotlib drawing
off-screen. A ```bash block runs too (in the same directory, after the
Python blocks above it) when the line before it is the comment
``<!-- snippet: run -->``; the commands find this checkout's pyneural
(``pyneural`` is ``python -m pyneural`` when the command is not installed)
and its ``tests`` folder, as from the repository's root.
Every other fence names what it holds (``text`` for output, ``bash`` or
``console`` for commands) and is skipped on purpose: an unnamed fence is an
error, so a snippet cannot be left out by accident. A block under
``<!-- snippet: requires NAME -->`` (one such line per name) is skipped
when NAME cannot be imported: a module (an optional extra such as torch)
or a module's attribute (``pyneural.TNNetMaxPool``); a missing optional
package fails instead under PYNEURAL_REQUIRE_OPTIONAL=1 (as in CI).
"""
import contextlib
import importlib.util
import io
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from conftest import fail_if_required, need

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SKIPPED_DIRS = {"_build", "auto_examples", "generated", "_static", "_templates"}
NAMED = {"python", "bash", "console", "text", "toml", "json", "ini", "rst"}
# Pages other projects' conventions govern (a spec in formulas): their
# unnamed fences are formulas, not code; their python blocks still run.
FREE_FORM = {"SEMANTICS.md"}
MARKER = re.compile(r"<!--\s*snippet:\s*(run|requires\s+([\w.]+))\s*-->")


def available(name):
    """True when ``name`` imports: a module, or an attribute of one."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            obj = importlib.import_module(module)
            for attribute in parts[cut:]:
                if not hasattr(obj, attribute):
                    return False
                obj = getattr(obj, attribute)
            return True
    return False


def pages():
    found = [ROOT / "README.md"]
    for path in sorted(DOCS.rglob("*.md")):
        if not SKIPPED_DIRS.intersection(path.relative_to(DOCS).parts):
            found.append(path)
    return found


def blocks(path):
    """``(line, info, code, markers)`` for every fenced block of a page:
    ``line`` is the first code line's number, ``markers`` the snippet
    comments on the lines right before the fence."""
    lines = path.read_text().split("\n")
    found, i = [], 0
    while i < len(lines):
        match = re.match(r"^(`{3,})(.*)$", lines[i])
        if not match:
            i += 1
            continue
        fence, info = match.group(1), match.group(2).strip()
        end = i + 1
        while end < len(lines) and not lines[end].startswith(fence):
            end += 1
        if end == len(lines):
            raise AssertionError(f"{path.name}:{i + 1}: a code fence is never closed")
        markers, before = [], i - 1
        while before >= 0 and MARKER.search(lines[before]):
            markers.append(MARKER.search(lines[before]))
            before -= 1
        found.append((i + 2, info, "\n".join(lines[i + 1:end]) + "\n", markers))
        i = end + 1
    return found


def _name(path):
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", pages(), ids=_name)
def test_page_snippets_run(path, tmp_path, monkeypatch):
    need("matplotlib").use("Agg")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    namespace = {"__name__": "__snippet__"}
    ran, missing = 0, set()
    for line, info, code, markers in blocks(path):
        language = info.split()[0] if info else ""
        needs = {m.group(2) for m in markers if m.group(2)}
        run_shell = any(m.group(1) == "run" for m in markers)
        if not (language in NAMED or language.startswith("{") or path.name in FREE_FORM):
            raise AssertionError(f"{path.name}:{line - 1}: name the fence's language "
                                 f"(text for output, bash or console for commands)")
        if language not in ("python", "bash") or (language == "bash" and not run_shell):
            continue
        unavailable = {name for name in needs if not available(name)}
        for name in unavailable:
            fail_if_required(name)
        if unavailable:
            missing |= unavailable
            continue
        if language == "python":
            source = "\n" * (line - 1) + code
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(source, str(path), "exec"), namespace)
        else:
            if not (tmp_path / "tests").exists():
                (tmp_path / "tests").symlink_to(ROOT / "tests")
            prelude = "" if shutil.which("pyneural") else \
                f'pyneural() {{ "{sys.executable}" -m pyneural "$@"; }}\n'
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", prelude + code],
                                  capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, f"{path.name}:{line}\n{proc.stdout}\n{proc.stderr}"
        ran += 1
    if missing and not ran:
        pytest.skip(f"{path.name} needs {', '.join(sorted(missing))}")
    import matplotlib.pyplot as plt
    plt.close("all")


def test_snippets_are_found():
    """The collector sees the README's blocks (a changed fence style would
    otherwise make every page pass without running anything)."""
    readme = blocks(ROOT / "README.md")
    assert sum(info == "python" for _, info, _, _ in readme) >= 5
    assert any(m.group(1) == "run" for _, _, _, markers in readme for m in markers)
    assert len(pages()) >= 8
