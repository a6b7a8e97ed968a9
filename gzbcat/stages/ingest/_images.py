"""Subject images, from a difference file or from fitting metadata, written the same way."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from gzbcat.db import schema
from gzbcat.db.dialect import upsert
from gzbcat.db.images import subject_image_row
from gzbcat.model import SubjectImage
from gzbcat.stages.ingest._parsing import canvas_frame, reparse_subject
from gzbcat.stages.ingest._summary import IngestSummary

__all__ = ["SUBJECT_BATCH", "file_sha256", "store_image"]

SUBJECT_BATCH = 25
"""Subjects (or fitting-metadata files) written per transaction: each may carry an image."""


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes: an unchanged file is not read again."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def store_image(
    session: Session,
    subject_id: int,
    image: SubjectImage,
    source_file: Path,
    sha256: str,
    summary: IngestSummary,
    run_id: int | None,
) -> None:
    """Write a subject's image; re-parse its classifications if the frame is new."""
    old = session.get(schema.SubjectImage, subject_id)
    old_frame = canvas_frame(old) if old is not None else None
    row = subject_image_row(subject_id, image, source_file=str(source_file), source_sha256=sha256)
    row["updated_at"] = datetime.now(UTC)
    upsert(session, schema.SubjectImage.__table__, [row], key=["subject_id"])
    session.expire_all()
    summary.images_stored += 1
    new_frame = canvas_frame(image)
    reparse_subject(
        session, subject_id, new_frame, summary, run_id, only_waiting=old_frame == new_frame
    )
