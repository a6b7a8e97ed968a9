"""Engines and sessions, with the SQLite settings gzbcat relies on, and schema upgrades.

SQLite runs with foreign keys on, WAL journaling (readers never block the writer) and a busy
timeout, so several gzbcat processes may share one file. The schema is created and upgraded
only through the Alembic revisions in ``migrations/``; :func:`upgrade` runs them in-process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "DatabaseOpenError",
    "SchemaError",
    "check_schema",
    "current_revision",
    "downgrade",
    "head_revision",
    "make_engine",
    "migrations_dir",
    "open_database",
    "session_scope",
    "upgrade",
]

SQLITE_BUSY_TIMEOUT_MS = 60_000
_WRITE_OPTION = "gzbcat_write_transaction"


class SchemaError(RuntimeError):
    """The database schema is missing or older than this version of gzbcat."""


class DatabaseOpenError(RuntimeError):
    """A database cannot be used: the message names the URL or file and what to do."""


def make_engine(url: str, **kwargs: object) -> Engine:
    """An engine for ``url``; SQLite connections get foreign keys, WAL and a busy timeout."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        # psycopg 3 is the driver gzbcat installs; plain postgresql:// URLs mean it.
        parsed = parsed.set(drivername="postgresql+psycopg")
        url = parsed.render_as_string(hide_password=False)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)  # type: ignore[arg-type]
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)  # type: ignore[arg-type]


CONNECT_WAIT_VARIABLE = "GZBCAT_CONNECT_WAIT"
"""Seconds to keep trying a database server that cannot be reached when a command starts
(default 0: say so at once). Batch jobs set it so that a server restart does not fail them."""


def _connect_wait_seconds() -> float:
    try:
        return max(float(os.environ.get(CONNECT_WAIT_VARIABLE, "0") or 0), 0.0)
    except ValueError:
        return 0.0


def open_database(url: str, *, check: bool = True, wait_seconds: float | None = None) -> Engine:
    """An engine for an existing gzbcat database, tried here so that problems surface here.

    A URL that names no database, a missing driver, an unreachable server or a PostgreSQL
    database that does not exist raise :class:`DatabaseOpenError` with a one-line reason, not
    a driver traceback. A server that cannot be reached is tried again, with backoff, for
    ``wait_seconds`` (default ``$GZBCAT_CONNECT_WAIT``, else 0). ``check`` (everything but
    ``gzbcat init``) also refuses a database whose schema is missing or stale, saying how to
    fix it, and never creates a SQLite file that is not there.
    """
    from sqlalchemy.exc import ArgumentError, DBAPIError

    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise DatabaseOpenError(f"{url!r} is not a database URL ({error})") from None
    shown = parsed.render_as_string(hide_password=True)
    file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if check and file and file != ":memory:" and not Path(file).expanduser().exists():
        raise DatabaseOpenError(
            f"no database at {file} (gzbcat init creates one: gzbcat --db {shown} init)"
        )
    from sqlalchemy.exc import OperationalError

    deadline = time.monotonic() + (
        _connect_wait_seconds() if wait_seconds is None else wait_seconds
    )
    pause = 0.5
    while True:
        engine: Engine | None = None
        try:
            engine = make_engine(url)
            with engine.connect():
                pass
            if check:
                check_schema(engine)
            return engine
        except (ArgumentError, ImportError, OSError, DBAPIError, SchemaError) as error:
            if engine is not None:
                engine.dispose()
            server_away = isinstance(error, OperationalError) and file is None
            remaining = deadline - time.monotonic()
            if not server_away or remaining <= 0:
                raise DatabaseOpenError(_open_failure(shown, error)) from None
            time.sleep(min(pause, remaining))  # a restarting server: try again
            pause = min(2 * pause, 8.0)


def _open_failure(shown: str, error: Exception) -> str:
    """The one line :func:`open_database` says about ``error`` (``shown``: the URL, no password),
    with what to do about it where that is clear."""
    from sqlalchemy.exc import ArgumentError

    if isinstance(error, SchemaError):
        return str(error)
    if isinstance(error, ArgumentError):
        return f"{shown}: {error} ({_URL_FORMS})"
    if isinstance(error, ImportError):
        return f"{shown}: its database driver is not installed ({error}; {_URL_FORMS})"
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return f"cannot open the database {shown}: {reason}{_open_hint(shown, reason)}"


_URL_FORMS = (
    "gzbcat takes sqlite:///relative/file.sqlite, sqlite:////absolute/file.sqlite or "
    "postgresql+psycopg://user@host:port/database"
)


def _open_hint(shown: str, reason: str) -> str:
    """What to do about a database that would not open, from the driver's reason."""
    parsed = make_url(shown)
    if parsed.get_backend_name() == "sqlite":
        folder = Path(parsed.database or ".").expanduser().parent
        return f" (check that the folder {folder} exists and is writable)"
    if "does not exist" in reason and "database" in reason:
        return f" (create it first: createdb {parsed.database}, or name another database)"
    if "role" in reason and "does not exist" in reason:
        return " (name a user the server knows in the URL)"
    if any(word in reason.lower() for word in ("refused", "timeout", "timed out", "resolve")):
        host = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
        return f" (is the server running and listening at {host}?)"
    return ""


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (so that
        # BEGIN is always emitted and savepoints work), then set the pragmas.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        # A transaction that will write takes the write lock up front (IMMEDIATE): a read
        # transaction that later tries to write fails at once (SQLITE_BUSY, no waiting) if
        # another process wrote meanwhile.
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def session_scope(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception.

    ``write`` declares that the transaction will write: on SQLite it then starts with the
    write lock held (``BEGIN IMMEDIATE``), waiting up to the busy timeout for other writers,
    which is what makes several processes safe on one file. PostgreSQL ignores it.
    """
    bind = engine.execution_options(**{_WRITE_OPTION: True}) if write else engine
    factory = sessionmaker(bind, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def migrations_dir() -> Path:
    """The Alembic environment shipped beside the package."""
    path = Path(__file__).resolve().parents[2] / "migrations"
    if not (path / "env.py").is_file():
        raise SchemaError(f"the Alembic environment was not found at {path}")
    return path


def _alembic_config(engine: Engine):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser escaping
    return config


def upgrade(engine: Engine, revision: str = "head") -> list[str]:
    """Create or upgrade the schema to ``revision`` (Alembic, in-process).

    On PostgreSQL it also sets up the read-only role of ``gzbcat query`` and grants it this
    catalogue (:func:`gzbcat.db.sandbox.ensure_reader_role`), each time, so that databases
    created before the role existed, and tables added by later revisions, get it. Returns
    notes for the user: what could not be set up and why (empty when all is well).
    """
    from alembic import command

    from gzbcat.db.sandbox import ensure_reader_role

    config = _alembic_config(engine)
    notes: list[str] = []
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        note = ensure_reader_role(connection)
        if note:
            notes.append(note)
    return notes


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Downgrade the schema to ``revision`` (``base`` drops every gzbcat table)."""
    from alembic import command

    config = _alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(migrations_dir()))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_schema(engine: Engine) -> None:
    """Refuse to work on a database whose schema is missing or stale, and say how to fix it."""
    current = current_revision(engine)
    head = head_revision()
    if current is None:
        raise SchemaError(
            f"{engine.url.render_as_string()} has no gzbcat schema: run `gzbcat init` first"
        )
    if current != head:
        raise SchemaError(
            f"the schema of {engine.url.render_as_string()} is at revision {current}, "
            f"this gzbcat needs {head}: run `gzbcat init` to upgrade it"
        )
