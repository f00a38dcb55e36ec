import pathlib

import pytest

from pyneural import float_to_str

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def fixture_text(*parts):
    return (FIXTURES.joinpath(*parts)).read_text()


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
