"""The command line: the same numbers as the Python API, the original's
report with --original, files the library loads back, and a clear exit 2
for every kind of bad input."""
import argparse
import inspect
import json
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest

import pyneural as pn
from pyneural import TNNet, cli, rng, toy
from conftest import FIXTURES, fixture_text

EXAMPLE = FIXTURES / "example"
A, B, C_SELF, PROBES = (str(EXAMPLE / n) for n in ("A.nn", "B.nn", "C_self.nn", "probes.csv"))
ORIGINAL = dict(solver="greedy", refine=False, check_scale=False)


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def api_nets():
    return (TNNet.from_string(fixture_text("example", "A.nn")),
            TNNet.from_string(fixture_text("example", "B.nn")))


def test_align_original_prints_the_pascal_run_1_block(capsys):
    code, out, err = run(capsys, "align", A, B, "--samples", PROBES, "--score-mode", "0",
                         "--original")
    assert code == 0 and err == ""
    pascal = fixture_text("example", "PermutationAlign.out.txt")
    block = pascal.split("RUN 1 - DIFFERENT inits, WEIGHT matching (align by weight-row "
                         "cosine).\n", 1)[1].split("\n\n\n")[0] + "\n"
    assert out == block



def test_align_original_of_a_net_with_itself_prints_the_pascal_check_block(capsys):
    code, out, _ = run(capsys, "align", C_SELF, C_SELF, "--samples", PROBES, "--original",
                       "-k", "8")
    pascal = fixture_text("example", "PermutationAlign.out.txt")
    assert code == 0
    assert out + "\n" == pascal.split("CHECK - align-to-self (SnapshotB := A): identity "
                                      "perms, zero barrier.\n", 1)[1]


@pytest.mark.parametrize("argv, mode, options", [
    ((), None, {}),
    (("--score-mode", "activation", "--solver", "greedy", "--no-refine", "-k", "8"),
     "activation", dict(solver="greedy", refine=False, k=8)),
    (("--score-mode", "3", "--scale-align", "--check-recovery"),
     "weight_matching_cosine", dict(scale_align=True, check_recovery=True)),
])
def test_align_prints_what_the_api_prints(capsys, probes, argv, mode, options):
    a, b = api_nets()
    options = dict(options)
    k = options.pop("k", 10)
    expected = str(a.permutation_align_report(b.save_data_to_string(), probes, mode, k,
                                              **options))
    code, out, err = run(capsys, "align", A, B, "--samples", PROBES, *argv)
    assert code == 0 and err == ""
    assert out == expected


def test_score_modes_by_integer_and_by_name_agree(capsys):
    outs = [run(capsys, "align", A, B, "--samples", PROBES, "--original", "--score-mode", m)
            for m in ("1", "activation", "ACTIVATION")]
    assert outs[0][0] == 0 and outs[0][1] == outs[1][1] == outs[2][1]
    assert "score: activation" in outs[0][1]


def test_align_eval_samples_are_held_out(capsys, probes, tmp_path):
    held = tmp_path / "held.csv"
    X, Y = toy.make_samples(np.repeat([0, 1, 2], 5), rng.FPCRandom(4242))
    held.write_text("\n".join(",".join(repr(float(v)) for v in row)
                              for row in np.hstack([X, Y])) + "\n")        # no header
    a, b = api_nets()
    expected = str(a.permutation_align_report(b, probes, 1, 10, eval_samples=(X, Y), **ORIGINAL))
    code, out, _ = run(capsys, "align", A, B, "--samples", PROBES, "--eval-samples", held,
                       "--original", "--score-mode", "1")
    assert code == 0 and out == expected
    assert "held-out eval_samples (15 samples)" in out


def test_align_json_has_the_api_numbers(capsys, probes):
    a, b = api_nets()
    api = a.permutation_align_report(b, probes)
    code, out, err = run(capsys, "align", A, B, "--samples", PROBES, "--json")
    assert code == 0 and err == ""
    d = json.loads(out)
    assert d["report"] == "permutation_align"
    assert d["pre_barrier"] == api.pre_barrier and d["post_barrier"] == api.post_barrier
    assert d["post"]["losses"] == api.post.losses.tolist()
    assert [l["permutation"] for l in d["layers"]] == [p.tolist() for p in api.permutations]
    assert d["verdict"] == api.verdict.value


def test_connect_prints_and_serialises_the_api_report(capsys, probes):
    a, b = api_nets()
    api = a.mode_connectivity_report(b, probes, 6)
    code, out, _ = run(capsys, "connect", A, B, "--samples", PROBES, "-k", "6")
    assert code == 0 and out == str(api)
    code, out, _ = run(capsys, "connect", A, B, "--samples", PROBES, "-k", "6", "--json")
    d = json.loads(out)
    assert code == 0 and d["barrier"] == api.barrier and d["verdict"] == "SEPARATED"


def test_json_turns_numpy_into_python_and_non_finite_into_null():
    data = {"a": np.float32("nan"), "b": np.arange(3), "c": (np.inf, np.int64(2)),
            "d": np.bool_(True), "e": [float("-inf"), 0.5]}
    assert cli.to_jsonable(data) == {"a": None, "b": [0, 1, 2], "c": [None, 2], "d": True,
                                     "e": [None, 0.5]}
    json.dumps(cli.to_jsonable(data), allow_nan=False)


def test_permute_writes_b_aligned_that_computes_b_and_loads_back(capsys, probes, tmp_path):
    out_path = tmp_path / "B_aligned.nn"
    code, out, err = run(capsys, "permute", B, "--to", A, "--samples", PROBES, "-o", out_path)
    assert code == 0 and err == ""
    assert "churn" in out and "Barrier on the samples: before 0.095736" in out
    text = out_path.read_text()
    assert text.endswith("\n") and text.count("\n") == 2      # save_to_file's two lines
    permuted = TNNet.from_string(text)
    assert permuted.save_structure_to_string() + "\n" + permuted.save_data_to_string() + "\n" == text
    b = TNNet.from_string(fixture_text("example", "B.nn"))
    X = np.stack([p.i.data for p in probes])
    np.testing.assert_allclose(permuted.compute_batch(X, exact=True),
                               b.compute_batch(X, exact=True), rtol=0, atol=1e-6)
    assert permuted.save_data_to_string() != b.save_data_to_string()
    # The file holds the permutation the align report describes: A -> B_aligned
    # is the report's post-alignment path.
    a, _ = api_nets()
    report = a.permutation_align_report(b, probes)
    assert a.mode_connectivity_report(permuted, probes).barrier == report.post_barrier


def test_permute_json_summary(capsys, tmp_path):
    out_path = tmp_path / "B2.nn"
    code, out, _ = run(capsys, "permute", B, "--to", A, "--samples", PROBES, "-o", out_path,
                       "--original", "--json")
    d = json.loads(out)
    assert code == 0 and d["output"] == str(out_path) and d["solver"] == "greedy"
    assert round(d["barrier_before"], 6) == 0.095736 and round(d["barrier_after"], 6) == 0.033222
    assert d["max_output_drift"] < 1e-6 and out_path.exists()


def test_info_lists_the_layers_and_parameters(capsys):
    code, out, err = run(capsys, "info", A)
    assert code == 0 and err == ""
    assert "TNNetFullConnectReLU" in out and "12 x 12" in out
    assert out.rstrip().endswith("Parameters: 231 (204 weights + 27 biases)")
    code, out, _ = run(capsys, "info", A, "--json")
    d = json.loads(out)
    assert d["parameters"] == 231 and [l["parameters"] for l in d["layers"]] == [0, 36, 156, 39]


def test_python_dash_m_pyneural_info():
    proc = subprocess.run([sys.executable, "-m", "pyneural", "info", A],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Parameters: 231" in proc.stdout and "TNNetFullConnectLinear" in proc.stdout


def test_plot_writes_a_png(capsys, tmp_path):
    import matplotlib  # noqa: F401  (in the [test] extra: a missing one fails, never skips)
    for cmd, extra in (("connect", ()), ("align", ("--original", "--score-mode", "0"))):
        png = tmp_path / f"{cmd}.png"
        code, out, err = run(capsys, cmd, A, B, "--samples", PROBES, "--plot", png, *extra)
        assert code == 0 and "Verdict:" in out and f"wrote {png}" in err
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_commands_leave_the_global_generator_alone(capsys, tmp_path):
    rng.set_seed(3)
    expected = rng.random()
    rng.set_seed(3)
    assert run(capsys, "permute", B, "--to", A, "--samples", PROBES, "-o",
               tmp_path / "x.nn", "--original")[0] == 0
    assert rng.random() == expected


# ------------------------------------------------------------- bad input --

def assert_input_error(capsys, argv, *needles):
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert err.startswith("pyneural: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and out == ""
    for needle in needles:
        assert needle in err, err
    return err


def test_missing_file_is_exit_2(capsys, tmp_path):
    missing = tmp_path / "nope.nn"
    assert_input_error(capsys, ("align", A, missing, "--samples", PROBES), str(missing),
                       "no such file")
    assert_input_error(capsys, ("connect", A, B, "--samples", tmp_path / "nope.csv"),
                       "nope.csv", "no such file")


def test_a_csv_passed_as_a_net_is_exit_2_saying_what_it_is(capsys, tmp_path):
    assert_input_error(capsys, ("align", A, PROBES, "--samples", PROBES),
                       "probes.csv is a CSV file (samples go to --samples), not a net",
                       ".nn, .safetensors or .npz")
    assert_input_error(capsys, ("info", PROBES), "is a CSV file", "not a net")
    renamed = tmp_path / "probes.nn"                  # samples under a net's suffix
    renamed.write_bytes(pathlib.Path(PROBES).read_bytes())
    assert_input_error(capsys, ("info", renamed), "is not a .nn net",
                       "is it a CSV of samples? those go to --samples")


def test_a_net_passed_as_samples_is_exit_2_saying_what_it_is(capsys):
    assert_input_error(capsys, ("align", A, B, "--samples", B),
                       f"--samples {B} is a net file", "not a CSV of samples")
    assert_input_error(capsys, ("align", A, B, "--samples", PROBES, "--eval-samples", A),
                       f"--eval-samples {A} is a net file")


def test_inputs_and_outputs_share_one_suffix_table(capsys, tmp_path):
    from pyneural.io import NET_SUFFIXES
    assert NET_SUFFIXES == (".nn", ".safetensors", ".npz")
    as_text = tmp_path / "A.txt"
    as_text.write_bytes(pathlib.Path(A).read_bytes())
    assert_input_error(capsys, ("info", as_text), "unknown suffix '.txt'")
    assert_input_error(capsys, ("permute", B, "--to", A, "--samples", PROBES,
                                "-o", tmp_path / "out.txt"), "-o", "unknown suffix '.txt'")


def test_different_architectures_are_exit_2_naming_the_layer(capsys, tmp_path):
    other = tmp_path / "other.nn"
    other.write_text(toy.build_net(hidden=(12, 7), generator=rng.FPCRandom(1))
                     .save_to_string() + "\n")
    for argv in (("align", A, other, "--samples", PROBES),
                 ("connect", A, other, "--samples", PROBES),
                 ("permute", other, "--to", A, "--samples", PROBES, "-o", tmp_path / "o.nn")):
        assert_input_error(capsys, argv, "different architectures", "layer 2", "7 neurons")
    assert not (tmp_path / "o.nn").exists()


def test_csv_with_the_wrong_number_of_columns_is_exit_2(capsys, tmp_path):
    bad = tmp_path / "four.csv"
    bad.write_text("x0,x1,y0,y1\n1,2,0,1\n")
    assert_input_error(capsys, ("connect", A, B, "--samples", bad),
                       "four.csv has 4 columns", "needs 5", "2 inputs", "3 targets")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("1,2,0,0,1\n1,2,0,1\n")
    assert_input_error(capsys, ("connect", A, B, "--samples", ragged), "line 2")
    word = tmp_path / "word.csv"
    word.write_text("x0,x1,y0,y1,y2\n1,2,0,0,1\n1,two,0,0,1\n")
    assert_input_error(capsys, ("connect", A, B, "--samples", word),
                       "line 3, column 2", "'two' is not a number")

    typo = tmp_path / "typo.csv"                  # a partly numeric first row is data
    typo.write_text("1,2,x,0,1\n1,2,0,0,1\n")
    assert_input_error(capsys, ("connect", A, B, "--samples", typo),
                       "line 1, column 3: 'x' is not a number")


@pytest.mark.parametrize("content", ["", "x0,x1,y0,y1,y2\n", "\n\n"])
def test_empty_csv_is_exit_2(capsys, tmp_path, content):
    empty = tmp_path / "empty.csv"
    empty.write_text(content)
    assert_input_error(capsys, ("align", A, B, "--samples", empty), "no samples")


def test_csv_header_is_optional(tmp_path):
    net = cli.load_net(A)
    rows = fixture_text("example", "probes.csv").splitlines()
    bare = tmp_path / "bare.csv"
    bare.write_text("\n".join(rows[1:]) + "\n")
    X1, Y1 = cli.read_samples(PROBES, net)
    X2, Y2 = cli.read_samples(bare, net)
    assert X1.dtype == np.float32 and X1.shape == (36, 2) and Y1.shape == (36, 3)
    assert np.array_equal(X1, X2) and np.array_equal(Y1, Y2)
    bom = tmp_path / "bom.csv"                    # as spreadsheets save it
    bom.write_bytes(b"\xef\xbb\xbf" + bare.read_bytes().replace(b"\n", b"\r\n"))
    X3, Y3 = cli.read_samples(bom, net)
    assert np.array_equal(X1, X3) and np.array_equal(Y1, Y3)
    probes = toy.build_probes(generator=rng.FPCRandom())
    assert np.array_equal(X1, np.stack([p.i.data for p in probes]))   # bit-exact read


def test_the_csv_reader_is_the_samples_module_s_and_speaks_python(tmp_path):
    """The CLI reads --samples with pyneural.reports.samples.read_samples;
    from Python a bad CSV is a ValueError naming the line and column, not
    the command line's InputError."""
    from pyneural.reports.samples import read_samples
    net = cli.load_net(A)
    assert cli.read_samples is read_samples
    X, Y = read_samples(PROBES, net)
    assert X.shape == (36, 2) and Y.shape == (36, 3) and X.dtype == np.float32
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y,a,b,c\n0,1,0,0,1\n0,oops,0,1,0\n")
    with pytest.raises(ValueError, match=r"bad.csv line 3, column 2: 'oops' is not a number"):
        read_samples(bad, net)
    with pytest.raises(FileNotFoundError):
        read_samples(tmp_path / "missing.csv", net)


def test_usage_errors_are_exit_2_and_unexpected_errors_exit_1(capsys, monkeypatch):
    code, _, err = run(capsys, "align", A)
    assert code == 2 and "required" in err
    code, _, err = run(capsys, "align", A, B, "--samples", PROBES, "--score-mode", "9")
    assert code == 2 and "unknown score mode" in err
    assert run(capsys, "frobnicate")[0] == 2
    assert run(capsys, "--help")[0] == 0

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")
    monkeypatch.setattr(cli, "read_samples", boom)
    code, _, err = run(capsys, "connect", A, B, "--samples", PROBES)
    assert code == 1 and "Traceback" in err and "unexpected RuntimeError: kaboom" in err


def test_output_into_a_closed_pipe_is_not_an_error():
    cmd = [sys.executable, "-m", "pyneural", "connect", A, B, "--samples", PROBES]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()                       # like `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait() == 0 and "Traceback" not in err and "BrokenPipe" not in err


# -------------------------------------------- bad values: a table of them --

def _write(path, data):
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


def _net_file(path, *layers):
    net = TNNet()
    net.add_layer(pn.TNNetInput(2))
    for layer in layers:
        net.add_layer(layer)
    return _write(path, net.save_to_string() + "\n")


# Each case: files to create in tmp_path (name -> bytes, text, or a callable
# that writes it), argv ("{tmp}" is tmp_path), and what the message names.
BAD_VALUES = {
    "seed -1": ({}, ("align", A, B, "--samples", PROBES, "--seed", "-1"), ("--seed", "-1")),
    "permute seed -1": ({}, ("permute", B, "--to", A, "--samples", PROBES, "-o",
                             "{tmp}/o.nn", "--seed", "-1"), ("--seed",)),
    "merge seed -1": ({}, ("merge", A, B, "--samples", PROBES, "-o", "{tmp}/o.nn",
                           "--seed", "-1"), ("--seed",)),
    "k -1": ({}, ("connect", A, B, "--samples", PROBES, "-k", "-1"), ("-k", "-1")),
    "k 0": ({}, ("align", A, B, "--samples", PROBES, "-k", "0"), ("-k",)),
    "refine budget 0": ({}, ("align", A, B, "--samples", PROBES, "--refine-budget", "0"),
                        ("--refine-budget",)),
    "alpha 1.5": ({}, ("merge", A, B, "--samples", PROBES, "-o", "{tmp}/o.nn",
                       "--alpha", "1.5"), ("--alpha", "[0, 1]")),
    "alpha nan": ({}, ("merge", A, B, "--samples", PROBES, "-o", "{tmp}/o.nn",
                       "--alpha", "nan"), ("--alpha",)),
    "alpha word": ({}, ("merge", A, B, "--samples", PROBES, "-o", "{tmp}/o.nn",
                        "--alpha", "half"), ("--alpha",)),
    "rounds -1": ({}, ("merge", A, B, "--samples", PROBES, "-o", "{tmp}/o.nn",
                       "--rounds", "-1"), ("--rounds",)),
    "negative weight": ({}, ("merge", A, B, "--samples", PROBES, "-o", "{tmp}/o.nn",
                             "--weights", "1,-1"), ("--weights",)),
    "missing net": ({}, ("connect", A, "{tmp}/nope.nn", "--samples", PROBES),
                    ("nope.nn", "no such file")),
    "empty net": ({"e.nn": ""}, ("info", "{tmp}/e.nn"), ("e.nn", "is not a .nn net")),
    "directory as net": ({}, ("connect", A, "{tmp}", "--samples", PROBES),
                         ("is a directory",)),
    "directory as samples": ({}, ("connect", A, B, "--samples", "{tmp}"), ("is a directory",)),
    "input-only net": ({"in.nn": lambda p: _net_file(p)},
                       ("connect", "{tmp}/in.nn", "{tmp}/in.nn", "--samples", "{tmp}/s.csv"),
                       ("in.nn", "no layer after the input")),
    "input-only net, align": ({"in.nn": lambda p: _net_file(p)},
                              ("align", "{tmp}/in.nn", "{tmp}/in.nn", "--samples",
                               "{tmp}/s.csv"), ("no layer after the input",)),
    "input-only net, merge": ({"in.nn": lambda p: _net_file(p)},
                              ("merge", "{tmp}/in.nn", "{tmp}/in.nn", "--samples",
                               "{tmp}/s.csv", "-o", "{tmp}/o.nn"),
                              ("no layer after the input",)),
    "empty csv": ({"s.csv": ""}, ("connect", A, B, "--samples", "{tmp}/s.csv"), ("no samples",)),
    "nan cell": ({"s.csv": "x0,x1,y0,y1,y2\n1,2,0,0,1\n1,nan,0,0,1\n"},
                 ("connect", A, B, "--samples", "{tmp}/s.csv"),
                 ("line 3, column 2", "not a finite number")),
    "NaN target": ({"s.csv": "1,2,0,0,1\n1,2,0,NaN,1\n"},
                   ("align", A, B, "--samples", "{tmp}/s.csv"),
                   ("line 2, column 4", "not a finite number")),
    "inf cell": ({"s.csv": "1,2,0,0,1\n-inf,2,0,0,1\n"},
                 ("connect", A, B, "--samples", "{tmp}/s.csv"),
                 ("line 2, column 1", "not a finite number")),
    "beyond float32": ({"s.csv": "1,2,0,0,1\n1,1e39,0,0,1\n"},
                       ("connect", A, B, "--samples", "{tmp}/s.csv"),
                       ("line 2, column 2", "float32")),
    "nan in eval samples": ({"s.csv": "1,2,0,0,1\n1,nan,0,0,1\n"},
                            ("align", A, B, "--samples", PROBES, "--eval-samples",
                             "{tmp}/s.csv"), ("s.csv line 2, column 2",)),
    "semicolons": ({"s.csv": "x0;x1;y0;y1;y2\n1;2;0;0;1\n"},
                   ("connect", A, B, "--samples", "{tmp}/s.csv"),
                   ("has 1 column", "';'", "comma-separated")),
    "tabs": ({"s.csv": "1\t2\t0\t0\t1\n3\t4\t0\t1\t0\n"},
             ("connect", A, B, "--samples", "{tmp}/s.csv"),
             ("has 1 column", "tabs", "comma-separated")),
    "tabs, one row": ({"s.csv": "1\t2\t0\t0\t1\n"}, ("connect", A, B, "--samples",
                                                     "{tmp}/s.csv"), ("no samples", "tabs")),
    "decimal commas": ({"s.csv": "1,5;2,0;0;0;1\n"},
                       ("connect", A, B, "--samples", "{tmp}/s.csv"), ("';'",)),
    "utf-16 csv": ({"s.csv": "1,2,0,0,1\n".encode("utf-16")},
                   ("connect", A, B, "--samples", "{tmp}/s.csv"), ("s.csv", "UTF-8")),
    "latin-1 header": ({"s.csv": "x0,x1,y0,y1,y2 \xe9t\xe9\n1,2,0,0,1\n".encode("latin-1")},
                       ("connect", A, B, "--samples", "{tmp}/s.csv"), ("UTF-8",)),
    "binary as net": ({"b.nn": b"\x00\xff\xfe" * 10}, ("info", "{tmp}/b.nn"), ("b.nn",)),
    "output in a missing directory": ({}, ("permute", B, "--to", A, "--samples", PROBES, "-o",
                                           "{tmp}/no/dir/o.nn"), ("-o", "no/dir")),
    "output is a directory": ({}, ("merge", A, B, "--samples", PROBES, "-o", "{tmp}"),
                              ("-o", "is a directory")),
    "plot in a missing directory": ({}, ("align", A, B, "--samples", PROBES, "--plot",
                                         "{tmp}/no/p.png"), ("--plot", "no/p.png")),
    "plot is a directory": ({}, ("connect", A, B, "--samples", PROBES, "--plot", "{tmp}"),
                            ("--plot", "is a directory")),
    "plot type": ({}, ("connect", A, B, "--samples", PROBES, "--plot", "{tmp}/p.xyz"),
                  ("--plot", "cannot write .xyz")),
    "merge plot in a missing directory": ({}, ("merge", A, B, "--samples", PROBES, "-o",
                                               "{tmp}/o.nn", "--plot", "{tmp}/no/p.png"),
                                          ("--plot",)),
    # found by the review's fuzzing
    "weights whose sum overflows": ({}, ("merge", A, B, "--samples", PROBES, "-o",
                                         "{tmp}/o.nn", "--weights", "1e308,1e308"),
                                    ("--weights",)),
    "k beyond the bound": ({}, ("connect", A, B, "--samples", PROBES, "-k", "100000000"),
                           ("-k", "at most")),
    "align k beyond the bound": ({}, ("align", A, B, "--samples", PROBES, "-k", "10001"),
                                 ("-k", "at most 10000")),
    "sweep jobs 0": ({}, ("sweep", A, B, "--samples", PROBES, "--jobs", "0"), ("--jobs",)),
    "sweep scheduler not an address": ({}, ("sweep", A, B, "--samples", PROBES, "--scheduler",
                                            "nonsense"), ("nonsense", "address")),
    "permute -o onto the reference net": ({"a.nn": fixture_text("example", "A.nn")},
                                          ("permute", B, "--to", "{tmp}/a.nn", "--samples",
                                           PROBES, "-o", "{tmp}/a.nn"),
                                          ("-o", "a.nn is also an input")),
    "merge -o onto a net": ({"a.nn": fixture_text("example", "A.nn")},
                            ("merge", "{tmp}/a.nn", B, "--samples", PROBES, "-o",
                             "{tmp}/./a.nn"), ("is also an input",)),
    "merge -o onto the samples": ({"s.npz": "1,2,0,0,1\n"},
                                  ("merge", A, B, "--samples", "{tmp}/s.npz", "-o",
                                   "{tmp}/s.npz"), ("s.npz is also an input",)),
    "sweep --no-align with alignment options": ({}, ("sweep", A, B, "--samples", PROBES,
                                                     "--no-align", "--score-mode", "weight",
                                                     "--no-refine"),
                                                ("--no-align", "--score-mode",
                                                 "--refine/--no-refine", "ignored")),
    "sweep --no-align --original": ({}, ("sweep", A, B, "--samples", PROBES, "--no-align",
                                         "--original"), ("--original",)),
    "merge --rounds for two nets": ({}, ("merge", A, B, "--samples", PROBES, "-o",
                                         "{tmp}/o.nn", "--rounds", "3"),
                                    ("--rounds", "three or more")),
    "sweep NaN weights": ({"n.nn": lambda p: _nan_net_file(p)},
                          ("sweep", A, "{tmp}/n.nn", "--samples", PROBES),
                          ("net 1", "NaN/Inf weights in layer 1")),
}


def _nan_net_file(path):
    net = TNNet.from_string(fixture_text("example", "B.nn"))
    net.layers[1].weights[0, 0] = float("nan")
    return _write(path, net.save_to_string() + "\n")


@pytest.mark.parametrize("files, argv, needles", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_bad_values_are_one_line_and_exit_2(capsys, tmp_path, monkeypatch, files, argv,
                                            needles):
    # the work must not start: a bad value is found before any report runs
    def no_work(*args, **kwargs):
        raise AssertionError("the work ran before the bad value was found")
    for name in ("mode_connectivity_report", "permutation_align_report", "merge_with"):
        monkeypatch.setattr(TNNet, name, no_work)
    monkeypatch.setattr("pyneural.reports.alignment.find_alignment", no_work)
    _write(tmp_path / "s.csv", "1,2,0,1\n")          # fits a net with 2 inputs, 2 outputs
    for name, data in files.items():
        data(tmp_path / name) if callable(data) else _write(tmp_path / name, data)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with warnings.catch_warnings():
        warnings.simplefilter("error")                # no RuntimeWarning leaks either
        code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert "Traceback" not in err and out == ""
    message = err.splitlines()[-1]         # after argparse's usage lines, if any
    assert message.startswith("pyneural") and "error: " in message, err
    for needle in needles:
        assert needle in message, err
    assert not (tmp_path / "o.nn").exists()
    for name, data in files.items():          # an input is never overwritten
        if not callable(data):
            written = (tmp_path / name).read_bytes()
            assert written == (data if isinstance(data, bytes) else data.encode())


def test_csv_header_row_and_blank_lines_are_fine(capsys, tmp_path):
    csv = _write(tmp_path / "h.csv", "x0 , x1,y0,y1,y2\n\n" +
                 "\n".join(fixture_text("example", "probes.csv").splitlines()[1:]) + "\n\n")
    code, out, _ = run(capsys, "connect", A, B, "--samples", csv, "-k", "4")
    assert code == 0 and "Probe samples: 36" in out


def test_merge_of_nets_without_a_hidden_layer_has_no_empty_churn_line(capsys, tmp_path):
    net = _net_file(tmp_path / "n.nn", pn.TNNetFullConnectLinear(3))
    code, out, err = run(capsys, "merge", net, net, "--samples", PROBES, "-o",
                         tmp_path / "m.nn")
    assert code == 0, err
    assert "Hidden permutable layers: 0" in out
    assert not any(line.rstrip().endswith(":") and "churn" in line for line in out.splitlines())
    code, out, err = run(capsys, "permute", net, "--to", net, "--samples", PROBES, "-o",
                         tmp_path / "p.nn")
    assert code == 0, err
    assert "churn" not in out and "no hidden" in out


def test_permute_help_describes_only_what_permute_does(capsys):
    code, out, _ = run(capsys, "permute", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "check" not in text.lower(), text
    code, out, _ = run(capsys, "align", "--help")
    assert "check" in out


def test_option_defaults_are_the_library_constants(capsys):
    from pyneural.reports import alignment, merge
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command, default in (("align", f"{alignment.REFINE_PASSES} passes over each hidden "
                                       f"layer's candidate swaps, at least "
                                       f"{alignment.DEFAULT_REFINE_BUDGET}"),
                             ("permute", None), ("merge", merge.MERGE_REFINE_BUDGET)):
        p = sub.choices[command]
        assert p.get_default("refine_budget") is None          # resolved by the library
        help_text = " ".join(p.format_help().split())
        if default is not None:
            assert f"(default{':' if isinstance(default, str) else ''} {default})" in help_text
    from pyneural.reports import permutation_align
    for function in (alignment.find_alignment, permutation_align.permutation_align_report,
                     merge.merge_with, merge.merge_many):
        assert inspect.signature(function).parameters["refine_budget"].default is None
    assert merge.MERGE_REFINE_BUDGET != alignment.DEFAULT_REFINE_BUDGET   # a measured choice


def _option_strings(command):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {s: a for a in sub.choices[command]._actions for s in a.option_strings}


def test_merge_takes_aligns_alignment_options_with_original(capsys, tmp_path):
    align, merge = _option_strings("align"), _option_strings("merge")
    for option in ("--score-mode", "--solver", "--refine", "--no-refine", "--refine-budget",
                   "--seed", "--original"):
        assert option in align and option in merge, option
    out_path = tmp_path / "m.nn"
    code, out, err = run(capsys, "merge", A, B, "--samples", PROBES, "-o", out_path, "-k", "4",
                         "--original", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["score_mode"] == "weight" and d["solver"] == "greedy" and d["exact"] is True
    assert all(stats is None for stats in d["refinement"])      # no refinement ran
    code, out, err = run(capsys, "merge", A, B, "--samples", PROBES, "-o", out_path, "-k", "4",
                         "--original", "--score-mode", "1", "--json")
    assert code == 0 and json.loads(out)["score_mode"] == "activation"


def test_connect_takes_original(capsys):
    assert "--original" in _option_strings("connect")
    code, out, _ = run(capsys, "connect", A, B, "--samples", PROBES, "--original", "--json")
    assert code == 0 and json.loads(out)["exact"] is True
