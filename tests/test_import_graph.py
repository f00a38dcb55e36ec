"""Data flows one way: the reports take nets, so nothing under
pyneural/reports/ reaches the loader (pyneural.io) or the net module, not
even through a function-level import, and net -> reports -> io -> net is
no circle. Read from the source (every import statement, top-level or in a
function), so an import that only runs on some path is seen too."""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1] / "pyneural"


def module_name(path):
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path):
    """The pyneural modules ``path`` imports anywhere in its code."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # "from . import io" imports the submodule pyneural.io
            targets = ([base] if node.module else []) + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        # Not the top package: importing any submodule runs its __init__.
        found |= {t for t in targets if t.startswith("pyneural.")}
    return found


def graph():
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    return {name: {t for t in imports(path) if t in modules and t != name}
            for name, path in modules.items()}


def reachable(edges, start):
    seen, todo = set(), [start]
    while todo:
        for target in edges[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_the_reports_never_reach_the_loader_or_the_net_module():
    edges = graph()
    reports = [name for name in edges if name.startswith("pyneural.reports")]
    assert "pyneural.reports.interpolation" in reports and "pyneural.io.paths" in edges
    for name in reports:
        reached = reachable(edges, name)
        bad = sorted(m for m in reached
                     if m == "pyneural.net" or m == "pyneural.cli" or m.startswith("pyneural.io"))
        assert not bad, f"{name} imports {bad}"


def test_no_circle_through_the_reports():
    edges = graph()
    for name in edges:
        if name.startswith("pyneural.reports"):
            assert name not in reachable(edges, name), f"{name} imports itself in a circle"
    # the circle the reports used to close: net -> reports -> io -> net
    assert "pyneural.reports.interpolation" in edges["pyneural.net"]
    assert "pyneural.net" in edges["pyneural.io.paths"]
