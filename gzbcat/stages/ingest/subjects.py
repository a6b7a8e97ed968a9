"""Ingest a subject export and the frame-0 difference file each subject's locations name."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gzbcat.db import schema
from gzbcat.db.dialect import upsert
from gzbcat.db.engine import session_scope
from gzbcat.stages.ingest._images import SUBJECT_BATCH, file_sha256, store_image
from gzbcat.stages.ingest._summary import (
    IngestSummary,
    Progress,
    batched,
    forget_problems,
    record_problem,
)
from gzbcat.stages.runs import finish_run, start_run
from gzbcat.zooniverse.exports import (
    SUBJECT_REQUIRED_COLUMNS,
    RowProblem,
    SubjectRow,
    check_columns,
    read_subject_export,
)
from gzbcat.zooniverse.subject_files import SubjectFileError, read_difference_file

__all__ = ["ingest_subjects"]


def ingest_subjects(
    engine: Engine,
    export: Path,
    files_dir: Path | None = None,
    *,
    progress: Progress | None = None,
    unavailable: Mapping[str, str] | None = None,
) -> IngestSummary:
    """Ingest a subject export and the frame-0 difference file of each subject.

    An image that came from fitting metadata (``sigma_source = 'given'``) is never replaced by
    a difference file; an unchanged difference file (same SHA-256) is not read again.
    ``unavailable`` maps frame-0 locations (URLs) whose download failed to the reason: each
    subject that needs one is recorded as one problem with that reason and its file is not
    read, so a failed download counts once, with its real cause.
    """
    export = Path(export)
    files_dir = Path(files_dir) if files_dir is not None else export.parent
    check_columns(export, SUBJECT_REQUIRED_COLUMNS)
    summary = IngestSummary(source="subjects")
    run_id = start_run(engine, "ingest-subjects", {"export": str(export), "files": str(files_dir)})
    forget_problems(engine, summary.source, export)
    for batch in batched(read_subject_export(export), SUBJECT_BATCH):
        with session_scope(engine, write=True) as session:
            _ingest_subject_batch(
                session, batch, export, files_dir, summary, run_id, unavailable or {}
            )
        if progress:
            progress(len(batch))
    finish_run(engine, run_id)
    return summary


def _locate_difference_file(row: SubjectRow, files_dir: Path) -> Path | None:
    """The frame-0 file: a path relative to ``files_dir``, or a URL whose name is looked up."""
    location = row.locations.get("0")
    if location is None:
        return None
    parsed = urlparse(location)
    if parsed.scheme in ("http", "https"):
        return files_dir / Path(parsed.path).name
    return files_dir / location


def _subject_values(row: SubjectRow) -> dict[str, Any]:
    meta = row.metadata
    return {
        "subject_id": row.subject_id,
        "project_id": row.project_id,
        "subject_set_id": row.subject_set_id,
        "workflow_id": row.workflow_id,
        "ra_deg": meta.ra_deg,
        "dec_deg": meta.dec_deg,
        "dr7objid": meta.dr7objid,
        "nsa_id": meta.nsa_id,
        "redshift": meta.redshift,
        "petrosian_radius_arcsec": meta.petrosian_radius_arcsec,
        "metadata": row.metadata_raw,
        "locations": row.locations_raw,
        "updated_at": datetime.now(UTC),
    }


def _ingest_subject_batch(
    session: Session,
    batch: list[SubjectRow | RowProblem],
    export: Path,
    files_dir: Path,
    summary: IngestSummary,
    run_id: int,
    unavailable: Mapping[str, str],
) -> None:
    rows = [r for r in batch if isinstance(r, SubjectRow)]
    for problem in (r for r in batch if isinstance(r, RowProblem)):
        record_problem(
            session,
            summary,
            export,
            f"{export.name} row {problem.row_number}: {problem.message}",
            row_number=problem.row_number,
            subject_id=problem.subject_id,
        )
    summary.rows_read += len(batch)
    if not rows:
        return
    ids = [r.subject_id for r in rows]
    known = set(
        session.scalars(select(schema.Subject.subject_id).where(schema.Subject.subject_id.in_(ids)))
    )
    images = {
        row.subject_id: (row.sigma_source, row.source_sha256)
        for row in session.execute(
            select(
                schema.SubjectImage.subject_id,
                schema.SubjectImage.sigma_source,
                schema.SubjectImage.source_sha256,
            ).where(schema.SubjectImage.subject_id.in_(ids))
        )
    }
    # Later rows for the same subject win, as in the reference's "last row per subject".
    latest = {r.subject_id: r for r in rows}
    summary.subjects_added += len(set(latest) - known)
    upsert(
        session,
        schema.Subject.__table__,
        [_subject_values(r) for r in latest.values()],
        key=["subject_id"],
    )
    for row in latest.values():
        path = _locate_difference_file(row, files_dir)
        if path is None:
            record_problem(
                session,
                summary,
                export,
                f"subject {row.subject_id}: locations name no frame-0 difference file",
                row_number=row.row_number,
                subject_id=row.subject_id,
            )
            continue
        location = row.locations["0"]
        if location in unavailable:
            record_problem(
                session,
                summary,
                export,
                f"subject {row.subject_id}: download of {location} failed: {unavailable[location]}",
                row_number=row.row_number,
                subject_id=row.subject_id,
            )
            continue
        existing = images.get(row.subject_id)
        if existing is not None and existing[0] == "given":
            summary.images_unchanged += 1  # fitting metadata outranks the difference file
            continue
        try:
            sha256 = file_sha256(path)
            if existing is not None and existing[1] == sha256:
                summary.images_unchanged += 1
                continue
            image = read_difference_file(path, subject_id=row.subject_id)
        except OSError as error:
            message = f"subject {row.subject_id}: cannot read {path}: {error.strerror or error}"
            record_problem(
                session,
                summary,
                export,
                message,
                row_number=row.row_number,
                subject_id=row.subject_id,
            )
            continue
        except SubjectFileError as error:
            record_problem(
                session,
                summary,
                export,
                str(error),
                row_number=row.row_number,
                subject_id=row.subject_id,
            )
            continue
        store_image(session, row.subject_id, image, path, sha256, summary, run_id)
