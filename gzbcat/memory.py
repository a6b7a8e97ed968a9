"""Keep freed array memory in the process, so that per-subject compute causes no page faults.

gzbcat's per-subject work (a render, an aggregation) allocates a few dozen arrays of 0.1–4 MB
and frees them at the end. glibc's malloc gives the free top of its heap back to the OS once
it exceeds ``M_TRIM_THRESHOLD`` (a few hundred kB), and serves blocks above
``M_MMAP_THRESHOLD`` with a fresh ``mmap``. Either way the next unit touches new pages, and on
the 2-core VM this project is measured on every 4 kB page fault costs ~2–3 µs: 850 faults,
~2 ms, per render of the benchmark's bar alone, more than the arithmetic; ~11 ms of system
time per subject of ``scripts/bench_aggregate.py`` (about a tenth of its aggregation time).
Raising both thresholds lets freed blocks be reused, so steady-state compute causes no page
faults at all.

The setting is process-wide: the heap keeps up to :data:`TRIM_THRESHOLD` bytes of free memory
instead of returning it, and blocks up to :data:`MMAP_THRESHOLD` come from the heap. That is
the intended trade for a compute process; set the environment variable
``GZBCAT_KEEP_FREED_MEMORY=0`` before the first render or aggregation to leave malloc alone.
Anywhere other than glibc (no ``mallopt``) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

MMAP_THRESHOLD = 32 * 1024 * 1024
"""Blocks up to this size come from the heap (32 MiB is glibc's upper limit on 64-bit)."""
TRIM_THRESHOLD = 256 * 1024 * 1024
"""Free memory the heap may keep at its top instead of returning it to the OS."""

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3

_state: dict[str, bool] = {"done": False, "applied": False}


def keep_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds once per process; return whether it applied.

    Cheap to call repeatedly (the renderer calls it on every render, aggregation on every
    subject). Setting either threshold explicitly turns off glibc's own adaptive thresholds,
    which is why both are set.
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
