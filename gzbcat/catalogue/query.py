"""Run one read-only SQL statement against the catalogue and format its result.

``gzbcat query`` is for looking, never for changing, and the statement is not trusted: it runs
in the sandbox of :mod:`gzbcat.db.sandbox` (SQLite: a read-only file with an authorizer;
PostgreSQL: a read-only transaction as a role that can only read), on a private connection
closed afterwards, and is cancelled when it runs past its time limit. The backends themselves
refuse a second statement; nothing here scans the text for one.

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

from sqlalchemy import Engine

from gzbcat.db.sandbox import DEFAULT_TIMEOUT_SECONDS, SandboxError, run_read_only

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "FORMATS",
    "QueryError",
    "QueryResult",
    "format_result",
    "load_statement",
    "parse_params",
    "run_query",
]

Format = Literal["table", "csv", "json"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json")
_INT = re.compile(r"^[+-]?\d+$")


class QueryError(ValueError):
    """The statement could not run; the message says why (and nothing was changed).

    ``reason`` is that of :class:`gzbcat.db.sandbox.SandboxError` (``write``, ``refused``,
    ``several``, ``timeout``, ``setup``, ``error``), or ``usage`` for bad input found before
    the statement reached the database.
    """

    def __init__(self, message: str, reason: str = "usage") -> None:
        super().__init__(message)
        self.reason = reason


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


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL)


def run_query(
    engine: Engine,
    sql: str,
    params: dict[str, Any] | None = None,
    *,
    timeout_seconds: float | None = DEFAULT_TIMEOUT_SECONDS,
) -> QueryResult:
    """Run one statement read-only and return its rows.

    Parameters
    ----------
    engine
        The gzbcat database.
    sql
        One SQL statement (a trailing ``;`` is fine), with ``:name`` parameters.
    params
        Values of the ``:name`` parameters.
    timeout_seconds
        Cancel the statement after this long; None or 0 for no limit.

    Raises
    ------
    QueryError
        Several statements, a write or other refused attempt, a missing parameter, the time
        limit, or an SQL error (with the backend's message). Nothing is ever changed.
    """
    if not _strip_comments(sql).strip().strip(";").strip():
        raise QueryError("the statement is empty")
    try:
        result = run_read_only(engine, sql, params, timeout_seconds=timeout_seconds)
    except SandboxError as error:
        raise QueryError(str(error), error.reason) from None
    return QueryResult(columns=result.columns, rows=result.rows)


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
