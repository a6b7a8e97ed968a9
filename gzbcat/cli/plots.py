"""``gzbcat plot``: a thin Typer wrapper over :mod:`gzbcat.plots`.

The main app adds it with :func:`register`; the database URL comes from ``ctx.obj.db_url``,
which the main app's callback sets (``--db`` / ``GZBCAT_DATABASE_URL``). matplotlib is an
optional extra: without it the command says how to install it and exits 2, and nothing else
in gzbcat needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gzbcat.cli.common import fail, open_engine

__all__ = ["plot_command", "register"]


def plot_command(
    ctx: typer.Context,
    subject_ids: Annotated[
        list[int] | None,
        typer.Argument(
            help="Subjects to draw, one figure each.", metavar="SUBJECT_IDS", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for the subject figures (default: plots), or the file of the "
            "catalogue figure (default: catalogue.<format>).",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="png or pdf. Default: png, or the suffix of a catalogue --out file.",
            show_default=False,
        ),
    ] = None,
    catalogue: Annotated[
        bool,
        typer.Option(
            "--catalogue",
            help="Draw the catalogue figure: pitch angles against Hart et al. (2017) "
            "SpArcFiRe and GZ2, bulge fraction against stellar mass.",
        ),
    ] = False,
) -> None:
    """Draw subjects (image, volunteers, aggregate, tuned model, residual) or the catalogue."""
    from gzbcat.catalogue.figures import plot_catalogue, plot_subject_files
    from gzbcat.plots import INSTALL_HINT, PlotError

    if not subject_ids and not catalogue:
        raise fail("give SUBJECT_IDS to draw, or --catalogue")
    if subject_ids and catalogue:
        raise fail("give either SUBJECT_IDS or --catalogue, not both")
    engine = open_engine(ctx)
    try:
        if catalogue:
            path = out if out is not None else Path(f"catalogue.{fmt or 'png'}")
            data = plot_catalogue(engine, path, fmt)
            typer.echo(f"wrote {path}")
            for note in data.notes:
                typer.echo(f"  note: {note}")
            return
        written = plot_subject_files(engine, subject_ids or [], out or Path("plots"), fmt or "png")
    except ImportError as error:
        message = str(error) if str(error) == INSTALL_HINT else f"{INSTALL_HINT} ({error})"
        raise fail(message) from None
    except (PlotError, OSError) as error:
        raise fail(str(error)) from None
    for path, missing in written:
        typer.echo(f"wrote {path}")
        for note in dict.fromkeys(missing.values()):
            typer.echo(f"  missing: {note}")


def register(app: typer.Typer) -> None:
    """Add the ``plot`` command to ``app`` (the main CLI calls this)."""
    app.command("plot")(plot_command)
