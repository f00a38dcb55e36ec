"""The speed table: ``python -m benchmarks``.

Each figure is the median of several timed repetitions after a warm-up;
where a row has a numpy reference, the two are timed in turn in the same
run (a, b, a, b, ...), so the ratio is fair even on a busy machine.

To add a row: write ``measure(ctx) -> Result`` (see ``benchmarks.harness``)
and append a ``Row`` to ``ROWS``. A full run writes
``benchmarks/results/speed.json`` (``benchmarks.results``): the table, each
row's figure and the reference column's source.
"""
import argparse
import sys

from . import core_rows, report_rows
from .harness import (AtLeast, AtMost, Context, RatioAtLeast, Row, format_rate, machine_summary,
                      render_table, table_cells)
from .results import Run, add_results_option, results_path

# The reference column is constant: figures quoted by issue 5, which set the
# table's targets (filed 2026-11-22): the Pascal original's per-sample rates
# and the time of its PermutationAlign program, and plain numpy loops.
# They were measured by the author, not here; this repository does
# not record that machine or the date of those runs.
REFERENCE_SOURCE = ("The reference column is a constant: the figures quoted by issue 5 "
                    "(2026-11-22), which set these targets (the Pascal original and plain numpy, "
                    "measured by the issue's author on a machine this repository does not "
                    "record); it is not re-measured by this run.")
# The Pascal original's per-sample rates in issue 5 (row number -> /s).
PASCAL = {"1": 102_400, "2": 3_640}

ROWS = [
    Row("1", "per-sample training 2-12-12-3 (compute + backpropagate)",
        core_rows.per_sample_training, original=f"{format_rate(PASCAL['1'])} (Pascal)",
        target=AtLeast(150_000)),
    Row("2", "per-sample forward 2-512-512-10 (compute)",
        core_rows.per_sample_forward, original=f"{format_rate(PASCAL['2'])} (Pascal); numpy 35,500 /s",
        target=AtLeast(36_000)),
    Row("3", "batched forward 2-512-512-10, 100k inputs (compute_batch)",
        core_rows.batched_forward, original="numpy 97,700 /s",
        target=RatioAtLeast(0.9)),
    Row("4", "examples/permutation_align.py end to end",
        report_rows.example_wall_time, original="0.74 s (Pascal)", target=AtMost(0.74)),
    Row("5", "permutation_align_report 2-1024x3-10, 256 probes",
        report_rows.permutation_align_large, target=AtMost(2.0)),
]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description="pyneural's speed table.")
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions and smaller inputs (a smoke run, not figures)")
    parser.add_argument("--rows", help="comma-separated row numbers to run (default: all)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    add_results_option(parser)
    args = parser.parse_args(argv)

    rows = ROWS
    if args.rows:
        wanted = {r.strip() for r in args.rows.split(",") if r.strip()}
        unknown = wanted - {r.number for r in ROWS}
        if unknown:
            parser.error(f"unknown row(s): {', '.join(sorted(unknown))}")
        rows = [r for r in ROWS if r.number in wanted]

    ctx = Context(quick=args.quick)
    path = results_path(args, "speed", partial=args.quick or bool(args.rows))
    with Run("speed", path, argv if argv is not None else sys.argv[1:]) as run:
        print(f"pyneural speed table - {machine_summary()}")
        if args.quick:
            print("(--quick: fewer repetitions and smaller inputs; not comparable figures)")
        sys.stdout.flush()
        done = []
        for i, row in enumerate(rows, 1):
            ctx.begin(f"[{i}/{len(rows)}] row {row.number}: {row.work}:")
            result = row.measure(ctx)
            done.append((row, result))
        ctx.clear()
        print()
        print(render_table(done, markdown=args.markdown))
        print()
        for row, result in done:
            if result.timing is not None:
                print(f"  row {row.number}: one repetition took {result.timing} (medians)")
            for note in result.notes:
                print(f"  row {row.number}: {note}")
        print(f"\n{REFERENCE_SOURCE}")
        print(f"(medians of {ctx.reps} repetitions after a warm-up unless the row says otherwise)")
        _record(run, done)
    failed = [row.number for row, res in done
              if (res.status and res.figure is not None)
              or (row.target is not None and row.target.met(res) is False)]
    return 1 if failed else 0


def _record(run, done):
    """The table, each row's figure (``row<N>``), its ratio to numpy
    (``row<N>_ratio``), the Pascal rate it compares with (``row<N>_pascal``,
    a constant) and its multiple of that rate (``row<N>_vs_pascal``)."""
    header, body = table_cells(done)
    run.table("table", header, body)
    run.note("reference_source", REFERENCE_SOURCE)
    for row, res in done:
        if res.figure is not None:
            run.figure(f"row{row.number}", res.fmt(res.figure), res.figure)
        if res.ratio is not None:
            run.figure(f"row{row.number}_ratio", f"{res.ratio:.2f}x", res.ratio)
        if row.number in PASCAL:
            run.figure(f"row{row.number}_pascal", format_rate(PASCAL[row.number]),
                       PASCAL[row.number])
        if row.number in PASCAL and res.figure is not None:
            ratio = res.figure / PASCAL[row.number]
            run.figure(f"row{row.number}_vs_pascal", f"{ratio:.1f}x", ratio)
