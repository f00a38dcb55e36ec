"""Probe samples in any of the accepted forms, as two float32 matrices."""
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
