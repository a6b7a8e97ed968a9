"""SQLite and PostgreSQL differences for the catalogue: read-only sessions and ``SQRT``.

Kept apart from :mod:`gzbcat.db.dialect` (owned by the database layer) but in the same spirit:
this is the only place in :mod:`gzbcat.catalogue` that asks which backend it is talking to.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from gzbcat.db.engine import make_engine

__all__ = ["ensure_sqrt", "is_write_refusal", "read_only_connection"]

_PG_READ_ONLY_SQLSTATE = "25006"  # read_only_sql_transaction


def _sqrt(value: float | None) -> float | None:
    if value is None or value < 0:
        return None
    return math.sqrt(value)


def ensure_sqrt(connection: Connection) -> None:
    """Give an SQLite connection ``SQRT`` if its library was built without math functions.

    The ``catalogue`` view computes the combined pitch-angle error with ``SQRT`` (spec §6.8).
    SQLite has it from 3.35 when compiled with ``SQLITE_ENABLE_MATH_FUNCTIONS`` (CPython's and
    Debian's builds are); otherwise a Python function is registered on this connection.
    PostgreSQL always has it.
    """
    if connection.dialect.name != "sqlite":
        return
    try:
        connection.exec_driver_sql("SELECT sqrt(4.0)").scalar()
    except OperationalError:
        connection.rollback()
        raw = connection.connection.driver_connection
        raw.create_function("sqrt", 1, _sqrt, deterministic=True)  # type: ignore[union-attr]


@contextmanager
def read_only_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that refuses writes on both backends; always rolled back.

    PostgreSQL: ``SET TRANSACTION READ ONLY``. SQLite: ``PRAGMA query_only=ON``. The connection
    comes from a private engine without a pool and is closed afterwards, so nothing a statement
    changes in the session (a pragma, an ``ATTACH``) outlives it.
    """
    url = engine.url.render_as_string(hide_password=False)
    private = make_engine(url, poolclass=NullPool)
    try:
        with private.connect() as connection:
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA query_only=ON")
                ensure_sqrt(connection)
            elif connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            else:
                raise NotImplementedError(
                    f"gzbcat supports SQLite and PostgreSQL, not {connection.dialect.name}"
                )
            try:
                yield connection
            finally:
                connection.rollback()
    finally:
        private.dispose()


def is_write_refusal(error: DBAPIError) -> bool:
    """Whether ``error`` is the backend refusing a write in a read-only transaction."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate == _PG_READ_ONLY_SQLSTATE:
        return True
    return "readonly database" in str(error.orig).lower()
