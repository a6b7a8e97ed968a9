"""What every command module shares: the error exit, the engine, progress and summaries.

Also the ``--method`` option, typed :class:`~gzbcat.model.Method` so that Typer lists the
choices and refuses any other value with its usage error (exit code 2); the code below the
command line receives the enum, never a string to re-check.
"""

from __future__ import annotations

import contextvars
import os
import sys
import time
import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from gzbcat.model import Method

__all__ = [
    "EXIT_CODES",
    "METHOD_HELP",
    "Command",
    "Group",
    "MethodOption",
    "OfflineCommand",
    "Progress",
    "count_lines",
    "exit_for_failures",
    "fail",
    "open_engine",
    "print_summary",
    "progress",
]

EXIT_CODES = (
    "Exit codes: 0 everything asked for was done; 1 done, but some rows, files or units failed "
    "(the summary says how many; `gzbcat status` and the ingest_errors table say which); "
    "2 bad usage or unusable input (nothing written); 130 interrupted (work in flight handed "
    "back)."
)

METHOD_HELP = (
    "'corrected' (the published method with its known bugs fixed) or 'reference' "
    "(its quirks reproduced, for one-to-one comparison)"
)

MethodOption = Annotated[Method, typer.Option("--method", help=METHOD_HELP)]


def _use_database(ctx: Any, _param: Any, url: str | None) -> None:
    """``--db`` given after a command name: it wins over one given before (or the variable)."""
    if url is not None:
        from gzbcat.settings import database_url

        ctx.find_root().obj.db_url = database_url(url)


def _db_after_command() -> Any:
    """The ``--db`` option every command takes after its name, built the way Typer builds
    options (through a one-command app), so that help shows it like any other option."""
    probe = typer.Typer()

    @probe.command()
    def probe_command(
        db: Annotated[
            str | None,
            typer.Option(
                "--db",
                metavar="URL",
                expose_value=False,
                callback=_use_database,
                help="Database URL, as `gzbcat --db URL` (either place works).",
            ),
        ] = None,
    ) -> None:
        pass

    return next(p for p in typer.main.get_command(probe).params if "--db" in p.opts)


def _flags_as_flags(params: list[Any]) -> list[Any]:
    """Typer labels on/off options ``<bool>`` as though they took a value; show none."""
    for param in params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    return params


_DEBUGGING: contextvars.ContextVar[bool] = contextvars.ContextVar("gzbcat_debugging", default=False)
"""Whether the running command was asked for tracebacks (set as it starts, read by :func:`fail`)."""


def debugging(ctx: Any) -> bool:
    """``--debug`` or ``GZBCAT_DEBUG=1``: show the traceback of an unexpected error."""
    if getattr(ctx.find_root().obj, "debug", False):
        return True
    return os.environ.get("GZBCAT_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


class Command(TyperCommand):
    """A gzbcat command: takes ``--db`` after its name too, shows flags as flags and the exit
    codes under its help, exits 130 when interrupted, and turns an unexpected error into one
    line (``--debug``: traceback)."""

    uses_database = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.epilog is None:
            self.epilog = EXIT_CODES
        if self.uses_database and not any("--db" in param.opts for param in self.params):
            self.params.append(_db_after_command())

    def invoke(self, ctx: Any) -> Any:
        _DEBUGGING.set(debugging(ctx))
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            typer.secho("interrupted", err=True, fg=typer.colors.RED)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as error:
            if debugging(ctx):
                raise
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise fail(
                f"unexpected {type(error).__name__}: {message} — this is a bug in gzbcat; "
                "run again with --debug (or GZBCAT_DEBUG=1) to see where",
                code=1,
            ) from None

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_as_flags(super().get_params(ctx))


class OfflineCommand(Command):
    """A command that never opens the database (``simulate``): no ``--db`` of its own."""

    uses_database = False


class Group(TyperGroup):
    """A gzbcat command group: shows flags as flags."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_as_flags(super().get_params(ctx))


def exit_for_failures(n_failed: int) -> None:
    """End a command that did its work with exit code 1 when some of it failed."""
    if n_failed:
        raise typer.Exit(1)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit to raise; with ``--debug`` (or
    ``GZBCAT_DEBUG=1``) the traceback of the error being handled comes first."""
    if _DEBUGGING.get() and sys.exc_info()[1] is not None:
        traceback.print_exc()
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


class Progress:
    """Counts work done against a total (when known): a live bar with rate and time left on a
    terminal; elsewhere (a Slurm log, a pipe) one plain line at most every ``every_seconds``.

    Call it with the number of items just finished; ``set_total`` once the total is known.
    """

    def __init__(
        self, description: str, total: int | None, *, live: bool, every_seconds: float = 30.0
    ) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self.every_seconds = every_seconds
        self._started = time.monotonic()
        self._last_line = self._started
        self._bar: Any = None
        self._task: Any = None
        if live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import (
                Progress as RichProgress,
            )

            self._bar = RichProgress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=True,
                # redrawn as work finishes, not from a thread: a process with no other thread
                # can fork its workers (gzbcat.stages.workers)
                auto_refresh=False,
            )
            self._task = self._bar.add_task(description, total=total, rate="")

    def set_total(self, total: int) -> None:
        self.total = total
        if self._bar is not None:
            self._bar.update(self._task, total=total, refresh=True)

    def __call__(self, n: int) -> None:
        self.done += n
        if self.total is not None and self.done > self.total:  # an estimate fell short
            self.set_total(self.done)
        now = time.monotonic()
        if self._bar is not None:
            self._bar.update(self._task, advance=n, rate=self._rate_text(now), refresh=True)
        elif now - self._last_line >= self.every_seconds:
            self._last_line = now
            typer.echo(self.line(now), err=True)

    def _rate_text(self, now: float) -> str:
        elapsed = now - self._started
        return f"{self.done / elapsed:.3g}/s" if elapsed > 0 and self.done else ""

    def line(self, now: float | None = None) -> str:
        """``aggregate: 120/300 (40 %), 2.1/s, about 1m26s left``: for logs."""
        now = time.monotonic() if now is None else now
        elapsed = now - self._started
        parts = [f"{self.description}: {self.done}"]
        if self.total:
            parts[0] += f"/{self.total} ({100 * self.done / self.total:.0f} %)"
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if rate > 0:
            parts.append(f"{rate:.3g}/s")
            if self.total:
                parts.append(f"about {_duration((self.total - self.done) / rate)} left")
        return ", ".join(parts)

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def progress(description: str, total: int | None = None) -> Progress:
    """Progress for a long command (use as a context manager)."""
    return Progress(description, total, live=sys.stderr.isatty())


def count_lines(path: Any) -> int | None:
    """The number of lines in a file, fast (bytes, not CSV parsing): an export's row count for
    progress, exact when no field holds a raw newline (Zooniverse's JSON fields do not)."""
    try:
        with open(path, "rb") as handle:
            return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return None


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
    values.pop("workflows_passed_over", None)
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
    why = summary.why_nothing_new()
    if why:
        typer.secho(f"  {why}", fg="yellow")
