"""Process set-up: BLAS on one thread and freed memory kept, applied where a process starts.

The process-wide settings are checked in fresh processes (a spawned worker and a subprocess),
so that this test process keeps its own.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from threadpoolctl import threadpool_info
from typer.testing import CliRunner

import gzbcat.process
from gzbcat.cli import app
from gzbcat.process import configure_process, keep_freed_memory, one_blas_thread

GLIBC = platform.libc_ver()[0] == "glibc"


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def _worker_state() -> tuple[list[int], bool]:
    return _blas_threads(), keep_freed_memory()


def test_one_blas_thread_limits_and_restores() -> None:
    before = _blas_threads()
    assert before, "numpy's BLAS should be visible to threadpoolctl"
    with one_blas_thread():
        assert _blas_threads() == [1] * len(before)
        product = np.ones((200, 200)) @ np.ones((200, 200))  # still computes
        assert product[0, 0] == 200.0
    assert _blas_threads() == before


def test_a_worker_started_with_configure_process_is_set_up() -> None:
    # A fresh (spawned) interpreter with configure_process as initializer; the stage runner's
    # own workers are checked in tests/stages/test_workers.py.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=configure_process) as pool:
        threads, kept = pool.submit(_worker_state).result(timeout=120)
    assert threads and threads == [1] * len(threads)  # numpy's and scipy's BLAS alike
    assert kept is GLIBC  # applied once by the initializer; later calls report it


@pytest.mark.parametrize(("setting", "expected"), [("1", GLIBC), ("0", False)])
def test_keep_freed_memory_honours_the_environment(setting: str, expected: bool) -> None:
    code = "from gzbcat.process import keep_freed_memory as k; print(k(), k())"
    env = {**os.environ, "GZBCAT_KEEP_FREED_MEMORY": setting}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == [str(expected)] * 2


def test_the_command_line_sets_the_process_up(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[None] = []
    monkeypatch.setattr(gzbcat.process, "configure_process", lambda: calls.append(None))
    result = CliRunner().invoke(app, ["status", "--help"])
    assert result.exit_code == 0, result.output
    assert len(calls) == 1
