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
    SQLite file that is not there.
    """
    from pathlib import Path

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from gzbcat.db.engine import SchemaError, check_schema, make_engine

    try:
        url = make_url(ctx.obj.db_url)
    except ArgumentError as error:
        raise fail(f"--db {ctx.obj.db_url!r} is not a database URL ({error})") from None
    shown = url.render_as_string(hide_password=True)
    file = url.database if url.get_backend_name() == "sqlite" else None
    if check and file and file != ":memory:" and not Path(file).expanduser().exists():
        raise fail(f"no database at {file} (gzbcat init creates one: gzbcat --db {shown} init)")
    try:
        engine = make_engine(ctx.obj.db_url)
        ctx.call_on_close(engine.dispose)
        with engine.connect():
            pass
    except ArgumentError as error:
        raise fail(f"--db {shown}: {error}") from None
    except ImportError as error:
        raise fail(f"--db {shown}: its database driver is not installed ({error})") from None
    except (OSError, DBAPIError) as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise fail(f"cannot open the database {shown}: {reason}") from None
    if check:
        try:
            check_schema(engine)
        except SchemaError as error:
            raise fail(str(error)) from None
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


def print_summary(title: str, summary: Any, notes: dict[str, str] | None = None) -> None:
    """An ingest summary: its non-empty counts, then its problems (the first few in full).

    ``notes`` explains counts, keyed by the summary's field (``{"parse_errors": "…"}``): each
    is printed in parentheses after its count.
    """
    typer.secho(title, bold=True)
    values = summary.as_dict()
    problems = values.pop("problems")
    n_problems = values.pop("n_problems")
    values.pop("source", None)
    for key, value in values.items():
        if value:
            note = f" ({notes[key]})" if notes and key in notes else ""
            typer.echo(f"  {key.replace('_', ' ')}: {value}{note}")
    if n_problems:
        typer.secho(f"  problems: {n_problems} (recorded in ingest_errors)", fg="yellow")
        for message in problems:
            typer.echo(f"    - {message}")
        if n_problems > len(problems):
            typer.echo(f"    … and {n_problems - len(problems)} more")
