"""``gzbcat demo``: everything that exists, end to end, on a small sample, into SQLite."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from gzbcat.db.engine import make_engine, upgrade
from gzbcat.settings import shared_data_dir
from gzbcat.stages.ingest import (
    IngestSummary,
    ingest_classifications,
    ingest_subjects,
)
from gzbcat.stages.status import status

__all__ = ["DemoError", "DemoResult", "run_demo"]


class DemoError(RuntimeError):
    """The demo cannot run (no sample data, or a database that is not SQLite)."""


@dataclass
class DemoResult:
    db_url: str
    ingests: list[tuple[str, IngestSummary]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def run_demo(db_url: str = "sqlite:///gzbcat-demo.sqlite") -> DemoResult:
    """init → ingest the 50 real subjects and the sample classifications → status."""
    started = time.perf_counter()
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise DemoError(f"the demo writes a fresh SQLite file; {db_url} is not one")
    data = shared_data_dir()
    if data is None:
        raise DemoError("the shared sample ../shared/data was not found: set GZBCAT_SHARED_DATA")
    database = Path(url.database)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    engine = make_engine(db_url)
    upgrade(engine)
    result = DemoResult(db_url=db_url)
    sample = data / "galaxy-builder"
    result.ingests.append(
        (
            f"Ingested the 50 real subjects ({sample / 'subjects.csv'})",
            ingest_subjects(engine, sample / "subjects.csv", sample),
        )
    )
    result.ingests.append(
        (
            "Ingested the sample classifications (their subject's image is not public: "
            "they wait for it)",
            ingest_classifications(engine, sample / "classifications-sample.csv"),
        )
    )
    result.status = status(engine)
    engine.dispose()
    result.seconds = time.perf_counter() - started
    return result
