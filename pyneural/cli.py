"""The ``pyneural`` command line: the two reports, alignment to a file, and
a net's architecture, on ``.nn``, ``.safetensors`` and ``.npz`` files (by
suffix, ``io.NET_SUFFIXES``, for reading and ``-o`` alike; ``--activations
relu,relu,linear`` for a file torch wrote) and CSV samples. ``--original``
(align, connect, merge, sweep) runs the Pascal original's algorithm, and
align and connect then print its text byte for byte.

    pyneural align   A.nn B.nn --samples probes.csv [--score-mode M] [--original] ...
    pyneural connect A.nn B.nn --samples probes.csv [-k K] [--original] [--json] [--plot out.png]
    pyneural permute B.nn --to A.nn --samples probes.csv -o B_aligned.nn ...
    pyneural info    A.nn
    pyneural merge   A.nn B.nn [C.nn ...] --samples probes.csv [--repair] -o merged.nn
    pyneural sweep   A.nn B.nn [C.nn ...] --samples probes.csv [--jobs N]
                     [--scheduler ADDR [--connect-timeout S]]

Exit codes: 0 ok; 2 bad usage or bad input (a bad option value, a missing or
unreadable file, text that is not a ``.nn`` net, nets of different
architectures, a bad CSV, an output or plot path that cannot be written:
all found before the work starts), with one ``pyneural: error: ...`` line
on stderr; 1 anything unexpected (a bug: the traceback is printed).

``--json`` prints ``result.to_dict()`` as JSON; numpy values become plain
numbers and lists, and non-finite numbers (NaN, +-Inf) become ``null``.

Adding a subcommand: write ``_add_NAME_args(parser)`` and ``cmd_NAME(args)``
(returning the exit code, raising ``InputError`` for bad input) and add a
row to ``COMMANDS``.
"""
import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import traceback

import numpy as np

from .io import NET_SUFFIXES, FormatError, file_format, load, parse_activations
from .net import ArchitectureError
from .nnformat import NNFormatError
from .reports.text import jsonable as to_jsonable
from .rng import FPCRandom
from .reports.interpolation import DEFAULT_K
from .reports.samples import is_number, read_samples
from .reports.symmetry import permuted_net as permute

__all__ = ["main", "InputError", "COMMANDS", "load_net", "read_samples", "to_jsonable"]

PROG = "pyneural"

ORIGINAL_SCORE_MODE = 0      # --original without --score-mode: the original's weight mode


class InputError(Exception):
    """Bad input from the user: exit code 2 with the message, no traceback."""


# ----------------------------------------------------------------- input --

@contextlib.contextmanager
def _reading(path, what):
    """Turn the errors of reading ``path`` into InputErrors that say why."""
    try:
        yield
    except FileNotFoundError:
        raise InputError(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path}: is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path}: not UTF-8 text (byte {exc.start}); save it as "
                         f"UTF-8") from None
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None


def load_net(path, activations=None):
    """The net in a ``.nn`` file (one-line SaveToString or two-line
    SaveToFile), a ``.safetensors`` or an ``.npz`` (``pyneural.load``;
    ``activations`` for one torch wrote). InputError when it is missing,
    has another suffix (as ``-o`` refuses it) or is not a net."""
    with _reading(path, "net"):
        # A missing file or a directory is said so before its suffix is judged.
        if os.path.isdir(path):
            raise IsADirectoryError(path)
        os.stat(path)
    fmt = _net_format(path, "net")
    try:
        with _reading(path, "net"):
            # A private generator: the loader draws initial weights, and a
            # command must not move the global RandSeed stream.
            return load(path, activations, generator=FPCRandom(), format=fmt)
    except ImportError as exc:
        raise InputError(f"{path}: {exc}") from None
    except FormatError as exc:          # its message names the file
        raise InputError(str(exc)) from None
    except ValueError as exc:
        raise InputError(f"{path} is not a .nn net: {exc}{_csv_hint(path)}") from None


def _csv_hint(path):
    """A hint for a net file whose first or second line (after a header) is
    a row of numbers: a CSV of samples saved under a net's suffix."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [f.readline(4096) for _ in range(2)]     # a header row, then numbers
    except OSError:
        return ""
    for line in lines:
        cells = line.strip().split(",")
        if len(cells) > 1 and all(is_number(c) for c in cells):
            return (" (it holds rows of comma-separated numbers: is it a CSV of samples? those "
                    "go to --samples)")
    return ""


def _suffixes():
    return ", ".join(NET_SUFFIXES[:-1]) + " or " + NET_SUFFIXES[-1]


def _net_format(path, what):
    """The format of a net file from its suffix (``io.NET_SUFFIXES``, the
    one table for input and ``-o`` alike); InputError naming ``what`` the
    file is for, and what a CSV of samples is, for any other suffix."""
    try:
        return file_format(path)
    except FormatError as exc:
        if os.path.splitext(os.fsdecode(path))[1].lower() == ".csv":
            raise InputError(f"{what} {path} is a CSV file (samples go to --samples), not a "
                             f"net: a net is a {_suffixes()} file") from None
        raise InputError(f"{what} {exc}") from None


def _require_a_layer(net, path):
    """InputError when the net has only its input layer: it computes nothing
    the reports could compare or merge."""
    if len(net.layers) < 2:
        raise InputError(f"{path} has no layer after the input: nothing to compare")


def check_same_architecture(net_a, path_a, net_b, path_b):
    """ArchitectureError naming the first layer where the nets differ."""
    net_a.check_same_architecture(net_b, names=(path_a, path_b))


def _read_samples(path, net, net_path="the net", what="samples"):
    """``read_samples`` of the CSV ``path`` (``pyneural.reports.samples``),
    its errors as InputErrors: also a net file given as samples. ``what``
    names the file's option in the messages."""
    if os.path.splitext(os.fsdecode(path))[1].lower() in NET_SUFFIXES:
        raise InputError(f"--{what} {path} is a net file ({_suffixes()}), not a CSV of "
                         f"samples: give a .csv file with comma-separated rows, inputs first, "
                         f"then targets")
    try:
        with _reading(path, what):
            return read_samples(path, net, net_path)
    except ValueError as exc:           # the CSV's own errors name the file and line
        raise InputError(str(exc)) from None


def _read_eval_samples(args, net, net_path):
    """``--eval-samples`` as ``_read_samples`` reads it, or None without it."""
    if not args.eval_samples:
        return None
    return _read_samples(args.eval_samples, net, net_path, "eval-samples")


def _load_pair(path_a, path_b, activations=None):
    net_a = load_net(path_a, activations)
    net_b = load_net(path_b, activations)
    _require_a_layer(net_a, path_a)
    check_same_architecture(net_a, path_a, net_b, path_b)
    return net_a, net_b


# ---------------------------------------------------------------- output --

def print_json(data):
    """Print ``to_jsonable(data)`` as one line of JSON on stdout (TypeError
    for a value ``to_jsonable`` cannot convert)."""
    print(json.dumps(to_jsonable(data), allow_nan=False))


def _check_writable(path, option):
    """InputError, before the work, when ``path`` cannot be written: it is a
    directory, its directory does not exist, or no file can be created
    there."""
    if os.path.isdir(path):
        raise InputError(f"{option} {path}: is a directory, not a file")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError(f"{option} {path}: no such directory {directory}")
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None


def _check_not_an_input(path, option, inputs):
    """InputError when ``path`` names one of the command's input files: the
    output would overwrite a net (or the samples) the user still has only
    there."""
    target = os.path.realpath(path)
    for given in inputs:
        if given is not None and os.path.realpath(given) == target:
            raise InputError(f"{option} {path} is also an input ({given}); writing it would "
                             f"overwrite that file: choose another name")


def _check_plot_possible(path):
    """Fail before the work when --plot cannot work: no matplotlib, a file
    type matplotlib cannot write, or a path that cannot be written."""
    if path is None:
        return
    try:
        import matplotlib
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'pyneural[plot]'") from None
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")             # a command never shows a window
    kind = os.path.splitext(path)[1][1:].lower()
    types = FigureCanvasBase.get_supported_filetypes()
    if kind and kind not in types:
        raise InputError(f"--plot {path}: matplotlib cannot write .{kind} files (use one of "
                         f"{', '.join(sorted(types))})")
    _check_writable(path, "--plot")


def _plot(result, path):
    if path is None:
        return
    try:
        result.plot(path)
    except ValueError as exc:             # the report did not run: nothing to draw
        raise InputError(f"--plot: {exc}") from None
    except OSError as exc:
        raise InputError(f"--plot {path}: cannot write it ({exc.strerror or exc})") from None
    print(f"{PROG}: wrote {path}", file=sys.stderr)


def _write_net(net, path):
    """``-o``: the net as ``net.save`` writes it (the format of the suffix)."""
    try:
        net.save(path)
    except OSError as exc:
        raise InputError(f"cannot write {path} ({exc.strerror or exc})") from None
    except (ImportError, ValueError) as exc:
        raise InputError(str(exc)) from None


# ------------------------------------------------------ argument helpers --

def _score_mode(text):
    """--score-mode: a Pascal integer 0-4 or a mode name."""
    from .reports.alignment import SCORE_MODES
    t = text.strip().lower()
    if t.isdigit() and int(t) in SCORE_MODES:
        return SCORE_MODES[int(t)]
    if t in SCORE_MODES.values():
        return t
    choices = ", ".join(f"{k}/{v}" for k, v in SCORE_MODES.items())
    raise argparse.ArgumentTypeError(f"unknown score mode {text!r} (use one of {choices})")


def int_at_least(minimum, maximum=None):
    """An argparse type: an integer >= ``minimum`` (and <= ``maximum``)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value
    return parse


_positive_int = int_at_least(1)
_non_negative_int = int_at_least(0)


def _positive_seconds(text):
    """--connect-timeout: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def _fraction(text):
    """--alpha: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _check_output_format(path):
    """InputError, before the work, when the suffix of ``-o`` names no
    format pyneural writes."""
    _net_format(path, "-o")


def _activations(text):
    """--activations: one name per Linear layer, comma-separated."""
    try:
        return parse_activations(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_activations_arg(p):
    p.add_argument("--activations", type=_activations, default=None, metavar="A0,A1,...",
                   help="for .safetensors/.npz files torch wrote: the activation after each "
                        "Linear layer, of relu, tanh, sigmoid, linear, softmax (e.g. "
                        "relu,relu,linear); files pyneural wrote must agree with it")


def _add_samples_arg(p):
    p.add_argument("--samples", required=True, metavar="CSV",
                   help="probe samples: a CSV with the inputs first, then the targets "
                        "(header row optional)")


def _add_k_arg(p):
    from .reports.interpolation import MAX_K
    p.add_argument("-k", type=int_at_least(1, MAX_K), default=DEFAULT_K, metavar="K",
                   help=f"interpolation intervals, K+1 points (default {DEFAULT_K}, at most "
                        f"{MAX_K})")


def _add_output_args(p):
    p.add_argument("--json", action="store_true",
                   help="print the result as JSON (non-finite numbers as null)")
    p.add_argument("--plot", metavar="PNG", help="also draw the loss curve(s) to this file "
                                                  "(needs matplotlib)")


def _on_off(flag):
    return "on" if flag else "off"


def _add_alignment_args(p, checks=True, budget=None):
    """The alignment options of ``align``, ``sweep`` and (``checks=False``:
    they run no checks) ``permute`` and ``merge``, whose refinement has its
    own fixed default budget (``budget``; None: the budget that follows
    the widths)."""
    from .reports.matching import SOLVERS
    from .reports.alignment import (DEFAULT_REFINE, DEFAULT_REFINE_BUDGET, DEFAULT_SCORE_MODE,
                                    DEFAULT_SOLVER, REFINE_PASSES, SCORE_MODES)
    from .reports.permutation_align import ORIGINAL_OPTIONS
    modes = ", ".join(f"{k}/{v}" for k, v in SCORE_MODES.items())
    p.add_argument("--score-mode", type=_score_mode, default=None, metavar="MODE",
                   help=f"how units are matched: {modes} (default {DEFAULT_SCORE_MODE}; "
                        f"with --original, {SCORE_MODES[ORIGINAL_SCORE_MODE]})")
    p.add_argument("--solver", choices=sorted(SOLVERS), default=None,
                   help=f"assignment solver (default {DEFAULT_SOLVER}; "
                        f"{ORIGINAL_OPTIONS['solver']} with --original)")
    p.add_argument("--refine", action=argparse.BooleanOptionalAction, default=None,
                   help=f"barrier-aware swap refinement after matching (default "
                        f"{_on_off(DEFAULT_REFINE)}; {_on_off(ORIGINAL_OPTIONS['refine'])} "
                        f"with --original)")
    p.add_argument("--refine-budget", type=_positive_int, default=None,
                   metavar="N", help="most loss evaluations the refinement may spend "
                                     + (f"(default {budget})" if budget else
                                        f"(default: {REFINE_PASSES} passes over each hidden "
                                        f"layer's candidate swaps, at least "
                                        f"{DEFAULT_REFINE_BUDGET})"))
    p.add_argument("--seed", type=_non_negative_int, default=0,
                   help="seed of weight matching's layer order"
                        + (" and the random checks" if checks else ""))
    _add_original_arg(p, "greedy solver, no refinement, " + ("no scale check, " if checks else "")
                      + "score mode 0 unless given (options given explicitly still win)")


def _add_original_arg(p, what):
    p.add_argument("--original", action="store_true",
                   help=f"the Pascal original's algorithm and text, with the bit-exact "
                        f"per-sample forward pass: {what}")


def _exact(args):
    """``exact`` for the reports: True with --original (the original's bits
    whatever the size), else pyneural's choice."""
    return True if args.original else "auto"


def _alignment_settings(args):
    """score mode, solver, refine and check_scale from the options."""
    from .reports.alignment import (DEFAULT_REFINE, DEFAULT_SCORE_MODE, DEFAULT_SOLVER,
                                    resolve_score_mode)
    from .reports.permutation_align import ORIGINAL_OPTIONS
    if args.original:
        mode = args.score_mode if args.score_mode is not None else ORIGINAL_SCORE_MODE
        solver, refine = ORIGINAL_OPTIONS["solver"], ORIGINAL_OPTIONS["refine"]
        check_scale = ORIGINAL_OPTIONS["check_scale"]
    else:
        mode = args.score_mode if args.score_mode is not None else DEFAULT_SCORE_MODE
        solver, refine, check_scale = DEFAULT_SOLVER, DEFAULT_REFINE, True
    if args.solver is not None:
        solver = args.solver
    if args.refine is not None:
        refine = args.refine
    if getattr(args, "check_scale", None) is not None:
        check_scale = args.check_scale
    return resolve_score_mode(mode), solver, refine, check_scale


# ------------------------------------------------------------ subcommands --

def _add_align_args(p):
    p.add_argument("a", metavar="A.nn", help="endpoint A (the reference)")
    p.add_argument("b", metavar="B.nn", help="endpoint B (aligned to A)")
    _add_samples_arg(p)
    _add_activations_arg(p)
    _add_alignment_args(p)
    p.add_argument("--eval-samples", metavar="CSV",
                   help="measure the barriers on these samples instead (held out: "
                        "alignment only sees --samples)")
    p.add_argument("--scale-align", action="store_true",
                   help="also report the barrier after rescaling B's ReLU units to A's norms")
    _add_repair_path_arg(p)
    p.add_argument("--check-scale", action=argparse.BooleanOptionalAction, default=None,
                   help="check 4, scale invariance (default on; off with --original)")
    p.add_argument("--check-recovery", action="store_true",
                   help="check 5: shuffle A by a known permutation and align it back")
    _add_k_arg(p)
    _add_output_args(p)


def cmd_align(args):
    """``pyneural align``: print the permutation-alignment report of B to A
    (text or ``--json``), optionally plot it. Returns 0; InputError for bad
    input."""
    _check_plot_possible(args.plot)
    net_a, net_b = _load_pair(args.a, args.b, args.activations)
    samples = _read_samples(args.samples, net_a, args.a)
    held = _read_eval_samples(args, net_a, args.a)
    mode, solver, refine, check_scale = _alignment_settings(args)
    result = net_a.permutation_align_report(
        net_b, samples, mode, args.k, solver=solver, refine=refine,
        refine_budget=args.refine_budget, eval_samples=held, scale_align=args.scale_align,
        repair=args.repair, check_scale=check_scale, check_recovery=args.check_recovery,
        seed=args.seed, exact=_exact(args), progress=False if args.json else None,
        permute_channels=not args.original)
    _emit(result, args)
    return 0


def _add_connect_args(p):
    p.add_argument("a", metavar="A.nn", help="endpoint A")
    p.add_argument("b", metavar="B.nn", help="endpoint B")
    _add_samples_arg(p)
    _add_repair_path_arg(p)
    _add_activations_arg(p)
    _add_original_arg(p, "the report as the original prints it")
    _add_k_arg(p)
    _add_output_args(p)


def _add_repair_path_arg(p):
    p.add_argument("--repair", action="store_true",
                   help="also the REPAIR'd path: at each alpha, hidden units' pre-activation "
                        "mean/std reset to the endpoints' blend (statistics on --samples)")


def cmd_connect(args):
    """``pyneural connect``: print the mode-connectivity report of A and B
    (text or ``--json``), optionally plot it. Returns 0; InputError for bad
    input."""
    _check_plot_possible(args.plot)
    net_a, net_b = _load_pair(args.a, args.b, args.activations)
    samples = _read_samples(args.samples, net_a, args.a)
    result = net_a.mode_connectivity_report(net_b, samples, args.k, repair=args.repair,
                                            exact=_exact(args))
    _emit(result, args)
    return 0


def _emit(result, args, **extra):
    """Print the result (its text, or ``--json`` with ``extra`` keys added)
    and draw ``--plot``."""
    if args.json:
        print_json({**result.to_dict(), **extra})
    else:
        sys.stdout.write(str(result))
    sys.stdout.flush()
    _plot(result, args.plot)


def _add_permute_args(p):
    p.add_argument("b", metavar="B.nn", help="the net to permute")
    p.add_argument("--to", required=True, metavar="A.nn", dest="a",
                   help="the reference net B is aligned to")
    _add_samples_arg(p)
    _add_activations_arg(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT.nn",
                   help="where to write the permuted B (.nn, one line; or .safetensors, .npz)")
    _add_alignment_args(p, checks=False)
    p.add_argument("--repair", action="store_true",
                   help="align for the REPAIR'd path as `align --repair` does (at paper scale "
                        "the default then takes no assignment steps)")
    _add_k_arg(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def cmd_permute(args):
    """``pyneural permute``: write B with its hidden units permuted to align
    with A (``find_alignment``) and print a summary: churn, barrier before
    and after on the samples, output drift. Returns 0; InputError for bad
    input."""
    from .reports import interpolation as interp
    from .reports.alignment import find_alignment
    _check_writable(args.output, "-o")
    _check_output_format(args.output)
    _check_not_an_input(args.output, "-o", (args.a, args.b, args.samples))
    net_a, net_b = _load_pair(args.a, args.b, args.activations)
    X, Y = _read_samples(args.samples, net_a, args.a)
    mode, solver, refine, _ = _alignment_settings(args)
    # Resolved as the align report resolves it, so that `permute` writes
    # the permutations `align` reports with the same options, on the
    # function as the reports measure it (dropout off).
    exact = interp.use_exact(net_a, len(X), _exact(args))
    work = interp.work_copy(net_a)
    snap_a, snap_b = work.snapshot(), net_b.snapshot()
    layers, aligned, info, stats = find_alignment(
        work, snap_a, snap_b, X, Y, mode, solver=solver, refine=refine,
        refine_budget=args.refine_budget, k=args.k, seed=args.seed, exact=exact,
        progress=False if args.json else None, for_repair=args.repair,
        channels=not args.original)
    before = interp.sweep(work, snap_a, snap_b, X, Y, args.k, exact).barrier
    after = interp.sweep(work, snap_a, aligned, X, Y, args.k, exact).barrier
    out = permute(net_b, [l.permutation for l in layers])
    with np.errstate(invalid="ignore"):
        drift = float(np.max(np.abs(interp.work_copy(out).compute_batch(X, exact=True)
                                    - interp.work_copy(net_b).compute_batch(X, exact=True))))
    _write_net(out, args.output)
    summary = {"command": "permute", "b": args.b, "a": args.a, "output": args.output,
               "n_samples": len(X), "k": args.k, "score_mode": mode, "solver": solver,
               "refine": refine, "for_repair": args.repair, "matching_info": info,
               "refinement": stats.to_dict() if stats is not None else None,
               "layers": [l.to_dict() for l in layers],
               "barrier_before": before, "barrier_after": after, "max_output_drift": drift,
               "non_finite": interp.describe_non_finite(snap_a, snap_b)}
    if args.json:
        print_json(summary)
    else:
        sys.stdout.write(_permute_text(summary))
    return 0


def _permute_text(s):
    from .reports.text import f32, fixed, fpc_exp
    lines = [f"Aligned {s['b']} to {s['a']} on {s['n_samples']} samples (K={s['k']}): "
             f"score {s['score_mode']}, solver {s['solver']}, "
             f"refinement {'on' if s['refine'] else 'off'}"
             + (", aligned for the REPAIR'd path" if s["for_repair"] else "")]
    if s["matching_info"]:
        lines.append(f"Matching: {s['matching_info']}")
    if s["layers"]:
        lines.append("Permutation churn (fraction of units moved):")
    for l in s["layers"]:
        names = l["net_layers"]
        lines.append(f"  net layer{'s' if len(names) > 1 else ''} {', '.join(map(str, names))} "
                     f"(width {l['width']}): churn = {fixed(f32(l['churn']), 3)}")
    before, after = s["barrier_before"], s["barrier_after"]
    line = f"Barrier on the samples: before {fixed(before, 6)}, after {fixed(after, 6)}"
    if math.isfinite(before) and math.isfinite(after) and before > 1e-6:
        line += f" ({fixed(100 * (before - after) / before, 2)}% removed)"
    lines.append(line)
    lines.append(f"Function check: max output drift B -> permuted B "
                 f"{fpc_exp(s['max_output_drift'])} on the samples")
    if s["non_finite"]:
        lines.append(f"Warning: {s['non_finite']}: the barriers and the alignment are not "
                     f"meaningful")
    lines.append(f"Wrote {s['output']}")
    return "\n".join(lines) + "\n"


def _add_info_args(p):
    p.add_argument("net", metavar="NET.nn", help="the net to describe")
    p.add_argument("--json", action="store_true", help="print the architecture as JSON")
    _add_activations_arg(p)


def cmd_info(args):
    """``pyneural info``: print a net's layers (and the layers each reads),
    parameter counts and permutation groups (a table, or ``--json``).
    Returns 0; InputError for a missing or bad file."""
    from .reports.symmetry import hidden_layers
    net = load_net(args.net, args.activations)
    rows = []
    for i, layer in enumerate(net.layers):
        rows.append({"index": i, "class": layer.class_name,
                     "reads": list(layer.input_indices()),
                     "output": list(layer.output.shape),
                     "neurons": layer.neurons if layer.has_weights else None,
                     "fan_in": layer.fan_in if layer.has_weights else None,
                     "parameters": int(layer.params.size) if layer.has_weights else 0})
    groups = [{"net_layers": list(g.producers), "readers": list(g.readers), "width": g.width}
              for g in hidden_layers(net)]
    total, weights = net.count_parameters(), net.count_weights()
    if args.json:
        print_json({"net": args.net, "layers": rows, "inputs": net.input_size,
                    "outputs": net.output_size, "parameters": total, "weights": weights,
                    "biases": total - weights, "permutation_groups": groups})
        return 0
    print(f"{args.net}: {len(rows)} layers, {net.input_size} inputs -> "
          f"{net.output_size} outputs")
    table = [("#", "class", "reads", "output", "neurons x fan_in", "parameters")]
    for r in rows:
        table.append((str(r["index"]), r["class"], ",".join(map(str, r["reads"])) or "-",
                      "x".join(map(str, r["output"])),
                      f"{r['neurons']} x {r['fan_in']}" if r["neurons"] is not None else "-",
                      str(r["parameters"])))
    widths = [max(len(row[c]) for row in table) for c in range(len(table[0]))]
    for row in table:
        print("  " + "  ".join(cell.rjust(w) if c in (0, 5) else cell.ljust(w)
                               for c, (cell, w) in enumerate(zip(row, widths))).rstrip())
    print(f"Permutation groups: {len(groups)}" + "".join(
        f"\n  net layer{'s' if len(g['net_layers']) > 1 else ''} "
        f"{', '.join(map(str, g['net_layers']))}: {g['width']} units, read by "
        f"{', '.join(map(str, g['readers']))}" for g in groups))
    print(f"Parameters: {total} ({weights} weights + {total - weights} biases)")
    return 0


def _weights(text):
    """--weights: comma-separated non-negative numbers with a positive sum."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of "
                                         "numbers") from None
    # The sum must be finite too: 1e308,1e308 sums to inf, and every
    # normalised weight would silently become 0.
    if not all(math.isfinite(v) and v >= 0 for v in values) or not 0 < sum(values) < math.inf:
        raise argparse.ArgumentTypeError(f"weights must be non-negative with a positive sum, "
                                         f"got {text!r}")
    return values


def _add_merge_args(p):
    from .reports.merge import DEFAULT_ROUNDS, MERGE_REFINE_BUDGET
    p.add_argument("nets", nargs="+", metavar="NET.nn",
                   help="the nets to merge: two or more of one architecture (the first is "
                        "the reference the others are aligned to)")
    _add_samples_arg(p)
    _add_activations_arg(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT.nn",
                   help="where to write the merged net (.nn, one line; or .safetensors, .npz)")
    p.add_argument("--eval-samples", metavar="CSV",
                   help="measure every loss and accuracy on these samples instead (held out: "
                        "alignment and REPAIR only see --samples)")
    p.add_argument("--repair", action="store_true",
                   help="REPAIR the merge: reset each hidden unit's pre-activation mean/std "
                        "to the endpoints' on the samples (folded into weights and biases)")
    p.add_argument("--alpha", type=_fraction, default=None,
                   help="two nets: B's weight in [0, 1], merged = (1 - alpha) A + alpha B "
                        "(default: the midpoint)")
    p.add_argument("--weights", type=_weights, default=None, metavar="W0,W1,...",
                   help="each net's weight in the average (normalised; default equal)")
    _add_alignment_args(p, checks=False, budget=MERGE_REFINE_BUDGET)
    p.add_argument("--rounds", type=_non_negative_int, default=DEFAULT_ROUNDS, metavar="N",
                   help="three or more nets: MergeMany rounds, each net re-aligned to the "
                        f"average of the others (default {DEFAULT_ROUNDS})")
    _add_k_arg(p)
    _add_output_args(p)


def cmd_merge(args):
    """``pyneural merge``: merge two nets (``merge_with``) or more
    (``merge_many``), write the merged net to ``--output`` and print the
    report (text or ``--json``), optionally plot it. Returns 0; InputError
    for bad input or inconsistent options."""
    from .reports.merge import DEFAULT_ROUNDS, merge_many
    paths = args.nets
    if len(paths) < 2:
        raise InputError("merge needs at least two nets")
    if args.alpha is not None and (len(paths) != 2 or args.weights is not None):
        raise InputError("--alpha is for two nets without --weights; use --weights for more")
    if args.rounds != DEFAULT_ROUNDS and len(paths) == 2:
        raise InputError("--rounds is for three or more nets (MergeMany); two nets are "
                         "aligned once")
    if args.weights is not None and len(args.weights) != len(paths):
        raise InputError(f"--weights has {len(args.weights)} values for {len(paths)} nets")
    _check_writable(args.output, "-o")
    _check_output_format(args.output)
    _check_not_an_input(args.output, "-o", (*paths, args.samples, args.eval_samples))
    _check_plot_possible(args.plot)
    nets = [load_net(path, args.activations) for path in paths]
    _require_a_layer(nets[0], paths[0])
    for path, net in zip(paths[1:], nets[1:]):
        check_same_architecture(nets[0], paths[0], net, path)
    samples = _read_samples(args.samples, nets[0], paths[0])
    held = _read_eval_samples(args, nets[0], paths[0])
    mode, solver, refine, _ = _alignment_settings(args)
    options = dict(score_mode=mode, solver=solver, refine=refine,
                   refine_budget=args.refine_budget, repair=args.repair, eval_samples=held,
                   k=args.k, seed=args.seed, exact=_exact(args),
                   progress=False if args.json else None, permute_channels=not args.original)
    if len(nets) == 2:
        if args.weights is not None:
            options["alpha"] = args.weights[1] / sum(args.weights)
        elif args.alpha is not None:
            options["alpha"] = args.alpha
        result = nets[0].merge_with(nets[1], samples, **options)
    else:
        result = merge_many(nets, samples, args.weights, rounds=args.rounds, **options)
    _write_net(result.net, args.output)
    if args.json:
        print_json({**result.to_dict(), "output": args.output})
    else:
        sys.stdout.write(str(result))
    sys.stdout.flush()
    _plot(result, args.plot)
    print(f"{PROG}: wrote {args.output}", file=sys.stderr)
    return 0


def _add_sweep_args(p):
    p.add_argument("nets", nargs="+", metavar="NET.nn",
                   help="two or more nets of one architecture; every pair is compared")
    _add_activations_arg(p)
    _add_samples_arg(p)
    p.add_argument("--eval-samples", metavar="CSV",
                   help="measure the barriers on these samples instead (held out: "
                        "alignment only sees --samples)")
    p.add_argument("--align", action=argparse.BooleanOptionalAction, default=True,
                   help="align each pair and measure the barrier after it too (default on)")
    p.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                   help="local worker processes (needs joblib: pip install "
                        "'pyneural[parallel]'; default 1)")
    from .reports.sweep import DEFAULT_CONNECT_TIMEOUT
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the pairs on this Dask scheduler, e.g. tcp://host:8790 for one "
                        "started with `dask scheduler --port 8790` (needs pip install "
                        "'pyneural[distributed]')")
    p.add_argument("--connect-timeout", type=_positive_seconds, default=None, metavar="SECONDS",
                   help=f"with --scheduler: how long the scheduler has to answer (default "
                        f"{DEFAULT_CONNECT_TIMEOUT:g})")
    _add_alignment_args(p)
    _add_repair_path_arg(p)
    _add_k_arg(p)
    _add_output_args(p)


def cmd_sweep(args):
    """``pyneural sweep``: the barrier matrix of every pair of nets (text or
    ``--json``), optionally as heatmaps. Returns 0; InputError for bad
    input, a missing optional package or an unreachable scheduler."""
    from .reports.sweep import barrier_matrix, path_labels
    _check_plot_possible(args.plot)
    paths = args.nets
    if len(paths) < 2:
        raise InputError("sweep needs at least two nets")
    if args.scheduler and args.jobs != 1:
        raise InputError("give either --jobs (local processes) or --scheduler, not both")
    if args.connect_timeout is not None and not args.scheduler:
        raise InputError("--connect-timeout is for --scheduler (how long its address has to "
                         "answer)")

    if not args.align:
        given = [name for name, on in (
            ("--score-mode", args.score_mode is not None), ("--solver", args.solver is not None),
            ("--refine/--no-refine", args.refine is not None),
            ("--refine-budget", args.refine_budget is not None),
            ("--seed", args.seed != 0), ("--original", args.original)) if on]
        if given:
            raise InputError(f"--no-align measures no alignment: {', '.join(given)} would be "
                             f"ignored")
    nets = [load_net(path, args.activations) for path in paths]
    for path, net in zip(paths[1:], nets[1:]):
        check_same_architecture(nets[0], paths[0], net, path)
    samples = _read_samples(args.samples, nets[0], paths[0])
    held = _read_eval_samples(args, nets[0], paths[0])
    options = {"repair": True} if args.repair else {}
    if args.connect_timeout is not None:
        options["connect_timeout"] = args.connect_timeout
    if args.align:
        mode, solver, refine, _ = _alignment_settings(args)
        options.update(score_mode=mode, solver=solver, refine=refine,
                       refine_budget=args.refine_budget, exact=_exact(args),
                       permute_channels=not args.original)
    try:
        result = barrier_matrix(nets, samples, align=args.align, eval_samples=held, k=args.k,
                                n_jobs=args.jobs, scheduler=args.scheduler,
                                names=path_labels(paths),
                                seed=args.seed, progress=False if args.json else None,
                                **options)
    except ImportError as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:          # the scheduler cannot be reached (the message names it)
        raise InputError(f"--scheduler: {exc}") from None
    except ValueError as exc:       # bad input found by the sweep (e.g. not an address)
        raise InputError(str(exc)) from None
    _emit(result, args, paths=paths)
    return 0


# name, help, adds the arguments, runs (returns the exit code)
COMMANDS = [
    ("align", "permutation-alignment report (Git Re-Basin) of B to A",
     _add_align_args, cmd_align),
    ("connect", "mode-connectivity report: the loss along the line from A to B",
     _add_connect_args, cmd_connect),
    ("permute", "write B with its hidden units permuted to align with A",
     _add_permute_args, cmd_permute),
    ("info", "a net's layers and parameter count", _add_info_args, cmd_info),
    ("merge", "merge two or more nets: align, average, optionally REPAIR; write the result",
     _add_merge_args, cmd_merge),
    ("sweep", "the barrier matrix of every pair of nets, before and after alignment",
     _add_sweep_args, cmd_sweep),
]


def build_parser():
    """The argparse parser: one subcommand per row of ``COMMANDS``, each
    with its ``run`` function as a default."""
    from . import __version__
    parser = argparse.ArgumentParser(
        prog=PROG, description="Weight-space diagnostics for CAI Neural API nets, dense and "
                               "convolutional (.nn, .safetensors, .npz files).",
        epilog="Exit codes: 0 ok, 2 bad usage or input, 1 unexpected error.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text, add_args, run in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(run=run)
    return parser


def main(argv=None):
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns
    the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:            # --help, --version, usage errors (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        # NaN or Inf weights or samples reach every report as a NON-FINITE
        # verdict naming the net; numpy's floating-point warnings on the
        # way would only repeat it, line after line.
        with np.errstate(all="ignore"):
            return args.run(args)
    except (InputError, NNFormatError, ArchitectureError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error of ours. Point
        # stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:             # a bug: say so, with the traceback
        traceback.print_exc()
        print(f"{PROG}: error: unexpected {type(exc).__name__}: {exc} (this is a bug; "
              f"please report it with the traceback above)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
