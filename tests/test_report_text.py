"""The printed reports against what the Pascal original prints, in every
branch (tests/fixtures/report_branches: BARRIER COLLAPSED, UNCHANGED with a
failed check 3, a churn of 13/16, align-to-self with a barrier of ~1e-8,
PARTIALLY REDUCED), and FPC's number formatting."""
import pathlib

import numpy as np
import pytest

import pyneural as pn
from pyneural import cli
from pyneural.reports import permutation_align
from pyneural.reports.text import _round_digits, bar, fixed, fpc_exp

BRANCHES = pathlib.Path(__file__).parent / "fixtures" / "report_branches"
CASES = ["collapsed", "unchanged_fail", "ties_fail", "self", "partial"]


def _case(name):
    folder = BRANCHES / name
    a, b = pn.load(folder / "A.nn"), pn.load(folder / "B.nn")
    return folder, a, b, cli.read_samples(str(folder / "probes.csv"), a)


def _expected(folder, mode):
    return (folder / f"pascal_mode{mode}.txt").read_bytes()


@pytest.mark.parametrize("mode", [0, 1])
@pytest.mark.parametrize("name", CASES)
def test_library_original_path_prints_the_originals_bytes(name, mode):
    folder, a, b, probes = _case(name)
    snapshot_b = b.save_data_to_string()        # what the Pascal program passes
    mc = a.mode_connectivity_report(snapshot_b, probes, 10, exact=True)
    pa = a.permutation_align_report(snapshot_b, probes, mode, 10, exact=True,
                                    **permutation_align.ORIGINAL_OPTIONS)
    assert pa.original
    # The Pascal program WriteLn's each report, which ends in a line break.
    text = str(mc) + "\n" + str(pa) + "\n"
    assert text.encode("utf-8") == _expected(folder, mode)


@pytest.mark.parametrize("mode", [0, 1])
@pytest.mark.parametrize("name", CASES)
def test_cli_original_prints_the_originals_bytes(name, mode, capsys):
    folder = BRANCHES / name
    nets = [str(folder / "A.nn"), str(folder / "B.nn"), "--samples", str(folder / "probes.csv"),
            "-k", "10", "--original"]
    assert cli.main(["connect", *nets]) == 0
    connect = capsys.readouterr().out
    assert cli.main(["align", *nets, "--score-mode", str(mode)]) == 0
    align = capsys.readouterr().out
    assert (connect + "\n" + align + "\n").encode("utf-8") == _expected(folder, mode)


def test_pyneurals_own_report_keeps_its_words():
    _, a, b, probes = _case("unchanged_fail")
    r = a.permutation_align_report(b, probes, 0, 10, solver="greedy", refine=False)
    assert not r.original                     # check 4 ran: pyneural's report
    text = str(r)
    assert "alignment made the path worse" in text
    assert "alignment did not shrink the barrier" in text


def test_fpc_format_rounds_a_half_away_from_zero():
    assert fixed(13 / 16, 3) == "0.813" and f"{13 / 16:.3f}" == "0.812"
    assert fixed(0.0625, 3) == "0.063" and fixed(-0.0625, 3) == "-0.063"
    assert fixed(2.5, 0) == "3" and fixed(0.125, 2) == "0.13"
    assert fixed(float(np.float32(0.1)), 3) == "0.100"
    assert fpc_exp(0.03125) == "3.13E-002" and f"{0.03125:.2E}" == "3.12E-02"
    assert fpc_exp(0.125, 0) == "1.3E-001"          # %.0e has two digits in FPC


def test_fpc_format_carries_and_signs():
    assert fixed(9.9996, 3) == "10.000" and fixed(0.0006, 3) == "0.001"
    assert fpc_exp(9.996) == "1.00E+001" and fpc_exp(1e-4, 0) == "1.0E-004"
    assert fixed(100.0, 2) == "100.00" and fixed(25.0, 0) == "25"
    # FPC drops the sign of a number that prints as zero.
    assert fixed(-0.001, 2) == "0.00" and fixed(-0.0, 6) == "0.000000"
    assert fpc_exp(-0.0) == "0.00E+000" and fpc_exp(-2.5e-7, 2) == "-2.5E-007"
    assert fixed(float("nan"), 6) == "Nan" and fpc_exp(float("-inf")) == "-Inf"


def test_fpc_rounding_of_a_4_followed_by_9s():
    # FPC reads a 4 followed by 9s up to the second last digit (8 or 9) as
    # a 5 that its digit generation came short of, and rounds it up.
    assert _round_digits([1, 2, 3, 4, 9, 9, 9, 8, 1], 3, half_even=False) == ([1, 2, 4], 0)
    assert _round_digits([1, 2, 3, 4, 9, 9, 7, 8, 1], 3, half_even=False) == ([1, 2, 3], 0)
    assert _round_digits([9, 9, 5], 2, half_even=False) == ([1], 1)
    # The 21-digit cut FPC makes first is half-even on the exact value.
    assert _round_digits([2, 5], 1, half_even=True) == ([2], 0)
    assert _round_digits([2, 5, 1], 1, half_even=True) == ([3], 0)


def test_bars_are_the_originals_binary32_rounding():
    assert bar(1.0, 0.0, 2.0) == "#" * 20
    assert bar(0.5e-12, 0.0, 1e-12) == ""           # a range at most 1e-12: no bar
    assert bar(1e-8, 0.0, 1e-8) == "#" * 40         # the original draws tiny ones in full


def test_original_fail_lines_of_checks_1_and_2():
    # No finite pair makes the original's checks 1 and 2 fail; their lines
    # are the original's format strings all the same.
    _, a, b, probes = _case("self")
    r = a.permutation_align_report(b, probes, 0, 10, **permutation_align.ORIGINAL_OPTIONS)
    r.check(1).status, r.check(1).value = "FAIL", 2.5e-4
    r.check(2).status = "FAIL"
    lines = str(r).splitlines()
    assert "Check 1 permutation invariance: FAIL (max output drift 2.50E-004 >= 1.0E-004)." in lines
    assert 0 < r.post_barrier < 1e-6                 # float32 noise of the losses
    assert (f"Check 2 align-to-self: FAIL (identity=True, post barrier "
            f"{fpc_exp(r.post_barrier)})." in lines)


def test_align_to_self_is_judged_as_the_original_compares_its_strings():
    # The original compares SaveDataToString texts, where 0 and -0 are both "0".
    _, a, _, probes = _case("self")
    a.layers[1].weights[0, 0] = 0.0
    b = a.clone()
    b.layers[1].weights[0, 0] = -0.0
    r = a.permutation_align_report(b, probes, 0, 4, **permutation_align.ORIGINAL_OPTIONS)
    assert r.self_mode and r.check(2).status == "PASS"
