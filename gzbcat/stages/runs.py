"""The ``runs`` table: one row per invocation of a stage or an ingest, with its parameters.

A run records its host and process id when it starts and ``finished_at`` when it ends; a
running stage also writes a heartbeat (``last_seen_at``, see :func:`heartbeat`). A run whose
``finished_at`` is NULL was interrupted (killed, out of memory, its machine lost) when its
process is gone from this host, or when its heartbeat is older than
:data:`STALE_HEARTBEAT_SECONDS` (:func:`unfinished_runs`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from gzbcat import __version__
from gzbcat.db import schema
from gzbcat.db.engine import session_scope

__all__ = [
    "HEARTBEAT_SECONDS",
    "STALE_HEARTBEAT_SECONDS",
    "UnfinishedRun",
    "finish_run",
    "heartbeat",
    "params_hash",
    "process_is_gone",
    "start_run",
    "unfinished_runs",
]

HEARTBEAT_SECONDS = 60.0
"""A running stage writes its heartbeat at least this often (more often with a short lease)."""
STALE_HEARTBEAT_SECONDS = 300.0
"""A run not seen for this long (five missed heartbeats) is taken for interrupted."""


def _values(params: Any) -> dict[str, Any]:
    return dataclasses.asdict(params) if dataclasses.is_dataclass(params) else dict(params)


def params_hash(stage: str, params: Any) -> str:
    """A stable hash of a stage's parameters (a dataclass or a JSON-able mapping)."""
    text = json.dumps({"stage": stage, "params": _values(params)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def start_run(engine: Engine, stage: str, params: Any) -> int:
    """Record that ``stage`` starts with ``params`` in this process; return the ``run_id``."""
    with session_scope(engine, write=True) as session:
        run = schema.Run(
            stage=stage,
            params=json.dumps(_values(params), sort_keys=True, default=str),
            params_hash=params_hash(stage, params),
            code_version=__version__,
            host=socket.gethostname(),
            pid=os.getpid(),
        )
        session.add(run)
        session.flush()
        return int(run.run_id)


def heartbeat(session: Session, run_id: int) -> None:
    """Record that the run is alive now (in the caller's transaction)."""
    session.execute(
        update(schema.Run).where(schema.Run.run_id == run_id).values(last_seen_at=datetime.now(UTC))
    )


def finish_run(engine: Engine, run_id: int) -> None:
    """Record when a run ended (left NULL for a run that was killed)."""
    with session_scope(engine, write=True) as session:
        session.execute(
            update(schema.Run)
            .where(schema.Run.run_id == run_id)
            .values(finished_at=datetime.now(UTC))
        )


def process_is_gone(host: str | None, pid: int | None) -> bool:
    """True for a process of this host that no longer exists (False where unknown)."""
    if host != socket.gethostname() or pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, under another user
        return False
    return False


@dataclasses.dataclass(frozen=True)
class UnfinishedRun:
    """A run with no ``finished_at``, and whether (and why) it is known to be interrupted."""

    run_id: int
    stage: str
    host: str | None
    pid: int | None
    started_at: datetime
    last_seen_at: datetime | None
    units_done: int
    units_failed: int
    interrupted: str | None
    """Why the run is taken for interrupted; None while it may still be running."""

    def as_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        for key in ("started_at", "last_seen_at"):
            values[key] = values[key].isoformat() if values[key] is not None else None
        return values


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything gzbcat writes is UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def unfinished_runs(session: Session, now: datetime | None = None) -> list[UnfinishedRun]:
    """Every run without ``finished_at``, newest first, each judged running or interrupted.

    Interrupted: its process is gone from this host, or its heartbeat is older than
    :data:`STALE_HEARTBEAT_SECONDS`. A run of another host without a heartbeat (an ingest)
    cannot be judged from here and counts as running.
    """
    now = now or datetime.now(UTC)
    runs = schema.Run
    found = []
    for row in session.execute(
        select(
            runs.run_id,
            runs.stage,
            runs.host,
            runs.pid,
            runs.started_at,
            runs.last_seen_at,
            runs.units_done,
            runs.units_failed,
        )
        .where(runs.finished_at.is_(None))
        .order_by(runs.run_id.desc())
    ):
        last_seen = _aware(row.last_seen_at)
        reason = None
        if process_is_gone(row.host, row.pid):
            reason = f"process {row.pid} is gone from {row.host}"
        elif last_seen is not None and (now - last_seen).total_seconds() > STALE_HEARTBEAT_SECONDS:
            reason = f"not seen since {last_seen:%Y-%m-%d %H:%M:%S} UTC"
        found.append(
            UnfinishedRun(
                run_id=int(row.run_id),
                stage=row.stage,
                host=row.host,
                pid=row.pid,
                started_at=_aware(row.started_at) or now,
                last_seen_at=last_seen,
                units_done=int(row.units_done or 0),
                units_failed=int(row.units_failed or 0),
                interrupted=reason,
            )
        )
    return found
