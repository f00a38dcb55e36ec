"""Every command the docs show parses as printed.

The commands come from the README, every page under docs/ (Markdown and
reST), the examples' docstrings (the gallery pages) and the benchmarks'
docstrings: the lines of ``bash``/``console`` blocks, the ``$ `` lines of
``text`` blocks, reST code blocks, and inline code that is a whole command
(no ``[options]``-style synopsis). Each is parsed by its own program's
argparse without running it: ``pyneural ...`` by the CLI's parser, ``python
examples/NAME.py ...`` and ``python -m benchmarks[.NAME] ...`` by the
parser their ``main(argv)`` builds (stopped right after parsing), ``python
-m sphinx ...`` by Sphinx's. ``pip install`` lines must name extras that
pyproject.toml defines, and ``python -c`` lines run (they are one-liners
that write a file). A command of any other program is an error, so a new
kind of command cannot slip through unchecked.
"""
import argparse
import importlib
import importlib.util
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from conftest import need

try:
    import tomllib
except ImportError:                     # Python < 3.11
    tomllib = pytest.importorskip("tomli")

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))            # the benchmarks package, from any directory
SKIPPED_DIRS = {"_build", "auto_examples", "generated", "_static", "_templates"}
# Inline code with these is a synopsis ("pyneural align A.nn B.nn [--json]"),
# not a command to copy.
SYNOPSIS = re.compile(r"[\[\]|<>]|\.\.\.|\bNAME\b|\bNET\.nn\b")
PROGRAMS = ("pyneural", "python", "pip", "dask")
# Commands a page shows that are not ours to parse: the shell's own, and
# the tools the README's set-up line runs (pytest's options are its own).
NOT_OURS = {"echo", "cd", "rm", "ls", "export", "bash", "time"}


def _sources():
    pages = [ROOT / "README.md"]
    for path in sorted((ROOT / "docs").rglob("*")):
        if path.suffix in (".md", ".rst") and not SKIPPED_DIRS.intersection(
                path.relative_to(ROOT / "docs").parts):
            pages.append(path)
    pages.append(ROOT / "examples" / "GALLERY_HEADER.rst")
    modules = sorted((ROOT / "examples").glob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
    return pages, modules


def _commands_in_markdown(text):
    """(line, command) of a Markdown page's commands."""
    found = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        fence = re.match(r"^(`{3,})(\w*)", lines[i])
        if fence:
            language, start = fence.group(2), i
            i += 1
            while i < len(lines) and not lines[i].startswith(fence.group(1)):
                line = lines[i]
                if language in ("bash", "console") or (language == "text"
                                                       and line.startswith("$ ")):
                    found.append((i + 1, line[2:] if line.startswith("$ ") else line))
                i += 1
            assert i < len(lines), f"line {start + 1}: a code fence is never closed"
        i += 1
    prose = re.sub(r"^```.*?^```$", "", text, flags=re.S | re.M)
    found += [(0, span) for span in re.findall(r"`([^`]+)`", prose) if _whole_command(span)]
    return found


def _whole_command(span):
    """Inline code that is a command to copy, not a name or a synopsis:
    ``python -m benchmarks.conv``, ``pyneural align A.nn B.nn --json``; not
    ``python -m pyneural`` or ``pyneural sweep`` (names of a command) nor
    ``pyneural info A.nn [--json]``."""
    words = span.split()
    if not words or words[0] not in PROGRAMS or SYNOPSIS.search(span):
        return False
    if words[0] == "python":
        return len(words) >= 2 and (words[1] != "-m" or (len(words) >= 3 and
                                                          words[2].startswith("benchmarks")))
    return any(w.startswith("-") for w in words)


def _commands_in_rest(text):
    """Commands of reST (a page or a docstring): indented lines of code
    blocks and literal blocks that start with a program's name."""
    found = []
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if line.startswith((" ", "\t")) and stripped.split(" ", 1)[0] in PROGRAMS:
            found.append((number, stripped))
    found += [(0, span) for span in re.findall(r"``([^`]+)``", text) if _whole_command(span)]
    return found


def _docstring(path):
    import ast
    return ast.get_docstring(ast.parse(path.read_text()), clean=False) or ""


def collect():
    """Every (where, command) the docs show, shell variables substituted."""
    pages, modules = _sources()
    found = []
    for path in pages:
        text = path.read_text()
        lines = _commands_in_markdown(text) if path.suffix == ".md" else _commands_in_rest(text)
        found += [(f"{path.relative_to(ROOT)}:{n}", c) for n, c in lines]
    for path in modules:
        found += [(f"{path.relative_to(ROOT)} (docstring):{n}", c)
                  for n, c in _commands_in_rest(_docstring(path))]
    commands, variables = [], {}
    for where, line in found:
        for words in _shell_commands(line):
            assignment = re.fullmatch(r"([A-Za-z_]\w*)=(\S+)", words[0])
            if assignment and len(words) == 1:
                variables[assignment.group(1)] = assignment.group(2)
                continue
            words = [re.sub(r"\$(\w+)", lambda m: variables.get(m.group(1), m.group(0)), w)
                     for w in words]
            commands.append((where, words))
    return commands


def _shell_commands(line):
    """The commands of a shell line (split at ``&&``, ``;`` and ``|``,
    comments and redirections dropped), each as its words."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands, redirect = [[]], False
    for token in lexer:
        if token in (";", "&&", "|"):
            commands.append([])
        elif token in (">", ">>", "<", "2>", "2>>"):
            redirect = True
        elif redirect:
            redirect = False                   # the redirection's file
        else:
            commands[-1].append(token)
    return [words for words in commands if words]


class _Parsed(Exception):
    """Raised right after a program's parser accepted its arguments."""


def _parse_with_main(main, argv, monkeypatch):
    """Call ``main(argv)`` and stop it as soon as its parser returns."""
    real = argparse.ArgumentParser.parse_args

    def parse_and_stop(self, args=None, namespace=None):
        real(self, args, namespace)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_and_stop)
    try:
        main(argv)
    except _Parsed:
        return
    except SystemExit as exc:
        raise AssertionError(f"the parser refused it (exit {exc.code})") from None
    raise AssertionError("main() returned without parsing its arguments")


def _load_example(name):
    path = ROOT / "examples" / f"{name}.py"
    assert path.exists(), f"no example {path.name}"
    spec = importlib.util.spec_from_file_location(f"_docs_example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def _parse(parser, args, program):
    """``parser.parse_args(args)``, its refusal an AssertionError."""
    try:
        parser.parse_args(args)
    except SystemExit as exc:
        raise AssertionError(f"{program}'s parser refused it (exit {exc.code})") from None


def check(words, tmp_path, monkeypatch):
    """Parse (or, for ``python -c``, run) one command; raise if it fails."""
    program, args = words[0], words[1:]
    if program == "pyneural":
        from pyneural.cli import build_parser
        return _parse(build_parser(), args, "pyneural")
    if program == "dask":
        # The dask CLI's subcommands are click commands of distributed;
        # make_context parses and checks the options without running.
        cli = importlib.import_module(f"distributed.cli.dask_{args[0]}").main
        cli.make_context(f"dask {args[0]}", list(args[1:]))
        return
    if program == "pip":
        extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
            "optional-dependencies"]
        assert args[:1] == ["install"], "only pip install is shown"
        for spec in args[1:]:
            named = re.search(r"\[([\w,-]+)\]", spec)
            for extra in (named.group(1).split(",") if named else []):
                assert extra in extras, f"pyproject.toml has no extra {extra!r}"
        return
    assert program == "python", f"a command of {program!r}: teach this test to check it"
    if args[:1] == ["-c"]:
        proc = subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, proc.stderr
        return
    if args[:1] == ["-m"]:
        module, argv = args[1], args[2:]
        if module == "pytest":
            return                                   # pytest's own options
        if module == "sphinx":
            build = need("sphinx.cmd.build")
            return _parse(build.get_parser(), argv, "sphinx")
        if module == "pyneural":
            return check(["pyneural", *argv], tmp_path, monkeypatch)
        assert module.split(".")[0] == "benchmarks", f"python -m {module}: not ours"
        target = "benchmarks.run" if module == "benchmarks" else module
        _parse_with_main(importlib.import_module(target).main, argv, monkeypatch)
        return
    script = pathlib.PurePosixPath(args[0])
    assert script.parent.name == "examples", f"python {args[0]}: not a command of ours"
    _parse_with_main(_load_example(script.stem).main, args[1:], monkeypatch)


COMMANDS = [(where, words) for where, words in collect() if words[0] not in NOT_OURS]


@pytest.mark.parametrize("where,words", COMMANDS,
                         ids=[f"{w} {' '.join(c)[:60]}" for w, c in COMMANDS])
def test_command_parses_as_printed(where, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check(words, tmp_path, monkeypatch)


def test_the_collector_finds_the_commands():
    """The pages' commands are found (a changed block style would otherwise
    make this file pass without checking anything)."""
    shown = {" ".join(words[:3]) for _, words in COMMANDS}
    for expected in ("python examples/mnist_rebasin.py", "python examples/permutation_align.py",
                     "pyneural align tests/fixtures/example/A.nn", "python -m benchmarks.conv_align",
                     "pyneural permute B.nn"):
        assert any(s.startswith(expected) for s in shown), expected
    assert len(COMMANDS) >= 40


EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_help_prints_help_and_stops(path, tmp_path):
    """``--help`` prints the usage and exits without running the example
    (no training, no files written)."""
    proc = subprocess.run([sys.executable, str(path), "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                               "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: "), proc.stdout[:200]
    assert not list(tmp_path.iterdir())


def _block_opener(lines, index):
    """The line that opens the indented block holding ``lines[index]``:
    the nearest line above it that is less indented."""
    indent = len(lines[index]) - len(lines[index].lstrip())
    for above in range(index - 1, -1, -1):
        line = lines[above]
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            return line.strip()
    return ""


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_commands_render_as_code(path):
    """The gallery renders an example's docstring as reST: every command in
    it must sit in a literal block (a paragraph ending in ``::``) or a code
    block. As plain text the usage lines run into one paragraph and
    ``--original`` becomes an en dash."""
    lines = _docstring(path).split("\n")
    commands = [i for i, line in enumerate(lines)
                if line.strip().startswith(("python ", "pip ")) and line.startswith(" ")]
    assert commands, "the docstring shows how to run the example"
    for i in commands:
        opener = _block_opener(lines, i)
        assert opener.endswith("::") or opener.startswith((".. code-block::", ".. code::")), (
            f"{lines[i].strip()!r} is in a block opened by {opener!r}, not a literal block")
