"""Alembic environment for gzbcat.

`gzbcat init` passes an open connection in ``config.attributes["connection"]``; the `alembic`
command line uses ``sqlalchemy.url`` (or ``GZBCAT_DATABASE_URL``). SQLite uses batch mode so
that later revisions can alter tables.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from gzbcat.db.engine import make_engine
from gzbcat.db.schema import Base

config = context.config
target_metadata = Base.metadata


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Imported survey tables (``ext_*``) are data, not schema: migrations leave them alone."""
    return not (type_ == "table" and (name or "").startswith("ext_"))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=_include_name,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = os.environ.get("GZBCAT_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    engine = make_engine(url)
    with engine.begin() as conn:
        _run(conn)


if context.is_offline_mode():
    raise SystemExit("gzbcat migrations run online only: point them at a database")
run_migrations_online()
