"""The ``runs`` table: one row per invocation of a stage or an ingest, with its parameters."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, update

from gzbcat import __version__
from gzbcat.db import schema
from gzbcat.db.engine import session_scope

__all__ = ["finish_run", "params_hash", "start_run"]


def _values(params: Any) -> dict[str, Any]:
    return dataclasses.asdict(params) if dataclasses.is_dataclass(params) else dict(params)


def params_hash(stage: str, params: Any) -> str:
    """A stable hash of a stage's parameters (a dataclass or a JSON-able mapping)."""
    text = json.dumps({"stage": stage, "params": _values(params)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def start_run(engine: Engine, stage: str, params: Any) -> int:
    """Record that ``stage`` starts with ``params``; return the new ``run_id``."""
    with session_scope(engine, write=True) as session:
        run = schema.Run(
            stage=stage,
            params=json.dumps(_values(params), sort_keys=True, default=str),
            params_hash=params_hash(stage, params),
            code_version=__version__,
            host=socket.gethostname(),
        )
        session.add(run)
        session.flush()
        return int(run.run_id)


def finish_run(engine: Engine, run_id: int) -> None:
    """Record when a run ended (left NULL for a run that was killed)."""
    with session_scope(engine, write=True) as session:
        session.execute(
            update(schema.Run)
            .where(schema.Run.run_id == run_id)
            .values(finished_at=datetime.now(UTC))
        )
