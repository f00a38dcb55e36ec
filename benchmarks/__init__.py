"""pyneural benchmarks.

    python -m benchmarks                 # the speed table
    python -m benchmarks --quick         # fewer repetitions, smaller batch (a smoke run)
    python -m benchmarks --rows 1,3      # some rows only
    python -m benchmarks --markdown      # the table as Markdown (for docs/benchmarks.md)
    python -m benchmarks.alignment       # alignment quality of the permutation report
    (other modules here are standalone studies with their own ``python -m``)

The speed table is built from a list of rows (``benchmarks.run.ROWS``); each
row is a function that measures one figure and returns a ``Result``
(``benchmarks.harness``). Adding a row is adding a function to that list.
"""
