"""FloatToStr, volume text and `.nn` text: byte-exact, and clear errors."""
import numpy as np
import pytest

import pyneural as pn
from pyneural.nnformat import NNFormatError, float_to_str, parse_float
from conftest import fixture_text


def _pairs(name):
    for line in fixture_text("layers", name).splitlines():
        hexbits, text = line.split(" ", 1)
        yield np.array([int(hexbits, 16)], np.uint32).view(np.float32)[0], text


@pytest.mark.parametrize("name", ["floattostr_specials.txt", "floattostr_sample.txt"])
def test_float_to_str_matches_pascal(name):
    bad = [(v, text, float_to_str(v)) for v, text in _pairs(name) if float_to_str(v) != text]
    assert not bad[:5]


def test_float_text_reads_back_to_the_same_bits():
    for v, text in list(_pairs("floattostr_sample.txt"))[::7]:
        if np.isfinite(v):
            assert parse_float(text).view(np.uint32) == v.view(np.uint32)


@pytest.mark.parametrize("name", ["A.nn", "B.nn", "A_init.nn", "B_init.nn", "C_self.nn"])
def test_example_nets_round_trip(name):
    text = fixture_text("example", name)
    assert pn.TNNet.from_string(text).save_to_string() + "\n" == text


def test_save_to_file_is_two_lines_and_loads_back(tmp_path, example_nets):
    a, _ = example_nets
    path = tmp_path / "a.nn"
    a.save_to_file(path)
    lines = path.read_text().splitlines()
    assert lines == [a.save_structure_to_string(), a.save_data_to_string()]
    assert pn.TNNet.from_file(path).save_to_string() == a.save_to_string()


def test_loading_consumes_draws_like_the_original():
    text = fixture_text("layers", "volume_ops.txt")
    structure = text.split("TNNet.SaveStructureToString=")[1].splitlines()[0]
    pn.rng.set_seed(99)
    assert pn.rng.random_int(10000) == 6722
    pn.rng.set_seed(99)
    pn.TNNet().load_structure_from_string(structure)
    # Building the layers drew their initial weights first.
    assert pn.rng.random_int(10000) == 68


MALFORMED = [
    ("-1)TNNetInput:2;1;1;0;0;0;0;0::0;0;0;0;0;0;0;0#0)TNNetFullConnectReLU:2;1;1;0;0;0;0;0::0;0;0;0;0;0;0;0"
     ">!0]1;2;1;1;0.5;x7[0]1;2;1;1;1;1", 1, "x7"),                       # bad float
    ("-1)TNNetInput:2;1;1;0;0;0;0;0::0;0;0;0;0;0;0;0#0)TNNetBogus:2;1;1;0;0;0;0;0::0;0;0;0;0;0;0;0"
     ">!", 1, "TNNetBogus"),                                             # unknown class
    ("-1)TNNetInput:2;1;1;0;0;0;0;0::0;0;0;0;0;0;0;0#0)TNNetFullConnectReLU:2;1;1;0;0;0;0;0::0;0;0;0;0;0;0;0"
     ">!0]1;2;1;1;0.5;0.25", 1, None),                                   # wrong neuron count
    ("-1)TNNetInput:2;1;1;0;0;0;0;0::0;0;0;0;0;0;0;0#0)TNNetFullConnectReLU:2;1;1;0;0;0;0;0::0;0;0;0;0;0;0;0"
     ">!0]1;2;1;1;0.5;0.25[0]1;2;1;1;0.5", 1, "1;2;1;1;0.5"),             # truncated volume
    ("-1)TNNetInput:2;1;1;0;0;0;0;0::0;0;0;0;0;0;0;0#0)TNNetFullConnectReLU:2;1;1;0;0;0", None, None),
]


@pytest.mark.parametrize("text,layer,token", MALFORMED)
def test_malformed_strings_raise_value_errors_naming_layer_and_token(text, layer, token):
    with pytest.raises(ValueError) as info:
        pn.TNNet.from_string(text)
    msg = str(info.value)
    if layer is not None:
        assert f"layer {layer}" in msg
    if token is not None:
        assert token in msg


def test_data_of_another_architecture_names_layer_and_shapes(example_nets):
    a, _ = example_nets
    pn.rng.set_seed(1)
    other = pn.toy.build_net(hidden=(12, 10))
    before = a.save_data_to_string()
    with pytest.raises(pn.ArchitectureError, match=r"layer 2 .*12x12.*10x12"):
        a.load_data_from_string(other.save_data_to_string())
    assert a.save_data_to_string() == before   # nothing half-loaded


def test_volume_text_round_trip():
    v = pn.TNNetVolume.from_string("1;2;1;3;0.5;-1.25;3;1E-7;0.1000000015;7")
    assert v.shape == (2, 1, 3)
    assert v.save_to_string() == "1;2;1;3;0.5;-1.25;3;1.000000012E-7;0.1000000015;7"
    with pytest.raises(NNFormatError, match="needs 6 values"):
        pn.TNNetVolume.from_string("1;2;1;3;0.5")


# What in pyneural could depend on the locale: in C, strtod (split_floats
# reads numbers with it) and snprintf("%.9e") (FloatToStr formats with it)
# both use LC_NUMERIC's decimal point; in Python, only the `locale` module
# would. A machine rarely has a comma-decimal locale installed, so the tests
# compile their own with localedef: "," as decimal point, and U+066B (the
# Arabic decimal separator, two bytes in UTF-8, as fa_IR and ps_AF use).
LOCALES = {"comma": ",", "arabic": "<U066B>"}
LOCALE_SOURCE = """comment_char %
escape_char /
LC_CTYPE
copy "POSIX"
END LC_CTYPE
LC_NUMERIC
decimal_point "{point}"
thousands_sep ""
grouping -1
END LC_NUMERIC
"""


@pytest.fixture(scope="module")
def compiled_locales(tmp_path_factory):
    """LOCPATH holding a locale per LOCALES entry, named NAME.UTF-8."""
    import shutil
    import subprocess
    localedef = shutil.which("localedef")
    if localedef is None:
        pytest.skip("localedef (glibc) is needed to compile a test locale")
    path = tmp_path_factory.mktemp("locales")
    for name, point in LOCALES.items():
        source = path / f"{name}.def"
        source.write_text(LOCALE_SOURCE.format(point=point))
        # -c: write it although categories other than LC_CTYPE/LC_NUMERIC are missing
        subprocess.run([localedef, "-c", "-i", str(source), "-f", "UTF-8",
                        str(path / f"{name}.UTF-8")], capture_output=True, timeout=120)
        if not (path / f"{name}.UTF-8").is_dir():
            pytest.skip("localedef could not compile a test locale (no UTF-8 charmap?)")
    return path


@pytest.fixture
def numeric_locale(compiled_locales, monkeypatch):
    """Switch LC_NUMERIC to one of the compiled locales (by name); restored after."""
    import locale
    saved = locale.setlocale(locale.LC_NUMERIC)
    monkeypatch.setenv("LOCPATH", str(compiled_locales))    # glibc reads it per setlocale

    def switch(name):
        locale.setlocale(locale.LC_NUMERIC, f"{name}.UTF-8")
    yield switch
    locale.setlocale(locale.LC_NUMERIC, saved)


def _assert_numbers_ignore_the_locale():
    assert pn.TNNetVolume.from_string("1;2;1;1;0.5;1.25").data.tolist() == [0.5, 1.25]
    assert [float_to_str(np.float32(v)) for v in (0.1, -1.5e-7, 12345.678, 3e20)] == \
        ["0.1000000015", "-1.500000053E-7", "12345.67773", "3.00000006E20"]
    assert pn.TNNetVolume.from_string("1;1;1;2;-2.5E-3;7").save_to_string() == \
        "1;1;1;2;-0.002499999944;7"
    text = fixture_text("example", "A.nn")
    assert pn.TNNet.from_string(text).save_to_string() + "\n" == text


@pytest.mark.parametrize("name", [
    "comma",
    "arabic",
])
def test_numbers_read_and_write_the_same_under_another_decimal_point(numeric_locale, name):
    import locale
    numeric_locale(name)
    assert locale.localeconv()["decimal_point"] == {"comma": ",", "arabic": "\u066b"}[name]
    _assert_numbers_ignore_the_locale()


def test_the_python_side_never_asks_the_locale_module(monkeypatch):
    """float() and the format code ignore `locale`; nothing may call it."""
    import locale

    def refuse(*args, **kwargs):
        raise AssertionError("pyneural consulted the locale module")
    for name in ("localeconv", "atof", "atoi", "delocalize", "localize", "str",
                 "format_string", "currency", "getlocale", "setlocale"):
        monkeypatch.setattr(locale, name, refuse)
    _assert_numbers_ignore_the_locale()
