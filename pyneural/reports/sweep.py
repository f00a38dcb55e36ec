"""Barrier matrices: the pre- and post-alignment barrier of every pair of
nets in a population, serially, in local processes (joblib) or on a Dask
cluster (``distributed``).

One pair (i, j), i < j, is exactly ``permutation_align_report`` with net i as
A and net j as B (or ``mode_connectivity_report`` without alignment), with a
seed that depends on the pair alone, so the matrix is the same whichever
worker runs which pair, and in whatever order.

The nets travel once: their structure text and one float32 matrix holding
every net's parameters (a row per net), with the samples, form a payload.
joblib memory-maps its arrays into the workers (written once to a temporary
folder); Dask scatters it to every worker once. A worker rebuilds one net
from the structure and loads the rows of each pair into it.
"""
import contextlib
import inspect
import numbers
import os
import pathlib
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

import numpy as np

from . import interpolation as interp
from .interpolation import DEFAULT_K
from . import symmetry
from .alignment import DEFAULT_SOLVER, non_negative_int, resolve_score_mode
from .matching import check_solver
from .mode_connectivity import mode_connectivity_report
from .permutation_align import permutation_align_report
from .samples import probe_arrays
from .text import fixed, jsonable

# The report's extra checks cost forward passes and are not part of the
# matrix; a user who wants them passes them explicitly.
QUIET_CHECKS = dict(check_scale=False, check_recovery=False)
# joblib memory-maps arrays above this size instead of pickling them per task.
JOBLIB_MAX_NBYTES = "1K"
# Each pair may be resubmitted this often after an exception in its task (a
# worker that dies is handled by the Dask scheduler itself).
DASK_RETRIES = 2
# Seconds a scheduler address has to answer: Dask's own default (30 s)
# leaves a typo'd or dead address looking like a hang.
DEFAULT_CONNECT_TIMEOUT = 5.0


def pair_seed(seed, i, j):
    """The alignment seed of the pair (i, j), i < j: ``seed`` plus the pair's
    position in the order (0, 1), (0, 2), (1, 2), (0, 3), ... — independent
    of the number of nets, so adding nets leaves the existing pairs alone.
    Pair (0, 1) gets ``seed`` itself."""
    return int(seed) + j * (j - 1) // 2 + i


def pairs(n):
    """Every unordered pair (i, j), i < j, of ``n`` nets, in ``pair_seed`` order."""
    return [(i, j) for j in range(1, n) for i in range(j)]


@dataclass
class SweepResult:
    """The barrier matrix of a population of nets; ``str()`` prints it.

    ``pre`` and ``post`` are symmetric N x N float64 matrices with a zero
    diagonal: entry (i, j) is the barrier between nets i and j before and
    after aligning the higher-index net to the lower-index one. ``post`` is
    None when the sweep ran without alignment. ``repaired`` (with
    ``repair=True``) holds the REPAIR'd path's barrier of each pair, after
    alignment when there is one, else None. ``permutations[(i, j)]``
    (i < j) holds one permutation per permutation group (``perm[u]`` = net j's
    unit placed at net i's position u).
    """
    names: list
    k: int
    n_samples: int
    pre: np.ndarray
    post: np.ndarray = None
    permutations: dict = field(default_factory=dict)
    seed: int = 0
    options: dict = field(default_factory=dict)
    n_eval: int = 0                    # 0 when the barriers come from the samples
    seconds: float = 0.0
    repaired: np.ndarray = None

    @property
    def n_nets(self):
        """How many nets were compared."""
        return len(self.names)

    @property
    def aligned(self):
        """True when the post-alignment barriers were measured."""
        return self.post is not None

    def pair_barriers(self, which="post"):
        """The barriers of the pairs i < j (row-major over the upper
        triangle), ``which`` = "pre", "post" or "repaired" (None for a
        matrix that was not measured)."""
        m = {"pre": self.pre, "post": self.post, "repaired": self.repaired}[which]
        return None if m is None else m[np.triu_indices(self.n_nets, 1)]

    @property
    def mean_pre(self):
        """The mean pre-alignment barrier over the pairs."""
        return float(np.mean(self.pair_barriers("pre")))

    @property
    def mean_post(self):
        """The mean post-alignment barrier over the pairs (None without alignment)."""
        return float(np.mean(self.pair_barriers())) if self.aligned else None

    @property
    def max_post(self):
        """The largest post-alignment barrier over the pairs (None without alignment)."""
        return float(np.max(self.pair_barriers())) if self.aligned else None

    @property
    def mean_repaired(self):
        """The mean REPAIR'd barrier over the pairs (None without ``repair``)."""
        return None if self.repaired is None else float(np.mean(self.pair_barriers("repaired")))

    @property
    def central(self):
        """The most central net: the index with the lowest mean barrier to
        the others (post-alignment, or pre without alignment); the first on
        ties, None when every mean is NaN."""
        means = self.mean_to_others()
        return None if np.all(np.isnan(means)) else int(np.nanargmin(means))

    def mean_to_others(self):
        """Per net, its mean barrier to the other nets (post-alignment, or pre
        without alignment)."""
        m = self.post if self.aligned else self.pre
        return m.sum(axis=1) / (self.n_nets - 1)

    def pair_seed(self, i, j):
        """The seed the pair (i, j), i < j, was aligned with."""
        return pair_seed(self.seed, i, j)

    def to_dict(self):
        """The result as plain values for JSON (NaN as None)."""
        central = self.central
        return jsonable({"report": "barrier_matrix", "names": list(self.names), "k": self.k,
                "n_samples": self.n_samples, "eval_set": "eval_samples" if self.n_eval
                else "samples", "n_eval": self.n_eval or self.n_samples,
                "aligned": self.aligned, "seed": self.seed,
                "options": self.options,
                "pre": self.pre, "post": self.post, "repaired": self.repaired,
                "permutations": [{"a": i, "b": j, "seed": self.pair_seed(i, j),
                                  "layers": [p.tolist() for p in perms]}
                                 for (i, j), perms in sorted(self.permutations.items())],
                "summary": {"pairs": len(pairs(self.n_nets)), "mean_pre": self.mean_pre,
                            "mean_post": self.mean_post, "mean_repaired": self.mean_repaired,
                            "max_post": self.max_post, "central": central,
                            "central_name": None if central is None else self.names[central],
                            "mean_to_others": self.mean_to_others()},
                "seconds": self.seconds})

    def plot(self, path=None):
        """Heatmaps before and after alignment, each on its own colour scale
        (needs matplotlib). Returns the figure; with ``path``, saves it
        there and closes it."""
        from .plotting import plot_barrier_matrix
        return plot_barrier_matrix(self, path=path)

    def _repr_html_(self):
        """Jupyter's view: the summary and the matrices as tables, the
        heatmaps inline."""
        from .html import number, result_html, table
        from .plotting import ANNOTATE_UP_TO
        central = self.central
        rows = [("nets / pairs", f"{self.n_nets} / {len(pairs(self.n_nets))}"),
                ("barriers on", f"held-out ({self.n_eval})" if self.n_eval
                 else f"the samples ({self.n_samples})"),
                ("mean barrier before", number(self.mean_pre)),
                ("mean / max barrier after", f"{number(self.mean_post)} / "
                                             f"{number(self.max_post)}"),
                ("most central net", "-" if central is None else self.names[central])]
        if self.repaired is not None:
            rows.append(("mean REPAIR'd barrier", number(self.mean_repaired)))
        tables = [table(rows)]
        # Beyond a dozen nets the matrices are read from the heatmaps alone.
        for title, m in (("before alignment", self.pre), ("after alignment", self.post),
                         ("REPAIR'd", self.repaired)):
            if m is not None and self.n_nets <= ANNOTATE_UP_TO:
                tables.append(table([(name, *(number(v) for v in row))
                                     for name, row in zip(self.names, m)],
                                    header=(title, *self.names)))
        return result_html("BarrierMatrix", None, tables, self.plot)

    def __str__(self):
        return "\n".join(_render(self)) + "\n"


# ------------------------------------------------------------- rendering --

def _render(r):
    title = "BarrierMatrix (loss barrier of every pair of nets)"
    yield title
    yield "=" * len(title)
    where = f"held-out eval_samples ({r.n_eval})" if r.n_eval else "the probe samples"
    yield (f"Nets: {r.n_nets}   pairs: {len(pairs(r.n_nets))}   probe samples: {r.n_samples}"
           f"   interpolation points: {r.k + 1} (K={r.k})   barriers on {where}")
    if r.options:
        # repair=True is not only an alignment option: without alignment it
        # REPAIRs the plain paths.
        yield "Options: " + ", ".join(f"{k}={v}" for k, v in sorted(r.options.items()))
    yield ""
    yield from _table("Before alignment:", r.names, r.pre)
    if r.aligned:
        yield ""
        yield from _table("After alignment (the higher-index net aligned to the lower):",
                          r.names, r.post)
    if r.repaired is not None:
        yield ""
        yield from _table("REPAIR'd path" + (" (after alignment):" if r.aligned else ":"),
                          r.names, r.repaired)
    yield ""
    yield f"Mean pre-alignment barrier  = {fixed(r.mean_pre, 6)}"
    if r.aligned:
        yield f"Mean post-alignment barrier = {fixed(r.mean_post, 6)}"
        yield f"Max  post-alignment barrier = {fixed(r.max_post, 6)}"
    if r.repaired is not None:
        yield f"Mean REPAIR'd barrier       = {fixed(r.mean_repaired, 6)}"
    c = r.central
    which = "post" if r.aligned else "pre"
    if c is not None:
        yield (f"Most central net: {r.names[c]} (mean {which}-alignment barrier to the others "
               f"{fixed(r.mean_to_others()[c], 6)})")


def _table(heading, names, m):
    yield heading
    width = max(9, *(len(n) for n in names))
    columns = [max(9, len(n)) for n in names]
    yield " " * width + "".join(f"  {n:>{w}s}" for n, w in zip(names, columns))
    for name, row in zip(names, m):
        yield f"{name:<{width}s}" + "".join(f"  {fixed(v, 6):>{w}s}"
                                            for v, w in zip(row, columns))


def path_labels(paths):
    """Labels for nets read from ``paths``: each path's shortest tail of
    whole components that no other path ends with (``runs/seed1/model.nn``,
    ``runs/seed2/model.nn`` -> ``seed1/model.nn``, ``seed2/model.nn``; a
    lone ``model.nn`` stays ``model.nn``). A path given twice keeps its
    whole spelling and gets `` #i`` (its position) so the rows differ."""
    parts = [pathlib.PurePath(os.path.normpath(os.fspath(p))).parts for p in paths]
    labels = []
    for i, own in enumerate(parts):
        others = [q for j, q in enumerate(parts) if j != i]
        n = next((n for n in range(1, len(own) + 1)
                  if all(q[-n:] != own[-n:] for q in others)), len(own))
        labels.append(str(pathlib.PurePath(*own[-n:])))
    return [f"{label} #{i}" if labels.count(label) > 1 else label
            for i, label in enumerate(labels)]


# ------------------------------------------------------------- the pairs --

@dataclass
class _Payload:
    """What every worker needs, shipped once: the net class and structure,
    every net's parameters (a row per net), the samples."""
    net_class: type
    structure: str
    params: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    EX: np.ndarray = None
    EY: np.ndarray = None


_local = threading.local()


def _work_net(payload):
    """This thread's working net of the payload's architecture (built once
    per thread and structure: loading a structure draws initial weights,
    which every pair overwrites)."""
    from ..rng import FPCRandom
    cache = getattr(_local, "nets", None)
    if cache is None:
        cache = _local.nets = {}
    key = (payload.net_class, payload.structure)
    if key not in cache:
        net = payload.net_class(FPCRandom())
        net.load_structure_from_string(payload.structure)
        cache.clear()
        cache[key] = net
    return cache[key]


def _snapshot(net, row):
    """A snapshot of ``net``'s architecture from one flat parameter row."""
    bounds = np.cumsum([0] + [v.size for v in net.param_volumes()])
    return [row[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _pair_task(payload, i, j, seed, align, k, options):
    """Measure one pair; pure, so a rerun gives the same answer. Returns
    ``(i, j, pre, post, repaired, permutations)`` (post None without
    alignment, repaired None without ``repair``)."""
    net = _work_net(payload)
    snap_b = _snapshot(net, payload.params[j])
    net.restore(_snapshot(net, payload.params[i]))
    samples = (payload.X, payload.Y)
    held = None if payload.EX is None else (payload.EX, payload.EY)
    if not align:
        r = mode_connectivity_report(net, snap_b, held or samples, k, **options)
        return i, j, r.barrier, None, r.repaired_barrier, []
    r = permutation_align_report(net, snap_b, samples, k=k, eval_samples=held, seed=seed,
                                 progress=False, **options)
    return i, j, r.pre_barrier, r.post_barrier, r.repaired_barrier, r.permutations


def _one_blas_thread():
    """BLAS on one thread, as in joblib's and Dask's workers: the pairs are
    the parallelism, and the small products of a pair run faster on one
    thread (without threadpoolctl, which joblib brings, BLAS is left as is)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _run_serial(payload, todo, seed, align, k, options):
    with _one_blas_thread():
        for i, j in todo:
            yield _pair_task(payload, i, j, pair_seed(seed, i, j), align, k, options)


def _run_joblib(payload, todo, seed, align, k, options, n_jobs):
    try:
        from joblib import Parallel, delayed
    except ImportError:
        raise ImportError("n_jobs > 1 needs joblib: pip install 'pyneural[parallel]'") from None
    parallel = Parallel(n_jobs=n_jobs, backend="loky", max_nbytes=JOBLIB_MAX_NBYTES,
                        return_as="generator_unordered")
    yield from parallel(delayed(_pair_task)(payload, i, j, pair_seed(seed, i, j), align, k, options)
                        for i, j in todo)


def _run_dask(payload, todo, seed, align, k, options, scheduler, connect_timeout):
    try:
        import distributed
    except ImportError:
        raise ImportError("scheduler= needs the distributed package: "
                          "pip install 'pyneural[distributed]'") from None
    own = not isinstance(scheduler, distributed.Client)
    try:
        client = distributed.Client(scheduler, timeout=connect_timeout) if own else scheduler
    except (ValueError, TypeError) as exc:
        raise ValueError(f"scheduler {scheduler!r} is not a Dask scheduler address "
                         f"(such as LocalCluster().scheduler_address, tcp://host:port) or "
                         f"Client: {exc}") from None
    except OSError as exc:
        raise OSError(f"no Dask scheduler answered at {scheduler} within {connect_timeout:g} s "
                      f"({exc})") from None
    try:
        token = uuid.uuid4().hex[:12]
        shared = client.scatter(payload, broadcast=True, hash=False)
        # No list of the futures is kept: each is released once its result
        # is read, so a worker lost later does not make the cluster
        # recompute pairs already done.
        pending = distributed.as_completed(
            client.submit(_pair_task, shared, i, j, pair_seed(seed, i, j), align, k, options,
                          key=f"pyneural-pair-{i}-{j}-{token}", retries=DASK_RETRIES, pure=False)
            for i, j in todo)
        try:
            for future in pending:
                yield future.result()
        finally:
            client.cancel(list(pending.futures) + [shared])
    finally:
        if own:
            client.close()


class _Progress:
    """``pairs 12/28, 3.4 s left`` on stderr, redrawn in place."""

    def __init__(self, total, enabled):
        self.total, self.done, self.enabled = total, 0, enabled
        self.start = time.perf_counter()

    def step(self):
        self.done += 1
        if self.enabled:
            elapsed = time.perf_counter() - self.start
            left = elapsed / self.done * (self.total - self.done)
            print(f"\rpairs {self.done}/{self.total}, {left:.1f} s left   ", end="",
                  file=sys.stderr, flush=True)

    def close(self):
        if self.enabled and self.done:
            print(file=sys.stderr)


def _snapshots(template, items):
    """Every item as a snapshot of the template's architecture; an
    ArchitectureError names the two nets' indices."""
    first = next(n for n, item in enumerate(items) if item is template)
    snaps = []
    for n, item in enumerate(items):
        try:
            if interp.is_net(item):
                template.check_same_architecture(item, names=(f"net {first}", f"net {n}"))
            snaps.append(interp.endpoint_snapshot(template, item))
        except ValueError as exc:
            if f"net {n}" in str(exc):
                raise
            raise type(exc)(f"net {n} does not fit net {first}: {exc}") from None
    return snaps


def _check_n_jobs(n_jobs):
    """``n_jobs`` as an int (None is 1); ValueError for 0, a bool or a non-integer."""
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a positive number of processes, or -1 for one per "
                         f"core, got {n_jobs!r}")
    return int(n_jobs)


def _check_finite(snaps):
    """ValueError naming the net and layers whose weights hold NaN or
    infinity: the pairwise report would call its barriers non-finite, but
    a matrix entry cannot say so, and would read as a number."""
    for n, snap in enumerate(snaps):
        bad = interp.non_finite_layers(snap)
        if bad:
            raise ValueError(f"net {n} has NaN/Inf weights in layer{'s' if len(bad) > 1 else ''} "
                             f"{', '.join(map(str, bad))}: its barriers would not be meaningful")


# Set by the sweep itself, per pair; not alignment options.
_SWEEP_ARGS = {"net", "snapshot_b", "samples", "k", "eval_samples", "seed", "progress"}


def _check_options(template, align, options):
    """Refuse here, before any worker starts, what every pair would refuse."""
    report = permutation_align_report if align else mode_connectivity_report
    allowed = set(inspect.signature(report).parameters) - _SWEEP_ARGS
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"unknown option{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(unknown)}{'' if align else ' (align=False)'}; "
                        f"the options are {', '.join(sorted(allowed))}")
    if "repair" in options:
        interp.check_flag(options["repair"], "repair")
    if align:
        resolve_score_mode(options.get("score_mode"))
        check_solver(options.get("solver", DEFAULT_SOLVER))
        if not symmetry.hidden_layers(template):
            raise ValueError("barrier_matrix: the nets have no hidden trainable layer; "
                             "nothing to align (use align=False)")


def check_connect_timeout(seconds):
    """``seconds`` as a float: a finite number above 0 (ValueError, TypeError
    for a bool or a non-number, both naming ``connect_timeout``)."""
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise TypeError(f"connect_timeout must be a number of seconds, got {seconds!r}")
    if not (0 < seconds < float("inf")):
        raise ValueError(f"connect_timeout must be a positive number of seconds, got {seconds!r}")
    return float(seconds)


def barrier_matrix(nets, samples, *, align=True, eval_samples=None, k=DEFAULT_K, n_jobs=1,
                   scheduler=None, connect_timeout=DEFAULT_CONNECT_TIMEOUT, names=None, seed=0,
                   progress=None, **alignment_options):
    """The pre- and post-alignment barrier of every unordered pair of nets.

    Parameters
    ----------
    nets : sequence
        Two or more TNNets, snapshots or data-only ``.nn`` texts of one
        architecture; at least one must be a TNNet. None is modified.
        (``pyneural.barrier_matrix`` also takes paths and whole `.nn` texts.)
    samples : TNNetVolumePairList, sequence of pairs, or (X, Y)
        Probes for the alignment and (without ``eval_samples``) the barriers.
    align : bool
        Also align each pair and measure the barrier after it (default).
        False: only the pre-alignment barriers (``post`` is None).
    eval_samples : samples, optional
        Measure every barrier on these (held out) samples instead.
    k : int
        Interpolation intervals (K+1 points).
    n_jobs : int
        Local worker processes (joblib, the ``[parallel]`` extra); -1 for
        one per core. 1 runs in this process. Never more processes than
        pairs are started.
    scheduler : str or distributed.Client, optional
        A Dask scheduler address or a Client: run the pairs on that cluster
        (the ``[distributed]`` extra), e.g. ``LocalCluster(n_workers=2)``'s
        ``scheduler_address``, or ``"tcp://host:8790"`` for a scheduler
        started with ``dask scheduler --port 8790`` (a port of your own:
        8786, Dask's default, may be someone else's scheduler). A worker
        that dies costs its pairs a rerun, not the sweep.
    connect_timeout : float
        Seconds to wait for the scheduler at an address to answer (default
        ``DEFAULT_CONNECT_TIMEOUT``, 5); then an OSError.
    names : sequence of str, optional
        Labels of the nets (default "net 0", "net 1", ...).
    seed : int
        Base seed: pair (i, j) is aligned with ``pair_seed(seed, i, j)``.
    progress : bool, optional
        ``pairs done/total, time left`` on stderr (default: when a TTY).
    **alignment_options
        Passed to ``permutation_align_report``: ``score_mode``, ``solver``,
        ``refine``, ``refine_budget``, ``repair`` (adds the ``repaired``
        matrix: each pair's REPAIR'd barrier), ``exact``, ``scale_align``,
        ``check_scale`` and ``check_recovery`` (the two checks default to
        off here). Without alignment only ``exact`` and ``repair`` apply.

    Returns
    -------
    SweepResult
        Bit-identical whether run serially, with ``n_jobs`` or on a cluster.

    Raises
    ------
    ValueError
        Fewer than two nets, samples (or ``eval_samples``) that are empty
        or do not fit the nets, a net without a hidden layer (with
        alignment), a net with NaN/Inf weights (names it and the layers),
        ``n_jobs`` 0 or not an integer, a negative or non-integer ``seed``,
        ``k`` above ``interpolation.MAX_K``, both ``n_jobs > 1`` and
        ``scheduler``, a ``scheduler`` that is not an address, a
        ``connect_timeout`` that is not a positive number, an unknown score
        mode or solver.
    OSError
        No scheduler answered at the address within ``connect_timeout``.
    ArchitectureError
        A net of another architecture (names both nets' indices).
    TypeError
        No TNNet among the nets, an unknown alignment option, samples in a
        form the reports do not take, a ``k`` that is not an integer.
    ImportError
        ``n_jobs > 1`` without joblib, ``scheduler`` without distributed.
    """
    items = list(nets) if not isinstance(nets, (str, bytes)) else []
    if len(items) < 2:
        raise ValueError(f"barrier_matrix needs at least two nets, got {len(items)}")
    n_jobs = _check_n_jobs(n_jobs)
    seed = non_negative_int(seed, "seed")
    if scheduler is not None and n_jobs != 1:
        raise ValueError("give either n_jobs (local processes) or scheduler (a Dask "
                         "cluster), not both")
    connect_timeout = check_connect_timeout(connect_timeout)
    live = interp.first_net(items, "barrier_matrix")
    template = live.clone()         # one state of it for the whole matrix
    items = [template if item is live else item for item in items]
    snaps = _snapshots(template, items)
    _check_finite(snaps)
    n = len(snaps)
    names = [f"net {i}" for i in range(n)] if names is None else [str(s) for s in names]
    if len(names) != n:
        raise ValueError(f"{len(names)} names for {n} nets")
    X, Y, EX, EY = probe_arrays(template, samples, eval_samples, "barrier_matrix")
    options = {**QUIET_CHECKS, **alignment_options} if align else dict(alignment_options)
    _check_options(template, align, options)
    k = interp.intervals(k)
    payload = _Payload(type(template), template.save_structure_to_string(),
                       np.stack([np.concatenate([v.data for v in s]) for s in snaps]),
                       X, Y, EX, EY)
    todo = pairs(n)
    if scheduler is not None:
        results = _run_dask(payload, todo, seed, align, k, options, scheduler, connect_timeout)
    elif n_jobs != 1:
        # Never more processes than pairs: loky starts every worker it is asked for.
        n_jobs = min(n_jobs, len(todo)) if n_jobs > 0 else n_jobs
        results = _run_joblib(payload, todo, seed, align, k, options, n_jobs)
    else:
        results = _run_serial(payload, todo, seed, align, k, options)
    pre = np.zeros((n, n))
    post = np.zeros((n, n)) if align else None
    repaired = np.zeros((n, n)) if options.get("repair") else None
    perms = {}
    bar = _Progress(len(todo), sys.stderr.isatty() if progress is None else progress)
    start = time.perf_counter()
    try:
        for i, j, b_pre, b_post, b_repaired, p in results:
            pre[i, j] = pre[j, i] = b_pre
            if repaired is not None:
                repaired[i, j] = repaired[j, i] = b_repaired
            if align:
                post[i, j] = post[j, i] = b_post
                perms[(i, j)] = [np.asarray(q) for q in p]
            bar.step()
    finally:
        results.close()        # on an error: stop the workers' pairs now, not at GC
        bar.close()
    return SweepResult(names, k, len(X), pre, post, perms, int(seed), options,
                       len(EX) if EX is not None else 0, time.perf_counter() - start, repaired)
