"""Process settings for gzbcat's compute, applied once where a process starts.

gzbcat's science work is many small problems (one subject at a time: a few dozen arrays of
0.1–4 MB per render or aggregation, dot products of ~1e4 elements, a 135 × 135 χ²), and its
parallelism is processes (``--workers``, many machines). Two defaults of the C libraries
underneath suit large problems on an idle machine instead:

- glibc's malloc gives freed memory back to the OS (the free top of the heap beyond
  ``M_TRIM_THRESHOLD``, and every block above ``M_MMAP_THRESHOLD``), so the next subject's
  arrays touch fresh pages and pay a page fault per 4 kB, which for a render costs more
  than its arithmetic. :func:`keep_freed_memory` raises both thresholds so that freed blocks
  are reused.
- OpenBLAS splits any dot product over 10 000 elements, and any larger matrix product,
  across every core; with several worker processes on a few cores the threads wait on each
  other. :func:`limit_blas_threads` keeps BLAS on the calling thread.

:func:`configure_process` applies both. It is called by the command line's app callback, by
the stage runner in each worker process it starts, and by the benchmark scripts; library
code never calls it, so a notebook that uses the pure functions keeps its own settings
unless it calls it too. :func:`one_blas_thread` limits BLAS for one block only, for code
that computes in a process it did not start.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
from collections.abc import Iterator

import numpy  # noqa: F401 - loaded first, so that the controller finds its BLAS
import scipy.linalg  # noqa: F401 - likewise scipy's
from threadpoolctl import ThreadpoolController

__all__ = [
    "MMAP_THRESHOLD",
    "TRIM_THRESHOLD",
    "configure_process",
    "keep_freed_memory",
    "limit_blas_threads",
    "one_blas_thread",
]

MMAP_THRESHOLD = 32 * 1024 * 1024
"""Blocks up to this size come from the heap (32 MiB is glibc's upper limit on 64-bit)."""
TRIM_THRESHOLD = 256 * 1024 * 1024
"""Free memory the heap may keep at its top instead of returning it to the OS."""

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3

_state: dict[str, bool] = {"done": False, "applied": False}


def configure_process() -> None:
    """Keep freed memory in the process and run BLAS on one thread, for the whole process."""
    keep_freed_memory()
    limit_blas_threads()


def keep_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds once per process; return whether it applied.

    The heap then keeps up to :data:`TRIM_THRESHOLD` bytes of free memory, and serves blocks
    up to :data:`MMAP_THRESHOLD`, instead of returning them to the OS. Setting either
    threshold turns off glibc's own adaptive thresholds, which is why both are set. The
    environment variable ``GZBCAT_KEEP_FREED_MEMORY=0`` leaves malloc alone; anywhere other
    than glibc (no ``mallopt``) this does nothing. Later calls return the first one's answer.
    """
    if _state["done"]:
        return _state["applied"]
    _state["done"] = True
    if os.environ.get("GZBCAT_KEEP_FREED_MEMORY", "1") == "0":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    _state["applied"] = applied
    return applied


@functools.lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    """The loaded BLAS libraries, found once (a search costs milliseconds, a limit microseconds)."""
    return ThreadpoolController()


def limit_blas_threads() -> None:
    """Run BLAS (OpenBLAS, MKL, …) on the calling thread from now on, in this process."""
    _controller().limit(limits=1, user_api="blas")


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with BLAS on the calling thread only; restore the previous limits after."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
