"""What every command module shares: the error exit and the database engine of a command."""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["fail", "open_engine"]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def open_engine(ctx: typer.Context, *, check: bool = True) -> Any:
    """The engine for ``ctx.obj.db_url``, disposed when the command ends.

    ``check`` refuses a database whose schema is missing or stale, saying how to fix it.
    """
    from gzbcat.db.engine import SchemaError, check_schema, make_engine

    engine = make_engine(ctx.obj.db_url)
    ctx.call_on_close(engine.dispose)
    if check:
        try:
            check_schema(engine)
        except SchemaError as error:
            raise fail(str(error)) from None
    return engine
