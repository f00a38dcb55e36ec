"""Row blocks of a batched pass, side by side on the cores.

A conv net's inner volumes are large: in blocks of rows they stay in cache
and in reused memory, and the conv kernels release the GIL, so the blocks
run in threads. A block holds at most ``BLOCK_BYTES`` of one layer's
outputs, so a net over large images runs in blocks of fewer rows (the
memory of a batched pass then grows with the threads, not with the rows).

What blocking changes: nothing in the convolutions, max-pools and
activations, whose every row is its own arithmetic (the same bits in any
block), but a fully-connected layer is a float32 matrix product whose
summation order is BLAS's, and BLAS may choose it by the number of rows:
the same row can come out a few units in the last place apart in blocks of
another size. ``compute_batch(exact=True)`` is the per-sample kernel on
every row, the bits of ``compute`` whatever the blocking.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Rows per block of the batched pass of a net with convolutions or pooling,
# and the most bytes a block's outputs of one layer may take.
SPATIAL_CHUNK = 256
BLOCK_BYTES = 64 << 20


def rows_per_block(widest):
    """Rows per block when the widest layer has ``widest`` float32 outputs
    per row: SPATIAL_CHUNK, fewer where a block would pass BLOCK_BYTES."""
    return max(1, min(SPATIAL_CHUNK, BLOCK_BYTES // (4 * max(widest, 1))))


# One pool for the process, started at the first batched pass: a report
# makes hundreds of these calls, and starting threads for each cost more
# than a small block's work. A call made from one of its own threads (a
# block whose work itself runs in blocks) runs serially, so the pool's
# threads never wait on each other.
_pool = None
_pool_lock = threading.Lock()
_in_pool = threading.local()


def _executor():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="pyneural-rows",
                                       initializer=lambda: setattr(_in_pool, "flag", True))
        return _pool


def map_row_blocks(fn, X, block=SPATIAL_CHUNK):
    """``fn`` (rows -> array of one row per input row) over blocks of the
    rows of ``X``, in threads, concatenated in order."""
    starts = range(0, len(X), block)
    if len(starts) < 2 or getattr(_in_pool, "flag", False):
        return fn(X) if len(starts) < 2 else np.concatenate([fn(X[i:i + block]) for i in starts])
    return np.concatenate(list(_executor().map(lambda i: fn(X[i:i + block]), starts)))
