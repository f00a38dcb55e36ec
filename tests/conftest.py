import importlib
import os
import pathlib
import warnings

import numpy as np
import pytest

from pyneural import float_to_str

FIXTURES = pathlib.Path(__file__).parent / "fixtures"

# The optional packages some tests need. With PYNEURAL_REQUIRE_OPTIONAL=1
# (.ci/run sets it) a missing one fails those tests instead of skipping
# them: a test that needs an optional package must not vanish in CI.
OPTIONAL = ("torch", "safetensors", "dask", "distributed", "joblib", "matplotlib", "sklearn",
            "mlxtend", "hypothesis", "sphinx")
REQUIRE_OPTIONAL = os.environ.get("PYNEURAL_REQUIRE_OPTIONAL", "") not in ("", "0")


def fail_if_required(name):
    """Fail the running test (or module) when ``name``, an optional package
    found missing, is required by PYNEURAL_REQUIRE_OPTIONAL=1; else return."""
    if REQUIRE_OPTIONAL and name.split(".")[0] in OPTIONAL:
        pytest.fail(f"{name} is not installed, and PYNEURAL_REQUIRE_OPTIONAL=1 requires every "
                    f"optional package ({', '.join(OPTIONAL)}): install it", pytrace=False)


def need(name):
    """The module ``name`` (an optional package), imported; when it is
    missing, the test (or, called at import, the whole module) is skipped
    with a warning that shows in the summary, or fails under
    PYNEURAL_REQUIRE_OPTIONAL=1."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        why = f"{name} is not installed ({exc})"
    fail_if_required(name)
    # A skip reason only shows with -rs; a warning always shows.
    warnings.warn(f"{why}: the tests that need it are skipped", stacklevel=2)
    pytest.skip(why, allow_module_level=True)


def fixture_text(*parts):
    return (FIXTURES.joinpath(*parts)).read_text()


def read_trace(*parts):
    """A trace file of the original's (conv/ and branches/ READMEs): texts
    by tag (STRUCT, INIT, TRAINED, FILE), and the per-sample float32 rows
    (IN, TGT, OUT, POST) stacked, from their hex bits."""
    out = {"IN": {}, "TGT": {}, "OUT": {}, "POST": {}}
    for line in fixture_text(*parts).splitlines():
        tag, _, rest = line.partition(" ")
        if tag in out:
            index, *words = rest.split()
            out[tag][int(index)] = np.array([int(w, 16) for w in words],
                                            dtype=np.uint32).view(np.float32)
        else:
            out[tag] = rest
    for tag in ("IN", "TGT", "OUT", "POST"):
        out[tag] = np.stack([out[tag][i] for i in range(len(out[tag]))])
    return out


def bits(a):
    """The float32 bits of ``a``, to compare arrays bit for bit."""
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def csv_text(header, rows):
    """A CSV the way the Pascal fixture programs write it (FloatToStr numbers)."""
    lines = [header] if header else []
    lines += [",".join(v if isinstance(v, str) else float_to_str(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


@pytest.fixture
def example_nets():
    """A and B of the PermutationAlign example, loaded from the fixtures."""
    from pyneural import TNNet
    return (TNNet.from_string(fixture_text("example", "A.nn")),
            TNNet.from_string(fixture_text("example", "B.nn")))


@pytest.fixture
def probes():
    from pyneural import toy
    return toy.build_probes()
