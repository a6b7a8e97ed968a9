"""BLAS runs on one thread inside per-subject compute, and is restored afterwards."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info

from gzbcat.threads import one_blas_thread


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_one_blas_thread_limits_and_restores() -> None:
    before = _blas_threads()
    assert before, "numpy's BLAS should be visible to threadpoolctl"
    with one_blas_thread():
        assert _blas_threads() == [1] * len(before)
        product = np.ones((200, 200)) @ np.ones((200, 200))  # still computes
        assert product[0, 0] == 200.0
    assert _blas_threads() == before
