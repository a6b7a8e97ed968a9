"""Import an external survey table (FITS, VOTable, ECSV, CSV) into ``ext_<name>``.

The file is read with astropy, each column gets an SQL type, and the rows are inserted in
chunks into a fresh ``ext_<name>`` table that is registered in ``external_tables``. Everything
happens in one transaction: a re-import replaces the old table (and forgets its cross-matches,
which referred to the old rows) or, if anything fails, leaves the database as it was.

Types
-----
- integer columns → ``BIGINT`` (``INTEGER`` for 8–32-bit ones), inserted as Python ints, so
  64-bit ids such as ``dr7objid`` 587741421632356667 are exact (astropy's CSV reader parses
  them as int64, never through float);
- a float column whose non-empty values are all whole numbers below 2**31 in magnitude (the
  Hart et al. 2017 CSV writes ``NSAID``, ``RUN``, ``FIELD`` … as ``417673.0``) →
  ``BIGINT``, so that joins with integer ids are exact; larger whole numbers (stellar masses
  written as ``23059214000.0``) stay floats, and so do the ``--ra``/``--dec`` columns;
- other floats → double precision; NaN and masked values → NULL;
- booleans → ``BOOLEAN``; strings → ``TEXT``; empty (masked) cells → NULL;
- columns with more than one value per row (FITS vector columns) are skipped and reported.

Sentinels such as the ``-999`` of ``psi_sparcfire`` are kept as they are: they are the source
table's convention, documented with it; queries use ``NULLIF(column, -999)``.

Column names are lower-cased, and characters other than letters, digits and ``_`` become
``_`` (an empty name, like the CSV's unnamed index column, becomes ``col0`` as astropy names
it), so that SQL can name them without quotes on both backends. ``row_index`` (0-based row in
the file) is added as the primary key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    delete,
    inspect,
    select,
)
from sqlalchemy.types import TypeEngine

from gzbcat.db import schema
from gzbcat.db.dialect import upsert
from gzbcat.db.engine import session_scope
from gzbcat.db.sandbox import grant_reader_select

__all__ = [
    "ROW_INDEX",
    "ExternalTableError",
    "ImportSummary",
    "RegisteredTable",
    "ext_table_name",
    "import_table",
    "read_table",
    "registered_table",
]

ROW_INDEX = "row_index"
"""The 0-based row number in the source file; primary key of every ``ext_<name>`` table."""

CHUNK_ROWS = 5000
"""Rows per INSERT batch: big enough to be fast, small enough to bound memory per batch."""

MAX_INT_FROM_FLOAT = 2**31
"""A float column becomes BIGINT only if its whole-number values stay below this magnitude.

Ids, run, camcol and field numbers do; stellar masses written as ``23059214000.0`` do not,
and stay floats, so that ``mass_a / mass_b`` is not an integer division in SQL.
"""

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,54}$")
_FORMATS = {
    ".fits": "fits",
    ".fit": "fits",
    ".fts": "fits",
    ".fits.gz": "fits",
    ".vot": "votable",
    ".votable": "votable",
    ".xml": "votable",
    ".ecsv": "ascii.ecsv",
    ".csv": "ascii.csv",
    ".csv.gz": "ascii.csv",
}


class ExternalTableError(ValueError):
    """The file or the options cannot be imported; nothing was written."""


@dataclass
class ImportSummary:
    """What an import did."""

    name: str
    table: str
    source_file: str
    n_rows: int
    n_columns: int
    replaced: bool
    crossmatches_dropped: int = 0
    integer_from_float: list[str] = field(default_factory=list)
    skipped_columns: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    """SQL column name → its source column name, for every imported column."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def ext_table_name(name: str) -> str:
    """``ext_<name>``: the SQL table holding the rows of external table ``name``."""
    return f"ext_{name}"


def _format_of(path: Path) -> str:
    lower = path.name.lower()
    for suffix, astropy_format in sorted(_FORMATS.items(), key=lambda kv: -len(kv[0])):
        if lower.endswith(suffix):
            return astropy_format
    known = ", ".join(sorted(_FORMATS))
    raise ExternalTableError(f"{path}: unknown table format (known extensions: {known})")


def read_table(path: Path) -> Any:
    """Read ``path`` with astropy, choosing the reader by extension.

    Returns an ``astropy.table.Table``; errors name the file.
    """
    from astropy.table import Table

    path = Path(path)
    astropy_format = _format_of(path)
    if not path.is_file():
        raise ExternalTableError(f"{path}: no such file")
    try:
        return Table.read(path, format=astropy_format)
    except Exception as error:  # astropy raises many kinds; the message is what matters
        raise ExternalTableError(f"{path}: cannot read as {astropy_format}: {error}") from None


def _sql_name(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_]", "_", name.strip().lower())
    if not cleaned:
        cleaned = "col0"
    if cleaned[0].isdigit():
        cleaned = f"c{cleaned}"
    return cleaned


def _is_whole(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return bool(
        finite.size
        and np.all(np.abs(finite) < MAX_INT_FROM_FLOAT)
        and np.all(finite == np.round(finite))
    )


@dataclass
class _Plan:
    """How one source column becomes one SQL column."""

    source: str
    sql_name: str
    sql_type: TypeEngine[Any]
    values: list[Any]


def _python_values(column: Any, kind: str) -> list[Any]:
    """The column as Python values (None for masked and NaN), of the SQL type's kind."""
    data = np.asarray(getattr(column, "value", column))
    mask = np.ma.getmaskarray(column) if hasattr(column, "mask") else np.zeros(len(data), bool)
    if kind == "float":
        data = data.astype(np.float64)
        mask = mask | ~np.isfinite(data)
        return [None if m else float(v) for v, m in zip(data.tolist(), mask, strict=True)]
    if kind == "int_from_float":
        data = data.astype(np.float64)
        mask = mask | ~np.isfinite(data)
        return [None if m else int(v) for v, m in zip(data.tolist(), mask, strict=True)]
    if kind == "int":
        return [None if m else int(v) for v, m in zip(data.tolist(), mask, strict=True)]
    if kind == "bool":
        return [None if m else bool(v) for v, m in zip(data.tolist(), mask, strict=True)]
    out = []
    for v, m in zip(data.tolist(), mask, strict=True):
        if m:
            out.append(None)
        elif isinstance(v, bytes):
            out.append(v.decode("utf-8", errors="replace"))
        else:
            out.append(str(v))
    return out


def _plan_columns(table: Any, summary: ImportSummary, keep_float: set[str]) -> list[_Plan]:
    """SQL name, type and values per column; ``keep_float`` (SQL names) never become BIGINT."""
    plans: list[_Plan] = []
    seen: dict[str, str] = {}
    for source in table.colnames:
        column = table[source]
        data = np.asarray(getattr(column, "value", column))
        if data.ndim != 1 or data.dtype.kind not in "biufSU":
            summary.skipped_columns.append(source)
            continue
        sql_name = _sql_name(source)
        if sql_name == ROW_INDEX:
            raise ExternalTableError(
                f"column {source!r} would be named {ROW_INDEX!r}, which gzbcat adds itself"
            )
        if sql_name in seen:
            raise ExternalTableError(
                f"columns {seen[sql_name]!r} and {source!r} both become {sql_name!r} in SQL"
            )
        seen[sql_name] = source
        kind_char = data.dtype.kind
        sql_type: TypeEngine[Any]
        if kind_char == "b":
            kind, sql_type = "bool", Boolean()
        elif kind_char in "iu":
            if kind_char == "u" and data.dtype.itemsize == 8 and data.size and data.max() >= 2**63:
                raise ExternalTableError(f"column {source!r} holds integers beyond 64 bits")
            kind = "int"
            sql_type = (
                Integer()
                if data.dtype.itemsize < 4 or (kind_char == "i" and data.dtype.itemsize == 4)
                else BigInteger()
            )
        elif kind_char == "f":
            unmasked = data[~np.ma.getmaskarray(column)] if hasattr(column, "mask") else data
            if sql_name not in keep_float and _is_whole(unmasked.astype(np.float64)):
                kind, sql_type = "int_from_float", BigInteger()
                summary.integer_from_float.append(sql_name)
            else:
                kind, sql_type = "float", Float()
        else:
            kind, sql_type = "str", Text()
        plans.append(_Plan(source, sql_name, sql_type, _python_values(column, kind)))
    return plans


def _resolve(name: str | None, columns: dict[str, str], what: str) -> str | None:
    """The SQL name of a column given by its name in the file (or its SQL name)."""
    if name is None:
        return None
    if name in columns.values():
        return next(sql for sql, source in columns.items() if source == name)
    if _sql_name(name) in columns:
        return _sql_name(name)
    raise ExternalTableError(
        f"{what} column {name!r} is not in the table (columns: {', '.join(columns.values())})"
    )


def _gzbcat_names() -> set[str]:
    return set(schema.Base.metadata.tables) | {"catalogue", "alembic_version"}


def _index_name(table_name: str, columns: Sequence[str]) -> str:
    name = f"ix_{table_name}_{'_'.join(columns)}"
    if len(name) > 60:  # PostgreSQL truncates identifiers at 63 bytes
        import hashlib

        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[:51]}_{digest}"
    return name


def import_table(
    engine: Engine,
    path: Path,
    name: str,
    *,
    ra: str | None = None,
    dec: str | None = None,
    keys: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import the table in ``path`` as ``ext_<name>`` and register it.

    Parameters
    ----------
    engine
        The gzbcat database (schema at head).
    path
        A FITS, VOTable, ECSV or CSV file; the extension picks the reader.
    name
        Short name: lower-case letters, digits and ``_``, starting with a letter. The rows go
        to ``ext_<name>``; ``gzbcat crossmatch`` and ``crossmatches.table_name`` use ``name``.
    ra, dec
        Columns with the J2000 position in degrees, needed for ``gzbcat crossmatch``; both
        or neither.
    keys
        Columns that identify a row (e.g. ``dr7objid``); they are indexed, and the first
        one's value (as text) becomes ``crossmatches.row_key``.
    progress
        Called with the number of rows after each inserted chunk.

    Returns
    -------
    ImportSummary
        Rows and columns written, columns stored as integers although the file has floats,
        columns skipped, and whether an earlier import was replaced.

    Raises
    ------
    ExternalTableError
        Unknown format, unreadable file, a named column that is not in the file, a bad or
        clashing name. The database is unchanged.
    """
    path = Path(path)
    if not _NAME.match(name):
        raise ExternalTableError(
            f"table name {name!r} must be lower-case letters, digits and '_', "
            "starting with a letter, at most 55 characters"
        )
    table_name = ext_table_name(name)
    if name in _gzbcat_names() or table_name in _gzbcat_names():
        raise ExternalTableError(f"{name!r} is the name of a gzbcat table: choose another")
    if (ra is None) != (dec is None):
        raise ExternalTableError("give both --ra and --dec, or neither")
    source = read_table(path)
    summary = ImportSummary(
        name=name,
        table=table_name,
        source_file=str(path.resolve()),
        n_rows=len(source),
        n_columns=0,
        replaced=False,
    )
    positions = {_sql_name(c) for c in (ra, dec) if c is not None}
    plans = _plan_columns(source, summary, positions)
    columns = {plan.sql_name: plan.source for plan in plans}
    summary.columns = columns
    summary.n_columns = len(plans)
    ra_sql = _resolve(ra, columns, "--ra")
    dec_sql = _resolve(dec, columns, "--dec")
    key_sql = [_resolve(key, columns, "--key") for key in keys]
    for what, column in (("--ra", ra_sql), ("--dec", dec_sql)):
        plan = next((p for p in plans if p.sql_name == column), None)
        if plan is not None and not isinstance(plan.sql_type, Float | Integer | BigInteger):
            raise ExternalTableError(f"{what} column {plan.source!r} is not numeric")

    metadata = MetaData()
    table = Table(
        table_name,
        metadata,
        Column(ROW_INDEX, BigInteger, primary_key=True, autoincrement=False),
        *(Column(plan.sql_name, plan.sql_type) for plan in plans),
    )
    for key in dict.fromkeys(key_sql):
        assert key is not None
        Index(_index_name(table_name, [key]), table.c[key])
    if ra_sql and dec_sql:
        Index(_index_name(table_name, [dec_sql, ra_sql]), table.c[dec_sql], table.c[ra_sql])

    with session_scope(engine, write=True) as session:
        connection = session.connection()
        registered = session.get(schema.ExternalTable, name)
        exists = inspect(connection).has_table(table_name)
        if exists and registered is None:
            raise ExternalTableError(
                f"a table {table_name!r} exists but was not imported by gzbcat: choose another name"
            )
        if registered is not None:
            summary.replaced = True
            result = session.execute(
                delete(schema.Crossmatch).where(schema.Crossmatch.table_name == name)
            )
            summary.crossmatches_dropped = result.rowcount or 0
        if exists:
            Table(table_name, MetaData()).drop(connection)
        table.create(connection)
        grant_reader_select(connection, [table_name])  # gzbcat query may read it
        names = [ROW_INDEX, *(plan.sql_name for plan in plans)]
        for start in range(0, len(source), CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, len(source))
            rows = [
                dict(zip(names, (i, *(plan.values[i] for plan in plans)), strict=True))
                for i in range(start, stop)
            ]
            connection.execute(table.insert(), rows)
            if progress:
                progress(stop - start)
        upsert(
            session,
            schema.ExternalTable.__table__,  # type: ignore[arg-type]
            [
                {
                    "name": name,
                    "source_file": summary.source_file,
                    "n_rows": len(source),
                    "ra_column": ra_sql,
                    "dec_column": dec_sql,
                    "key_columns": json.dumps(key_sql),
                    "imported_at": datetime.now(UTC),
                }
            ],
            key=["name"],
        )
    return summary


@dataclass(frozen=True)
class RegisteredTable:
    """An imported table as ``external_tables`` records it."""

    name: str
    table: str
    n_rows: int
    ra_column: str | None
    dec_column: str | None
    key_columns: list[str]


def registered_table(engine: Engine, name: str) -> RegisteredTable:
    """The registration of external table ``name``; :class:`ExternalTableError` if none."""
    with session_scope(engine) as session:
        row = session.get(schema.ExternalTable, name)
        if row is None:
            known = sorted(session.scalars(select(schema.ExternalTable.name)))
            raise ExternalTableError(
                f"no external table {name!r} (imported: {', '.join(known) or 'none'}); "
                "import it with `gzbcat import-table FILE --name NAME`"
            )
        return RegisteredTable(
            name=row.name,
            table=ext_table_name(row.name),
            n_rows=int(row.n_rows),
            ra_column=row.ra_column,
            dec_column=row.dec_column,
            key_columns=list(json.loads(row.key_columns or "[]")),
        )
