"""Worker processes: forked (from the runner or the fork server), set up, gone with their runner."""

from __future__ import annotations

import os
import platform
import signal
import threading
import time
from pathlib import Path

from threadpoolctl import threadpool_info

from gzbcat.db.engine import make_engine, upgrade
from gzbcat.process import keep_freed_memory
from gzbcat.stages.workers import can_fork_workers, worker_pool
from tests.stages.test_runner import _worker, add_subjects, computed

GLIBC = platform.libc_ver()[0] == "glibc"


def _worker_state() -> tuple[int, list[int], bool, bool]:
    import sys

    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return os.getppid(), blas, keep_freed_memory(), "sklearn" in sys.modules


def test_workers_are_forked_from_a_process_without_threads_and_set_up() -> None:
    import gzbcat.stages.registry  # noqa: F401 - as a stage command has by then

    assert can_fork_workers()
    with worker_pool(2) as pool:
        parent, blas, kept, science_loaded = pool.submit(_worker_state).result(timeout=120)
    assert parent == os.getpid()
    assert blas and blas == [1] * len(blas)  # configure_process ran in the worker
    assert kept is GLIBC
    assert science_loaded  # inherited, not imported again


def test_with_another_thread_running_workers_come_from_the_fork_server() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork_workers()
        with worker_pool(2) as pool:
            parent, blas, kept, science_loaded = pool.submit(_worker_state).result(timeout=120)
    finally:
        stop.set()
        other.join()
    assert parent != os.getpid()  # the fork server's child
    assert blas and blas == [1] * len(blas)
    assert kept is GLIBC
    assert science_loaded  # imported once by the fork server, not by each worker


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (zombies count as gone)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def test_worker_processes_leave_with_a_killed_runner(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'workers.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    add_subjects(engine, 40)
    engine.dispose()
    marker = tmp_path / "marker"
    runner = _worker(url, marker, sleep=0.5, workers=2)
    deadline = time.monotonic() + 120
    while sum(computed(marker).values()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    helpers = _descendants(runner.pid)  # its workers (and a fork server, where one is used)
    assert len(helpers) >= 2
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    deadline = time.monotonic() + 30
    while _alive(helpers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(helpers)


def test_a_run_leaves_no_thread_behind_so_the_next_one_forks_again(tmp_path: Path) -> None:
    from gzbcat.stages.runner import run_stage
    from tests.stages.dummy_stage import STAGE, DummyParams

    engine = make_engine(f"sqlite:///{tmp_path / 'threads.sqlite'}")
    upgrade(engine)
    ids = add_subjects(engine, 4)
    marker = tmp_path / "marker"
    assert can_fork_workers()
    run_stage(engine, STAGE, DummyParams(marker=str(marker)), workers=2)
    assert can_fork_workers()  # the lease thread and the pool's threads are gone
    run_stage(engine, STAGE, DummyParams(marker=str(marker), version=2), workers=2)
    engine.dispose()
    assert computed(marker) == dict.fromkeys(ids, 2)
