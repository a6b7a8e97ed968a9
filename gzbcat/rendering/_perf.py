"""Σ a·b by numpy's own loop (einsum), for the renderer's and the fit's gradients.

einsum never hands the sum to BLAS, so it runs on the calling thread whatever the process's
BLAS settings. ``np.vdot`` (BLAS ``ddot``) is as fast or faster once BLAS runs on one thread
(:mod:`gzbcat.process`), but it adds in another order, and the last-bit differences in the
gradient change the L-BFGS-B iterations of a tune: replacing one by the other changes results.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dot"]


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """Σ a·b over two arrays of one shape (or sizes), computed on the calling thread."""
    return float(np.einsum("i,i->", np.ravel(a), np.ravel(b)))
