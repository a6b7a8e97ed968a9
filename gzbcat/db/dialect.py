"""The one place where SQLite and PostgreSQL differ for gzbcat's writes.

Both backends accept ``INSERT … ON CONFLICT``; only the statement constructor differs.
Row locking for the stage queue (``SKIP LOCKED``) will live here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["insert_ignore", "insert_tuples", "upsert"]


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
