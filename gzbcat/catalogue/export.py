"""Export the ``catalogue`` view as an astropy table: FITS, ECSV or CSV by extension.

The table's columns, units, descriptions and types all come from
:data:`gzbcat.catalogue.columns.CATALOGUE_COLUMNS`, the list that also builds the view and
``docs/catalogue.md``. NULL becomes a masked value: NaN for floats and ``TNULLn`` for
integers in FITS, an empty field in ECSV and CSV. Integers are read from the database as
Python ints and stored as int64, so 64-bit ids such as ``dr7objid`` are exact.

Provenance goes into the table's ``meta`` (FITS header keywords, ECSV header): ``ORIGIN``,
``GZBCVER`` (gzbcat version), ``METHOD`` (the science method(s) of the models, spec §13),
``DATE`` (UTC, ISO 8601) and ``NROWS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, select, text

from gzbcat import __version__
from gzbcat.catalogue.columns import CATALOGUE_COLUMNS
from gzbcat.catalogue.view import VIEW_NAME
from gzbcat.db import schema
from gzbcat.db.dialect import ensure_sqrt

__all__ = [
    "EXPORT_FORMATS",
    "ExportError",
    "ExportSummary",
    "ascii_text",
    "catalogue_table",
    "export",
]

EXPORT_FORMATS = {".fits": "fits", ".fit": "fits", ".ecsv": "ascii.ecsv", ".csv": "ascii.csv"}
"""Output extension → astropy writer."""


class ExportError(ValueError):
    """The catalogue cannot be written (unknown extension, unwritable path)."""


@dataclass
class ExportSummary:
    """What an export wrote."""

    path: str
    format: str
    n_rows: int
    n_columns: int
    n_tuned: int
    method: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _methods(connection: Any) -> str:
    """The science methods recorded on the catalogue's models: 'corrected', 'reference', …"""
    kinds = [schema.ModelKind.AGGREGATE, schema.ModelKind.BEST_INDIVIDUAL, schema.ModelKind.TUNED]
    methods = connection.execute(
        select(schema.Model.method)
        .where(schema.Model.kind.in_([k.value for k in kinds]), schema.Model.method.is_not(None))
        .distinct()
    ).scalars()
    return ",".join(sorted(methods)) or "none"


def _column(values: list[Any], dtype: str) -> tuple[np.ndarray, np.ndarray]:
    mask = np.array([v is None for v in values], dtype=bool)
    if dtype == "float64":
        data = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        mask |= ~np.isfinite(data)
    elif dtype == "str":
        data = np.array(["" if v is None else str(v) for v in values], dtype=str)
    else:
        data = np.array([0 if v is None else int(v) for v in values], dtype=dtype)
    return data, mask


def catalogue_table(engine: Engine) -> Any:
    """The ``catalogue`` view as an ``astropy.table.Table`` with units, descriptions, meta.

    Rows are ordered by ``subject_id``. Every column is a ``MaskedColumn`` (NULL = masked).
    """
    from astropy.table import MaskedColumn, Table

    names = [column.name for column in CATALOGUE_COLUMNS]
    with engine.connect() as connection:
        ensure_sqrt(connection)
        rows = connection.execute(
            text(f"SELECT {', '.join(names)} FROM {VIEW_NAME} ORDER BY subject_id")
        ).all()
        method = _methods(connection)
    table = Table()
    by_column = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    for column, values in zip(CATALOGUE_COLUMNS, by_column, strict=True):
        data, mask = _column(list(values), column.dtype)
        # Integers: NULL is written as the type's minimum (FITS TNULLn), a value no id,
        # count, flag or chirality takes.
        fill: Any = np.nan
        if data.dtype.kind == "i":
            fill = np.iinfo(data.dtype).min
        elif data.dtype.kind == "U":
            fill = ""
        table[column.name] = MaskedColumn(
            data, mask=mask, unit=column.unit, description=column.description, fill_value=fill
        )
    table.meta["ORIGIN"] = "gzbcat"
    table.meta["GZBCVER"] = __version__
    table.meta["METHOD"] = method
    table.meta["DATE"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    table.meta["NROWS"] = len(table)
    return table


_ASCII = str.maketrans(
    {
        "σ": "sigma",
        "Σ": "sum",
        "§": "section ",
        "²": "^2",
        "φ": "phi",
        "µ": "u",
        "μ": "u",
        "−": "-",
        "π": "pi",
        "⊗": "(x)",
        "χ": "chi",
        "é": "e",
        "…": "...",
        "″": '"',
        "·": "*",
    }
)


def ascii_text(text: str) -> str:
    """``text`` in printable ASCII, as FITS header values must be (σ → sigma, ² → ^2, …)."""
    return text.translate(_ASCII).encode("ascii", errors="replace").decode("ascii")


def _write_fits(table: Any, path: Path) -> None:
    """FITS with ``TUNITn`` where FITS knows the unit and a ``TCOMMn`` description per column.

    Units FITS cannot name (nanomaggies) are left out of ``TUNITn`` and written into the
    description instead, so that astropy writes without a warning and readers lose nothing.
    FITS headers are ASCII, so the descriptions' Greek letters are spelled out.
    """
    from astropy.io import fits

    table = table.copy(copy_data=False)
    for column in table.itercols():
        column.info.description = ascii_text(column.info.description or "")
        if column.unit is None:
            continue
        try:
            column.unit.to_string(format="fits")
        except ValueError:
            column.info.description = f"{column.info.description} [{column.unit}]"
            column.unit = None
    # astropy keeps units, types and descriptions in its own header block (read back by
    # Table.read); TCOMMn is the convention other FITS readers (TOPCAT, fitsio) show.
    table.write(path, format="fits", overwrite=True)
    with fits.open(path, mode="update") as hdus:
        header = hdus[1].header
        for i, column in enumerate(table.itercols(), start=1):
            after = f"TUNIT{i}" if f"TUNIT{i}" in header else f"TFORM{i}"
            header.set(f"TCOMM{i}", column.info.description, after=after)


def export(engine: Engine, out: Path) -> ExportSummary:
    """Write the catalogue to ``out``; the extension (.fits, .ecsv, .csv) picks the format.

    An existing file is replaced.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        known = ", ".join(EXPORT_FORMATS)
        raise ExportError(f"{out}: unknown output format {suffix or '(none)'!r}; use {known}")
    if not out.parent.is_dir():
        raise ExportError(f"{out}: the folder {out.parent} does not exist")
    table = catalogue_table(engine)
    method = str(table.meta["METHOD"])
    astropy_format = EXPORT_FORMATS[suffix]
    if astropy_format == "fits":
        _write_fits(table, out)
    elif astropy_format == "ascii.csv":
        # CSV carries no header metadata: units and descriptions are in docs/catalogue.md.
        table.meta.clear()
        table.write(out, format=astropy_format, overwrite=True)
    else:
        table.write(out, format=astropy_format, overwrite=True)
    return ExportSummary(
        path=str(out),
        format=astropy_format,
        n_rows=len(table),
        n_columns=len(table.columns),
        n_tuned=int(np.count_nonzero(~table["tuned_model_id"].mask)),
        method=method,
    )
