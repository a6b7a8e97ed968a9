"""Worker processes for ``--workers N``, started without importing the science again.

A spawned worker is a fresh interpreter that imports numpy, scipy and scikit-learn again
before its first unit (about 2 s of CPU each; two workers on two cores cost more than all the
units of a small stage). So workers are forked instead, ready in milliseconds:

- from this process, which has imported the stages already, when it runs no other thread
  (on Linux): a thread holding a lock at the moment of the fork would leave it held forever
  in the child, so the runner creates its pool before it starts its own thread;
- otherwise from multiprocessing's *fork server*: a clean process, started from this one
  without its threads or connections, that imports :data:`WORKER_MODULES` once and forks a
  worker per request. It lives as long as this process, so it is started once per command
  (a caller that runs other threads, or a pool rebuilt after a worker died, needs it).

Every worker runs :func:`gzbcat.process.configure_process` as it starts, and exits as soon as
the process that started it is gone: a worker otherwise waits for work forever when its
runner is killed (``kill -9``, the out-of-memory killer), and keeps the fork server alive.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor

__all__ = ["WORKER_MODULES", "can_fork_workers", "start_worker_server", "worker_pool"]

WORKER_MODULES = ("gzbcat.process", "gzbcat.stages.registry")
"""What the fork server imports before forking workers: every stage and its science."""


def can_fork_workers() -> bool:
    """Whether workers can be forked from this very process: Linux, and no other thread."""
    return sys.platform == "linux" and threading.active_count() == 1


def _has_fork_server() -> bool:
    return "forkserver" in multiprocessing.get_all_start_methods()


def start_worker_server(modules: Iterable[str] = ()) -> None:
    """Start the fork server now (if not yet running), importing :data:`WORKER_MODULES` and
    ``modules`` in it; returns at once, the imports go on in the server.

    Modules named after the server started are imported by each worker when it needs them.
    """
    if not _has_fork_server():
        return
    wanted = list(dict.fromkeys([*WORKER_MODULES, *modules]))
    multiprocessing.set_forkserver_preload(wanted)
    multiprocessing.forkserver.ensure_running()


def worker_pool(workers: int, modules: Iterable[str] = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes set up for compute, with ``modules`` imported.

    Forked from this process when :func:`can_fork_workers` (every worker at once, here,
    before the pool starts threads of its own), else from the fork server, else spawned.
    """
    if can_fork_workers():
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_start_worker,
        )
        pool.submit(os.getpid).result()  # a fork pool forks all its workers at the first task
        return pool
    start_worker_server(modules)
    method = "forkserver" if _has_fork_server() else "spawn"
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_start_worker,
    )


def _start_worker() -> None:
    """Set the worker process up for compute, and have it follow its parent's death."""
    from gzbcat.process import configure_process

    configure_process()
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(
            target=_exit_with, args=(parent,), name="gzbcat-parent-watch", daemon=True
        ).start()


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns once the parent is gone, reaped or not
    os._exit(1)
