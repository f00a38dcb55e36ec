"""Rows 4-5 of the speed table: the permutation-alignment example and report.

Both print "n/a (reports not available yet)" until the reports exist (no
``TNNet.permutation_align_report`` / no ``examples/permutation_align.py``),
and "error: ..." when they exist but fail, so the table always completes.
"""
import pathlib
import subprocess
import sys

import numpy as np

import pyneural as pn
from pyneural import toy

from .core_rows import dense_net
from .harness import Result

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "permutation_align.py"
NOT_YET = "n/a (reports not available yet)"
# A long-running row is timed fewer times: above this (seconds, warm-up
# included) one timed run is enough to stay inside the table's budget.
LONG = 15.0


def _error(exc):
    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return "error: " + (text if len(text) <= 60 else text[:57] + "...")


def _timed_adaptively(ctx, res_notes, fn):
    """Median Timing of ``fn`` over a few runs after a warm-up run; when the
    first run takes longer than LONG seconds it is the figure (one run:
    a warm-up would change nothing measurable and blow the time budget)."""
    ctx.progress("first run")
    first = ctx.time_once(fn)
    if first.wall > LONG:
        res_notes.append(f"one run (it took over {LONG:g} s)")
        return first
    return ctx.median_time(fn, reps=2 if ctx.quick else 3, warmup=0)


# ------------------------------------------------------------------ row 4 --
def example_wall_time(ctx):
    """``python examples/permutation_align.py --original``: end-to-end wall
    time, interpreter start included (output discarded). ``--original`` runs
    what the Pascal program runs: 2 trainings x 2 and the 3 reports."""
    if not EXAMPLE.exists() or not hasattr(pn.TNNet, "permutation_align_report"):
        return Result(unit="s", status=NOT_YET)

    def run():
        done = subprocess.run([sys.executable, str(EXAMPLE), "--original"], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            raise RuntimeError(f"exit {done.returncode}: {last}")

    notes = ["wall time of a fresh interpreter running the example with --original, "
             "output discarded"]
    try:
        t = _timed_adaptively(ctx, notes, run)
    except Exception as exc:  # noqa: BLE001 - the table reports it
        return Result(unit="s", status=_error(exc))
    return Result(t.wall, unit="s", notes=notes, timing=t)


# ------------------------------------------------------------------ row 5 --
def permutation_align_large(ctx):
    """``A.permutation_align_report(B.save_data_to_string(), probes, "weight",
    k=10, solver="hungarian", refine=False)`` on two 2-1024-1024-1024-10
    nets, 256 probes."""
    if not hasattr(pn.TNNet, "permutation_align_report"):
        return Result(unit="s", status=NOT_YET)
    sizes = (2, 1024, 1024, 1024, 10)
    ctx.progress("building the nets")
    a = dense_net(sizes, seed=1)
    b = dense_net(sizes, seed=2)
    g = np.random.default_rng(0)
    X = g.standard_normal((256, sizes[0])).astype(np.float32)
    Y = np.eye(sizes[-1], dtype=np.float32)[g.integers(0, sizes[-1], 256)]
    probes = toy.to_pair_list(X, Y)
    text_b = b.save_data_to_string()            # B's text is made once, outside the timing

    def run():
        a.permutation_align_report(text_b, probes, score_mode="weight", k=10,
                                   solver="hungarian", refine=False, progress=False)

    notes = ["two 2-1024-1024-1024-10 nets (seeds 1, 2), 256 probes; "
             "B's save_data_to_string() made outside the timing"]
    try:
        t = _timed_adaptively(ctx, notes, run)
    except Exception as exc:  # noqa: BLE001 - the table reports it
        return Result(unit="s", status=_error(exc))
    return Result(t.wall, unit="s", notes=notes, timing=t)
