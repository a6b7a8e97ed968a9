"""The one place where SQLite and PostgreSQL differ for gzbcat.

Writes: both backends accept ``INSERT … ON CONFLICT``; only the statement constructor differs.
Reads: ``SQRT`` for SQLite builds without math functions (the sandbox of ``gzbcat query``,
which differs most between the backends, has its own module, :mod:`gzbcat.db.sandbox`). The stage
queue's ``SELECT … FOR UPDATE SKIP LOCKED`` needs nothing here: SQLAlchemy renders it on
PostgreSQL and leaves it out on SQLite, where ``BEGIN IMMEDIATE`` (``db.engine``) serialises claims.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = [
    "ensure_sqrt",
    "ensure_sqrt_sqlite3",
    "insert_ignore",
    "insert_tuples",
    "upsert",
]


def _insert(session: Session, table: Table) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"gzbcat supports SQLite and PostgreSQL, not {name}")


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Iterable[str],
    update: Iterable[str] | None = None,
) -> None:
    """Insert ``rows``; where ``key`` already exists, overwrite the ``update`` columns.

    ``update`` defaults to every column a row provides apart from the key.
    """
    if not rows:
        return
    key = list(key)
    columns = list(update) if update is not None else [c for c in rows[0] if c not in key]
    statement = _insert(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=key, set_={c: statement.excluded[c] for c in columns}
    )
    session.execute(statement, list(rows))


def insert_ignore(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *, key: Iterable[str]
) -> None:
    """Insert ``rows``, leaving any row whose ``key`` already exists untouched."""
    if not rows:
        return
    statement = _insert(session, table).on_conflict_do_nothing(index_elements=list(key))
    session.execute(statement, list(rows))


def insert_tuples(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert plain tuples straight through the driver's ``executemany``.

    Only for columns whose Python values the driver takes as they are (numbers, text, bytes,
    None): it skips SQLAlchemy's per-row type processing, which dominates bulk ingest.
    """
    if not rows:
        return
    connection = session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    preparer = connection.dialect.identifier_preparer
    sql = (
        f"INSERT INTO {preparer.format_table(table)} "
        f"({', '.join(preparer.quote(c) for c in columns)}) "
        f"VALUES ({', '.join([marker] * len(columns))})"
    )
    connection.exec_driver_sql(sql, [tuple(row) for row in rows])


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
    raw = connection.connection.driver_connection
    ensure_sqrt_sqlite3(raw)  # type: ignore[arg-type]


def ensure_sqrt_sqlite3(raw: sqlite3.Connection) -> None:
    """:func:`ensure_sqrt` for a plain :mod:`sqlite3` connection."""
    try:
        raw.execute("SELECT sqrt(4.0)").fetchall()
    except sqlite3.OperationalError:
        raw.create_function("sqrt", 1, _sqrt, deterministic=True)
