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
3. **computes** them (in this process, or in a pool of ``--workers`` processes) and
   **stores** each result in its own transaction that also marks the unit done — only if
   this worker still holds the unit's claim.

What a unit may do to its worker, and what the runner does about it:

- **raises** (anything, picklable or not): the unit is ``failed`` with the error's type,
  message and place, and the run goes on;
- **kills its worker process** (a signal, out of memory, a crash in C): the pool is
  rebuilt, and the units that were in flight on it are computed again one at a time, so
  that the one that kills its worker is told from the innocent ones; it is retried until it
  has died on ``max_attempts`` attempts, then ``failed`` with the reason. With one worker
  the unit computes in this process and takes the runner down with it: the next run finds
  the unit abandoned and, after ``max_attempts`` such losses, fails it instead of dying again;
- **computes for longer than the lease**: a background thread renews the leases of the
  units this runner holds (and the run's heartbeat, ``runs.last_seen_at``) every quarter
  lease, so nobody else claims them meanwhile.

The database may go away (a server restart, a dropped connection): every short transaction
of the runner is retried with backoff for up to ``reconnect_seconds`` (pooled connections
are checked before use), so the runner reconnects and goes on; a unit whose result could
not be stored in that time is handed back, never stored twice. Past that the runner stops
with :class:`DatabaseUnavailableError`.

Ctrl-C hands the in-flight units back (pending) before stopping. A killed runner's units are
claimed again when their lease expires — at once when it ran on this host and its process
is gone.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import signal
import socket
import sqlite3
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from gzbcat.db import schema
from gzbcat.db.dialect import insert_ignore
from gzbcat.db.engine import session_scope
from gzbcat.process import one_blas_thread
from gzbcat.stages.runs import (
    HEARTBEAT_SECONDS,
    finish_run,
    heartbeat,
    params_hash,
    process_is_gone,
    start_run,
)
from gzbcat.stages.workers import can_fork_workers, start_worker_server, worker_pool

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_RECONNECT_SECONDS",
    "NOT_HANDED_BACK",
    "DatabaseUnavailableError",
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
DEFAULT_MAX_ATTEMPTS = 3
"""Attempts at a unit whose worker process dies before the unit is failed."""
DEFAULT_RECONNECT_SECONDS = 60.0
"""How long one database operation is retried after its connection is lost."""

T = TypeVar("T")


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
    worker_deaths: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class DatabaseUnavailableError(RuntimeError):
    """The database stayed unreachable for longer than the runner waits for it."""


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
    return pid_text.isdigit() and process_is_gone(host, int(pid_text))


# --- the database, retried ---------------------------------------------------------------

_TRANSIENT_SQLSTATES = {"57P01", "57P02", "57P03", "40001", "40P01"}
_TRANSIENT_SQLITE = ("database is locked", "disk i/o error", "unable to open database")


def _is_transient(error: BaseException) -> bool:
    """Whether ``error`` says the connection (not the statement) failed: worth a retry.

    PostgreSQL: a connection SQLAlchemy invalidated, a connection-class SQL state (``08…``),
    the server shutting down or starting (``57P0x``), a serialization failure or deadlock; a
    driver error without a SQL state (refused, reset, closed). SQLite: a lock held past the
    busy timeout, or an I/O error.
    """
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    if error.connection_invalidated:
        return True
    original = error.orig
    if isinstance(original, sqlite3.Error):
        return any(text in str(original).lower() for text in _TRANSIENT_SQLITE)
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith("08") or sqlstate in _TRANSIENT_SQLSTATES
    return True


def _reason(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


NOT_HANDED_BACK = "in-flight units could not be handed back"
"""The note an interrupted run's exception carries when its units stay held until their
leases expire (the database would not take the hand-back)."""


def _retrying(what: str, budget_seconds: float, action: Callable[[], T]) -> T:
    """``action()``, retried with backoff (0.25 s doubling to 8 s) while the database is
    unreachable, for up to ``budget_seconds`` after the first failure."""
    delay = 0.25
    deadline: float | None = None
    while True:
        try:
            return action()
        except (OperationalError, InterfaceError) as error:
            if not _is_transient(error):
                raise
            now = time.monotonic()
            deadline = deadline if deadline is not None else now + budget_seconds
            if now >= deadline:
                raise DatabaseUnavailableError(
                    f"lost the database while {what} and could not reconnect within "
                    f"{budget_seconds:.0f} s ({_reason(error)})"
                ) from error
            log.warning("database connection lost while %s (%s): retrying", what, _reason(error))
            time.sleep(min(delay, deadline - now))
            delay = min(2 * delay, 8.0)


# --- the queue ---------------------------------------------------------------------------


def sync_units(
    engine: Engine,
    stage: Stage,
    wanted_params_hash: str,
    *,
    subjects: Sequence[int] | None = None,
    force: bool = False,
    retry_failed: bool = False,
) -> int:
    """Bring ``stage_units`` up to date with the inputs; return how many units are due.

    A unit made due again after it was done or failed starts with no attempts; a unit taken
    back from a dead worker keeps its count.
    """
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
        n_due = 0
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
            n_due += due
            # A pending unit as it should be is left alone: rewriting it would lock it from
            # the claims of other workers until this transaction ends.
            if due and (row.state != State.PENDING or changed):
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
                    attempts=case(
                        (units.state == State.DONE.value, 0),
                        (units.state == State.FAILED.value, 0),
                        else_=units.attempts,
                    ),
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
        return n_due + sum(1 for sid in inputs if sid not in existing)


def _count_unit(session: Session, run_id: int, *, failed: bool) -> None:
    """Add one finished unit to its run's counts (in the unit's own transaction)."""
    runs = schema.Run
    column = runs.units_failed if failed else runs.units_done
    session.execute(update(runs).where(runs.run_id == run_id).values({column.key: column + 1}))


def _abandoned_error(attempts: int) -> str:
    return (
        f"abandoned: the process computing it was lost on {attempts} attempts (killed, out "
        "of memory or crashed); --retry-failed or a larger --max-attempts tries again"
    )


@dataclass(frozen=True)
class _Claim:
    """What one claim transaction did."""

    claimed: list[tuple[int, int]]
    """(subject_id, attempts including this one) of each unit claimed to compute."""
    abandoned: list[tuple[int, int]]
    """(subject_id, attempts) of units lost too often, marked failed instead."""
    locked: int = 0
    """Due units another transaction held locked when none could be claimed (PostgreSQL)."""


def _claim(
    engine: Engine,
    stage: str,
    worker: str,
    count: int,
    lease_seconds: float,
    subjects: Sequence[int] | None,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    run_id: int | None = None,
) -> _Claim:
    """Claim up to ``count`` due units for ``worker``.

    A due unit that has already started ``max_attempts`` times without finishing (its
    processes were lost) is failed instead of being tried again.
    """
    units = schema.StageUnit
    now = _now()
    due = [
        units.stage == stage,
        or_(
            units.state == State.PENDING,
            and_(units.state == State.RUNNING, units.lease_expires_at < now),
        ),
    ]
    if subjects is not None:
        due.append(units.subject_id.in_(list(subjects)))
    with session_scope(engine, write=True) as session:
        query = (
            select(units.subject_id, units.attempts)
            .where(*due)
            .order_by(units.subject_id)
            .limit(count)
            .with_for_update(skip_locked=True)
        )
        rows = [(int(sid), int(attempts or 0)) for sid, attempts in session.execute(query)]
        if not rows:  # none free: are some due but locked (being claimed, or synced)?
            locked = session.scalar(select(func.count()).select_from(units).where(*due))
            return _Claim([], [], int(locked or 0))
        claimed = [(sid, attempts + 1) for sid, attempts in rows if attempts < max_attempts]
        abandoned = [(sid, attempts) for sid, attempts in rows if attempts >= max_attempts]
        if claimed:
            session.execute(
                update(units)
                .where(units.stage == stage, units.subject_id.in_([sid for sid, _ in claimed]))
                .values(
                    state=State.RUNNING.value,
                    worker=worker,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    attempts=units.attempts + 1,
                    updated_at=now,
                )
            )
        for subject_id, attempts in abandoned:
            session.execute(
                update(units)
                .where(units.stage == stage, units.subject_id == subject_id)
                .values(
                    state=State.FAILED.value,
                    worker=None,
                    lease_expires_at=None,
                    seconds=None,
                    error=_abandoned_error(attempts),
                    updated_at=now,
                )
            )
            if run_id is not None:
                _count_unit(session, run_id, failed=True)
        return _Claim(claimed, abandoned)


def _release(engine: Engine, stage: str, worker: str) -> None:
    """Hand this worker's running units back to the queue (on Ctrl-C, an error, or at the
    end of a run). The attempt is given back too: it was stopped, not lost."""
    units = schema.StageUnit
    with session_scope(engine, write=True) as session:
        session.execute(
            update(units)
            .where(units.stage == stage, units.worker == worker, units.state == State.RUNNING)
            .values(
                state=State.PENDING.value,
                worker=None,
                lease_expires_at=None,
                attempts=case((units.attempts > 0, units.attempts - 1), else_=0),
            )
        )


def _renew(
    engine: Engine,
    stage: str,
    worker: str,
    lease_seconds: float,
    *,
    subject_ids: Sequence[int] | None = None,
    run_id: int | None = None,
) -> None:
    """Extend the lease of this worker's running units (those of ``subject_ids`` only, when
    given) and write the run's heartbeat, in one transaction."""
    units = schema.StageUnit
    with session_scope(engine, write=True) as session:
        if subject_ids is None or subject_ids:
            statement = update(units).where(
                units.stage == stage, units.worker == worker, units.state == State.RUNNING
            )
            if subject_ids is not None:
                statement = statement.where(units.subject_id.in_(list(subject_ids)))
            session.execute(
                statement.values(lease_expires_at=_now() + timedelta(seconds=lease_seconds))
            )
        if run_id is not None:
            heartbeat(session, run_id)


def _add_attempt(engine: Engine, stage: str, worker: str, subject_id: int) -> None:
    """Count one more attempt at a unit this worker holds (it computes again)."""
    units = schema.StageUnit
    with session_scope(engine, write=True) as session:
        session.execute(
            update(units)
            .where(
                units.stage == stage,
                units.subject_id == subject_id,
                units.worker == worker,
                units.state == State.RUNNING,
            )
            .values(attempts=units.attempts + 1, updated_at=_now())
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
    """Store a unit's outputs (or its failure) and mark it, in one transaction, and count it
    in its run.

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
            _count_unit(session, context.run_id, failed=error is not None)
    except _ClaimLostError:
        log.warning("%s: subject %s was taken over by another worker", stage.name, subject_id)
        return False
    return True


# --- computing ---------------------------------------------------------------------------


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
    except (Exception, SystemExit) as error:  # a unit never ends its worker on purpose
        outputs = _Failed(_error_text(error))
    return outputs, time.process_time() - started


def _error_text(error: BaseException) -> str:
    """The exception and where it came from, in a few lines."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now. shutdown() forgets the worker processes, so take them first;
    terminating them stops computes that would otherwise run on after the runner gave up."""
    running = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in running:
        process.terminate()


def _death_cause(processes: dict[int, Any]) -> str:
    """How a pool's worker died, from the exit codes of its processes (once the pool has shut
    down): the pool terminates the survivors (SIGTERM) once one has died, so another code
    names the death."""
    codes = []
    for process in processes.values():
        process.join(timeout=1.0)
        if process.exitcode not in (None, 0):
            codes.append(process.exitcode)
    own = [code for code in codes if code != -signal.SIGTERM] or codes
    if not own:
        return "cause unknown"
    code = own[0]
    if code < 0:
        try:
            return f"signal {-code}, {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


@dataclass
class _Unit:
    """A unit this runner holds: its inputs, kept until it is finished."""

    subject_id: int
    attempts: int
    inputs: Any


class _LeaseKeeper:
    """Renews the leases of the units this runner holds, and the run's heartbeat, from a
    background thread every quarter lease (at most :data:`HEARTBEAT_SECONDS`), so that a
    unit computing in this very process keeps its claim however long it takes."""

    def __init__(
        self, engine: Engine, stage: str, worker: str, run_id: int, lease_seconds: float
    ) -> None:
        self._renew = lambda ids: _renew(
            engine, stage, worker, lease_seconds, subject_ids=ids, run_id=run_id
        )
        self.interval = min(lease_seconds / 4, HEARTBEAT_SECONDS)
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gzbcat-leases", daemon=True)

    def start(self) -> None:
        self._renew([])  # the first heartbeat
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def hold(self, subject_id: int) -> None:
        with self._lock:
            self._held.add(subject_id)

    def drop(self, subject_id: int) -> None:
        with self._lock:
            self._held.discard(subject_id)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                held = sorted(self._held)
            try:
                self._renew(held)
            except Exception as error:  # the runner's own calls report a lasting outage
                log.warning("could not renew leases (%s); trying again", _reason(error))


class _StageRun:
    """One ``run_stage`` call: the queue, the leases, the workers and the summary."""

    def __init__(
        self,
        engine: Engine,
        stage: Stage,
        params: Any,
        *,
        workers: int,
        subjects: Sequence[int] | None,
        limit: int | None,
        lease_seconds: float,
        max_attempts: int,
        reconnect_seconds: float,
        progress: Callable[[int], None] | None,
        run_id: int,
    ) -> None:
        self.engine = engine
        self.stage = stage
        self.params = params
        self.workers = workers
        self.subjects = subjects
        self.limit = limit
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.reconnect_seconds = reconnect_seconds
        self.progress = progress
        self.worker = worker_identity()
        self.context = StoreContext(run_id=run_id, params=params)
        self.summary = RunSummary(stage=stage.name, run_id=run_id)
        self.keeper = _LeaseKeeper(engine, stage.name, self.worker, run_id, lease_seconds)
        self.modules = [stage.compute.__module__]

    def retrying(self, what: str, action: Callable[[], T]) -> T:
        return _retrying(what, self.reconnect_seconds, action)

    # -- the queue ------------------------------------------------------------------------

    def claim(self, room: int) -> list[_Unit]:
        """Claim and load up to ``room`` units (fewer where ``limit`` says so)."""
        if self.limit is not None:
            room = min(room, self.limit - self.summary.claimed)
        waits = 0
        while room > 0:
            claim = self.retrying(
                "claiming units",
                lambda: _claim(
                    self.engine,
                    self.stage.name,
                    self.worker,
                    room,
                    self.lease_seconds,
                    self.subjects,
                    max_attempts=self.max_attempts,
                    run_id=self.context.run_id,
                ),
            )
            for subject_id, attempts in claim.abandoned:
                self.count(subject_id, _abandoned_error(attempts))
            if claim.locked and waits < 20:  # another worker's transaction ends in a moment
                waits += 1
                time.sleep(0.05 * waits)
                continue
            if claim.claimed or not claim.abandoned:
                break
        else:
            return []
        self.summary.claimed += len(claim.claimed)
        loaded = []
        for subject_id, attempts in claim.claimed:
            self.keeper.hold(subject_id)
            try:
                inputs = self.retrying(
                    f"loading subject {subject_id}", lambda sid=subject_id: self._load(sid)
                )
            except DatabaseUnavailableError:
                raise
            except Exception as error:  # a unit that cannot load fails alone
                self.finished(subject_id, error=_error_text(error))
                continue
            loaded.append(_Unit(subject_id, attempts, inputs))
        return loaded

    def _load(self, subject_id: int) -> Any:
        with session_scope(self.engine) as session:
            return self.stage.load(session, subject_id)

    def finished(
        self,
        subject_id: int,
        outputs: Any = None,
        *,
        error: str | None = None,
        seconds: float | None = None,
    ) -> None:
        """Store a unit's outputs or failure and count it. Outputs that ``store`` cannot
        write (it raises) fail the unit like a compute that raised."""
        if isinstance(outputs, _Failed):
            error, outputs, seconds = outputs.text, None, None

        def finish(outputs: Any, error: str | None, seconds: float | None) -> bool:
            return self.retrying(
                f"storing subject {subject_id}",
                lambda: _finish(
                    self.engine,
                    self.stage,
                    self.worker,
                    subject_id,
                    outputs=outputs,
                    error=error,
                    seconds=seconds,
                    context=self.context,
                ),
            )

        try:
            stored = finish(outputs, error, seconds)
        except DatabaseUnavailableError:
            raise
        except Exception as store_error:
            if error is not None:
                raise
            error = f"storing the outputs failed: {_error_text(store_error)}"
            stored = finish(None, error, None)
        self.keeper.drop(subject_id)
        if not stored:
            self.summary.lost += 1
            if self.progress:
                self.progress(1)
        else:
            self.count(subject_id, error, seconds)

    def count(self, subject_id: int, error: str | None, seconds: float | None = None) -> None:
        if error is not None:
            self.summary.failed += 1
            self.summary.failures.append((subject_id, error))
        else:
            self.summary.done += 1
            if seconds is not None:
                self.summary.compute_seconds.append(seconds)
        if self.progress:
            self.progress(1)

    # -- computing ------------------------------------------------------------------------

    def run(self) -> None:
        # The pool first: its workers are forked from this process while it has no thread.
        pool = worker_pool(self.workers, self.modules) if self.workers > 1 else None
        try:
            self.retrying("writing the run's heartbeat", self.keeper.start)
            if pool is not None:
                self.run_in_pool(pool)
            else:
                self.run_here()
        except BaseException as stopped:
            if pool is not None:
                _stop_pool(pool)
            # Ctrl-C or a failure of the runner itself: held units go back to the queue.
            try:
                _retrying("handing units back", min(self.reconnect_seconds, 5.0), self._release)
            except Exception as error:
                log.warning("could not hand units back (%s): their leases expire", error)
                stopped.add_note(f"{NOT_HANDED_BACK}: {_reason(error)}")
            raise
        finally:
            self.keeper.stop()
        # Units claimed in a transaction whose answer was lost are held but unknown here.
        self.retrying("handing units back", self._release)

    def _release(self) -> None:
        _release(self.engine, self.stage.name, self.worker)

    def run_here(self) -> None:
        """Compute in this process, one unit at a time, with BLAS on one thread."""
        while units := self.claim(1):
            for unit in units:
                with one_blas_thread():
                    outputs, seconds = _timed_compute(self.stage.compute, unit.inputs, self.params)
                self.finished(unit.subject_id, outputs, seconds=seconds)

    def run_in_pool(self, pool: ProcessPoolExecutor) -> None:
        """Compute in a pool of ``workers`` processes, two units in flight per worker.

        When a worker dies, every unit in flight on the pool fails with it; the pool is
        rebuilt and those units computed again, one at a time, until each has either finished
        or died alone (then it is the one that kills its worker).
        """
        processes: dict[int, Any] = dict(getattr(pool, "_processes", None) or {})
        in_flight: dict[Future[Any], _Unit] = {}
        alone: collections.deque[_Unit] = collections.deque()

        def submit(unit: _Unit) -> bool:
            try:
                future = pool.submit(_timed_compute, self.stage.compute, unit.inputs, self.params)
            except BrokenProcessPool:
                alone.append(unit)
                return False
            in_flight[future] = unit
            processes.update(getattr(pool, "_processes", None) or {})
            return True

        try:
            while True:
                claimed: list[_Unit] = []
                if alone:
                    if not in_flight:
                        submit(alone.popleft())
                else:
                    claimed = self.claim(2 * self.workers - len(in_flight))
                    for index, unit in enumerate(claimed):
                        if not submit(unit):  # the pool broke since: the rest wait too
                            alone.extend(claimed[index + 1 :])
                            break
                if not in_flight:
                    if not claimed and not alone:
                        break
                    if alone:  # nothing could be submitted: the pool broke meanwhile
                        pool, processes = self._rebuilt(
                            pool, processes, in_flight, alone, broken=True
                        )
                    continue
                done, _ = wait(in_flight, timeout=1.0, return_when=FIRST_COMPLETED)
                if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                    pool, processes = self._rebuilt(pool, processes, in_flight, alone)
                    continue
                for future in done:
                    self._collect(future, in_flight.pop(future))
        except BaseException:
            _stop_pool(pool)
            raise
        pool.shutdown(wait=True)

    def _collect(self, future: Future[Any], unit: _Unit) -> None:
        error = future.exception()
        if error is not None:  # the result could not come back (e.g. it does not pickle)
            self.finished(unit.subject_id, error=_error_text(error))
        else:
            outputs, seconds = future.result()
            self.finished(unit.subject_id, outputs, seconds=seconds)

    def _rebuilt(
        self,
        pool: ProcessPoolExecutor,
        processes: dict[int, Any],
        in_flight: dict[Future[Any], _Unit],
        alone: collections.deque[_Unit],
        *,
        broken: bool = False,
    ) -> tuple[ProcessPoolExecutor, dict[int, Any]]:
        """After a worker died: finish what finished, find out who died, and a new pool."""
        wait(in_flight)  # once one future has the broken pool, the rest follow at once
        victims = []
        for future, unit in in_flight.items():
            if isinstance(future.exception(), BrokenProcessPool):
                victims.append(unit)
            else:
                self._collect(future, unit)
        in_flight.clear()
        if not (broken or victims):
            return pool, processes
        # The pool's own thread reaps its processes; reading their exit codes alongside it
        # races it (a fork-server exit code is read once: the loser sees 255), so after it.
        pool.shutdown(wait=True)
        cause = _death_cause(processes)
        self.summary.worker_deaths += 1
        if len(victims) == 1:
            self._died_alone(victims[0], cause, alone)
        else:
            log.warning(
                "%s: a worker process died (%s) with %d units in flight: each is computed "
                "again alone",
                self.stage.name,
                cause,
                len(victims),
            )
            alone.extendleft(reversed(victims))
        pool = worker_pool(self.workers, self.modules)
        return pool, dict(getattr(pool, "_processes", None) or {})

    def _died_alone(self, unit: _Unit, cause: str, alone: collections.deque[_Unit]) -> None:
        """``unit`` killed its worker: try again, or fail it after ``max_attempts``."""
        if unit.attempts >= self.max_attempts:
            self.finished(
                unit.subject_id,
                error=f"worker process died ({cause}) on {unit.attempts} attempts",
            )
            return
        log.warning(
            "%s: subject %s killed its worker process (%s) on attempt %d of %d",
            self.stage.name,
            unit.subject_id,
            cause,
            unit.attempts,
            self.max_attempts,
        )
        self.retrying(
            f"counting an attempt at subject {unit.subject_id}",
            lambda: _add_attempt(self.engine, self.stage.name, self.worker, unit.subject_id),
        )
        unit.attempts += 1
        alone.appendleft(unit)


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
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    reconnect_seconds: float = DEFAULT_RECONNECT_SECONDS,
    progress: Callable[[int], None] | None = None,
    on_due: Callable[[int], None] | None = None,
) -> RunSummary:
    """Run every due unit of ``stage`` (or ``limit`` of them) and return what happened.

    ``workers`` > 1 computes in that many processes; loading and storing stay in this one,
    one transaction per unit. A unit whose worker process dies is tried up to
    ``max_attempts`` times. Raises :class:`DatabaseUnavailableError` when the database stays
    unreachable for ``reconnect_seconds``. ``on_due(n)`` hears how many units are due once
    that is known; ``progress(1)`` hears each unit finish.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
    started = time.perf_counter()
    wanted_hash = params_hash(stage.name, params)
    run_id = _retrying(
        "starting the run", reconnect_seconds, lambda: start_run(engine, stage.name, params)
    )
    run = _StageRun(
        engine,
        stage,
        params,
        workers=workers,
        subjects=subjects,
        limit=limit,
        lease_seconds=lease_seconds,
        max_attempts=max_attempts,
        reconnect_seconds=reconnect_seconds,
        progress=progress,
        run_id=run_id,
    )
    if workers > 1 and not can_fork_workers():
        start_worker_server(run.modules)  # it imports while the queue is brought up to date
    try:
        run.summary.due = _retrying(
            "finding due units",
            reconnect_seconds,
            lambda: sync_units(
                engine,
                stage,
                wanted_hash,
                subjects=subjects,
                force=force,
                retry_failed=retry_failed,
            ),
        )
        if on_due:
            on_due(run.summary.due if limit is None else min(limit, run.summary.due))
        run.run()
    finally:
        try:
            _retrying(
                "finishing the run", min(reconnect_seconds, 5.0), lambda: finish_run(engine, run_id)
            )
        except Exception as error:  # the run stays unfinished; status says it was interrupted
            log.warning("could not record the end of run %s (%s)", run_id, _reason(error))
        run.summary.seconds = time.perf_counter() - started
    return run.summary
