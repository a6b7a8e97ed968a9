"""The ``gzbcat`` command line: thin Typer commands over the stage functions.

Each command maps its options onto one function call and prints a one-screen summary; domain
errors become a readable message and a non-zero exit code. One module per command group:

- :mod:`~gzbcat.cli.common`: the error exit, the engine, progress bars, summaries, ``--method``;
- :mod:`~gzbcat.cli.status`: ``init`` and ``status``;
- :mod:`~gzbcat.cli.ingest`: the ``ingest`` group;
- :mod:`~gzbcat.cli.stages`: ``aggregate``, ``best-individual``, ``tune`` and ``run``;
- :mod:`~gzbcat.cli.demo`: ``demo``;
- :mod:`~gzbcat.cli.simulate`: ``simulate``;
- :mod:`~gzbcat.cli.catalogue`: ``export``, ``query``, ``import-table`` and ``crossmatch``;
- :mod:`~gzbcat.cli.plots`: ``plot``.

The app's callback reads ``--db`` (or ``GZBCAT_DATABASE_URL``) into ``ctx.obj.db_url``, which
every command that touches the database opens with :func:`~gzbcat.cli.common.open_engine`, and
sets the process up for compute (:func:`gzbcat.process.configure_process`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer
from typer.core import TyperCommand, TyperGroup

from gzbcat.cli import catalogue, demo, ingest, plots, simulate, stages, status
from gzbcat.cli.common import EXIT_CODES, Command, Group
from gzbcat.settings import DEFAULT_DATABASE_URL, database_url

__all__ = ["app"]

app = typer.Typer(
    name="gzbcat",
    help="Turn Galaxy Builder's Zooniverse exports into a queryable catalogue of galaxy models.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Group,
)


@dataclass
class _State:
    db_url: str
    debug: bool = False


def _print_version(value: bool) -> None:
    if value:
        from gzbcat import __version__

        typer.echo(f"gzbcat {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print gzbcat's version and exit.",
        ),
    ] = False,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="URL",
            envvar="GZBCAT_DATABASE_URL",
            help=f"Database URL (SQLAlchemy form). Default: {DEFAULT_DATABASE_URL}",
            show_envvar=True,
        ),
    ] = None,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show the traceback behind an error, not only its line (also GZBCAT_DEBUG=1).",
        ),
    ] = False,
) -> None:
    from gzbcat.process import configure_process  # numpy and scipy: not for --help alone

    configure_process()  # this process computes: keep freed memory, BLAS on one thread
    ctx.obj = _State(db_url=database_url(db), debug=debug)


# The commands in the order `gzbcat --help` lists them (the ingest group comes last there).
app.command("init")(status.init_command)
stages.register(app)
app.command("status")(status.status_command)
demo.register(app)
simulate.register(app)
catalogue.register(app)
plots.register(app)
ingest.register(app)


def _every_command_is_a_gzbcat_command(typer_app: typer.Typer) -> None:
    """Each command takes ``--db`` after its name and shows flags as flags (see
    :class:`~gzbcat.cli.common.Command`); groups show their flags as flags."""
    for info in typer_app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = Command
    for group in typer_app.registered_groups:
        if group.cls in (None, TyperGroup) or not isinstance(group.cls, type):
            group.cls = Group
        if group.typer_instance is not None:
            _every_command_is_a_gzbcat_command(group.typer_instance)


_every_command_is_a_gzbcat_command(app)
