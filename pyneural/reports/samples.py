"""Probe samples in any of the accepted forms, as two float32 matrices, and
read from a CSV file."""
import math

import numpy as np

from ..volume import TNNetVolumePair, as_f32_vector


def as_arrays(samples, n_in, n_out, what="samples"):
    """``(X, Y)`` float32 matrices from a TNNetVolumePairList, a sequence of
    pairs, or a pair of arrays ``(X, Y)``.

    Returns ``(None, None)`` for None or an empty collection (the reports
    then say "nil or empty", as the original). Raises ValueError when the
    sizes do not fit the net or a value is not a finite float32 (naming the
    sample and column), TypeError for something that is not samples.
    """
    if samples is None:
        return None, None
    if (isinstance(samples, tuple) and len(samples) == 2
            and all(isinstance(a, np.ndarray) for a in samples)):
        X, Y = samples
    else:
        try:
            pairs = list(samples)
        except TypeError:
            raise TypeError(f"{what} must be a TNNetVolumePairList, a sequence of "
                            f"(input, target) pairs or a tuple of arrays (X, Y)") from None
        if not pairs:
            return None, None
        try:
            X = np.stack([_vector(p.i if isinstance(p, TNNetVolumePair) else p[0]) for p in pairs])
            Y = np.stack([_vector(p.o if isinstance(p, TNNetVolumePair) else p[1]) for p in pairs])
        except (TypeError, IndexError, ValueError) as exc:
            raise ValueError(f"{what}: every item must be an (input, target) pair of equal "
                             f"sizes ({exc})") from None
    for name, M in (("inputs", X), ("targets", Y)):
        # complex, strings and objects would be cast silently (an imaginary
        # part dropped, "1.5" parsed): the same TypeError as the volumes'
        if M.dtype == object or M.dtype.kind not in "biuf":
            raise TypeError(f"{what}: {name} must be real numbers, got dtype {M.dtype}")
    with np.errstate(over="ignore"):       # beyond float32 becomes inf: refused below
        X = np.ascontiguousarray(X, dtype=np.float32)
        Y = np.ascontiguousarray(Y, dtype=np.float32)
    if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y):
        raise ValueError(f"{what}: X and Y must be matrices with one row per sample, got "
                         f"shapes {X.shape} and {Y.shape}")
    if len(X) == 0:
        return None, None
    if X.shape[1] != n_in or Y.shape[1] != n_out:
        raise ValueError(f"{what}: inputs of {X.shape[1]} and targets of {Y.shape[1]} values, "
                         f"but the net takes {n_in} and gives {n_out}")
    for name, M in (("input", X), ("target", Y)):
        # A NaN or Inf in the probes makes every loss on the path NaN (or a
        # NaN input passes a ReLU as 0): the barrier and verdict would be
        # meaningless, so refuse it here, where every report reads samples.
        bad = np.argwhere(~np.isfinite(M))
        if len(bad):
            row, col = bad[0]
            raise ValueError(f"{what}: sample {row}, {name} {col} is {M[row, col]} (NaN, "
                             f"infinite or beyond float32); probes must be finite")
    return X, Y


def probe_arrays(net, samples, eval_samples, who, why=""):
    """``(X, Y, EX, EY)`` for a computation that needs probes: ``as_arrays``
    of both, where ``EX, EY`` are None without ``eval_samples``.

    Raises ValueError (prefixed ``who``, with ``why`` after the message)
    for empty samples or empty ``eval_samples``; otherwise as ``as_arrays``.
    """
    X, Y = as_arrays(samples, net.input_size, net.output_size)
    if X is None:
        raise ValueError(f"{who}: samples is nil or empty{why}")
    EX, EY = as_arrays(eval_samples, net.input_size, net.output_size, "eval_samples")
    if eval_samples is not None and EX is None:
        raise ValueError(f"{who}: eval_samples is nil or empty")
    return X, Y, EX, EY


def _vector(v):
    return as_f32_vector(getattr(v, "data", v), what="a sample")


# ------------------------------------------------------------ CSV files --

def is_number(cell):
    """True when ``float()`` reads the CSV cell ``cell``."""
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _separator_hint(line):
    """A hint for a line that looks separated by something other than commas
    (spreadsheets in comma-decimal locales write ';'), else ""."""
    for separator, name in ((";", "';'"), ("\t", "tabs")):
        if separator in line:
            return (f" (it looks separated by {name}; pyneural reads comma-separated values "
                    f"with '.' as the decimal point)")
    return ""


def read_samples(path, net, net_path="the net"):
    """``(X, Y)`` float32 matrices from a CSV file of samples for ``net``.

    Every row has ``net.input_size + net.output_size`` comma-separated
    numbers: the inputs first, then the targets. A header row is optional:
    a first row with no number in it is one. Blank lines are skipped. The
    numbers are read through float64, as the `.nn` loader reads them, so
    ``FloatToStr`` text comes back bit-exactly.

    Parameters
    ----------
    path : str or path-like
        A UTF-8 text file (a byte-order mark is allowed, as spreadsheets
        write it).
    net : TNNet
        Gives the numbers of inputs and targets.
    net_path : str
        What the messages call the net.

    Returns
    -------
    X, Y : numpy.ndarray
        float32, one row per sample.

    Raises
    ------
    OSError
        The file cannot be read.
    UnicodeDecodeError
        The file is not UTF-8 text.
    ValueError
        A cell that is not a finite float32 number (NaN, Inf and values
        beyond float32's range included; the message names the line and
        column), ragged rows, a column count that does not fit the net
        (with a hint when the file looks ';'- or tab-separated), or no
        samples at all.
    """
    with open(path, encoding="utf-8-sig") as f:
        lines = f.read().splitlines()
    n_in, n_out = net.input_size, net.output_size
    rows, line_numbers, width, header = [], [], None, None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        if header is None:
            header = ""
            if not any(is_number(c) for c in cells):
                header = line
                continue
        if width is None:
            width = len(cells)
            if width != n_in + n_out:
                raise ValueError(
                    f"{path} has {width} column{'s' if width != 1 else ''}, but {net_path} "
                    f"needs {n_in + n_out}: {n_in} input{'s' if n_in != 1 else ''} "
                    f"(the first columns) and {n_out} target{'s' if n_out != 1 else ''} "
                    f"(the last columns){_separator_hint(line)}")
        elif len(cells) != width:
            raise ValueError(f"{path} line {number}: {len(cells)} columns, the rows above "
                             f"have {width}")
        rows.append(cells)
        line_numbers.append(number)
    if not rows:
        raise ValueError(f"{path}: no samples (the file is empty or has only a header)"
                         f"{_separator_hint(header or '')}")
    # Through float64, as the .nn loader reads numbers: FloatToStr text
    # (10 significant digits) comes back bit-exactly.
    try:
        data = np.array(rows, dtype=np.float64)
    except ValueError:
        _check_cells(path, rows, line_numbers)
        data = np.array([[float(c) for c in cells] for cells in rows], dtype=np.float64)
    with np.errstate(over="ignore"):
        data = data.astype(np.float32)
    if not np.all(np.isfinite(data)):
        _check_cells(path, rows, line_numbers)
    return np.ascontiguousarray(data[:, :n_in]), np.ascontiguousarray(data[:, n_in:])


def _check_cells(path, rows, line_numbers):
    """ValueError naming the first cell that is not a finite float32 number
    (a NaN would silently make every loss on the path NaN)."""
    for cells, number in zip(rows, line_numbers):
        for column, cell in enumerate(cells, 1):
            where = f"{path} line {number}, column {column}: {cell!r}"
            if not is_number(cell):
                raise ValueError(f"{where} is not a number{_separator_hint(cell)}")
            value = float(cell)
            if not math.isfinite(value):
                raise ValueError(f"{where} is not a finite number")
            with np.errstate(over="ignore"):
                if not np.isfinite(np.float32(value)):
                    raise ValueError(f"{where} is beyond the float32 range (+-3.4E+038)")
