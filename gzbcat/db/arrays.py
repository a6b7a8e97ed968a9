"""numpy arrays in binary columns, as ``.npy`` bytes: exact dtype, shape and values."""

from __future__ import annotations

import io

import numpy as np

__all__ = ["array_from_bytes", "array_to_bytes"]


def array_to_bytes(array: np.ndarray) -> bytes:
    """Serialise an array to ``.npy`` bytes with ``numpy.save``; object arrays are refused.

    Arrays that are not C-contiguous are written in C order, so equal arrays always give
    equal bytes.
    """
    array = np.asarray(array, order="C")
    if array.dtype.hasobject:
        raise ValueError("object arrays cannot be stored: they would need pickling")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def array_from_bytes(data: bytes | memoryview | None) -> np.ndarray | None:
    """Read ``.npy`` bytes written by :func:`array_to_bytes`; None stays None."""
    if data is None:
        return None
    return np.load(io.BytesIO(bytes(data)), allow_pickle=False)
