"""The README's Quick start runs as written."""
import contextlib
import io
import pathlib
import re

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
