"""The stage runner: resumable, concurrent per-subject units of work (DESIGN §4).

A stage is a :class:`Stage`: which subjects it applies to and a hash of each one's inputs
(``inputs``), ``load`` (read plain values from the database), ``compute`` (pure, picklable:
runs in a process pool) and ``store`` (replace the unit's previous outputs). The runner:

1. **syncs** the ``stage_units`` queue: a unit is due when it has never run, or its parameter
   hash or input hash differs from what it was computed with (``--force`` redoes every unit;
   failed units are retried when their inputs or parameters change, or on request);
2. **claims** due units with a lease, in a short write transaction (PostgreSQL:
   ``SELECT … FOR UPDATE SKIP LOCKED``, so any number of processes on any number of machines
   drain one queue without doing a unit twice; SQLite: ``BEGIN IMMEDIATE`` on a WAL file);
3. **computes** them in a process pool and **stores** each result in its own transaction that
   also marks the unit done — only if this worker still holds the unit's claim.

A unit whose compute raises is marked ``failed`` with the error and the run goes on. Ctrl-C
hands the in-flight units back (pending) before stopping. A killed worker's units are
claimed again when their lease expires — at once when the worker ran on this host and its
process is gone.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import socket
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from gzbcat.db import schema
from gzbcat.db.dialect import insert_ignore
from gzbcat.db.engine import session_scope
from gzbcat.process import configure_process, one_blas_thread
from gzbcat.stages.runs import finish_run, params_hash, start_run

__all__ = [
    "RunSummary",
    "Stage",
    "StoreContext",
    "params_hash",
    "run_stage",
    "sync_units",
    "worker_identity",
]

log = logging.getLogger(__name__)

State = schema.UnitState
DEFAULT_LEASE_SECONDS = 900.0


@dataclass(frozen=True)
class StoreContext:
    """What ``store`` needs besides the outputs: the run and the method that produced them."""

    run_id: int
    params: Any

    def model_columns(self, kind: str, **columns: Any) -> dict[str, Any]:
        """The ``models`` columns of a model this unit writes: its kind, method and run."""
        return {"kind": kind, "method": self.params.method, "run_id": self.run_id, **columns}


@dataclass(frozen=True)
class Stage:
    """A per-subject stage (DESIGN §4).

    Attributes
    ----------
    name
        The stage's name in ``stage_units`` and on the command line.
    inputs
        ``inputs(session, subject_ids or None) -> {subject_id: input_hash}`` for every subject
        the stage can run on; the hash changes whenever the inputs change.
    load
        ``load(session, subject_id) -> inputs`` of plain, picklable values.
    compute
        ``compute(inputs, params) -> outputs``, pure, a module-level function (it is pickled
        into worker processes).
    store
        ``store(session, subject_id, outputs, context)`` replaces the subject's previous outputs.
    """

    name: str
    inputs: Callable[[Session, Sequence[int] | None], dict[int, str]]
    load: Callable[[Session, int], Any]
    compute: Callable[[Any, Any], Any]
    store: Callable[[Session, int, Any, StoreContext], None]


@dataclass
class RunSummary:
    """What one ``run_stage`` call did."""

    stage: str
    run_id: int
    due: int = 0
    claimed: int = 0
    done: int = 0
    failed: int = 0
    lost: int = 0
    seconds: float = 0.0
    compute_seconds: list[float] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def worker_identity() -> str:
    """``host:pid:token``: unique per process, and tells a local dead worker from a live one."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything gzbcat writes is UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _local_worker_is_dead(worker: str | None) -> bool:
    """True for a worker of this host whose process no longer exists."""
    if not worker:
        return False
    host, _, rest = worker.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def sync_units(
    engine: Engine,
    stage: Stage,
    wanted_params_hash: str,
    *,
    subjects: Sequence[int] | None = None,
    force: bool = False,
    retry_failed: bool = False,
) -> int:
    """Bring ``stage_units`` up to date with the inputs; return how many units are due."""
    units = schema.StageUnit
    with session_scope(engine, write=True) as session:
        inputs = stage.inputs(session, subjects)
        query = select(
            units.subject_id, units.state, units.params_hash, units.input_hash, units.worker
        ).where(units.stage == stage.name)
        if subjects is not None:
            query = query.where(units.subject_id.in_(list(subjects)))
        existing = {row.subject_id: row for row in session.execute(query)}
        now = _now()
        insert_ignore(
            session,
            units.__table__,
            [
                {
                    "stage": stage.name,
                    "subject_id": subject_id,
                    "state": State.PENDING.value,
                    "params_hash": wanted_params_hash,
                    "input_hash": input_hash,
                    "attempts": 0,
                    "updated_at": now,
                }
                for subject_id, input_hash in inputs.items()
                if subject_id not in existing
            ],
            key=["stage", "subject_id"],
        )
        again: list[dict[str, Any]] = []
        for subject_id, row in existing.items():
            input_hash = inputs.get(subject_id)
            if input_hash is None:
                continue
            changed = row.params_hash != wanted_params_hash or row.input_hash != input_hash
            due = (
                row.state == State.PENDING
                or (row.state == State.DONE and (changed or force))
                or (row.state == State.FAILED and (changed or force or retry_failed))
                or (row.state == State.RUNNING and _local_worker_is_dead(row.worker))
            )
            if due:
                again.append(
                    {
                        "b_subject_id": subject_id,
                        "b_state": row.state,
                        "b_worker": row.worker,
                        "params_hash": wanted_params_hash,
                        "input_hash": input_hash,
                    }
                )
        if again:
            # Only where the unit is still as read: another worker may have claimed it since.
            statement = (
                update(units)
                .where(
                    units.stage == stage.name,
                    units.subject_id == bindparam("b_subject_id"),
                    units.state == bindparam("b_state"),
                    units.worker.is_not_distinct_from(bindparam("b_worker")),
                )
                .values(
                    state=State.PENDING.value,
                    params_hash=bindparam("params_hash"),
                    input_hash=bindparam("input_hash"),
                    worker=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
            )
            session.connection().execute(statement, again)
        # A pending unit whose subject no longer has inputs has nothing to compute.
        gone = [
            sid for sid, row in existing.items() if sid not in inputs and row.state == State.PENDING
        ]
        if gone:
            session.execute(
                delete(units).where(
                    units.stage == stage.name,
                    units.subject_id.in_(gone),
                    units.state == State.PENDING,
                )
            )
        return len(again) + sum(1 for sid in inputs if sid not in existing)


def _claim(
    engine: Engine,
    stage: str,
    worker: str,
    count: int,
    lease_seconds: float,
    subjects: Sequence[int] | None,
) -> list[int]:
    """Claim up to ``count`` due units for ``worker``; return their subject ids."""
    units = schema.StageUnit
    now = _now()
    with session_scope(engine, write=True) as session:
        query = (
            select(units.subject_id)
            .where(
                units.stage == stage,
                or_(
                    units.state == State.PENDING,
                    and_(units.state == State.RUNNING, units.lease_expires_at < now),
                ),
            )
            .order_by(units.subject_id)
            .limit(count)
            .with_for_update(skip_locked=True)
        )
        if subjects is not None:
            query = query.where(units.subject_id.in_(list(subjects)))
        claimed = list(session.scalars(query))
        if claimed:
            session.execute(
                update(units)
                .where(units.stage == stage, units.subject_id.in_(claimed))
                .values(
                    state=State.RUNNING.value,
                    worker=worker,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    attempts=units.attempts + 1,
                    updated_at=now,
                )
            )
        return claimed


def _release(engine: Engine, stage: str, worker: str) -> None:
    """Hand this worker's running units back to the queue (on Ctrl-C or an error)."""
    units = schema.StageUnit
    with session_scope(engine, write=True) as session:
        session.execute(
            update(units)
            .where(units.stage == stage, units.worker == worker, units.state == State.RUNNING)
            .values(state=State.PENDING.value, worker=None, lease_expires_at=None)
        )


def _renew(engine: Engine, stage: str, worker: str, lease_seconds: float) -> None:
    units = schema.StageUnit
    with session_scope(engine, write=True) as session:
        session.execute(
            update(units)
            .where(units.stage == stage, units.worker == worker, units.state == State.RUNNING)
            .values(lease_expires_at=_now() + timedelta(seconds=lease_seconds))
        )


class _ClaimLostError(Exception):
    """Another worker took the unit over (our lease expired): our result is dropped."""


def _finish(
    engine: Engine,
    stage: Stage,
    worker: str,
    subject_id: int,
    *,
    outputs: Any = None,
    error: str | None = None,
    seconds: float | None = None,
    context: StoreContext,
) -> bool:
    """Store a unit's outputs (or its failure) and mark it, in one transaction.

    Returns False when this worker no longer holds the unit; nothing is written then.
    """
    units = schema.StageUnit
    try:
        with session_scope(engine, write=True) as session:
            result = session.execute(
                update(units)
                .where(
                    units.stage == stage.name,
                    units.subject_id == subject_id,
                    units.worker == worker,
                    units.state == State.RUNNING,
                )
                .values(
                    state=(State.FAILED if error is not None else State.DONE).value,
                    worker=None,
                    lease_expires_at=None,
                    seconds=seconds,
                    error=error,
                    updated_at=_now(),
                )
            )
            if result.rowcount != 1:
                raise _ClaimLostError
            if error is None:
                stage.store(session, subject_id, outputs, context)
    except _ClaimLostError:
        log.warning("%s: subject %s was taken over by another worker", stage.name, subject_id)
        return False
    return True


@dataclass(frozen=True)
class _Failed:
    """A compute that raised, as its text: plain data, so it reaches the parent process even
    when the exception itself could not be pickled or rebuilt there."""

    text: str


def _timed_compute(
    compute: Callable[[Any, Any], Any], inputs: Any, params: Any
) -> tuple[Any, float]:
    """One unit's outputs (or :class:`_Failed`) and its CPU seconds."""
    started = time.process_time()
    try:
        outputs = compute(inputs, params)
    except Exception as error:
        outputs = _Failed(_error_text(error))
    return outputs, time.process_time() - started


def _error_text(error: BaseException) -> str:
    """The exception and where it came from, in a few lines."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def run_stage(
    engine: Engine,
    stage: Stage,
    params: Any,
    *,
    workers: int = 1,
    subjects: Sequence[int] | None = None,
    limit: int | None = None,
    force: bool = False,
    retry_failed: bool = False,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    progress: Callable[[int], None] | None = None,
    on_due: Callable[[int], None] | None = None,
) -> RunSummary:
    """Run every due unit of ``stage`` (or ``limit`` of them) and return what happened.

    ``workers`` > 1 computes in that many processes; loading and storing stay in this one,
    one transaction per unit. ``on_due(n)`` hears how many units are due once that is known;
    ``progress(1)`` hears each unit finish.
    """
    started = time.perf_counter()
    wanted_hash = params_hash(stage.name, params)
    run_id = start_run(engine, stage.name, params)
    summary = RunSummary(stage=stage.name, run_id=run_id)
    context = StoreContext(run_id=run_id, params=params)
    summary.due = sync_units(
        engine, stage, wanted_hash, subjects=subjects, force=force, retry_failed=retry_failed
    )
    if on_due:
        on_due(summary.due if limit is None else min(limit, summary.due))
    worker = worker_identity()
    # Worker processes are set up for compute when they start (gzbcat.process); computing
    # here, in a process the caller owns, runs BLAS on one thread for the unit only.
    executor = (
        ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=configure_process,
        )
        if workers > 1
        else None
    )
    in_flight: dict[Future[Any], int] = {}
    last_renewal = time.monotonic()

    def finished(
        subject_id: int,
        outputs: Any = None,
        error: BaseException | None = None,
        seconds: float | None = None,
    ) -> None:
        text = _error_text(error) if error is not None else None
        if isinstance(outputs, _Failed):
            text, outputs, seconds = outputs.text, None, None
        stored = _finish(
            engine,
            stage,
            worker,
            subject_id,
            outputs=outputs,
            error=text,
            seconds=seconds,
            context=context,
        )
        if not stored:
            summary.lost += 1
        elif text is not None:
            summary.failed += 1
            summary.failures.append((subject_id, text))
        else:
            summary.done += 1
            if seconds is not None:
                summary.compute_seconds.append(seconds)
        if progress:
            progress(1)

    try:
        while True:
            capacity = 2 * workers if executor is not None else 1
            room = capacity - len(in_flight)
            if limit is not None:
                room = min(room, limit - summary.claimed)
            claimed = (
                _claim(engine, stage.name, worker, room, lease_seconds, subjects)
                if room > 0
                else []
            )
            summary.claimed += len(claimed)
            for subject_id in claimed:
                try:
                    with session_scope(engine) as session:
                        inputs = stage.load(session, subject_id)
                except Exception as error:  # a unit that cannot load fails alone
                    finished(subject_id, error=error)
                    continue
                if executor is None:
                    with one_blas_thread():
                        outputs, seconds = _timed_compute(stage.compute, inputs, params)
                    finished(subject_id, outputs, seconds=seconds)
                else:
                    future = executor.submit(_timed_compute, stage.compute, inputs, params)
                    in_flight[future] = subject_id
            if not in_flight:
                if not claimed:
                    break
                continue
            done, _ = wait(in_flight, timeout=lease_seconds / 4, return_when=FIRST_COMPLETED)
            for future in done:
                subject_id = in_flight.pop(future)
                error = future.exception()
                if error is not None:
                    finished(subject_id, error=error)
                else:
                    outputs, seconds = future.result()
                    finished(subject_id, outputs, seconds=seconds)
            if time.monotonic() - last_renewal > lease_seconds / 4:
                _renew(engine, stage.name, worker, lease_seconds)
                last_renewal = time.monotonic()
    except BaseException:
        # Ctrl-C or a failure of the runner itself: in-flight units go back to the queue.
        if executor is not None:
            # shutdown() forgets the worker processes, so take them first; terminating them
            # stops computes that would otherwise run on after the runner has given up.
            processes = list((getattr(executor, "_processes", None) or {}).values())
            executor.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
            executor = None
        _release(engine, stage.name, worker)
        raise
    finally:
        if executor is not None:
            executor.shutdown(wait=True)
        finish_run(engine, run_id)
        summary.seconds = time.perf_counter() - started
    return summary
