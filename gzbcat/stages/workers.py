"""Worker processes for ``--workers N``: forked from a server that imported the science once.

A spawned worker is a fresh interpreter that imports numpy, scipy and scikit-learn again
before its first unit (about 2 s each; two workers on two cores cost more than the units of
a small stage). Where the platform has it, workers come from multiprocessing's *fork
server*: one clean process, started from this one without its threads or database
connections, that imports :data:`WORKER_MODULES` once and then forks a worker per request in
milliseconds. The fork server lives as long as this process, so ``gzbcat run`` pays for its
imports once for all its stages, and :func:`start_worker_server` lets a command start it
before importing the science itself, so that both imports overlap.

Every worker still runs :func:`gzbcat.process.configure_process` as it starts, and exits as
soon as the process that started it is gone: a worker otherwise waits for work forever when
its runner is killed (``kill -9``, the out-of-memory killer), and keeps the fork server alive.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import threading
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor

__all__ = ["WORKER_MODULES", "start_worker_server", "worker_context", "worker_pool"]

WORKER_MODULES = ("gzbcat.process", "gzbcat.stages.registry")
"""What the fork server imports before forking workers: every stage and its science."""


def _has_fork_server() -> bool:
    return "forkserver" in multiprocessing.get_all_start_methods()


def worker_context() -> multiprocessing.context.BaseContext:
    """The fork server where the platform has one, else spawn."""
    return multiprocessing.get_context("forkserver" if _has_fork_server() else "spawn")


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
    """A pool of ``workers`` processes set up for compute, with ``modules`` imported."""
    start_worker_server(modules)
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=worker_context(), initializer=_start_worker
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
