"""What every command module shares: the error exit, the engine, progress and summaries.

Also the ``--method`` option, typed :class:`~gzbcat.model.Method` so that Typer lists the
choices and refuses any other value with its usage error (exit code 2); the code below the
command line receives the enum, never a string to re-check.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from gzbcat.model import Method

__all__ = [
    "EXIT_CODES",
    "METHOD_HELP",
    "MethodOption",
    "exit_for_failures",
    "fail",
    "open_engine",
    "print_summary",
    "progress",
]

EXIT_CODES = (
    "Exit codes: 0 everything asked for was done; 1 done, but some rows, files or units failed "
    "(the summary says how many; `gzbcat status` and the ingest_errors table say which); "
    "2 bad usage or input; 130 interrupted."
)

METHOD_HELP = (
    "'corrected' (the published method with its known bugs fixed) or 'reference' "
    "(its quirks reproduced, for one-to-one comparison)"
)

MethodOption = Annotated[Method, typer.Option("--method", help=METHOD_HELP)]


def exit_for_failures(n_failed: int) -> None:
    """End a command that did its work with exit code 1 when some of it failed."""
    if n_failed:
        raise typer.Exit(1)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def open_engine(ctx: typer.Context, *, check: bool = True) -> Any:
    """The engine for ``ctx.obj.db_url``, disposed when the command ends.

    A URL that cannot name a database, or a database that cannot be reached, is a usage error
    with a one-line reason, not a traceback. ``check`` (every command but ``init``) refuses a
    database whose schema is missing or stale, saying how to fix it, and never creates a
    SQLite file that is not there (:func:`~gzbcat.db.engine.open_database`).
    """
    from gzbcat.db.engine import DatabaseOpenError, open_database

    try:
        engine = open_database(ctx.obj.db_url, check=check)
    except DatabaseOpenError as error:
        raise fail(str(error)) from None
    ctx.call_on_close(engine.dispose)
    return engine


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal; silence when the output is redirected."""
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def print_summary(title: str, summary: Any) -> None:
    """An ingest summary: its non-empty counts, then its problems (the first few in full)."""
    typer.secho(title, bold=True)
    values = summary.as_dict()
    problems = values.pop("problems")
    n_problems = values.pop("n_problems")
    values.pop("source", None)
    for key, value in values.items():
        if value:
            typer.echo(f"  {key.replace('_', ' ')}: {value}")
    if n_problems:
        typer.secho(f"  problems: {n_problems} (recorded in ingest_errors)", fg="yellow")
        for message in problems:
            typer.echo(f"    - {message}")
        if n_problems > len(problems):
            typer.echo(f"    … and {n_problems - len(problems)} more")
