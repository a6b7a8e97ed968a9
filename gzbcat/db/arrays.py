"""numpy arrays in binary columns, as ``.npy`` bytes: exact dtype, shape and values."""

from __future__ import annotations

import io

import numpy as np

__all__ = ["array_from_bytes", "array_to_bytes"]


def array_to_bytes(array: np.ndarray) -> bytes:
    """Serialise an array to ``.npy`` bytes (no pickling: object arrays are refused)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def array_from_bytes(data: bytes | memoryview | None) -> np.ndarray | None:
    """Read ``.npy`` bytes written by :func:`array_to_bytes`; None stays None."""
    if data is None:
        return None
    return np.load(io.BytesIO(bytes(data)), allow_pickle=False)
