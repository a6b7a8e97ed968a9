"""numpy arrays in binary columns, as ``.npy`` bytes: exact dtype, shape and values."""

from __future__ import annotations

import io
import struct

import numpy as np

__all__ = ["array_from_bytes", "array_to_bytes"]

_MAGIC = b"\x93NUMPY\x01\x00"
_ALIGN = 64  # numpy pads the header so the data starts on a 64-byte boundary


def array_to_bytes(array: np.ndarray) -> bytes:
    """Serialise an array to ``.npy`` (format 1.0) bytes; object arrays are refused.

    The header is written here rather than by ``np.save``, which costs ~20 µs per call, a
    large share of ingesting a classification; the bytes are the same (a test checks).
    """
    array = np.asarray(array)
    if array.dtype.hasobject:
        raise ValueError("object arrays cannot be stored: they would need pickling")
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
    shape = repr(tuple(int(n) for n in array.shape))
    header = (
        f"{{'descr': {np.lib.format.dtype_to_descr(array.dtype)!r}, "
        f"'fortran_order': False, 'shape': {shape}, }}"
    )
    padding = -(len(_MAGIC) + 2 + len(header) + 1) % _ALIGN
    encoded = (header + " " * padding + "\n").encode("latin1")
    return b"".join((_MAGIC, struct.pack("<H", len(encoded)), encoded, array.tobytes()))


def array_from_bytes(data: bytes | memoryview | None) -> np.ndarray | None:
    """Read ``.npy`` bytes written by :func:`array_to_bytes`; None stays None."""
    if data is None:
        return None
    return np.load(io.BytesIO(bytes(data)), allow_pickle=False)
