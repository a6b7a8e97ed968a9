"""One BLAS thread for per-subject compute.

gzbcat's science work is many small problems (one subject at a time: Jaccard rasters, k-d
trees, a 135 × 135 χ²), and its parallelism is processes (``--workers``, many machines).
OpenBLAS, by contrast, splits any dot product over 10 000 elements, and any matrix product
past a few thousand, across every core; on a 2-core machine that is shared with a second
worker, the threads wait on each other and spin. Measured with
``scripts/bench_aggregate.py`` (40 subjects, 2-core machine): aggregation 0.36 → 0.25 CPU s
per subject and best-individual 0.37 → 0.19 with BLAS on one thread, identical results.

The stage runner computes every unit inside :func:`one_blas_thread`; benchmarks and notebooks
that call the pure functions directly can do the same.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import numpy  # noqa: F401 - loaded first, so that the controller finds its BLAS
import scipy.linalg  # noqa: F401 - likewise scipy's
from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]


@functools.lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    """The loaded BLAS libraries, found once (a fresh search costs ~6 ms, a limit ~0.5 µs)."""
    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with BLAS (OpenBLAS, MKL, …) on the calling thread only; restore after."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
