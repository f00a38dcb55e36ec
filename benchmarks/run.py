"""The speed table: ``python -m benchmarks``.

Each figure is the median of several timed repetitions after a warm-up;
where a row has a numpy reference, the two are timed in turn in the same
run (a, b, a, b, ...), so the ratio is fair even on a busy machine.

To add a row: write ``measure(ctx) -> Result`` (see ``benchmarks.harness``)
and append a ``Row`` to ``ROWS``.
"""
import argparse
import sys
import time

from . import core_rows, report_rows
from .harness import AtLeast, AtMost, Context, RatioAtLeast, Row, machine_summary, render_table

ROWS = [
    Row("1", "per-sample training 2-12-12-3 (compute + backpropagate)",
        core_rows.per_sample_training, original="102,400 /s (Pascal)",
        target=AtLeast(150_000)),
    Row("2", "per-sample forward 2-512-512-10 (compute)",
        core_rows.per_sample_forward, original="3,640 /s (Pascal); numpy 35,500 /s",
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
    args = parser.parse_args(argv)

    rows = ROWS
    if args.rows:
        wanted = {r.strip() for r in args.rows.split(",") if r.strip()}
        unknown = wanted - {r.number for r in ROWS}
        if unknown:
            parser.error(f"unknown row(s): {', '.join(sorted(unknown))}")
        rows = [r for r in ROWS if r.number in wanted]

    ctx = Context(quick=args.quick)
    print(f"pyneural speed table - {machine_summary()}")
    if args.quick:
        print("(--quick: fewer repetitions and smaller inputs; not comparable figures)")
    sys.stdout.flush()
    start = time.perf_counter()
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
        for note in result.notes:
            print(f"  row {row.number}: {note}")
    print(f"\n(whole run {time.perf_counter() - start:.0f} s; medians of {ctx.reps} repetitions "
          "after a warm-up unless the row says otherwise)")
    failed = [row.number for row, res in done
              if (res.status and res.figure is not None)
              or (row.target is not None and row.target.met(res) is False)]
    return 1 if failed else 0
