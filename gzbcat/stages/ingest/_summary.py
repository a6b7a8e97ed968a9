"""What an ingest did and what it found wrong: the summary, and problems in ``ingest_errors``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from gzbcat.db import schema
from gzbcat.db.engine import session_scope

__all__ = [
    "MAX_PROBLEMS_KEPT",
    "IngestSummary",
    "Progress",
    "batched",
    "forget_problems",
    "record_problem",
]

log = logging.getLogger(__name__)

MAX_PROBLEMS_KEPT = 20

Progress = Callable[[int], None]
"""Called with the number of rows (or files) just handled."""


@dataclass
class IngestSummary:
    """What an ingest did, for the one-screen summary."""

    source: str
    rows_read: int = 0
    rows_of_other_workflows: int = 0
    rows_of_older_versions: int = 0
    subjects_added: int = 0
    images_stored: int = 0
    images_unchanged: int = 0
    classifications_added: int = 0
    classifications_unchanged: int = 0
    parsed_ok: int = 0
    parse_errors: int = 0
    waiting: int = 0
    changed_content: int = 0
    problems: list[str] = field(default_factory=list)
    n_problems: int = 0
    workflows_passed_over: dict[int | None, int] = field(default_factory=dict)

    def problem(self, message: str) -> None:
        self.n_problems += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(message)

    @property
    def n_failed(self) -> int:
        """Rows and files that were recorded and skipped: problems and unparseable drawings."""
        return self.n_problems + self.parse_errors

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def why_nothing_new(self) -> str | None:
        """When a run added nothing, why: what the rows were instead (None when it added)."""
        if self.subjects_added or self.classifications_added or self.images_stored:
            return None
        if not self.rows_read:
            return "the export holds no rows"
        reasons = []
        if self.rows_of_other_workflows:
            seen = ", ".join(
                f"{'none' if w is None else w} ×{n}"
                for w, n in sorted(self.workflows_passed_over.items(), key=lambda i: -i[1])[:5]
            )
            reasons.append(
                f"{self.rows_of_other_workflows} belong to other workflows (seen: {seen})"
            )
        if self.rows_of_older_versions:
            reasons.append(f"{self.rows_of_older_versions} are older than --min-workflow-version")
        unchanged = self.classifications_unchanged + self.images_unchanged
        if unchanged:
            reasons.append(f"{unchanged} are already stored, unchanged")
        if self.n_failed:
            reasons.append(f"{self.n_failed} were recorded as problems")
        return f"nothing new from {self.rows_read} rows: " + "; ".join(reasons or ["see above"])


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of ``size`` (the last one shorter): one transaction each."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def record_problem(
    session: Session,
    summary: IngestSummary,
    source_file: Path,
    message: str,
    *,
    row_number: int | None = None,
    subject_id: int | None = None,
) -> None:
    """Count a bad row or file in the summary, log it and keep it in ``ingest_errors``.

    Logged at INFO: the command line prints the summary's problems itself, so a warning would
    show each one twice.
    """
    summary.problem(message)
    log.info("%s", message)
    session.add(
        schema.IngestError(
            source=summary.source,
            source_file=str(source_file),
            row_number=row_number,
            subject_id=subject_id,
            message=message,
        )
    )


def forget_problems(engine: Engine, source: str, source_file: Path) -> None:
    """Problems are re-found by every ingest of a file: keep only the latest ingest's."""
    with session_scope(engine, write=True) as session:
        session.execute(
            delete(schema.IngestError).where(
                schema.IngestError.source == source,
                schema.IngestError.source_file == str(source_file),
            )
        )
