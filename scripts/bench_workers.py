"""Benchmark: how long ``--workers N`` takes to get N worker processes ready for their first unit.

A worker is ready when it has run :func:`gzbcat.process.configure_process` and imported a
stage's compute (what unpickling the first unit does). Each way of starting workers is timed
in a fresh interpreter that has already imported the stages, as the command line has by then:

* ``spawn``: fresh interpreters, each importing numpy, scipy and scikit-learn itself (how the
  runner started workers before :mod:`gzbcat.stages.workers`);
* ``fork``: :func:`gzbcat.stages.workers.worker_pool` in a process without other threads (the
  stage commands, on a terminal or not): forked from this process;
* ``forkserver-cold``: the fork server, started only when the pool is (a runner with another
  thread, e.g. a library caller's);
* ``forkserver-early``: the fork server started before this process imports the stages, so
  both imports overlap (for a caller that runs other threads);
* ``forkserver-warm``: a second pool from the running fork server (a pool rebuilt after a
  worker died).

Each line is the median over ``--repeats`` of the seconds from the pool's creation (after this
process's own imports) until all N workers answered, less the 0.2 s each first task sleeps
(so that every worker gets one): what ``--workers N`` waits before computing that one
process would not. The machine may be shared: compare lines of one invocation only.

    python scripts/bench_workers.py [--workers N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

FIRST_TASK_SLEEP_SECONDS = 0.2
MODES = ("spawn", "fork", "forkserver-cold", "forkserver-early", "forkserver-warm")


def _first_unit(delay: float) -> int:
    """What a worker does before its first unit: import the compute's module."""
    import gzbcat.stages.aggregate  # noqa: F401

    time.sleep(delay)
    return os.getpid()


def _ready_seconds(pool, workers: int) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    futures = [pool.submit(_first_unit, FIRST_TASK_SLEEP_SECONDS) for _ in range(workers)]
    pids = {future.result() for future in futures}
    assert len(pids) == workers, "every worker should have taken one task"
    return time.perf_counter() - started - FIRST_TASK_SLEEP_SECONDS


def measure(mode: str, workers: int) -> float:
    """Seconds until ``workers`` workers are ready, started the ``mode`` way."""
    if mode == "forkserver-early":
        from gzbcat.stages.workers import start_worker_server, worker_pool

        busy = threading.Event()
        threading.Thread(target=busy.wait, daemon=True).start()
        start_worker_server()
        import gzbcat.stages.registry  # this process's own imports, meanwhile

        pool = worker_pool(workers)
        ready = _ready_seconds(pool, workers)
        pool.shutdown()
        return ready
    import gzbcat.stages.registry  # noqa: F401
    from gzbcat.stages.workers import worker_pool

    if mode == "spawn":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from gzbcat.process import configure_process

        pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=configure_process
        )
    elif mode == "fork":
        pool = worker_pool(workers)
    else:
        busy = threading.Event()  # another thread: the pool comes from the fork server
        threading.Thread(target=busy.wait, daemon=True).start()
        pool = worker_pool(workers)
        if mode == "forkserver-warm":
            _ready_seconds(pool, workers)
            pool.shutdown()
            pool = worker_pool(workers)
    ready = _ready_seconds(pool, workers)
    pool.shutdown()
    return ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.mode:  # one measurement, in this fresh interpreter
        print(json.dumps(measure(options.mode, options.workers)))
        return
    print(f"worker start-up, {options.workers} workers, median of {options.repeats}:")
    for mode in MODES:
        seconds = [
            json.loads(
                subprocess.run(
                    [sys.executable, __file__, "--mode", mode, "--workers", str(options.workers)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for _ in range(options.repeats)
        ]
        print(f"  {mode:<17} {statistics.median(seconds):6.2f} s  (runs: {seconds})")


if __name__ == "__main__":
    main()
