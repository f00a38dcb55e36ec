"""Unit-matching scores and assignment solvers.

A score matrix ``S[i, j]`` says how well unit j of B matches unit i of A.
A solver turns it into a permutation ``perm`` (``perm[i]`` = the B unit
placed at A's position i) that makes ``sum_i S[i, perm[i]]`` large:

- ``greedy``: the original's rule, repeatedly the best unmatched pair (ties
  to the lowest A index, then the lowest B index); not optimal.
- ``hungarian``: the optimal assignment (scipy's ``linear_sum_assignment``).
"""
import numpy as np

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

    Maximises ``sum_t <A_t, P_out(t) B_t P_in(t)^T>`` over the groups'
    permutations P, where t runs over every layer a group touches (bias
    included): ``P_out(t)`` moves the rows of the groups t produces,
    ``P_in(t)`` the columns of the groups t reads. Coordinate descent: one
    group at a time, in a seeded random order, the assignment of that
    group given the others' current permutations, solved optimally; a
    group's score matrix sums the incoming rows of all its producers and
    the outgoing columns of all its readers (a residual stream is scored
    with every layer that writes into it). It stops when a whole pass
    improves no group.

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
    groups : list of PermutationGroup
        At least one (``symmetry.hidden_layers``).
    normalize : bool
        Unit-normalise every ``[W | b]`` row first (cosine weight matching).
    seed : int
        Seeds the group order of each pass.
    max_iter : int
        Most passes.
    solver : callable, optional
        Score matrix -> permutation (default ``hungarian``).
    start : list of ndarray, optional
        The starting permutations (default: front-to-back matching of the
        incoming rows).
    """

    def __init__(self, net, snap_a, snap_b, groups, normalize=False, seed=0,
                 max_iter=100, solver=None, start=None):
        self._groups = groups
        # Per layer, the groups that move its rows and its columns.
        self._rows_of, self._cols_of = {}, {}
        for g, group in enumerate(groups):
            for i, units in group.units.items():
                self._rows_of.setdefault(i, []).append((g, units))
            for i, cols in group.columns.items():
                self._cols_of.setdefault(i, []).append((g, cols))
        touched = sorted(set(self._rows_of) | set(self._cols_of))
        # float32 products, as the weights are: float64 GEMMs dominate the
        # time of a pass on wide layers.
        self._A = {i: _layer_rows(net, snap_a, i, normalize).astype(_F32) for i in touched}
        self._B = {i: _layer_rows(net, snap_b, i, normalize).astype(_F32) for i in touched}
        # The groups whose permutations a group's scores depend on.
        self._deps = [sorted({h for i in group.units for h, _ in self._cols_of.get(i, ())}
                             | {h for i in group.columns for h, _ in self._rows_of.get(i, ())})
                      for group in groups]
        self.perms = [np.arange(group.width) for group in groups]
        self._rng = np.random.default_rng(seed)
        self._max_iter = max_iter
        self._solve = solver or hungarian
        for g in range(len(groups)):
            self.perms[g] = (np.array(start[g]) if start is not None
                             else self._solve(self._incoming_scores(g)))
        self.history = []
        self.iterations = 0
        self.reason = ""

    def _permuted(self, i, rows=True, columns=True):
        """Layer i of B ([W | b]) with its rows and/or columns moved by the
        groups' current permutations."""
        M = self._B[i]
        moves = ([(cols, g, 1) for g, cols in self._cols_of.get(i, ())] if columns else []) + \
                ([(units, g, 0) for g, units in self._rows_of.get(i, ())] if rows else [])
        if moves:
            M = M.copy()
        for where, g, axis in moves:
            if axis:
                M[:, where] = M[:, where[self.perms[g]]]
            else:
                M[where] = M[where[self.perms[g]]]
        return M

    @staticmethod
    def _outgoing(M, cols):
        """Every weight of ``M`` (bias last) that reads each unit, at every
        position: one row per unit."""
        w = M[:, :-1][:, cols]                       # (neurons, units, positions)
        return w.transpose(1, 0, 2).reshape(cols.shape[0], -1)

    def _incoming_pairs(self, g):
        """Per producer of group g, A's and B's rows of its units (B's
        columns moved by the current permutations)."""
        return [(self._A[i][units], self._permuted(i, rows=False)[units])
                for i, units in self._groups[g].units.items()]

    def _outgoing_pairs(self, g):
        """Per reader of group g, A's and B's outgoing rows of its units
        (B's rows moved by the current permutations)."""
        return [(self._outgoing(self._A[i], cols), self._outgoing(self._permuted(i, columns=False),
                                                                   cols))
                for i, cols in self._groups[g].columns.items()]

    def _incoming_scores(self, g):
        S = None
        for a, b in self._incoming_pairs(g):
            S = a @ b.T if S is None else S + a @ b.T
        return S

    def scores(self, g):
        """The score matrix of group g given the others."""
        S = self._incoming_scores(g)
        for a, b in self._outgoing_pairs(g):
            S = S + a @ b.T
        return S

    def weight_cosines(self, g):
        """Group g's A units x B units: the mean of the cosine of their
        incoming ``[W | b]`` rows (all producers side by side) and the
        cosine of their outgoing weights (all readers), given the other
        groups' permutations."""
        inc, out = self._incoming_pairs(g), self._outgoing_pairs(g)
        return (cosine_scores(np.hstack([a for a, _ in inc]), np.hstack([b for _, b in inc]))
                + cosine_scores(np.hstack([a for a, _ in out]),
                                np.hstack([b for _, b in out]))) / 2

    def break_ties(self, scores, bonus, passes):
        """Re-solve each group, front to back, ``passes`` times, on
        ``scores[g] + bonus * weight_cosines(g)``: the weights decide
        between B units that ``scores`` (e.g. activation cosines over a
        few hundred probes) rates nearly alike. Returns the permutations
        (also left in ``perms``)."""
        for _ in range(passes):
            for g in range(len(self.perms)):
                self.perms[g] = self._solve(scores[g] + bonus * self.weight_cosines(g))
        return self.perms

    def objective(self):
        """``sum_t <A_t, P_out(t) B_t P_in(t)^T>`` for the current ``perms`` (a float)."""
        return sum(float(np.dot(self._A[i].ravel().astype(np.float64),
                                self._permuted(i).ravel().astype(np.float64)))
                   for i in sorted(self._A))

    def run(self):
        """Coordinate descent until a whole pass improves no group, or
        ``max_iter`` passes; sets ``perms``, ``history``, ``iterations`` and
        ``reason``. Returns self."""
        self.history = [self.objective()]
        n = len(self.perms)
        # A group's scores depend only on the permutations of the groups it
        # reads and is read by. Once solved, it cannot improve until one of
        # them changes, so it is not solved again (the same assignment would
        # come out): the last pass, which only confirms convergence, costs
        # nothing.
        version = [0] * n
        solved = [None] * n
        for it in range(1, self._max_iter + 1):
            improved = False
            for g in self._rng.permutation(n):
                key = tuple(version[h] for h in self._deps[g])
                if solved[g] == key:
                    continue
                S = self.scores(g)
                old = objective(S, self.perms[g])
                perm = self._solve(S)
                solved[g] = key
                if objective(S, perm) > old + 1e-12 * max(1.0, abs(old)):
                    self.perms[g] = perm
                    version[g] += 1
                    improved = True
            self.history.append(self.objective())
            self.iterations = it
            if not improved:
                self.reason = "converged (a whole pass improved no group)"
                return self
        self.reason = f"stopped at max_iter={self._max_iter}"
        return self
