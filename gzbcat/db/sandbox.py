"""The sandbox of ``gzbcat query``: one statement that can only read, on both backends.

A user's statement is not trusted: it may try to write, to reach the server's files or
programs, to smuggle a second statement past the first, or to run for ever. Each backend is
closed by its own means, never by scanning the statement's text.

SQLite
    The file is opened read-only (URI ``mode=ro``, never created) with ``PRAGMA query_only``,
    extension loading off, and an authorizer that lets a statement read tables and call
    functions and nothing else: ``ATTACH`` / ``DETACH`` (and ``VACUUM INTO``, which attaches
    its output), writes, ``load_extension()`` and every ``PRAGMA`` outside a short list of
    read-only ones are refused. :mod:`sqlite3` refuses a second statement itself. A progress
    handler interrupts the statement when its time is up.

PostgreSQL
    ``gzbcat init`` creates :data:`READER_ROLE` (no login, no superuser) and grants it
    ``USAGE`` on the catalogue's schema and ``SELECT`` on every table and view in it;
    ``gzbcat import-table`` grants it each ``ext_`` table. A query runs in a ``READ ONLY``
    transaction after ``SET LOCAL ROLE`` to that role, with ``SET LOCAL statement_timeout``.
    The statement is parsed alone with the extended protocol (a Parse message), which refuses
    several commands, and only a statement that returns rows is run. It runs inside a
    ``SECURITY DEFINER`` function owned by the reader role (a temporary one, created for the
    session), because ``SET ROLE`` alone is not a boundary when the login is a superuser:
    ``set_config('role', 'postgres', true)`` inside the statement would switch back, and a
    ``DO`` block or ``query_to_xml()`` would then run as the superuser. Within a
    security-definer function PostgreSQL refuses to change ``role`` or
    ``session_authorization``, so the statement stays the reader to its end.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.pool import NullPool

from gzbcat.db.dialect import ensure_sqrt_sqlite3
from gzbcat.db.engine import SQLITE_BUSY_TIMEOUT_MS, make_engine

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "READER_ROLE",
    "SandboxError",
    "SandboxResult",
    "ensure_reader_role",
    "grant_reader_select",
    "run_read_only",
]

READER_ROLE = "gzbcat_reader"
"""The PostgreSQL role ``gzbcat query`` runs as: one per server, shared by every catalogue on
it (each grants it only its own schema), ``NOLOGIN``, reading only what it is granted."""

DEFAULT_TIMEOUT_SECONDS = 60.0
"""How long a query may run before it is cancelled, unless the caller says otherwise."""

Reason = Literal["write", "refused", "several", "timeout", "setup", "error"]

_SQLITE_PROGRESS_OPS = 10_000
"""SQLite virtual-machine steps between two looks at the clock (each look is a Python call)."""

_PRIVILEGED_ROLES = ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program")

_FUNCTION = "pg_temp.gzbcat_read_only"
_CREATE_FUNCTION = f"""
CREATE FUNCTION {_FUNCTION}(statement text) RETURNS SETOF record
LANGUAGE plpgsql SECURITY DEFINER AS $gzbcat$
BEGIN
    RETURN QUERY EXECUTE statement;
END
$gzbcat$"""


class SandboxError(Exception):
    """The statement was refused or failed; ``str()`` is a one-line reason for a user.

    ``reason`` says which: ``write`` (tried to change the database), ``refused`` (tried
    something else outside the sandbox), ``several`` (more than one statement), ``timeout``,
    ``setup`` (the sandbox itself is not ready, e.g. the reader role is missing) or ``error``
    (an ordinary SQL error). Nothing was changed in any case.
    """

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SandboxResult:
    """Column names and rows, values as the driver returned them."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


def run_read_only(
    engine: Engine,
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    timeout_seconds: float | None = DEFAULT_TIMEOUT_SECONDS,
) -> SandboxResult:
    """Run one statement of ``sql`` (``:name`` parameters) in the sandbox; its rows.

    A private connection is opened and closed, so nothing the statement does to its session
    outlives it. ``timeout_seconds`` of None or 0 means no limit.

    Raises
    ------
    SandboxError
        Refused, failed or cancelled; the database is unchanged.
    """
    name = engine.dialect.name
    statement, values = _driver_statement(engine, sql, params or {})
    limit = timeout_seconds if timeout_seconds and timeout_seconds > 0 else None
    if name == "sqlite":
        return _run_sqlite(engine, statement, values, limit)
    if name == "postgresql":
        return _run_postgresql(engine, statement, values, limit)
    raise NotImplementedError(f"gzbcat supports SQLite and PostgreSQL, not {name}")


def _driver_statement(engine: Engine, sql: str, params: Mapping[str, Any]) -> tuple[str, Any]:
    """``sql`` in the driver's parameter style, with the values in the driver's order."""
    compiled = text(sql).compile(dialect=engine.dialect)
    missing = [name for name in compiled.binds if name not in params]
    if missing:
        raise SandboxError(
            "error",
            "no value for the parameter "
            + ", ".join(f":{name}" for name in missing)
            + " (gzbcat query --param NAME=VALUE gives one)",
        )
    try:
        values = compiled.construct_params(dict(params))
    except InvalidRequestError as error:
        raise SandboxError("error", _first_line(error)) from None
    if compiled.positiontup is not None:
        return compiled.string, tuple(values[key] for key in compiled.positiontup)
    return compiled.string, values


def _first_line(error: object) -> str:
    message = str(error).strip()
    return message.splitlines()[0] if message else type(error).__name__


def _timeout_message(limit: float) -> str:
    return f"the statement was cancelled after {limit:g} s (gzbcat query --timeout sets the limit)"


# -- SQLite -----------------------------------------------------------------------------------

_SQLITE_READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE}

_SQLITE_PRAGMAS_ON_A_NAME = {
    "foreign_key_check",
    "foreign_key_list",
    "index_info",
    "index_list",
    "index_xinfo",
    "table_info",
    "table_xinfo",
}
"""Pragmas that describe the table or index they name: allowed with their argument."""

_SQLITE_PRAGMAS_READ = _SQLITE_PRAGMAS_ON_A_NAME | {
    "application_id",
    "collation_list",
    "compile_options",
    "data_version",
    "database_list",
    "encoding",
    "foreign_keys",
    "freelist_count",
    "function_list",
    "integrity_check",
    "journal_mode",
    "module_list",
    "page_count",
    "page_size",
    "pragma_list",
    "query_only",
    "quick_check",
    "schema_version",
    "table_list",
    "user_version",
}
"""Pragmas that only report, allowed without an argument (with one, most of them set)."""


_SQLITE_WRITE_ACTIONS = (
    "ALTER_TABLE", "ANALYZE", "CREATE_INDEX", "CREATE_TABLE", "CREATE_TEMP_INDEX",
    "CREATE_TEMP_TABLE", "CREATE_TEMP_TRIGGER", "CREATE_TEMP_VIEW", "CREATE_TRIGGER",
    "CREATE_VIEW", "CREATE_VTABLE", "DELETE", "DROP_INDEX", "DROP_TABLE", "DROP_TEMP_INDEX",
    "DROP_TEMP_TABLE", "DROP_TEMP_TRIGGER", "DROP_TEMP_VIEW", "DROP_TRIGGER", "DROP_VIEW",
    "DROP_VTABLE", "INSERT", "REINDEX", "SAVEPOINT", "TRANSACTION", "UPDATE",
)  # fmt: skip
_SQLITE_ACTIONS = {
    getattr(sqlite3, f"SQLITE_{name}"): name.replace("_", " ")
    for name in _SQLITE_WRITE_ACTIONS
    if hasattr(sqlite3, f"SQLITE_{name}")
}
"""SQLite's authorizer action codes that change something, by name, for messages."""


def _sqlite_authorizer(refusals: list[str]) -> Callable[..., int]:
    """An authorizer that allows reading only and notes what it refused, for the message."""

    def authorize(action: int, arg1: str | None, arg2: str | None, *_: object) -> int:
        if action in _SQLITE_READ_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() == "load_extension":
                refusals.append("load_extension(): gzbcat query loads no extensions")
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            pragma = (arg1 or "").lower()
            if pragma in _SQLITE_PRAGMAS_ON_A_NAME or (
                pragma in _SQLITE_PRAGMAS_READ and arg2 is None
            ):
                return sqlite3.SQLITE_OK
            shown = f"PRAGMA {pragma}" + (f" = {arg2}" if arg2 is not None else "")
            refusals.append(f"{shown}: gzbcat query allows only pragmas that report")
            return sqlite3.SQLITE_DENY
        if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
            verb = "ATTACH" if action == sqlite3.SQLITE_ATTACH else "DETACH"
            refusals.append(f"{verb} {arg1 or ''}: gzbcat query reads this catalogue only")
            return sqlite3.SQLITE_DENY
        what = _SQLITE_ACTIONS.get(action, f"action {action}")
        refusals.append(f"write: {what}" + (f" ({arg1})" if arg1 else ""))
        return sqlite3.SQLITE_DENY

    return authorize


def _sqlite_target(engine: Engine) -> str:
    database = engine.url.database
    if not database or database == ":memory:":
        return "file::memory:"
    path = Path(database).expanduser().resolve()
    if not path.is_file():
        raise SandboxError("setup", f"no database at {path} (gzbcat init creates one)")
    return path.as_uri() + "?mode=ro"


def _run_sqlite(engine: Engine, statement: str, values: Any, limit: float | None) -> SandboxResult:
    target = _sqlite_target(engine)
    try:
        busy_seconds = min(limit or SQLITE_BUSY_TIMEOUT_MS / 1000, SQLITE_BUSY_TIMEOUT_MS / 1000)
        connection = sqlite3.connect(target, uri=True, isolation_level=None, timeout=busy_seconds)
    except sqlite3.Error as error:
        raise SandboxError("setup", f"cannot open {target}: {_first_line(error)}") from None
    try:
        connection.execute("PRAGMA query_only=ON")
        ensure_sqrt_sqlite3(connection)
        if hasattr(connection, "enable_load_extension"):
            connection.enable_load_extension(False)
        refusals: list[str] = []
        connection.set_authorizer(_sqlite_authorizer(refusals))
        deadline = time.monotonic() + limit if limit is not None else None
        if deadline is not None:
            connection.set_progress_handler(
                lambda: time.monotonic() > deadline, _SQLITE_PROGRESS_OPS
            )
        try:
            cursor = connection.execute(statement, values)
            columns = [d[0] for d in cursor.description] if cursor.description else []
            rows = [tuple(row) for row in cursor.fetchall()]
        except sqlite3.Error as error:
            timed_out = deadline is not None and time.monotonic() > deadline
            raise _sqlite_error(error, refusals, limit if timed_out else None) from None
        return SandboxResult(columns=columns, rows=rows)
    finally:
        connection.close()


def _sqlite_error(error: sqlite3.Error, refusals: list[str], limit: float | None) -> SandboxError:
    message = _first_line(error)
    if limit is not None and getattr(error, "sqlite_errorname", "") == "SQLITE_INTERRUPT":
        return SandboxError("timeout", _timeout_message(limit))
    if "one statement at a time" in message:
        return SandboxError("several", _SEVERAL)
    if refusals and not refusals[0].startswith("write: "):
        return SandboxError("refused", f"refused {refusals[0]}")
    if refusals:  # name the user's object, not SQLite's own schema table
        named = [r for r in refusals if "_master)" not in r and "_schema)" not in r]
        what = named[0].removeprefix("write: ") if named else "a change to the schema"
        return SandboxError("write", f"{_READ_ONLY}: {what}")
    if "readonly database" in message.lower():
        return SandboxError("write", f"{_READ_ONLY} ({message})")
    return SandboxError("error", message)


_SEVERAL = "gzbcat query runs one statement at a time; this holds several"
_READ_ONLY = "gzbcat query is read-only: the statement tried to change the database"


# -- PostgreSQL -------------------------------------------------------------------------------


def _run_postgresql(
    engine: Engine, statement: str, values: Any, limit: float | None
) -> SandboxResult:
    import psycopg

    private = make_engine(engine.url.render_as_string(hide_password=False), poolclass=NullPool)
    try:
        wrapper = private.raw_connection()
        connection: psycopg.Connection = wrapper.driver_connection  # type: ignore[assignment]
        try:
            # The driver writes the parameters in as literals: the statement then travels
            # whole, as the one argument of the reader's function.
            statement = psycopg.ClientCursor(connection).mogrify(statement, values)
            with connection.cursor() as cursor:
                try:
                    _prepare_reader(connection, cursor)
                except psycopg.Error as error:
                    raise SandboxError(
                        "setup",
                        f"gzbcat query could not take its read-only role {READER_ROLE} "
                        f"({_message(error)}): `gzbcat init` by a login that may create roles "
                        "sets it up",
                    ) from None
                try:
                    return _run_as_reader(connection, cursor, statement, limit)
                except psycopg.Error as error:
                    raise _postgresql_error(error, limit) from None
        finally:
            with contextlib.suppress(psycopg.Error):  # closed next anyway
                connection.rollback()
            wrapper.close()
    finally:
        private.dispose()


def _prepare_reader(connection: Any, cursor: Any) -> None:
    """Check the reader role, then create the session's function owned by it (committed)."""
    cursor.execute(
        "SELECT r.rolsuper, EXISTS (SELECT FROM pg_roles AS p WHERE p.rolname = ANY(%s) "
        "AND pg_has_role(r.oid, p.oid, 'USAGE')), "
        "COALESCE(has_table_privilege(r.oid, to_regclass('alembic_version'), 'SELECT'), true) "
        "FROM pg_roles AS r WHERE r.rolname = %s",
        [list(_PRIVILEGED_ROLES), READER_ROLE],
    )
    row = cursor.fetchone()
    if row is None:
        raise SandboxError(
            "setup",
            f"the read-only role {READER_ROLE} does not exist on this server: run `gzbcat init` "
            "as a user who may create roles, or ask the administrator for "
            f"`CREATE ROLE {READER_ROLE} NOLOGIN`",
        )
    if row[0] or row[1]:
        raise SandboxError(
            "setup",
            f"the role {READER_ROLE} may do more than read (superuser, or a member of "
            f"{', '.join(_PRIVILEGED_ROLES)}): gzbcat query will not run as it",
        )
    if not row[2]:
        raise SandboxError(
            "setup",
            f"this catalogue has not let the role {READER_ROLE} read it yet: run `gzbcat init`",
        )
    cursor.execute(f"SET LOCAL ROLE {READER_ROLE}")
    cursor.execute(_CREATE_FUNCTION)
    connection.commit()


def _run_as_reader(connection: Any, cursor: Any, statement: str, limit: float | None) -> Any:
    cursor.execute("SET TRANSACTION READ ONLY")
    cursor.execute(f"SET LOCAL ROLE {READER_ROLE}")
    cursor.execute(f"SET LOCAL statement_timeout = {round(limit * 1000) if limit else 0}")
    names, oids, modifiers = _describe(connection, statement)
    if not names:
        raise SandboxError(
            "write",
            "gzbcat query is read-only: it runs statements that return rows (SELECT, WITH, "
            "VALUES, TABLE, EXPLAIN, SHOW), and this one returns none",
        )
    cursor.execute(
        "SELECT format_type(u.oid, u.modifier), t.typtype = 'p' "
        "FROM unnest(%s::oid[], %s::int[]) WITH ORDINALITY AS u(oid, modifier, position) "
        "JOIN pg_type AS t ON t.oid = u.oid ORDER BY u.position",
        [oids, modifiers],
    )
    types = cursor.fetchall()
    for position, (name, (type_name, pseudo)) in enumerate(zip(names, types, strict=True), 1):
        if pseudo:
            raise SandboxError(
                "error",
                f"column {position} ({name}) has type {type_name}, which gzbcat query cannot "
                f"return: cast it, e.g. to text with ::text",
            )
    definition = ", ".join(f"c{i} {type_name}" for i, (type_name, _) in enumerate(types))
    cursor.execute(f"SELECT * FROM {_FUNCTION}(%s) AS result({definition})", [statement])
    return SandboxResult(columns=names, rows=[tuple(row) for row in cursor.fetchall()])


def _describe(connection: Any, statement: str) -> tuple[list[str], list[int], list[int]]:
    """Result column names, type oids and modifiers of ``statement``, parsed but not run.

    The Parse message of the extended protocol takes exactly one statement: PostgreSQL
    itself refuses a second one, however it is quoted.
    """
    import psycopg
    from psycopg import pq

    encoding = connection.info.encoding
    pgconn = connection.pgconn
    prepared = pgconn.prepare(b"", statement.encode(encoding))
    if prepared.status != pq.ExecStatus.COMMAND_OK:
        raise psycopg.errors.error_from_result(prepared, encoding=encoding)
    described = pgconn.describe_prepared(b"")
    if described.status != pq.ExecStatus.COMMAND_OK:
        raise psycopg.errors.error_from_result(described, encoding=encoding)
    names = [(described.fname(i) or b"").decode(encoding) for i in range(described.nfields)]
    oids = [described.ftype(i) for i in range(described.nfields)]
    modifiers = [described.fmod(i) for i in range(described.nfields)]
    return names, oids, modifiers


def _message(error: Any) -> str:
    diag = getattr(error, "diag", None)
    return (diag.message_primary if diag is not None else None) or _first_line(error)


def _postgresql_error(error: Any, limit: float | None) -> SandboxError:
    sqlstate = getattr(error, "sqlstate", None)
    message = _message(error)
    if sqlstate == "57014" and limit is not None:  # query_canceled
        return SandboxError("timeout", _timeout_message(limit))
    if "multiple commands" in message:
        return SandboxError("several", _SEVERAL)
    if sqlstate == "25006":  # read_only_sql_transaction
        return SandboxError("write", f"{_READ_ONLY} ({message})")
    if sqlstate == "42501":  # insufficient_privilege
        return SandboxError("refused", f"refused: gzbcat query may only read ({message})")
    return SandboxError("error", message)


def ensure_reader_role(connection: Connection) -> str | None:
    """Create :data:`READER_ROLE` if missing and let it read this catalogue (PostgreSQL).

    Idempotent: run at the end of every ``gzbcat init`` / :func:`gzbcat.db.engine.upgrade`,
    so a catalogue created before the role existed gets it too. The grants cover the
    current schema (``USAGE``) and every table and view in it (``SELECT``); a login that is
    not a superuser is made a member so that it may ``SET ROLE``. Each step runs in its own
    savepoint. Returns None when all is done, else a note saying what is missing and why
    (typically: no right to create roles or grant membership); ``gzbcat query`` then refuses
    to run and says so too.
    """
    if connection.dialect.name != "postgresql":
        return None
    from sqlalchemy.exc import DBAPIError

    role = READER_ROLE

    def step(what: str, run: Callable[[], None]) -> str | None:
        savepoint = connection.begin_nested()
        try:
            run()
        except (DBAPIError, RuntimeError) as error:
            savepoint.rollback()
            reason = _first_line(getattr(error, "orig", None) or error)
            return f"could not {what} ({reason}); `gzbcat query` is refused until it is done"
        savepoint.commit()
        return None

    def create() -> None:
        connection.exec_driver_sql(
            f"""DO $gzbcat$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
        CREATE ROLE {role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
            NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created meanwhile by another gzbcat init
END
$gzbcat$"""
        )

    def grant() -> None:
        schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
        if schema is None:
            raise RuntimeError("the search_path names no existing schema")
        quoted = connection.dialect.identifier_preparer.quote(schema)
        connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA {quoted} TO {role}")
        connection.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA {quoted} TO {role}")

    def join() -> None:
        member = connection.exec_driver_sql(
            f"SELECT rolsuper OR pg_has_role(current_user, '{role}', 'MEMBER') "
            "FROM pg_roles WHERE rolname = current_user"
        ).scalar()
        if not member:
            connection.exec_driver_sql(f"GRANT {role} TO CURRENT_USER")

    note = step(
        f"create the read-only role {role} (an administrator can: "
        f"CREATE ROLE {role} NOLOGIN; then run gzbcat init again)",
        create,
    )
    if note:
        return note
    return step(f"let the role {role} read this catalogue", grant) or step(
        f"make this login a member of {role} (an administrator can: GRANT {role} TO <login>)",
        join,
    )


def grant_reader_select(connection: Connection, table_names: list[str]) -> None:
    """Let :data:`READER_ROLE` read the tables named (PostgreSQL; a no-op without the role)."""
    if connection.dialect.name != "postgresql" or not table_names:
        return
    exists = connection.exec_driver_sql(
        f"SELECT 1 FROM pg_roles WHERE rolname = '{READER_ROLE}'"
    ).scalar()
    if not exists:
        return
    preparer = connection.dialect.identifier_preparer
    tables = ", ".join(preparer.quote(name) for name in table_names)
    connection.exec_driver_sql(f"GRANT SELECT ON {tables} TO {READER_ROLE}")
