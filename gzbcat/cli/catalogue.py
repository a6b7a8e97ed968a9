"""The catalogue's commands: ``export``, ``query``, ``import-table``, ``crossmatch``.

Thin wrappers: each maps its options onto one function of :mod:`gzbcat.catalogue`, prints
the result and a short summary, and turns a domain error into ``error: …`` on stderr and exit
code 2. The main app adds them with :func:`register`; the database URL comes from
``ctx.obj.db_url``, which the main app's callback sets (``--db`` / ``GZBCAT_DATABASE_URL``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gzbcat.cli.common import fail, open_engine

__all__ = [
    "crossmatch_command",
    "export_command",
    "import_table_command",
    "parse_radius_arcsec",
    "query_command",
    "register",
]

RADIUS_HELP = "Match radius with its unit, e.g. 2arcsec, 0.5arcmin (astropy unit syntax)."


def parse_radius_arcsec(radius: str) -> float:
    """'2arcsec', '2 arcsec', '0.5arcmin', '1e-3deg' → arcseconds; a bare number is arcsec."""
    import astropy.units as u

    try:
        quantity = u.Quantity(radius)
        if quantity.unit == u.dimensionless_unscaled:
            quantity = quantity.value * u.arcsec
        value = float(quantity.to_value(u.arcsec))
    except (TypeError, ValueError, u.UnitsError):
        raise ValueError(f"--radius must be an angle such as 2arcsec, not {radius!r}") from None
    return value


def export_command(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Argument(help="Output file; .fits, .ecsv or .csv picks the format.")
    ],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the output file if it exists.")
    ] = False,
) -> None:
    """Write the catalogue (one row per subject) to FITS, ECSV or CSV."""
    from gzbcat.catalogue.export import ExportError, export

    if out.exists() and not overwrite:
        raise fail(f"{out} exists; --overwrite replaces it")
    engine = open_engine(ctx)
    try:
        summary = export(engine, out)
    except (ExportError, OSError) as error:
        raise fail(str(error)) from None
    typer.echo(
        f"Exported {summary.n_rows} subjects × {summary.n_columns} columns to {summary.path} "
        f"({summary.format}; {summary.n_tuned} tuned; method {summary.method}). "
        "Columns: docs/catalogue.md"
    )


def query_command(
    ctx: typer.Context,
    sql: Annotated[str, typer.Argument(help="One SQL statement, or a .sql file holding one.")],
    fmt: Annotated[str, typer.Option("--format", help="Output: table, csv or json.")] = "table",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="NAME=VALUE for a :NAME parameter (repeatable)."),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            min=0,
            help="Cancel the statement after this many seconds (0: no limit).",
        ),
    ] = 60.0,
) -> None:
    """Run one read-only SQL statement (e.g. from queries/) and print its result.

    The statement runs in a sandbox: it can read the catalogue and nothing else (no writes,
    no second statement, no server files or programs, no other database files).
    """
    from gzbcat.catalogue.query import (
        FORMATS,
        QueryError,
        format_result,
        load_statement,
        parse_params,
        run_query,
    )

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    try:
        statement = load_statement(sql)
        params = parse_params(param)
        engine = open_engine(ctx)
        result = run_query(engine, statement, params, timeout_seconds=timeout)
    except QueryError as error:
        raise fail(str(error)) from None
    typer.echo(format_result(result, fmt))  # type: ignore[arg-type]
    if fmt == "table":
        typer.echo(f"({len(result.rows)} rows)")
    else:
        typer.echo(f"{len(result.rows)} rows", err=True)


def import_table_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A FITS, VOTable, ECSV or CSV table.")],
    name: Annotated[
        str, typer.Option("--name", help="Short name; the rows go to table ext_<NAME>.")
    ],
    ra: Annotated[
        str | None, typer.Option("--ra", help="Right-ascension column (J2000, degrees).")
    ] = None,
    dec: Annotated[
        str | None, typer.Option("--dec", help="Declination column (J2000, degrees).")
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            help="Identifying column, indexed (repeatable); the first is the cross-match key.",
        ),
    ] = None,
) -> None:
    """Import an external survey table as ext_<NAME> (replacing an earlier import)."""
    from gzbcat.catalogue.external import ExternalTableError, import_table

    engine = open_engine(ctx)
    try:
        summary = import_table(engine, file, name, ra=ra, dec=dec, keys=key or [])
    except ExternalTableError as error:
        raise fail(str(error)) from None
    verb = "Replaced" if summary.replaced else "Imported"
    typer.echo(
        f"{verb} {summary.table}: {summary.n_rows} rows, {summary.n_columns} columns "
        f"from {summary.source_file}"
    )
    if summary.integer_from_float:
        typer.echo(
            "  stored as BIGINT (whole-number floats): " + ", ".join(summary.integer_from_float)
        )
    if summary.skipped_columns:
        typer.echo("  skipped (not one value per row): " + ", ".join(summary.skipped_columns))
    if summary.crossmatches_dropped:
        typer.echo(
            f"  {summary.crossmatches_dropped} earlier cross-matches dropped: "
            f"run `gzbcat crossmatch {name}` again"
        )


def crossmatch_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="An imported external table (--name at import).")],
    radius: Annotated[str, typer.Option("--radius", help=RADIUS_HELP)] = "2arcsec",
    all_matches: Annotated[
        bool, typer.Option("--all", help="Keep every row within the radius, not only the nearest.")
    ] = False,
) -> None:
    """Match subjects to an external table on the sky and fill crossmatches."""
    from gzbcat.catalogue.crossmatch import CrossmatchError, crossmatch

    try:
        radius_arcsec = parse_radius_arcsec(radius)
    except ValueError as error:
        raise fail(str(error)) from None
    engine = open_engine(ctx)
    try:
        summary = crossmatch(engine, name, radius_arcsec, all_matches=all_matches)
    except CrossmatchError as error:
        raise fail(str(error)) from None
    typer.echo(
        f"Cross-matched {summary.n_subjects} subjects with {name} "
        f"({summary.n_table_rows} rows with positions) within {summary.radius_arcsec:g} arcsec"
        f"{' (all matches)' if summary.all_matches else ' (nearest)'}:"
    )
    typer.echo(f"  matched:   {summary.n_matched} ({summary.n_pairs} pairs)")
    typer.echo(
        f"  unmatched: {summary.n_unmatched} ({summary.n_without_position} without position)"
    )
    if summary.max_separation_arcsec is not None:
        typer.echo(
            f"  separation: median {summary.median_separation_arcsec:.3f}, "
            f"max {summary.max_separation_arcsec:.3f} arcsec"
        )


def register(app: typer.Typer) -> None:
    """Add the catalogue commands to ``app`` (whose callback sets ``ctx.obj.db_url``)."""
    app.command("export")(export_command)
    app.command("query")(query_command)
    app.command("import-table")(import_table_command)
    app.command("crossmatch")(crossmatch_command)
