"""Where things are: the database URL and the shared sample data."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEMO_DATABASE_URL",
    "database_url",
    "given_database_url",
    "shared_data_dir",
]

DEFAULT_DATABASE_URL = "sqlite:///gzbcat.sqlite"

DEMO_DATABASE_URL = "sqlite:///gzbcat-demo.sqlite"
"""Where ``gzbcat demo`` writes when no database is named, away from the default catalogue."""


def given_database_url(explicit: str | None = None) -> str | None:
    """The database the user named: an explicit URL, else ``GZBCAT_DATABASE_URL``, else None
    (for commands such as ``demo`` whose default is not :data:`DEFAULT_DATABASE_URL`)."""
    return explicit or os.environ.get("GZBCAT_DATABASE_URL") or None


def database_url(explicit: str | None = None) -> str:
    """The database to use: an explicit URL, else ``GZBCAT_DATABASE_URL``, else the default."""
    return given_database_url(explicit) or DEFAULT_DATABASE_URL


def shared_data_dir() -> Path | None:
    """The shared real-data folder (``$GZBCAT_SHARED_DATA``, else ``../shared/data``), if present.

    ``../shared/data`` is looked for beside the current directory and beside the source tree.
    """
    env = os.environ.get("GZBCAT_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [
        Path.cwd().parent / "shared" / "data",
        Path(__file__).resolve().parents[2] / "shared" / "data",
    ]
    for candidate in candidates:
        if (candidate / "galaxy-builder").is_dir():
            return candidate
    return None
