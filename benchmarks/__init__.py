"""pyneural benchmarks.

    python -m benchmarks                 # the speed table
    python -m benchmarks --quick         # fewer repetitions, smaller batch (a smoke run)
    python -m benchmarks --rows 1,3      # some rows only
    python -m benchmarks --markdown      # the table as Markdown
    python -m benchmarks.alignment       # alignment quality of the permutation report
    (the other modules here run the same way: conv, conv_align, merging,
    refine_budget, scale, scale_variants, sweep)

The speed table is built from a list of rows (``benchmarks.run.ROWS``); each
row is a function that measures one figure and returns a ``Result``
(``benchmarks.harness``). Adding a row is adding a function to that list.

Every full run writes ``benchmarks/results/<name>.json`` (``benchmarks.results``):
the docs take their figures from those files, so re-running a benchmark is
how a figure in the docs changes.
"""
