"""Unit-matching scores and assignment solvers.

A score matrix ``S[i, j]`` says how well unit j of B matches unit i of A.
A solver turns it into a permutation ``perm`` (``perm[i]`` = the B unit
placed at A's position i) that makes ``sum_i S[i, perm[i]]`` large:

- ``greedy``: the original's rule, repeatedly the best unmatched pair (ties
  to the lowest A index, then the lowest B index); not optimal.
- ``hungarian``: the optimal assignment (scipy's ``linear_sum_assignment``).
"""
import numpy as np
from scipy.optimize import linear_sum_assignment

_F32 = np.float32
# Up to this many multiply-adds the cosine is summed in the original's
# sequential float32 order (so near-ties break as in Pascal); above it BLAS.
SEQUENTIAL_LIMIT = 2e7


def _sequential_dots(A, B):
    """``A @ B.T`` with each dot product summed left to right in float32."""
    S = np.zeros((A.shape[0], B.shape[0]), _F32)
    for k in range(A.shape[1]):
        S += np.multiply.outer(A[:, k], B[:, k])
    return S


def cosine_scores(A, B):
    """``dot(a_i, b_j) / (|a_i| |b_j| + 1e-12)`` in float32 for the rows of A, B.

    Uncentred, as the original (not a Pearson correlation).
    """
    A = np.asarray(A, _F32)
    B = np.asarray(B, _F32)
    if A.shape[0] * B.shape[0] * A.shape[1] <= SEQUENTIAL_LIMIT:
        dots = _sequential_dots(A, B)
        na = np.sqrt(np.diagonal(_sequential_dots(A, A)).astype(_F32))
        nb = np.sqrt(np.diagonal(_sequential_dots(B, B)).astype(_F32))
    else:
        dots = A @ B.T
        na = np.sqrt(np.einsum("ij,ij->i", A, A))
        nb = np.sqrt(np.einsum("ij,ij->i", B, B))
    return (dots / (np.multiply.outer(na, nb) + _F32(1e-12))).astype(_F32)


def greedy(S):
    """The original's greedy assignment: take the best unmatched pair, again
    and again. Among equal scores the lowest A index wins, then the lowest B
    index; NaN scores rank last."""
    S = np.asarray(S, np.float64)
    n = S.shape[0]
    key = np.where(np.isnan(S), -np.inf, S).ravel()
    # lexsort: last key is primary; equal scores keep row-major (A, then B) order.
    order = np.lexsort((np.arange(key.size), -key))
    perm = np.full(n, -1, np.int64)
    used_b = np.zeros(S.shape[1], bool)
    left = n
    for flat in order:
        i, j = divmod(int(flat), S.shape[1])
        if perm[i] < 0 and not used_b[j]:
            perm[i] = j
            used_b[j] = True
            left -= 1
            if not left:
                break
    return perm


def hungarian(S):
    """The assignment that maximises ``sum_i S[i, perm[i]]`` (NaN counts as -inf)."""
    S = np.nan_to_num(np.asarray(S, np.float64), nan=-1e9, posinf=1e9, neginf=-1e9)
    rows, cols = linear_sum_assignment(S, maximize=True)
    perm = np.empty(S.shape[0], np.int64)
    perm[rows] = cols
    return perm


SOLVERS = {"greedy": greedy, "hungarian": hungarian}


def objective(S, perm):
    """``sum_i S[i, perm[i]]`` (float64)."""
    return float(np.sum(np.asarray(S, np.float64)[np.arange(len(perm)), perm]))
