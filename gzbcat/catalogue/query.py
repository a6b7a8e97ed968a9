"""Run one read-only SQL statement against the catalogue and format its result.

``gzbcat query`` is for looking, never for changing: the statement runs in a transaction the
backend itself keeps read-only (PostgreSQL ``SET TRANSACTION READ ONLY``, SQLite
``PRAGMA query_only``), on a private connection that is rolled back and closed afterwards, so
a write attempt fails with a clear message on both backends. Only one statement is accepted:
a second one (``SELECT 1; COMMIT; DELETE …``) could otherwise leave the read-only
transaction.

Named parameters use SQLAlchemy's ``:name`` form; their values arrive as text and are passed
as integers or floats where they read as such, else as text.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, StatementError

from gzbcat.db.dialect import is_write_refusal, read_only_connection

__all__ = [
    "FORMATS",
    "QueryError",
    "QueryResult",
    "format_result",
    "load_statement",
    "parse_params",
    "run_query",
    "single_statement",
]

Format = Literal["table", "csv", "json"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json")
_INT = re.compile(r"^[+-]?\d+$")


class QueryError(ValueError):
    """The statement could not run; the message says why (and nothing was changed)."""


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of a query, values as the driver returned them."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


def load_statement(sql_or_file: str) -> str:
    """The SQL text: the contents of ``sql_or_file`` if it names a ``.sql`` file, else itself."""
    candidate = sql_or_file.strip()
    if candidate.lower().endswith(".sql") and "\n" not in candidate:
        path = Path(candidate)
        if not path.is_file():
            raise QueryError(f"{path}: no such SQL file")
        return path.read_text(encoding="utf-8")
    return sql_or_file


def parse_params(pairs: list[str] | None) -> dict[str, Any]:
    """``["NAME=VALUE", …]`` → a parameter dict (ints and floats recognised)."""
    params: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise QueryError(f"--param must be NAME=VALUE, not {pair!r}")
        if _INT.match(value.strip()):
            params[name] = int(value)
        else:
            try:
                number = float(value)
            except ValueError:
                params[name] = value
            else:
                params[name] = number if math.isfinite(number) else value
    return params


def single_statement(sql: str) -> str:
    """``sql`` without trailing semicolons; :class:`QueryError` if it holds two statements.

    Quoted strings and identifiers, ``--`` and ``/* */`` comments are skipped, so a ``;``
    inside them does not count.
    """
    i, n = 0, len(sql)
    end = None  # position of the first statement-ending ';'
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            close = sql.find(ch, i + 1)
            while close != -1 and close + 1 < n and sql[close + 1] == ch:  # '' escapes
                close = sql.find(ch, close + 2)
            i = n if close == -1 else close + 1
            continue
        if sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = n if newline == -1 else newline + 1
            continue
        if sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            i = n if close == -1 else close + 2
            continue
        if ch == ";":
            if end is None:
                end = i
        elif not ch.isspace() and end is not None:
            raise QueryError("gzbcat query runs one statement at a time; this holds several")
        i += 1
    statement = sql if end is None else sql[:end]
    if not _strip_comments(statement).strip():
        raise QueryError("the statement is empty")
    return statement


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL)


def run_query(engine: Engine, sql: str, params: dict[str, Any] | None = None) -> QueryResult:
    """Run one statement read-only and return its rows.

    Parameters
    ----------
    engine
        The gzbcat database.
    sql
        One SQL statement (a trailing ``;`` is fine), with ``:name`` parameters.
    params
        Values of the ``:name`` parameters.

    Raises
    ------
    QueryError
        Several statements, a write attempt, a missing parameter, or an SQL error (with the
        backend's message). Nothing is ever committed.
    """
    statement = single_statement(sql)
    with read_only_connection(engine) as connection:
        try:
            result = connection.execute(text(statement), params or {})
        except StatementError as error:
            if isinstance(error, DBAPIError) and is_write_refusal(error):
                raise QueryError(
                    "gzbcat query is read-only: the statement tried to change the database "
                    f"({_first_line(error.orig)})"
                ) from None
            raise QueryError(_first_line(getattr(error, "orig", None) or error)) from None
        if not result.returns_rows:
            return QueryResult(columns=[], rows=[])
        columns = list(result.keys())
        rows = [tuple(row) for row in result]
    return QueryResult(columns=columns, rows=rows)


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _plain(value: Any) -> Any:
    """A value JSON and CSV can carry: NaN → None, Decimal → float, dates → ISO text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return f"<{len(bytes(value))} bytes>"
    return value


def _text(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_result(result: QueryResult, fmt: Format = "table") -> str:
    """The result as an aligned text table, CSV (NULL = empty) or a JSON list of objects."""
    if fmt == "json":
        records = [
            {c: _plain(v) for c, v in zip(result.columns, row, strict=True)} for row in result.rows
        ]
        return json.dumps(records, indent=2, ensure_ascii=False)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow(["" if _plain(v) is None else _plain(v) for v in row])
        return buffer.getvalue().rstrip("\n")
    if fmt != "table":
        raise QueryError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    cells = [[_text(v) for v in row] for row in result.rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(result.columns)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += [
        "  ".join(
            v.rjust(w) if _is_number(v) else v.ljust(w) for v, w in zip(row, widths, strict=True)
        )
        for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
