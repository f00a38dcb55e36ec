"""Unit-matching scores and assignment solvers.

A score matrix ``S[i, j]`` says how well unit j of B matches unit i of A.
A solver turns it into a permutation ``perm`` (``perm[i]`` = the B unit
placed at A's position i) that makes ``sum_i S[i, perm[i]]`` large:

- ``greedy``: the original's rule, repeatedly the best unmatched pair (ties
  to the lowest A index, then the lowest B index); not optimal.
- ``hungarian``: the optimal assignment (scipy's ``linear_sum_assignment``).
"""
import numpy as np

from .symmetry import by_unit, input_columns

_F32 = np.float32
# Up to this many multiply-adds the cosine is summed in the original's
# sequential float32 order (so near-ties break as in Pascal); above it BLAS.
SEQUENTIAL_LIMIT = 1e6


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
    # Imported here: scipy.optimize takes ~0.75 s to import, which every
    # pyneural import would otherwise pay.
    from scipy.optimize import linear_sum_assignment
    S = np.asarray(S)
    if not np.all(np.isfinite(S)):
        S = np.nan_to_num(S.astype(np.float64), nan=-1e9, posinf=1e9, neginf=-1e9)
    rows, cols = linear_sum_assignment(S, maximize=True)
    perm = np.empty(S.shape[0], np.int64)
    perm[rows] = cols
    return perm


SOLVERS = {"greedy": greedy, "hungarian": hungarian}


def check_solver(solver):
    """Raise ValueError unless ``solver`` names one of SOLVERS."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; use one of {sorted(SOLVERS)}")


def objective(S, perm):
    """``sum_i S[i, perm[i]]`` (float64)."""
    return float(np.sum(np.asarray(S)[np.arange(len(perm)), perm], dtype=np.float64))


# ------------------------------------------------------- weight matching --

def _layer_rows(net, snap, index, normalize):
    """[W | b] of one trainable layer, rows unit-normalised on request
    (a row's norm does not depend on how its columns are permuted)."""
    w, b = net.layers[index].split(snap[index].data)
    R = np.concatenate([w, b[:, None]], axis=1).astype(np.float64)
    if normalize:
        R /= np.linalg.norm(R, axis=1, keepdims=True) + 1e-12
    return R


class WeightMatching:
    """Git Re-Basin weight matching (Ainsworth et al. 2022, algorithm 1).

    Maximises ``sum_t <A_t, P_t B_t P_{t-1}^T>`` over the hidden layers'
    permutations P (t runs over every trainable layer, bias included) by
    coordinate descent: one layer at a time, in a seeded random order, the
    assignment of that layer given its neighbours' current permutations,
    solved optimally. It stops when a whole pass improves no layer.

    The paper starts from identity permutations; we start from front-to-back
    matching of the incoming rows alone, because from identity the descent
    can stall in a local optimum (it recovered only 83% of a planted
    permutation on the example nets; from this start, 100%).

    Attributes after ``run``: ``perms``, ``history`` (the objective after
    each pass, never decreasing), ``iterations``, ``reason``.

    Parameters
    ----------
    net : TNNet
        Gives the layer sizes.
    snap_a, snap_b : list of TNNetVolume
        Snapshots of A and B.
    hidden_list : list of HiddenLayer
        At least one (IndexError without).
    normalize : bool
        Unit-normalise every ``[W | b]`` row first (cosine weight matching).
    seed : int
        Seeds the layer order of each pass.
    max_iter : int
        Most passes.
    solver : callable, optional
        Score matrix -> permutation (default ``hungarian``).
    start : list of ndarray, optional
        The starting permutations (default: front-to-back matching of the
        incoming rows).
    """

    def __init__(self, net, snap_a, snap_b, hidden_list, normalize=False, seed=0,
                 max_iter=100, solver=None, start=None):
        chain = [h.index for h in hidden_list] + [hidden_list[-1].next_index]
        self._widths = [h.width for h in hidden_list]
        # float32 products, as the weights are: float64 GEMMs dominate the
        # time of a pass on wide layers.
        self._A = [_layer_rows(net, snap_a, i, normalize).astype(_F32) for i in chain]
        self._B = [_layer_rows(net, snap_b, i, normalize).astype(_F32) for i in chain]
        self.perms = [np.arange(h.width) for h in hidden_list]
        self._rng = np.random.default_rng(seed)
        self._max_iter = max_iter
        self._solve = solver or hungarian
        for l in range(len(self.perms)):
            self.perms[l] = (np.array(start[l]) if start is not None
                             else self._solve(self._A[l] @ self._incoming(l).T))
        self.history = []
        self.iterations = 0
        self.reason = ""

    def _incoming(self, t):
        """Layer t of B with its inputs permuted by P_{t-1} (bias last)."""
        B = self._B[t]
        if t == 0:
            return B
        cols = input_columns(self._widths[t - 1], B.shape[1] - 1, self.perms[t - 1])
        return np.concatenate([B[:, :-1][:, cols], B[:, -1:]], axis=1)

    def _outgoing(self, M, l):
        """The next layer's weights ``M`` (bias last) as one row per unit of
        hidden layer l: every weight that reads the unit, at every position."""
        w = by_unit(M[:, :-1], self._widths[l])
        return w.transpose(2, 0, 1).reshape(self._widths[l], -1)

    def _outgoing_pair(self, l):
        """A's and B's outgoing rows of hidden layer l, B's next layer
        permuted by P_{l+1}."""
        nxt = self._B[l + 1]
        if l + 1 < len(self.perms):
            nxt = nxt[self.perms[l + 1], :]
        return self._outgoing(self._A[l + 1], l), self._outgoing(nxt, l)

    def scores(self, l):
        """The score matrix of hidden layer l given its neighbours."""
        out_a, out_b = self._outgoing_pair(l)
        return self._A[l] @ self._incoming(l).T + out_a @ out_b.T

    def weight_cosines(self, l):
        """Hidden layer l's A units x B units: the mean of the cosine of
        their incoming ``[W | b]`` rows and the cosine of their outgoing
        weights in the next layer, given the neighbours' permutations."""
        out_a, out_b = self._outgoing_pair(l)
        return (cosine_scores(self._A[l], self._incoming(l)) + cosine_scores(out_a, out_b)) / 2

    def break_ties(self, scores, bonus, passes):
        """Re-solve each hidden layer, front to back, ``passes`` times, on
        ``scores[l] + bonus * weight_cosines(l)``: the weights decide
        between B units that ``scores`` (e.g. activation cosines over a
        few hundred probes) rates nearly alike. Returns the permutations
        (also left in ``perms``)."""
        for _ in range(passes):
            for l in range(len(self.perms)):
                self.perms[l] = self._solve(scores[l] + bonus * self.weight_cosines(l))
        return self.perms

    def objective(self):
        """``sum_t <A_t, P_t B_t P_{t-1}^T>`` for the current ``perms`` (a float)."""
        total = 0.0
        for t in range(len(self._A)):
            B = self._incoming(t)
            if t < len(self.perms):
                B = B[self.perms[t], :]
            total += float(np.dot(self._A[t].ravel().astype(np.float64),
                                  B.ravel().astype(np.float64)))
        return total

    def run(self):
        """Coordinate descent until a whole pass improves no layer, or
        ``max_iter`` passes; sets ``perms``, ``history``, ``iterations`` and
        ``reason``. Returns self."""
        self.history = [self.objective()]
        n = len(self.perms)
        # A layer's scores depend only on its neighbours' permutations. Once
        # solved, it cannot improve until a neighbour changes, so it is not
        # solved again (the same assignment would come out): the last pass,
        # which only confirms convergence, costs nothing.
        version = [0] * n
        solved = [None] * n
        for it in range(1, self._max_iter + 1):
            improved = False
            for l in self._rng.permutation(n):
                key = (version[l - 1] if l else -1, version[l + 1] if l + 1 < n else -1)
                if solved[l] == key:
                    continue
                S = self.scores(l)
                old = objective(S, self.perms[l])
                perm = self._solve(S)
                solved[l] = key
                if objective(S, perm) > old + 1e-12 * max(1.0, abs(old)):
                    self.perms[l] = perm
                    version[l] += 1
                    improved = True
            self.history.append(self.objective())
            self.iterations = it
            if not improved:
                self.reason = "converged (a whole pass improved no layer)"
                return self
        self.reason = f"stopped at max_iter={self._max_iter}"
        return self
